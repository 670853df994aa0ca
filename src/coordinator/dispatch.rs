//! Dispatch: which ready task gets the next agent, and whether the machine has room for one.

use std::collections::HashMap;

use tracing::warn;

use super::Coordinator;
use super::CoordinatorError;
use super::starter::{StartJob, StartOutcome};
use crate::agent::Continuation;
use crate::model::{AgentId, TaskId, TaskState};
use crate::process;
use crate::service::ServiceError;
use crate::store::TaskRecord;

const MIB: u64 = 1024 * 1024;

impl Coordinator<'_> {
    /// Starts (or resumes) agents on ready tasks, best first, while there is a free slot and
    /// memory to spare.
    pub(super) fn dispatch(&mut self) -> Result<(), CoordinatorError> {
        self.paused = None;
        let mut working = self.working_agents()?;
        // Every slot taken (the usual case while a layer runs): nothing to order.
        if working >= self.options.agents || self.processes() >= self.process_cap() {
            return Ok(());
        }
        let ready: Vec<TaskRecord> = self
            .service
            .ready(u32::MAX)?
            .into_iter()
            .filter(|t| !t.needs_human && !self.failed_starts.contains_key(&t.id))
            .collect();
        if ready.is_empty() {
            return Ok(());
        }
        let weights = path_weights(&self.service.dependency_map()?);
        for task in dispatch_order(ready, &weights) {
            if working >= self.options.agents || self.processes() >= self.process_cap() {
                break;
            }
            if self.starter.is_starting(task.id)
                || self.live.values().any(|l| l.task == Some(task.id))
            {
                continue;
            }
            if let Some(why) = self.memory_pause() {
                self.paused = Some(why);
                break;
            }
            self.submit_start(&task)?;
            working += 1;
            // A merge requested meanwhile must not wait for every start of the pass (on a
            // critical path, a merge delayed is every dependant delayed), and an agent that
            // ended meanwhile frees its worktree for the next start.
            self.merge_queue()?;
            self.poll_agents()?;
        }
        Ok(())
    }

    /// Agents that take a slot: those being started, and the live ones but those whose task went
    /// to the merge queue or ended (they are only winding down; waiting for their exit would
    /// delay the next start).
    pub(super) fn working_agents(&self) -> Result<usize, CoordinatorError> {
        let tasks: Vec<TaskId> = self.live.values().filter_map(|l| l.task).collect();
        let winding_down = self
            .service
            .task_states(&tasks)?
            .into_iter()
            .filter(|(_, state)| *state == TaskState::Merging || state.is_terminal())
            .count();
        Ok(self.live.len() - winding_down + self.starter.len())
    }

    /// Agent processes running or being started.
    pub(super) fn processes(&self) -> usize {
        self.live.len() + self.starter.len()
    }

    /// At most this many agent processes at once, winding-down ones included.
    pub(super) fn process_cap(&self) -> usize {
        self.options.agents.saturating_mul(2)
    }

    /// Hands the task to a start worker: its earlier agent resumed in its worktree if there is
    /// one, else a new agent (in a spare merged worktree when there is one).
    fn submit_start(&mut self, task: &TaskRecord) -> Result<(), CoordinatorError> {
        let job = match self.service.resumable_agent(task.id)? {
            Some(agent) => {
                let reason = format!(
                    "your previous session ended before {} was finished (attempt {} of {}); \
                     check what is already done in the worktree and continue",
                    task.id,
                    task.attempts + 1,
                    self.service.config().claims.max_attempts + 1
                );
                StartJob::Resume {
                    task: task.id,
                    agent: agent.id,
                    how: Continuation::Interrupted { reason },
                }
            }
            None => StartJob::New { task: task.id, spare: self.take_spare()? },
        };
        self.starter.submit(job)
    }

    /// Takes in the starts the workers finished: a started agent is supervised from now on, a
    /// failed start is recorded against its task.
    pub(super) fn take_started(&mut self) -> Result<(), CoordinatorError> {
        for outcome in self.starter.finished() {
            self.on_started(outcome)?;
        }
        Ok(())
    }

    pub(super) fn on_started(&mut self, outcome: StartOutcome) -> Result<(), CoordinatorError> {
        let StartOutcome { task, resumed, spare, result } = outcome;
        // A spare that could not be reused is removed now rather than offered again.
        let reused = result.as_ref().is_ok_and(|l| l.reused_worktree_of.is_some());
        if let Some(spare) = spare.filter(|_| !reused) {
            self.tidy_now(spare);
        }
        match result {
            Ok(live) => {
                let verb = if resumed { "resumed" } else { "started" };
                let reused = live
                    .reused_worktree_of
                    .map(|old| format!(" (in {old}'s merged worktree, refreshed)"))
                    .unwrap_or_default();
                let title = self.title_of(task)?;
                self.progress.line(&format!(
                    "{verb} {} (pid {}) on {task}: {title}{reused}",
                    live.agent,
                    live.pid(),
                ));
                self.live.insert(live.agent, live);
            }
            // Another host took the task first: nothing failed, and nothing is counted.
            Err(CoordinatorError::Agent(crate::agent::AgentError::Service(
                ServiceError::TaskNotReady { why, .. },
            ))) => {
                tracing::debug!(task_id = %task, %why, "not started here");
                self.failed_starts.insert(task, why);
            }
            Err(err) => {
                warn!(task_id = %task, cause = %err, "could not start an agent");
                let why = err.to_string();
                let state = self.service.start_failed(task, &why)?;
                self.progress.line(&format!("{task}: its agent did not start: {why}"));
                if state == TaskState::Failed {
                    self.progress.line(&format!("{task} failed after repeated start failures"));
                }
                // Not again in this pass: the next tick tries once more.
                self.failed_starts.insert(task, why);
            }
        }
        Ok(())
    }

    /// A finished agent whose merged worktree the next new agent may take over (newest first):
    /// reusing one costs a rename and the files that changed instead of a whole checkout.
    fn take_spare(&mut self) -> Result<Option<AgentId>, CoordinatorError> {
        if !self.service.config().agent.reuse_worktrees {
            return Ok(None);
        }
        let candidates: Vec<AgentId> = self.tidy_later.iter().rev().copied().collect();
        for agent in candidates {
            if self.service.merged_worktree(agent)?.is_some() {
                self.tidy_later.remove(&agent);
                return Ok(Some(agent));
            }
        }
        Ok(None)
    }

    /// Why one more agent would push the machine below the configured headroom, if it would.
    fn memory_pause(&self) -> Option<String> {
        let run = &self.service.config().run;
        let available = process::available_memory()?;
        // Agents being started do not use their memory yet.
        let starting = self.starter.len() as u64;
        let needed = (run.memory_headroom_mb + run.agent_memory_mb * (1 + starting)) * MIB;
        (available < needed).then(|| {
            format!(
                "dispatch paused: {} MiB available, one more agent needs ~{} MiB above the {} MiB headroom",
                available / MIB,
                run.agent_memory_mb,
                run.memory_headroom_mb
            )
        })
    }
}

/// How much of the plan waits on a task: the tasks on the longest chain of dependents below it
/// (itself included) and its direct dependents. Tasks absent from the map have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(super) struct PathWeight {
    pub(super) height: u32,
    pub(super) dependents: u32,
}

/// Each task's `PathWeight`: starting the tallest first shortens the whole run (critical path
/// first); among equally tall ones, the one more tasks wait on directly is likelier on it.
pub(super) fn path_weights(
    dependencies: &HashMap<TaskId, Vec<TaskId>>,
) -> HashMap<TaskId, PathWeight> {
    let mut dependents: HashMap<TaskId, Vec<TaskId>> = HashMap::new();
    for (task, deps) in dependencies {
        for dep in deps {
            dependents.entry(*dep).or_default().push(*task);
        }
    }
    let mut heights = HashMap::new();
    fn height(
        task: TaskId,
        dependents: &HashMap<TaskId, Vec<TaskId>>,
        heights: &mut HashMap<TaskId, u32>,
    ) -> u32 {
        if let Some(h) = heights.get(&task) {
            return *h;
        }
        // The graph is acyclic (edges that would close a cycle are refused when added).
        let below = dependents
            .get(&task)
            .map(|ds| ds.iter().map(|d| height(*d, dependents, heights)).max().unwrap_or(0))
            .unwrap_or(0);
        heights.insert(task, below + 1);
        below + 1
    }
    let tasks: Vec<TaskId> = dependents.keys().copied().collect();
    for task in tasks {
        height(task, &dependents, &mut heights);
    }
    heights
        .into_iter()
        .map(|(task, height)| {
            let direct = dependents.get(&task).map_or(0, Vec::len);
            (task, PathWeight { height, dependents: u32::try_from(direct).unwrap_or(u32::MAX) })
        })
        .collect()
}

/// Critical path first (`PathWeight`), then phase, wave, priority and age: the task that has
/// waited longest as ready first (a ready task's last change is when it became ready, or an
/// edit), then the older task. Among equals this is first come, first served: a task that became
/// ready late cannot overtake one its turn came to earlier, which would add the wait to a chain
/// that was on time (in a layer burst, ~1.6 of the 5–7 starts the deciding task waited behind were
/// such overtakers when ties went by creation alone).
pub(super) fn dispatch_order(
    mut ready: Vec<TaskRecord>,
    weights: &HashMap<TaskId, PathWeight>,
) -> Vec<TaskRecord> {
    ready.sort_by_key(|t| {
        let weight = weights.get(&t.id).copied().unwrap_or(PathWeight { height: 1, dependents: 0 });
        (std::cmp::Reverse(weight), t.phase_seq, t.wave, t.priority, t.updated_at, t.id)
    });
    ready
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_count_the_longest_chain_and_the_direct_dependents() {
        let t = TaskId;
        // 1 ← 2 ← 3, 1 ← 4, 5 alone.
        let deps = HashMap::from([(t(2), vec![t(1)]), (t(3), vec![t(2)]), (t(4), vec![t(1)])]);
        let weights = path_weights(&deps);
        let w = |height, dependents| PathWeight { height, dependents };
        assert_eq!(weights[&t(1)], w(3, 2));
        assert_eq!(weights[&t(2)], w(2, 1));
        assert_eq!(weights[&t(3)], w(1, 0));
        assert_eq!(weights[&t(4)], w(1, 0));
        assert_eq!(weights.get(&t(5)), None);
        // Taller first; equally tall, more direct dependents first.
        assert!(w(3, 0) > w(2, 9) && w(2, 3) > w(2, 1));
    }

    #[test]
    fn equals_go_first_come_first_served_after_the_chain_phase_wave_and_priority() {
        let task = |id, ready_at, wave, priority| TaskRecord {
            id: TaskId(id),
            plan: None,
            key: None,
            title: format!("t{id}"),
            description: String::new(),
            files: Vec::new(),
            verify: String::new(),
            done_criteria: String::new(),
            kind: String::new(),
            needs_human: false,
            state: crate::model::TaskState::Ready,
            unmerged_deps: 0,
            priority,
            phase_seq: 0,
            wave,
            attempts: 0,
            agent: None,
            lease_expires_at: None,
            result_summary: None,
            failure_reason: None,
            metadata: "{}".to_owned(),
            created_at: crate::model::Timestamp(id),
            updated_at: crate::model::Timestamp(ready_at),
        };
        let tall = PathWeight { height: 2, dependents: 1 };
        let weights = HashMap::from([(TaskId(9), tall)]);
        let ready = vec![
            task(1, 500, 0, 0), // ready last
            task(2, 100, 0, 0),
            task(3, 100, 0, 0), // ready with 2: the older one first
            task(4, 50, 1, 0),  // a later wave waits however long it waited
            task(5, 50, 0, 1),  // so does a less urgent one
            task(9, 900, 1, 1), // the longer chain goes first regardless
        ];
        let order: Vec<i64> = dispatch_order(ready, &weights).iter().map(|t| t.id.get()).collect();
        assert_eq!(order, [9, 2, 3, 1, 5, 4]);
    }
}
