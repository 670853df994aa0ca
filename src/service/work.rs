//! An agent's work on its task: progress heartbeats and merge requests; agents for the operator.

use tracing::instrument;

use super::conversation::{renew_held, require_agent};
use super::tasks::{apply, require_task};
use super::{Caller, Service, ServiceError};
use crate::model::{AgentId, TaskEvent, TaskId, TaskState, Timestamp};
use crate::store::{AgentRecord, TaskRecord};

/// The longest progress line accepted, in characters.
pub const MAX_PROGRESS_CHARS: usize = 2_000;

/// What happened to a merge request.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    pub task: TaskRecord,
    /// `queued` until the coordinator merges (`merged`) or bounces it (`conflict`).
    pub state: &'static str,
    /// Tasks this one depends on that are not merged yet (it merges after them).
    pub waiting_for: Vec<TaskId>,
}

impl Service {
    /// A heartbeat with a line for the human; renews the lease.
    #[instrument(skip_all, fields(agent_id = %agent, task_id = %task))]
    pub fn report_progress(
        &self,
        agent: AgentId,
        task: TaskId,
        message: &str,
    ) -> Result<TaskRecord, ServiceError> {
        let message = message.trim();
        if message.is_empty() {
            return Err(ServiceError::InvalidInput("the progress message is empty".to_owned()));
        }
        if message.chars().count() > MAX_PROGRESS_CHARS {
            return Err(ServiceError::InvalidInput(format!(
                "a progress message is at most {MAX_PROGRESS_CHARS} characters; keep it to a line"
            )));
        }
        let now = self.now();
        let lease = self.lease_from(now);
        self.store.write(|tx| {
            let record = owned_task(tx, agent, task)?;
            if !record.state.is_held() {
                return Err(ServiceError::Transition {
                    task,
                    source: crate::model::TransitionError {
                        from: record.state,
                        action: "take progress reports",
                        hint: " (it is not being worked on)",
                    },
                });
            }
            renew_held(tx, agent, lease)?;
            tx.append_event(
                now,
                "task.progress",
                Some(task),
                Some(agent),
                &serde_json::json!({ "message": message }),
            )?;
            require_task(tx, task)
        })
    }

    /// Queues a done (or conflict-fixed) task's branch for the integration branch.
    #[instrument(skip_all, fields(agent_id = %agent, task_id = %task))]
    pub fn request_merge(
        &self,
        agent: AgentId,
        task: TaskId,
    ) -> Result<MergeRequest, ServiceError> {
        if self.own_host().is_some() {
            // On a worker, the coordinator merges what it has: the branch goes there first (only
            // for the task's holder; a stale one is refused here, before anything is pushed).
            let branch = self.store.read(|tx| {
                let record = owned_task(tx, agent, task)?;
                Ok::<_, ServiceError>(
                    tx.agent_branch(agent)?.filter(|_| record.state != TaskState::Merging),
                )
            })?;
            if let Some(branch) = branch {
                self.push_branch(&branch)?;
            }
        }
        let now = self.now();
        self.store.write(|tx| {
            let record = owned_task(tx, agent, task)?;
            if record.state == TaskState::Merging {
                // Asking twice is harmless: the request is already queued.
                return Ok(MergeRequest {
                    waiting_for: unmerged_dependencies(tx, task)?,
                    task: record,
                    state: "queued",
                });
            }
            let Some(branch) = tx.agent_branch(agent)? else {
                // Queued, it could only fail later and leave the task merging.
                return Err(ServiceError::InvalidInput(format!(
                    "agent {agent} has no branch, and cw merges branches: register the agent without --no-worktree (cw agent register) and claim {task} with it, so cw gives it a worktree and branch to commit in, then request the merge"
                )));
            };
            apply(tx, &record, TaskEvent::RequestMerge, None, "merge requested", now)?;
            tx.insert_merge_request(task, Some(&branch), now)?;
            Ok(MergeRequest {
                waiting_for: unmerged_dependencies(tx, task)?,
                task: require_task(tx, task)?,
                state: "queued",
            })
        })
    }

    /// Every agent, newest first: what cw's own parts (the coordinator, the runtime, the mirror)
    /// read; an adapter lists them for a caller with `list_agents`.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, ServiceError> {
        self.store.read(|tx| Ok(tx.agents()?))
    }

    /// The agents this host runs (its worker's, or the coordinator machine's own), newest first:
    /// only these does it supervise, adopt or resume.
    pub fn own_agents(&self) -> Result<Vec<AgentRecord>, ServiceError> {
        let host = self.config.worker.host();
        Ok(self.agents()?.into_iter().filter(|a| a.host.as_deref() == host).collect())
    }

    /// Every agent, newest first, for the operator (an agent sees only itself through its tools).
    pub fn list_agents(&self, caller: &Caller) -> Result<Vec<AgentRecord>, ServiceError> {
        caller.require_operator()?;
        self.agents()
    }

    pub(super) fn lease_from(&self, now: Timestamp) -> Timestamp {
        now.plus_millis(self.config.claims.lease_millis())
    }
}

/// The task, if `agent` is the one working on it.
fn owned_task(
    tx: &crate::store::Tx<'_>,
    agent: AgentId,
    task: TaskId,
) -> Result<TaskRecord, ServiceError> {
    require_agent(tx, agent)?;
    let record = require_task(tx, task)?;
    if record.agent != Some(agent) {
        return Err(ServiceError::NotYourTask { task, agent });
    }
    Ok(record)
}

fn unmerged_dependencies(
    tx: &crate::store::Tx<'_>,
    task: TaskId,
) -> Result<Vec<TaskId>, ServiceError> {
    let mut waiting = Vec::new();
    for dep in tx.dependencies(task)? {
        if require_task(tx, dep)?.state != TaskState::Merged {
            waiting.push(dep);
        }
    }
    Ok(waiting)
}
