//! Agent identities. Tokens are stored only as hashes.

use serde_json::json;

use super::sql::{Row, args};
use super::{StoreError, Tx};
use crate::model::{AgentId, AgentKind, AgentState, TaskId, Timestamp};

/// An agent row.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub name: String,
    pub state: AgentState,
    /// Who runs its process.
    pub kind: AgentKind,
    pub task: Option<TaskId>,
    /// The only task this agent may claim, if it was registered for one.
    pub bound_task: Option<TaskId>,
    /// Its worktree and branch, once cw gave it one.
    pub worktree: Option<String>,
    pub branch: Option<String>,
    /// The process cw started for it, while one is recorded.
    pub process: Option<AgentProcess>,
    /// The agent CLI's session id (Claude Code `--session-id`), for `--resume`.
    pub session_id: Option<String>,
    pub usage: AgentUsage,
    /// How its last process ended ("exited 0", "crashed: signal 9", …).
    pub exit_status: Option<String>,
    /// The operator asked for a restart (MCP `restart_agent`), with this reason for the agent.
    pub restart_reason: Option<String>,
    /// The `cw worker` host it runs on; `None` for the coordinator's own machine.
    pub host: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl AgentRecord {
    /// Stopped by the operator and not asked to restart: cw leaves its task alone.
    pub fn is_paused(&self) -> bool {
        self.state == AgentState::Stopped && self.restart_reason.is_none()
    }
}

/// pid, process group and start time (clock ticks since boot): enough to find the process again
/// after cw restarts and to never mistake a reused pid for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentProcess {
    pub pid: u32,
    pub pgid: u32,
    pub start_time: u64,
}

/// What an agent's sessions cost so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct AgentUsage {
    pub cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// The fields of a new agent identity.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub name: String,
    pub task: Option<TaskId>,
    pub token_hash: String,
    pub state: AgentState,
    pub kind: AgentKind,
    /// The `cw worker` host that starts it; `None` for the coordinator's own machine.
    pub host: Option<String>,
}

const AGENT_COLUMNS: &str = "id, name, state, task_id, bound_task_id, worktree, branch, pid, pgid, \
     process_start, session_id, cost_usd, input_tokens, output_tokens, exit_status, created_at, \
     updated_at, kind, restart_reason, host";

impl Tx<'_> {
    /// New task and agent ids start above these (ids a lost database already gave out, still
    /// carried by branches, worktrees and agent directories).
    pub fn raise_id_floors(
        &self,
        tasks_above: i64,
        agents_above: i64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let raise = "INSERT INTO id_floors (entity, above) VALUES (?1, ?2)
             ON CONFLICT (entity) DO UPDATE SET above = CASE
                 WHEN excluded.above > id_floors.above THEN excluded.above ELSE id_floors.above END";
        self.execute(raise, args!["tasks", tasks_above])?;
        self.execute(raise, args!["agents", agents_above])?;
        let data = serde_json::json!({ "tasks_above": tasks_above, "agents_above": agents_above });
        self.append_event(now, "store.id_floors", None, None, &data)?;
        Ok(())
    }

    /// Inserts an agent; returns its id.
    pub fn insert_agent(&self, agent: &NewAgent, now: Timestamp) -> Result<AgentId, StoreError> {
        let id = self.query_one(
            "INSERT INTO agents (id, name, state, task_id, bound_task_id, token_hash, created_at, updated_at, kind, host)
             VALUES ((SELECT coalesce(max(n), 0) + 1 FROM (SELECT max(id) AS n FROM agents
                          UNION ALL SELECT above FROM id_floors WHERE entity = 'agents') AS floors),
                    ?1, ?2, ?3, ?3, ?4, ?5, ?5, ?6, ?7)
             RETURNING id",
            args![
                agent.name,
                agent.state.as_str(),
                agent.task.map(TaskId::get),
                agent.token_hash,
                now.0,
                agent.kind.as_str(),
                agent.host
            ],
            |row| row.get(0).map(AgentId),
        )?;
        self.append_event(
            now,
            "agent.registered",
            agent.task,
            Some(id),
            &json!({ "name": agent.name, "kind": agent.kind.as_str() }),
        )?;
        Ok(id)
    }

    /// One agent, or `None` if the id is unknown.
    pub fn agent(&self, id: AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1");
        self.query_opt(&sql, args![id.0], agent_from_row)
    }

    /// The agent whose token hashes to `token_hash`.
    pub fn agent_by_token_hash(&self, token_hash: &str) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE token_hash = ?1");
        self.query_opt(&sql, args![token_hash], agent_from_row)
    }

    /// Every agent, newest first.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id DESC");
        self.query_all(&sql, args![], agent_from_row)
    }

    /// Points an agent at the task it works on.
    pub fn set_agent_task(
        &self,
        id: AgentId,
        task: Option<TaskId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET task_id = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.0, task.map(TaskId::get), now.0],
        )?;
        Ok(())
    }

    /// The branch the agent works on, once it has a worktree.
    pub fn agent_branch(&self, id: AgentId) -> Result<Option<String>, StoreError> {
        self.query_opt("SELECT branch FROM agents WHERE id = ?1", args![id.0], |r| r.get(0))
            .map(Option::flatten)
    }

    /// Records the worktree and branch cw made for the agent, and its session id.
    pub fn set_agent_workspace(
        &self,
        id: AgentId,
        worktree: &str,
        branch: &str,
        session_id: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET worktree = ?2, branch = ?3, session_id = ?4, updated_at = ?5
                 WHERE id = ?1",
            args![id.0, worktree, branch, session_id, now.0],
        )?;
        Ok(())
    }

    /// Records the process now running for the agent (`None` once it ended), with an event.
    pub fn set_agent_process(
        &self,
        id: AgentId,
        process: Option<AgentProcess>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET pid = ?2, pgid = ?3, process_start = ?4, updated_at = ?5
                 WHERE id = ?1",
            args![
                id.0,
                process.map(|p| p.pid),
                process.map(|p| p.pgid),
                process.map(|p| p.start_time.to_string()),
                now.0
            ],
        )?;
        if let Some(p) = process {
            self.append_event(
                now,
                "agent.process",
                None,
                Some(id),
                &json!({ "pid": p.pid, "pgid": p.pgid }),
            )?;
        }
        Ok(())
    }

    /// Records the agent CLI's session id.
    pub fn set_agent_session(
        &self,
        id: AgentId,
        session_id: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET session_id = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.0, session_id, now.0],
        )?;
        Ok(())
    }

    /// Replaces the agent's cumulative cost and token counts.
    pub fn set_agent_usage(
        &self,
        id: AgentId,
        usage: AgentUsage,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET cost_usd = ?2, input_tokens = ?3, output_tokens = ?4,
                 updated_at = ?5 WHERE id = ?1",
            args![id.0, usage.cost_usd, usage.input_tokens, usage.output_tokens, now.0],
        )?;
        Ok(())
    }

    /// Replaces the agent's token (each new session gets a fresh one).
    pub fn set_agent_token_hash(
        &self,
        id: AgentId,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET token_hash = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.0, token_hash, now.0],
        )?;
        Ok(())
    }

    /// Records how the agent's process ended, with an `agent.exit` event.
    /// Records (or, with `None`, clears) the operator's request to restart the agent.
    pub fn set_agent_restart(
        &self,
        id: AgentId,
        reason: Option<&str>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET restart_reason = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.0, reason, now.0],
        )?;
        if let Some(reason) = reason {
            let data = json!({ "reason": reason });
            self.append_event(now, "agent.restart_requested", None, Some(id), &data)?;
        }
        Ok(())
    }

    pub fn set_agent_exit(
        &self,
        id: AgentId,
        exit_status: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET exit_status = ?2, updated_at = ?3 WHERE id = ?1",
            args![id.0, exit_status, now.0],
        )?;
        self.append_event(now, "agent.exit", None, Some(id), &json!({ "status": exit_status }))?;
        Ok(())
    }

    /// Moves an agent to `to` and appends an `agent.state` event.
    pub fn set_agent_state(
        &self,
        id: AgentId,
        from: AgentState,
        to: AgentState,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE agents SET state = ?3, updated_at = ?4 WHERE id = ?1 AND state = ?2",
            args![id.0, from.as_str(), to.as_str(), now.0],
        )?;
        self.append_event(
            now,
            "agent.state",
            None,
            Some(id),
            &json!({ "from": from.as_str(), "to": to.as_str() }),
        )?;
        Ok(())
    }
}

fn agent_from_row(r: &Row<'_>) -> Result<AgentRecord, String> {
    let state: String = r.get(2)?;
    let state = state.parse::<AgentState>().map_err(|cause| format!("column 2: {cause}"))?;
    Ok(AgentRecord {
        id: AgentId(r.get(0)?),
        name: r.get(1)?,
        state,
        kind: AgentKind::from_stored(&r.get::<String>(17)?),
        task: r.get::<Option<i64>>(3)?.map(TaskId),
        bound_task: r.get::<Option<i64>>(4)?.map(TaskId),
        worktree: r.get(5)?,
        branch: r.get(6)?,
        process: match (r.get::<Option<u32>>(7)?, r.get::<Option<u32>>(8)?) {
            (Some(pid), Some(pgid)) => Some(AgentProcess {
                pid,
                pgid,
                start_time: r.get::<Option<String>>(9)?.and_then(|s| s.parse().ok()).unwrap_or(0),
            }),
            _ => None,
        },
        session_id: r.get(10)?,
        usage: AgentUsage {
            cost_usd: r.get(11)?,
            input_tokens: r.get(12)?,
            output_tokens: r.get(13)?,
        },
        exit_status: r.get(14)?,
        restart_reason: r.get(18)?,
        host: r.get(19)?,
        created_at: Timestamp(r.get(15)?),
        updated_at: Timestamp(r.get(16)?),
    })
}
