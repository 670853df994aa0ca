//! The coordinator's use cases: the merge queue and its outcomes, agents that went away with
//! their task unfinished, answers and bounces still to hand to an agent, and tasks for the human.
//! The coordinator (`crate::coordinator`) decides when; the rules live here.

use std::path::{Path, PathBuf};

use tracing::{info, instrument};

use super::conversation::require_agent;
use super::tasks::{apply, require_task};
use super::{Service, ServiceError};
use crate::git;
use crate::model::{
    AgentId, AgentKind, MergeState, QuestionId, QuestionStatus, TaskEvent, TaskId, TaskState,
};
use crate::store::{
    AgentRecord, MergeEnd, MergeRecord, QuestionRecord, TaskFilter, TaskRecord, Tx,
};

/// A queued merge request with its task.
#[derive(Debug, Clone)]
pub struct QueuedMerge {
    pub merge: MergeRecord,
    pub task: TaskRecord,
    pub branch: String,
    /// Dependencies not merged yet: the merge waits for them (dependency order).
    pub waiting_for: Vec<TaskId>,
}

/// Something a stopped agent must be told by resuming its session.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The human answered its question.
    Answer(QuestionRecord),
    /// Its merge was bounced (conflict or failed gate).
    Bounce(MergeRecord),
    /// Messages arrived (`cw send`) while it waits for the human with its process ended.
    Messages,
    /// The operator asked for a restart (`restart_agent`), saying why.
    Restart { agent: AgentId, reason: String },
}

/// A task held by an agent, as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct HeldTask {
    pub task: TaskRecord,
    pub agent: AgentRecord,
}

impl Service {
    /// The merge queue, oldest request first. Requests whose task left `merging` (cancelled,
    /// retried) are closed as failed on the way.
    pub fn merge_queue(&self) -> Result<Vec<QueuedMerge>, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let mut queue = Vec::new();
            for merge in tx.queued_merge_requests()? {
                let task = require_task(tx, merge.task)?;
                let branch = merge.branch.clone().unwrap_or_default();
                if task.state != TaskState::Merging {
                    let why = format!("the task is {} now", task.state);
                    tx.finish_merge(&merge, MergeEnd::Failed, None, &[], Some(&why), now)?;
                    continue;
                }
                if branch.is_empty() {
                    // Asked for before request_merge refused agents without a branch: bounced
                    // back with the reason rather than left merging.
                    let why = "its agent has no branch to merge (cw merges branches; an agent \
                               registered with --no-worktree has none)";
                    tx.finish_merge(&merge, MergeEnd::Failed, None, &[], Some(why), now)?;
                    let bounces = tx.bounces_since_retry(task.id)?;
                    let max_bounces = self.config.run.max_bounces;
                    let event = TaskEvent::MergeBounced { bounces, max_bounces };
                    apply(tx, &task, event, None, why, now)?;
                    continue;
                }
                let mut waiting_for = Vec::new();
                for dep in tx.dependencies(task.id)? {
                    if require_task(tx, dep)?.state != TaskState::Merged {
                        waiting_for.push(dep);
                    }
                }
                queue.push(QueuedMerge { merge, task, branch, waiting_for });
            }
            Ok(queue)
        })
    }

    /// Records a merge on the integration branch (`commit` is `None` when the branch was already
    /// there, e.g. merged before cw restarted): the task is merged and its dependents may start.
    #[instrument(skip_all, fields(task_id = %merge.task))]
    pub fn record_merged(
        &self,
        merge: &MergeRecord,
        commit: Option<&str>,
    ) -> Result<TaskRecord, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let task = require_task(tx, merge.task)?;
            tx.finish_merge(merge, MergeEnd::Merged, commit, &[], None, now)?;
            if task.state == TaskState::Merging {
                let reason = match commit {
                    Some(commit) => format!("merged as {}", &commit[..commit.len().min(12)]),
                    None => "already on the integration branch".to_owned(),
                };
                apply(tx, &task, TaskEvent::MergeSucceeded, None, &reason, now)?;
            }
            require_task(tx, merge.task)
        })
    }

    /// Bounces a merge back to the task's agent: conflicting `paths`, or why the gate failed.
    #[instrument(skip_all, fields(task_id = %merge.task))]
    pub fn record_bounce(
        &self,
        merge: &MergeRecord,
        paths: &[String],
        reason: &str,
    ) -> Result<TaskRecord, ServiceError> {
        let now = self.now();
        let max_bounces = self.config.run.max_bounces;
        self.store.write(|tx| {
            let task = require_task(tx, merge.task)?;
            tx.finish_merge(merge, MergeEnd::Conflict, None, paths, Some(reason), now)?;
            if task.state == TaskState::Merging {
                let bounces = tx.bounces_since_retry(task.id)?;
                let event = TaskEvent::MergeBounced { bounces, max_bounces };
                if apply(tx, &task, event, None, reason, now)? == TaskState::Failed {
                    let failure = format!(
                        "its merge was bounced {bounces} times (max_bounces is {max_bounces}); last: {reason}; retry it with `cw task retry {}`",
                        task.id
                    );
                    tx.set_task_failure(task.id, Some(&failure))?;
                }
            }
            require_task(tx, merge.task)
        })
    }

    /// Tasks an agent holds (claimed, waiting, conflict), with the agent.
    pub fn held_tasks(&self) -> Result<Vec<HeldTask>, ServiceError> {
        self.store.read(|tx| {
            let mut held = Vec::new();
            for state in [TaskState::Claimed, TaskState::Waiting, TaskState::Conflict] {
                for task in tx.tasks(&TaskFilter { state: Some(state), plan: None })? {
                    let Some(agent) = task.agent else { continue };
                    held.push(HeldTask { agent: require_agent(tx, agent)?, task });
                }
            }
            Ok(held)
        })
    }

    /// What `agent` must be told when it is resumed, if anything: an answer it has not seen, or
    /// the bounce of its task's merge.
    pub fn next_delivery(&self, agent: AgentId) -> Result<Option<Delivery>, ServiceError> {
        self.store.read(|tx| {
            if let Some(question) = tx.undelivered_answer(agent)? {
                return Ok(Some(Delivery::Answer(question)));
            }
            let Some(task) = tx.task_held_by(agent)? else { return Ok(None) };
            let task = require_task(tx, task)?;
            if let Some(reason) = require_agent(tx, agent)?.restart_reason {
                return Ok(Some(Delivery::Restart { agent, reason }));
            }
            if task.state == TaskState::Waiting {
                // Sent after the agent last changed (its last run ended): not seen yet. Resuming
                // updates the agent, so the same messages never resume it twice.
                let holder = require_agent(tx, agent)?;
                let fresh =
                    tx.newest_unread_message_at(agent)?.is_some_and(|at| at > holder.updated_at);
                return Ok(fresh.then_some(Delivery::Messages));
            }
            if task.state != TaskState::Conflict {
                return Ok(None);
            }
            Ok(tx
                .latest_merge(task.id)?
                .filter(|m| m.state == MergeState::Conflict && m.delivered_at.is_none())
                .map(Delivery::Bounce))
        })
    }

    /// Each task's open question, for tasks that wait for the human (the run's summary says
    /// "waiting for you (q3)").
    pub fn open_question_of_each_task(
        &self,
    ) -> Result<std::collections::HashMap<TaskId, QuestionId>, ServiceError> {
        self.store.read(|tx| {
            Ok(tx.open_questions()?.into_iter().filter_map(|q| Some((q.task?, q.id))).collect())
        })
    }

    /// Records that a delivery reached the agent (its session was resumed with it).
    pub fn mark_delivered(&self, delivery: &Delivery) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| match delivery {
            Delivery::Answer(question) => Ok(tx.mark_answer_delivered(question.id, now)?),
            Delivery::Bounce(merge) => {
                Ok(tx.set_merge_delivered(merge.id, merge.task, Some(now), now)?)
            }
            Delivery::Messages => Ok(()),
            Delivery::Restart { agent, .. } => Ok(tx.set_agent_restart(*agent, None, now)?),
        })
    }

    /// Records that the answer reached the agent inside its `ask_user` call.
    pub fn mark_answer_delivered(&self, question: QuestionId) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| Ok(tx.mark_answer_delivered(question, now)?))
    }

    /// The agent's process ended (or never started) while its task was unfinished: one attempt
    /// is used up. A claimed task goes back to ready (its agent is resumed in the same worktree);
    /// a bounced one stays in conflict and the bounce is handed over again; past the maximum the
    /// task fails with `why`. Returns the task's new state, or `None` if it held none.
    #[instrument(skip_all, fields(agent_id = %agent))]
    pub fn agent_lost(
        &self,
        agent: AgentId,
        why: &str,
    ) -> Result<Option<(TaskId, TaskState)>, ServiceError> {
        let now = self.now();
        let max_attempts = self.config.claims.max_attempts;
        self.store.write(|tx| {
            let Some(task) = tx.task_held_by(agent)? else { return Ok(None) };
            let task = require_task(tx, task)?;
            if task.state == TaskState::Waiting {
                return Ok(None);
            }
            let attempts = task.attempts.saturating_add(1);
            let event = TaskEvent::AgentLost { attempts, max_attempts };
            let reason = format!(
                "agent {agent} ended: {why} ({})",
                super::claims::attempt_of(attempts, max_attempts)
            );
            let next = apply(tx, &task, event, None, &reason, now)?;
            tx.set_task_attempts(task.id, attempts)?;
            match next {
                TaskState::Failed => {
                    let failure = format!(
                        "its agent ended {attempts} times without finishing (last: {why}); retry it with `cw task retry {}`",
                        task.id
                    );
                    tx.set_task_failure(task.id, Some(&failure))?;
                }
                TaskState::Conflict => {
                    if let Some(merge) = tx.latest_merge(task.id)? {
                        tx.set_merge_delivered(merge.id, task.id, None, now)?;
                    }
                }
                _ => {}
            }
            info!(task_id = %task.id, state = %next, "agent lost");
            Ok(Some((task.id, next)))
        })
    }

    /// A ready task's agent could not be started: one attempt is used up; past the maximum the
    /// task fails with `why`.
    pub fn start_failed(&self, task: TaskId, why: &str) -> Result<TaskState, ServiceError> {
        let now = self.now();
        let max_attempts = self.config.claims.max_attempts;
        self.store.write(|tx| {
            let record = require_task(tx, task)?;
            // A start that failed part-way (the database out of reach after the agent was
            // spawned) may have left an agent that did its work: a task it took past its claim
            // is left to it.
            if matches!(
                record.state,
                TaskState::Done
                    | TaskState::Waiting
                    | TaskState::Merging
                    | TaskState::Conflict
                    | TaskState::Merged
            ) {
                return Ok(record.state);
            }
            let attempts = record.attempts.saturating_add(1);
            let event = TaskEvent::AgentLost { attempts, max_attempts };
            let reason = format!("its agent did not start: {why}");
            let next = apply(tx, &record, event, None, &reason, now)?;
            tx.set_task_attempts(task, attempts)?;
            if next == TaskState::Failed {
                tx.set_task_failure(task, Some(&format!("its agent did not start: {why}")))?;
            }
            Ok(next)
        })
    }

    /// Before the coordinator stops an agent for a shutdown: its claimed task goes back to ready
    /// (no attempt used) and a bounce it was fixing is handed over again next time.
    pub fn release_for_shutdown(&self, agent: AgentId) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let Some(task) = tx.task_held_by(agent)? else { return Ok(()) };
            let task = require_task(tx, task)?;
            match task.state {
                TaskState::Claimed => {
                    apply(tx, &task, TaskEvent::Release, None, "cw run shut down", now)?;
                }
                TaskState::Conflict => {
                    if let Some(merge) = tx.latest_merge(task.id)? {
                        tx.set_merge_delivered(merge.id, task.id, None, now)?;
                    }
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// The agent to resume for a ready task: the newest one bound to it whose worktree is still
    /// there (a new agent would start over on a new branch).
    pub fn resumable_agent(&self, task: TaskId) -> Result<Option<AgentRecord>, ServiceError> {
        Ok(self.own_agents()?.into_iter().find(|a| {
            a.bound_task == Some(task)
                && a.kind == AgentKind::Managed
                && a.worktree.as_deref().is_some_and(|w| Path::new(w).is_dir())
                && a.branch.is_some()
        }))
    }

    /// The states of these tasks (unknown ids left out).
    pub fn task_states(&self, tasks: &[TaskId]) -> Result<Vec<(TaskId, TaskState)>, ServiceError> {
        self.store.read(|tx| {
            let mut states = Vec::with_capacity(tasks.len());
            for id in tasks {
                if let Some(task) = tx.task(*id)? {
                    states.push((*id, task.state));
                }
            }
            Ok(states)
        })
    }

    /// Every task, in plan order.
    pub fn all_tasks(&self) -> Result<Vec<TaskRecord>, ServiceError> {
        self.store.read(|tx| Ok(tx.tasks(&TaskFilter { state: None, plan: None })?))
    }

    /// Every dependency edge (task → its dependencies).
    pub fn dependency_map(
        &self,
    ) -> Result<std::collections::HashMap<TaskId, Vec<TaskId>>, ServiceError> {
        self.store.read(|tx| Ok(tx.all_dependencies()?))
    }

    /// Puts each ready task for the human (a plan's checkpoint) in the inbox as a question, once.
    /// Approving it completes the task and its dependents go on; rejecting it fails it.
    pub fn ask_human_for_checkpoints(&self) -> Result<Vec<QuestionRecord>, ServiceError> {
        // The loop asks after every change; a read finds out whether there is anything to ask
        // without taking the write lock every agent's MCP server competes for.
        let unasked = |tx: &Tx<'_>| -> Result<Vec<TaskRecord>, ServiceError> {
            let mut unasked = Vec::new();
            for id in tx.ready_tasks(u32::MAX)? {
                let task = require_task(tx, id)?;
                if task.needs_human
                    && tx.human_task_question(id)?.is_none_or(|q| q.status != QuestionStatus::Open)
                {
                    unasked.push(task);
                }
            }
            Ok(unasked)
        };
        if self.store.read(unasked)?.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.now();
        self.store.write(|tx| {
            let mut asked = Vec::new();
            for task in unasked(tx)? {
                let id = task.id;
                let mut text = format!("Task {id} is for you: {}", task.title);
                for (label, body) in [
                    ("What to do", &task.description),
                    ("How to verify", &task.verify),
                    ("Done when", &task.done_criteria),
                ] {
                    if !body.trim().is_empty() {
                        text.push_str(&format!("\n\n{label}:\n{}", body.trim()));
                    }
                }
                text.push_str(
                    "\n\nAnswer `approve` when it is done (anything after the word is kept as its result), `reject <why>` to fail it (what waits for it keeps waiting), or `defer` to keep it here.",
                );
                let options = ["approve".to_owned(), "reject".to_owned(), "defer".to_owned()];
                let question = tx.insert_question(None, Some(id), &text, &options, now)?;
                asked.push(tx.question(question)?.ok_or(ServiceError::QuestionNotFound(question))?);
            }
            Ok(asked)
        })
    }

    /// The worktree and branch of a finished agent whose task is merged and whose directory still
    /// exists: what `clean_merged_worktree` removes and a new agent may reuse. The branch itself
    /// is checked against the integration branch by whoever acts on it.
    pub fn merged_worktree(
        &self,
        agent: AgentId,
    ) -> Result<Option<(PathBuf, String)>, ServiceError> {
        let record = self.agent(agent)?;
        let (Some(path), Some(branch)) = (record.worktree.as_deref(), record.branch.as_deref())
        else {
            return Ok(None);
        };
        if record.process.is_some() || !Path::new(path).exists() {
            return Ok(None);
        }
        let Some(task) = record.task.or(record.bound_task) else { return Ok(None) };
        let merged = self.store.read(|tx| require_task(tx, task))?.state == TaskState::Merged;
        Ok(merged.then(|| (PathBuf::from(path), branch.to_owned())))
    }

    /// True when no task can move without the human or a new task: every unfinished task is
    /// pending behind one that ended (failed or cancelled), or held by an agent the operator
    /// stopped (it waits for `cw agent restart`). Whether the caller's own agents, starts and
    /// queue still run is the caller's to add.
    pub fn nothing_can_move(&self) -> Result<bool, ServiceError> {
        let overview = self.overview()?;
        let movable: u64 = overview
            .counts
            .iter()
            .filter(|(state, _)| !state.is_terminal() && *state != TaskState::Pending)
            .map(|(_, n)| n)
            .sum();
        let held = self.held_tasks()?;
        let paused = held.iter().filter(|held| held.agent.is_paused()).count();
        Ok(movable == 0 || movable == paused as u64)
    }

    /// Checks that the configured integration branch exists and is checked out nowhere (merges
    /// move it): `cw run` asks once when it starts, and before merging.
    pub fn check_integration_branch(&self) -> Result<(), ServiceError> {
        Ok(git::check_integration_branch(&self.workspace.repo, &self.config.integration_branch)?)
    }

    /// Deletes what worktree removals killed midway left beside the agents' worktrees.
    pub fn remove_half_removed_worktrees(&self) {
        git::remove_tombstones(&self.workspace.worktrees_dir(&self.config.agent.worktree_dir));
    }

    /// Removes the worktree and branch of a finished agent once its branch is merged; true if it
    /// did. Unmerged work is never touched.
    pub fn clean_merged_worktree(&self, agent: AgentId) -> Result<bool, ServiceError> {
        let Some((path, branch)) = self.merged_worktree(agent)? else { return Ok(false) };
        let repo = &self.workspace.repo;
        let integration = &self.config.integration_branch;
        if !git::is_merged(repo, &branch, integration)? {
            return Ok(false);
        }
        let lock = git::WriteLock::acquire(repo)?;
        git::remove_worktree(repo, &lock, &path, &branch, integration)?;
        Ok(true)
    }
}
