//! Agent processes as the database sees them: preparing an agent for a task, and recording its
//! worktree, process, session, usage and exit. The agent runtime (`crate::agent`) does the
//! spawning and signalling and calls these to keep the record.

use tracing::info;

use super::conversation::require_agent;
use super::tasks::require_task;
use super::{Registration, Service, ServiceError, token};
use crate::model::{AgentEvent, AgentId, AgentKind, AgentState, TaskId, TaskState};
use crate::store::{AgentProcess, AgentRecord, AgentUsage, Tx};

/// How an agent's process ended, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// It ended by itself after a successful turn.
    Exited,
    /// It died, failed its turn, or ended without a result.
    Crashed,
}

/// What a new session of an agent would continue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Continues {
    /// Its task, still its own and unfinished.
    Task(TaskId),
    /// Nothing: why, in words (its task is merged, cancelled, someone else's, or it has none).
    Nothing(String),
}

impl Service {
    /// What restarting `agent` would continue. A task that is merged or cancelled, or held by
    /// another agent now, is not continued: its worktree may rightly be gone.
    pub fn what_agent_continues(&self, agent: AgentId) -> Result<Continues, ServiceError> {
        self.store.read(|tx| {
            let record = require_agent(tx, agent)?;
            if record.kind != AgentKind::Managed {
                return Ok(Continues::Nothing(
                    "it was registered by hand (cw agent register), and cw does not run its process"
                        .to_owned(),
                ));
            }
            let Some(id) = record.task.or(record.bound_task) else {
                return Ok(Continues::Nothing("it has no task".to_owned()));
            };
            let task = require_task(tx, id)?;
            Ok(match (task.state, task.agent) {
                (TaskState::Merged | TaskState::Cancelled, _) => {
                    Continues::Nothing(format!("its task {id} is {}", task.state))
                }
                (_, Some(holder)) if holder != agent => {
                    Continues::Nothing(format!("its task {id} is with agent {holder} now"))
                }
                _ => Continues::Task(id),
            })
        })
    }

    /// Registers an agent bound to `task`, refusing a task that is not ready for an agent.
    pub fn prepare_agent(&self, task: TaskId) -> Result<Registration, ServiceError> {
        let record = self.store.read(|tx| require_task(tx, task))?;
        if record.state != TaskState::Ready || record.needs_human || record.agent.is_some() {
            let why = if record.needs_human {
                "it is a task for the human (answer it with `cw task` or the inbox)".to_owned()
            } else if record.state == TaskState::Pending {
                "its dependencies are not merged yet".to_owned()
            } else {
                format!("it is {}", record.state)
            };
            return Err(ServiceError::TaskNotReady { task, why });
        }
        // With workers, hosts race for the same ready task: the first agent registered on it
        // takes it, while it works on a host still heard from.
        let own = self.own_host().map(str::to_owned);
        let (now, lost_after) = (self.now(), self.host_lost_after());
        let starting_elsewhere = self.store.read(|tx| {
            for other in tx.agents()? {
                let active = matches!(
                    other.state,
                    AgentState::Starting | AgentState::Running | AgentState::Waiting
                );
                if other.bound_task != Some(task) || !active || other.host == own {
                    continue;
                }
                let heard = match &other.host {
                    None => true,
                    Some(host) => super::hosts::heard_within(
                        tx.host(host)?.and_then(|h| h.last_seen),
                        now,
                        lost_after,
                    ),
                };
                if heard {
                    return Ok(Some(other.host.unwrap_or_else(|| "the coordinator's".to_owned())));
                }
            }
            Ok::<_, ServiceError>(None)
        })?;
        if let Some(host) = starting_elsewhere {
            return Err(ServiceError::TaskNotReady {
                task,
                why: format!("an agent on host {host} works on it"),
            });
        }
        self.register_agent_of(&format!("agent-{task}"), Some(task), AgentKind::Managed)
    }

    /// One agent.
    pub fn agent(&self, agent: AgentId) -> Result<AgentRecord, ServiceError> {
        self.store.read(|tx| require_agent(tx, agent))
    }

    /// Records the worktree, branch and session cw prepared for the agent.
    pub fn record_agent_workspace(
        &self,
        agent: AgentId,
        worktree: &str,
        branch: &str,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            require_agent(tx, agent)?;
            Ok(tx.set_agent_workspace(agent, worktree, branch, Some(session_id), now)?)
        })
    }

    /// Gives the agent a fresh token (for a new session's MCP config) and returns it.
    pub fn rotate_agent_token(&self, agent: AgentId) -> Result<String, ServiceError> {
        let token = token::generate("cwa_")?;
        let now = self.now();
        self.store.write(|tx| -> Result<(), ServiceError> {
            require_agent(tx, agent)?;
            Ok(tx.set_agent_token_hash(agent, &token::hash(&token), now)?)
        })?;
        Ok(token)
    }

    /// Moves a finished agent back to `starting` before a new session; refuses a live one.
    pub fn prepare_restart(&self, agent: AgentId) -> Result<AgentRecord, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let record = require_agent(tx, agent)?;
            if record.process.is_some() {
                return Err(ServiceError::AgentRunning(agent));
            }
            if record.state != AgentState::Starting {
                agent_event(tx, &record, AgentEvent::Restart, now)?;
            }
            // A new session is the restart the operator asked for, however it was started.
            if record.restart_reason.is_some() {
                tx.set_agent_restart(agent, None, now)?;
            }
            require_agent(tx, agent)
        })
    }

    /// Records the process now running for the agent, and that it runs.
    pub fn record_agent_started(
        &self,
        agent: AgentId,
        process: AgentProcess,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let record = require_agent(tx, agent)?;
            tx.set_agent_process(agent, Some(process), now)?;
            tx.set_agent_session(agent, session_id, now)?;
            if record.state == AgentState::Starting {
                agent_event(tx, &record, AgentEvent::Started, now)?;
            }
            Ok(())
        })
    }

    /// Records a session id seen in the agent's output (it can differ after a fork).
    pub fn record_agent_session(
        &self,
        agent: AgentId,
        session_id: &str,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| Ok(tx.set_agent_session(agent, session_id, now)?))
    }

    /// Replaces the agent's cumulative usage.
    pub fn record_agent_usage(
        &self,
        agent: AgentId,
        usage: AgentUsage,
    ) -> Result<(), ServiceError> {
        let now = self.now();
        self.store.write(|tx| Ok(tx.set_agent_usage(agent, usage, now)?))
    }

    /// Marks the agent stopped (before its process is signalled, so whoever sees it end knows
    /// it was asked to).
    pub fn record_agent_stopping(&self, agent: AgentId) -> Result<AgentRecord, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let record = require_agent(tx, agent)?;
            if record.state.transition(AgentEvent::Stop).is_ok() {
                agent_event(tx, &record, AgentEvent::Stop, now)?;
            }
            require_agent(tx, agent)
        })
    }

    /// Stops an agent as the operator asks (`cw agent stop`, the MCP `stop_agent`): marks it
    /// stopped, then ends its recorded process group (SIGTERM, `stop_grace_seconds`, SIGKILL).
    /// The agent stays paused with its task until it is restarted. `None`: it was not running.
    pub fn stop_agent(
        &self,
        caller: &super::Caller,
        agent: AgentId,
    ) -> Result<Option<crate::process::StopReport>, ServiceError> {
        caller.require_operator()?;
        let record = self.record_agent_stopping(agent)?;
        let grace = std::time::Duration::from_secs(self.config().agent.stop_grace_seconds);
        let running = record.process.map(|p| crate::process::ProcessHandle {
            pid: p.pid,
            pgid: p.pgid,
            start_time: p.start_time,
        });
        let report = match running {
            Some(handle) if crate::process::is_running(handle) => {
                Some(crate::process::stop_group(handle, grace, || {})?)
            }
            _ => None,
        };
        let status = stop_status(report.as_ref(), record.exit_status);
        self.record_agent_exit(agent, ExitKind::Crashed, &status)?;
        Ok(report)
    }

    /// The operator asks for an agent to continue its task in a fresh turn of its session (MCP
    /// `restart_agent`). The request is recorded, then a running process is ended; whoever
    /// supervises it records the end, and `cw run` continues the session with `reason` (at
    /// once when it runs, else at its next start). Refused when the agent has nothing to
    /// continue. Returns the task.
    pub fn request_restart(
        &self,
        caller: &super::Caller,
        agent: AgentId,
        reason: &str,
    ) -> Result<TaskId, ServiceError> {
        caller.require_operator()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.len() > super::MAX_PROGRESS_CHARS {
            return Err(ServiceError::InvalidInput(format!(
                "a restart reason is one line of 1 to {} characters",
                super::MAX_PROGRESS_CHARS
            )));
        }
        let task = match self.what_agent_continues(agent)? {
            Continues::Task(task) => task,
            Continues::Nothing(why) => return Err(ServiceError::NothingToContinue { agent, why }),
        };
        let now = self.now();
        let record = self.store.write(|tx| -> Result<AgentRecord, ServiceError> {
            tx.set_agent_restart(agent, Some(reason), now)?;
            require_agent(tx, agent)
        })?;
        // Not recorded here: the supervisor that sees the end records it, and only then may the
        // session be continued (a second record would retire the next session's token).
        let running = record.process.map(|p| crate::process::ProcessHandle {
            pid: p.pid,
            pgid: p.pgid,
            start_time: p.start_time,
        });
        if let Some(handle) = running.filter(|h| crate::process::is_running(*h)) {
            let grace = std::time::Duration::from_secs(self.config().agent.stop_grace_seconds);
            crate::process::stop_group(handle, grace, || {})?;
        }
        Ok(task)
    }

    /// Records that the agent's process ended: clears it, keeps `status`, and moves the agent to
    /// exited or crashed (a stopped agent stays stopped).
    pub fn record_agent_exit(
        &self,
        agent: AgentId,
        kind: ExitKind,
        status: &str,
    ) -> Result<AgentRecord, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let record = require_agent(tx, agent)?;
            tx.set_agent_process(agent, None, now)?;
            tx.set_agent_exit(agent, status, now)?;
            // Its token dies with its process: a token left in its MCP config or a log acts for
            // no one. A resumed session gets a new one (`rotate_agent_token`).
            tx.set_agent_token_hash(agent, &format!("retired:{agent}:{}", now.0), now)?;
            if record.state != AgentState::Stopped {
                let event = match kind {
                    ExitKind::Exited => AgentEvent::Exit,
                    ExitKind::Crashed => AgentEvent::Crash,
                };
                if record.state.transition(event).is_ok() {
                    agent_event(tx, &record, event, now)?;
                }
            }
            info!(agent_id = %agent, status, "agent process ended");
            require_agent(tx, agent)
        })
    }
}

fn agent_event(
    tx: &Tx<'_>,
    record: &AgentRecord,
    event: AgentEvent,
    now: crate::model::Timestamp,
) -> Result<(), ServiceError> {
    let next = record.state.transition(event).map_err(|e| ServiceError::Internal(e.to_string()))?;
    tx.set_agent_state(record.id, record.state, next, now)?;
    Ok(())
}

/// What an agent the operator stopped shows as its end (`previous`: what it showed before, for
/// one that was not running).
pub fn stop_status(
    report: Option<&crate::process::StopReport>,
    previous: Option<String>,
) -> String {
    match report {
        Some(report) if report.killed => "stopped (killed after the grace period)".to_owned(),
        Some(_) => "stopped".to_owned(),
        None => previous.unwrap_or_else(|| "stopped".to_owned()),
    }
}
