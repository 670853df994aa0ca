//! Agent identities and claims: register, claim (atomic, leased, idempotent), renew, release,
//! and returning expired claims to the ready set.

use tracing::{info, instrument};

use super::tasks::{apply, detail, require_task};
use super::{Service, ServiceError, token};
use crate::model::{
    AgentEvent, AgentId, AgentKind, AgentState, Lease, ReportOutcome, TaskEvent, TaskId, TaskState,
    Timestamp,
};
use crate::store::{AgentRecord, NewAgent, TaskRecord, Tx};

/// A new agent identity. The token is shown once and stored only hashed.
#[derive(Debug, Clone)]
pub struct Registration {
    pub agent: AgentRecord,
    pub token: String,
}

/// A claim with everything the agent needs to start: plan, phase and dependency results.
#[derive(Debug, Clone)]
pub struct ClaimedWork {
    pub claim: Claim,
    pub detail: super::TaskDetail,
    /// The agent's worktree and branch, when cw made them.
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// The branch the work merges into.
    pub integration: String,
    /// Who runs the claiming agent.
    pub kind: AgentKind,
}

/// A successful claim: the task, held by the agent until `lease` unless renewed.
#[derive(Debug, Clone)]
pub struct Claim {
    pub task: TaskRecord,
    pub lease: Lease,
    /// True when the agent already held this task (the call only renewed the lease).
    pub already_held: bool,
}

impl Service {
    /// Creates an identity for an agent the user runs, optionally bound to one task; it is given
    /// a worktree and branch on its first claim.
    pub fn register_agent(
        &self,
        name: &str,
        task: Option<TaskId>,
    ) -> Result<Registration, ServiceError> {
        self.register_agent_of(name, task, AgentKind::Registered)
    }

    /// Creates an agent identity of `kind`, optionally bound to one task.
    #[instrument(skip_all, fields(name = %name))]
    pub fn register_agent_of(
        &self,
        name: &str,
        task: Option<TaskId>,
        kind: AgentKind,
    ) -> Result<Registration, ServiceError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ServiceError::InvalidInput(
                "an agent name must be 1 to 100 characters".to_owned(),
            ));
        }
        let token = token::generate("cwa_")?;
        let now = self.now();
        let agent = self.store.write(|tx| {
            if let Some(task) = task {
                require_task(tx, task)?;
            }
            let new = NewAgent {
                name: name.to_owned(),
                task,
                token_hash: token::hash(&token),
                state: AgentState::Starting,
                kind,
                host: self.config.worker.host().map(str::to_owned),
            };
            let id = tx.insert_agent(&new, now)?;
            tx.agent(id)?.ok_or(ServiceError::AgentNotFound(id))
        })?;
        Ok(Registration { agent, token })
    }

    /// The agent a token belongs to.
    pub fn authenticate(&self, token: Option<&str>) -> Result<AgentRecord, ServiceError> {
        let token =
            token.map(str::trim).filter(|t| !t.is_empty()).ok_or(ServiceError::MissingToken)?;
        let hash = token::hash(token);
        self.store.read(|tx| tx.agent_by_token_hash(&hash)?.ok_or(ServiceError::UnknownToken))
    }

    /// Claims work for `agent` in one immediate transaction.
    ///
    /// Returns the task the agent already holds (renewing its lease) if there is one; otherwise
    /// the task it is bound to, or the first ready task in dispatch order. `None` means nothing is
    /// ready — including when another process won the race — which is not an error.
    #[instrument(skip_all, fields(agent_id = %agent))]
    pub fn claim(&self, agent: AgentId) -> Result<Option<Claim>, ServiceError> {
        self.store.write(|tx| self.claim_in(tx, agent))
    }

    /// `claim` plus the task's context (plan, phase, dependency results): what MCP `claim_task`
    /// hands an agent. An agent cw did not start (`cw agent register`) gets a worktree and
    /// branch of its own on its first claim, as a started one has from its start: its work has
    /// to be on a branch to be merged.
    pub fn claim_work(&self, agent: AgentId) -> Result<Option<ClaimedWork>, ServiceError> {
        let Some(mut work) = self.claim_work_in_db(agent)? else { return Ok(None) };
        if work.branch.is_none() && work.kind == AgentKind::Registered {
            let task = work.claim.task.id;
            match self.provide_worktree(agent, task, &work.claim.task.title) {
                Ok((worktree, branch)) => {
                    work.worktree = Some(worktree);
                    work.branch = Some(branch);
                }
                Err(err) => {
                    // No claim without somewhere to work: the task goes back, no attempt used.
                    if let Err(release) = self.release(agent, task) {
                        tracing::warn!(%task, cause = %release, "could not give the task back");
                    }
                    return Err(err);
                }
            }
        }
        Ok(Some(work))
    }

    /// The branch and worktree path cw plans for `task`: `cw/<slug>-<id>` beside the repository.
    pub fn planned_worktree(&self, task: TaskId, title: &str) -> (String, std::path::PathBuf) {
        let branch = crate::git::task_branch(title, &task.to_string());
        let path = self
            .workspace
            .worktrees_dir(&self.config.agent.worktree_dir)
            .join(branch.trim_start_matches("cw/").replace('/', "-"));
        (branch, path)
    }

    /// Makes (or finds again) the task's worktree for `agent` and records it. A branch left by the
    /// task's earlier agent is continued, not replaced: its commits are the task's work so far.
    fn provide_worktree(
        &self,
        agent: AgentId,
        task: TaskId,
        title: &str,
    ) -> Result<(String, String), ServiceError> {
        use crate::git;
        let repo = &self.workspace.repo;
        let (branch, path) = self.planned_worktree(task, title);
        let base = self.config.integration_branch.clone();
        if !git::worktree_on_branch(repo, &path, &branch) {
            let lock = git::WriteLock::acquire(repo)?;
            if git::branch_exists(repo, &branch) {
                git::restore_worktree(repo, &lock, &path, &branch, &base)?;
            } else {
                let spec = git::WorktreeSpec { branch: branch.clone(), path: path.clone(), base };
                git::create_worktree(repo, &lock, &spec)?;
            }
        }
        let worktree = path.to_string_lossy().into_owned();
        let now = self.now();
        self.store.write(|tx| -> Result<(), ServiceError> {
            Ok(tx.set_agent_workspace(agent, &worktree, &branch, None, now)?)
        })?;
        info!(agent_id = %agent, task_id = %task, worktree, branch, "gave a registered agent a worktree");
        Ok((worktree, branch))
    }

    fn claim_work_in_db(&self, agent: AgentId) -> Result<Option<ClaimedWork>, ServiceError> {
        self.store.write(|tx| {
            let Some(claim) = self.claim_in(tx, agent)? else { return Ok(None) };
            let detail = detail(tx, claim.task.id)?;
            let holder = tx.agent(agent)?.ok_or(ServiceError::AgentNotFound(agent))?;
            Ok(Some(ClaimedWork {
                claim,
                detail,
                worktree: holder.worktree,
                branch: holder.branch,
                integration: self.config.integration_branch.clone(),
                kind: holder.kind,
            }))
        })
    }

    fn claim_in(&self, tx: &Tx<'_>, agent: AgentId) -> Result<Option<Claim>, ServiceError> {
        let now = self.now();
        let lease = Lease::starting(now, self.config.claims.lease_millis());
        let max_attempts = self.config.claims.max_attempts;
        let holder = tx.agent(agent)?.ok_or(ServiceError::AgentNotFound(agent))?;
        if let Some(held) = tx.task_held_by(agent)? {
            tx.renew_lease(held, agent, lease.expires_at)?;
            let task = require_task(tx, held)?;
            return Ok(Some(Claim { task, lease, already_held: true }));
        }
        expire_in(tx, now, max_attempts, self.host_lost_after())?;
        let candidate = match holder.bound_task {
            Some(bound) => Some(bound),
            None => tx.first_ready_task()?,
        };
        let Some(candidate) = candidate else { return Ok(None) };
        let task = require_task(tx, candidate)?;
        if task.state != TaskState::Ready || task.needs_human {
            // A bound agent whose task is not ready (yet, or any more) gets nothing.
            return Ok(None);
        }
        apply(tx, &task, TaskEvent::Claim, Some((agent, lease.expires_at)), "claimed", now)?;
        tx.set_agent_task(agent, Some(candidate), now)?;
        if holder.state == AgentState::Starting {
            let next = holder
                .state
                .transition(AgentEvent::Started)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            tx.set_agent_state(agent, holder.state, next, now)?;
        }
        let task = require_task(tx, candidate)?;
        Ok(Some(Claim { task, lease, already_held: false }))
    }

    /// Extends the lease on a task the agent holds.
    #[instrument(skip_all, fields(agent_id = %agent, task_id = %task))]
    pub fn renew_lease(&self, agent: AgentId, task: TaskId) -> Result<Lease, ServiceError> {
        let lease = Lease::starting(self.now(), self.config.claims.lease_millis());
        self.store.write(|tx| {
            require_task(tx, task)?;
            if !tx.renew_lease(task, agent, lease.expires_at)? {
                return Err(ServiceError::NotYourTask { task, agent });
            }
            Ok(lease)
        })
    }

    /// Gives a claimed task back to the ready set without using up an attempt.
    #[instrument(skip_all, fields(agent_id = %agent, task_id = %task))]
    pub fn release(&self, agent: AgentId, task: TaskId) -> Result<TaskRecord, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let record = require_task(tx, task)?;
            if record.agent != Some(agent) || !record.state.is_held() {
                return Err(ServiceError::NotYourTask { task, agent });
            }
            apply(tx, &record, TaskEvent::Release, None, "released by its agent", now)?;
            require_task(tx, task)
        })
    }

    /// Ends the agent's work on a task it holds: done, failed (with the summary as the reason) or
    /// blocked (waiting for the human).
    #[instrument(skip_all, fields(agent_id = %agent, task_id = %task))]
    pub fn report_done(
        &self,
        agent: AgentId,
        task: TaskId,
        outcome: ReportOutcome,
        summary: &str,
    ) -> Result<TaskRecord, ServiceError> {
        let now = self.now();
        if outcome == ReportOutcome::Done {
            self.require_committed(agent, task)?;
        }
        self.store.write(|tx| {
            let record = require_task(tx, task)?;
            if record.agent != Some(agent) {
                return Err(ServiceError::NotYourTask { task, agent });
            }
            let reason = match outcome {
                ReportOutcome::Done => "reported done",
                ReportOutcome::Failed => "reported failed",
                ReportOutcome::Blocked => "reported blocked",
            };
            apply(tx, &record, TaskEvent::Report(outcome), None, reason, now)?;
            tx.set_task_result(task, Some(summary))?;
            if outcome == ReportOutcome::Blocked {
                // A blocked agent needs the human: the reason goes to the inbox as a question.
                let question =
                    format!("Agent {agent} is blocked on {task} ({}): {summary}", record.title);
                tx.insert_question(Some(agent), Some(task), &question, &[], now)?;
            }
            if outcome == ReportOutcome::Failed {
                tx.set_task_failure(task, Some(summary))?;
            }
            require_task(tx, task)
        })
    }

    /// Done means committed: an agent with a cw worktree may not report done with uncommitted
    /// files there (they would never be merged).
    fn require_committed(&self, agent: AgentId, task: TaskId) -> Result<(), ServiceError> {
        let record =
            self.store.read(|tx| tx.agent(agent)?.ok_or(ServiceError::AgentNotFound(agent)))?;
        let Some(worktree) = record.worktree.as_deref().map(std::path::Path::new) else {
            return Ok(());
        };
        if !worktree.is_dir() {
            return Ok(());
        }
        let paths = crate::git::uncommitted_paths(worktree)?;
        if paths.is_empty() {
            return Ok(());
        }
        Err(ServiceError::Uncommitted { task, paths })
    }

    /// Returns every claimed task whose lease has run out to the ready set (attempts + 1), or
    /// fails it once it is past the configured maximum. Returns what changed.
    pub fn expire_leases(&self) -> Result<Vec<(TaskId, TaskState)>, ServiceError> {
        let now = self.now();
        let max_attempts = self.config.claims.max_attempts;
        let lost_after = self.host_lost_after();
        self.store.write(|tx| {
            let mut changed = expire_in(tx, now, max_attempts, lost_after)?;
            changed.extend(return_done_of_lost_hosts(tx, now, max_attempts, lost_after)?);
            Ok(changed)
        })
    }
}

fn expire_in(
    tx: &Tx<'_>,
    now: Timestamp,
    max_attempts: u32,
    host_lost_after: i64,
) -> Result<Vec<(TaskId, TaskState)>, ServiceError> {
    let mut changed = Vec::new();
    for (task, agent, attempts) in tx.expired_leases(now)? {
        if let Some(holder) = tx.agent(agent)? {
            // Its process still runs (or has not been seen ending yet): a long think is not a
            // lost agent. The supervisor records the end, then the claim is handed back. A
            // stopped agent was paused by the operator, who decides when it goes on. A process
            // on another host counts only while that host is heard from: a host killed or cut
            // off records no end, and its agents' leases run out.
            let host_heard = holder_host_heard(tx, &holder, now, host_lost_after)?;
            if (holder.process.is_some() && host_heard) || holder.state == AgentState::Stopped {
                continue;
            }
        }
        let record = require_task(tx, task)?;
        let attempts = attempts.saturating_add(1);
        let event = TaskEvent::LeaseExpired { attempts, max_attempts };
        let reason =
            format!("lease of agent {agent} expired ({})", attempt_of(attempts, max_attempts));
        let next = apply(tx, &record, event, None, &reason, now)?;
        tx.set_task_attempts(task, attempts)?;
        if next == TaskState::Failed {
            let why = format!(
                "the lease expired {attempts} times (max_attempts = {max_attempts}); retry it with `cw task retry {task}`"
            );
            tx.set_task_failure(task, Some(&why))?;
        }
        info!(task_id = %task, %agent, state = %next, "lease expired");
        changed.push((task, next));
    }
    Ok(changed)
}

/// A task reported done (its branch perhaps never pushed) or bounced back to an agent whose host
/// went silent holds no lease, and no host will resume that agent: it goes back, an attempt
/// used. (The coordinator's tick only: a claim must not scan these tasks.)
fn return_done_of_lost_hosts(
    tx: &Tx<'_>,
    now: Timestamp,
    max_attempts: u32,
    host_lost_after: i64,
) -> Result<Vec<(TaskId, TaskState)>, ServiceError> {
    let mut changed = Vec::new();
    let mut held = tx.tasks_in_state(TaskState::Done)?;
    held.extend(tx.tasks_in_state(TaskState::Conflict)?);
    for record in held {
        let Some(agent) = record.agent.map(|a| tx.agent(a)).transpose()?.flatten() else {
            continue;
        };
        let Some(host) = &agent.host else { continue };
        if holder_host_heard(tx, &agent, now, host_lost_after)?
            || agent.state == AgentState::Stopped
        {
            continue;
        }
        let attempts = record.attempts.saturating_add(1);
        let event = TaskEvent::HostLost { attempts, max_attempts };
        let reason = format!(
            "host {host} of agent {} went silent before the task was merged ({})",
            agent.id,
            attempt_of(attempts, max_attempts)
        );
        let next = apply(tx, &record, event, None, &reason, now)?;
        tx.set_task_attempts(record.id, attempts)?;
        if next == TaskState::Failed {
            let why = format!(
                "its host {host} was lost {attempts} times; retry it with `cw task retry {}`",
                record.id
            );
            tx.set_task_failure(record.id, Some(&why))?;
        }
        changed.push((record.id, next));
    }
    Ok(changed)
}

/// Whether the host of `holder` still counts as alive (the coordinator's machine always does).
fn holder_host_heard(
    tx: &Tx<'_>,
    holder: &AgentRecord,
    now: Timestamp,
    host_lost_after: i64,
) -> Result<bool, ServiceError> {
    Ok(match &holder.host {
        None => true,
        Some(host) => super::hosts::heard_within(
            tx.host(host)?.and_then(|h| h.last_seen),
            now,
            host_lost_after,
        ),
    })
}

/// "attempt 2 of 4": the session that ended was attempt `attempts` (the losses so far) of the
/// `max_attempts + 1` sessions a task gets (`max_attempts` counts the hand-outs again).
pub(super) fn attempt_of(attempts: u32, max_attempts: u32) -> String {
    format!("attempt {attempts} of {}", max_attempts.saturating_add(1))
}
