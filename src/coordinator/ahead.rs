//! Agents started ahead of their tasks (`[run] start_ahead`).
//!
//! While a layer of tasks is worked on, the machine is mostly idle; when it ends, its merges,
//! the next layer's starts and the agents' own start-up all happen at once, and every start is a
//! wait on the tasks' critical path. So while work goes on, the loop starts an agent for each
//! pending task whose dependencies are all being worked on (up to `agents` of them): its
//! worktree is made, its session and MCP server start, and it waits for its first message. When
//! the task is ready, dispatch hands it over (`begin`): the files merged since are checked out
//! and the prompt is sent, which takes a few milliseconds instead of a whole start.
//!
//! Invariant: an agent started ahead is bound to its task and counts as neither working nor
//! winding down (it takes no slot of `agents`); one whose task will not come (it failed, was
//! cancelled, or a dependency did) is stopped. One stopped or lost before it began is resumed like
//! any agent whose session never began: in its worktree, brought up to date first.

use std::time::Duration;

use tracing::warn;

use super::Coordinator;
use super::dispatch::{dispatch_order, path_weights};
use super::starter::StartJob;
use crate::model::AgentId;
use crate::service::ServiceError;

/// Agents are started ahead only once the database has been this quiet: a start ahead costs as
/// much CPU as any start, and while tasks are finishing and starting together (a layer ending)
/// it would take it from the starts and merges the critical path waits on.
const QUIET: Duration = Duration::from_millis(25);

impl Coordinator<'_> {
    /// Agents started ahead, live or being started.
    pub(super) fn ahead_count(&self) -> usize {
        let live = self.live.values().filter(|l| l.ahead).count();
        live + self.starter.len() - self.starter.working_len()
    }

    /// When the loop is idle and the run quiet: starts one more agent ahead if there is room.
    /// True if it started one (the caller looks for events before the next).
    pub(super) fn start_one_ahead(&mut self) -> Result<bool, ServiceError> {
        if !self.ahead_due
            || self.last_change.elapsed() < QUIET
            || !self.options.dispatch
            || !self.service.config().run.start_ahead
        {
            return Ok(false);
        }
        self.ahead_due = false;
        let room = self.options.agents.saturating_sub(self.ahead_count());
        if room == 0 || self.processes() >= self.process_cap() || self.memory_pause().is_some() {
            return Ok(false);
        }
        let upcoming: Vec<_> = self
            .service
            .upcoming(u32::try_from(room).unwrap_or(u32::MAX))?
            .into_iter()
            .filter(|t| !self.starter.is_starting(t.id) && !self.failed_starts.contains_key(&t.id))
            .collect();
        if upcoming.is_empty() {
            return Ok(false);
        }
        let weights = path_weights(&self.service.dependency_map()?);
        let Some(task) = dispatch_order(upcoming, &weights).into_iter().next() else {
            return Ok(false);
        };
        let spare = self.take_spare()?;
        self.starter.submit(StartJob::Ahead { task: task.id, spare })?;
        // There may be room for more at the next idle moment.
        self.ahead_due = true;
        Ok(true)
    }

    /// The live agent started ahead for `task`, if there is one.
    pub(super) fn ahead_agent_for(&self, task: crate::model::TaskId) -> Option<AgentId> {
        self.live.values().find(|l| l.ahead && l.task == Some(task)).map(|l| l.agent)
    }

    /// Hands a ready task to the agent started ahead for it. If that fails, the agent is stopped
    /// and the task is started the usual way at the next pass.
    pub(super) fn begin_ahead(&mut self, agent: AgentId) -> Result<(), ServiceError> {
        let Some(live) = self.live.get_mut(&agent) else { return Ok(()) };
        let task = live.task;
        match self.runtime.begin(live) {
            Ok(()) => {
                let pid = live.pid();
                let task = task.map(|t| t.to_string()).unwrap_or_default();
                self.progress.line(&format!("{agent} (pid {pid}), started ahead, begins {task}"));
                Ok(())
            }
            Err(err) => {
                warn!(agent_id = %agent, cause = %err, "an agent started ahead could not begin");
                self.retire(agent, &format!("could not begin its task: {err}"))
            }
        }
    }

    /// Stops agents started ahead whose task will not come (at every tick: it is rare, and
    /// looking costs a few reads per agent).
    pub(super) fn retire_stale_ahead(&mut self) -> Result<(), ServiceError> {
        let waiting: Vec<(AgentId, crate::model::TaskId)> = self
            .live
            .values()
            .filter(|l| l.ahead)
            .filter_map(|l| l.task.map(|t| (l.agent, t)))
            .collect();
        for (agent, task) in waiting {
            if !self.service.worth_waiting_for(task)? {
                self.retire(agent, &format!("{task} will not be ready; stopped before it began"))?;
            }
        }
        Ok(())
    }

    fn retire(&mut self, agent: AgentId, why: &str) -> Result<(), ServiceError> {
        let Some(live) = self.live.remove(&agent) else { return Ok(()) };
        self.progress.line(&format!("{agent}: {why}"));
        self.runtime.retire(live, why)
    }
}
