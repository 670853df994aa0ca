//! Agent identities. Tokens are stored only as hashes.

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::error::SqlResultExt;
use super::{StoreError, Tx};
use crate::model::{AgentId, AgentState, TaskId, Timestamp};

/// An agent row.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub name: String,
    pub state: AgentState,
    pub task: Option<TaskId>,
    /// The only task this agent may claim, if it was registered for one.
    pub bound_task: Option<TaskId>,
    pub created_at: Timestamp,
}

/// The fields of a new agent identity.
#[derive(Debug, Clone)]
pub struct NewAgent {
    pub name: String,
    pub task: Option<TaskId>,
    pub token_hash: String,
    pub state: AgentState,
}

const AGENT_COLUMNS: &str = "id, name, state, task_id, bound_task_id, created_at";

impl Tx<'_> {
    /// Inserts an agent; returns its id.
    pub fn insert_agent(&self, agent: &NewAgent, now: Timestamp) -> Result<AgentId, StoreError> {
        self.conn()
            .prepare_cached(
                "INSERT INTO agents (name, state, task_id, bound_task_id, token_hash, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?5)",
            )
            .on(self)?
            .execute(params![
                agent.name,
                agent.state.as_str(),
                agent.task.map(TaskId::get),
                agent.token_hash,
                now.0
            ])
            .on(self)?;
        let id = AgentId(self.conn().last_insert_rowid());
        self.append_event(
            now,
            "agent.registered",
            agent.task,
            Some(id),
            &json!({ "name": agent.name }),
        )?;
        Ok(id)
    }

    /// One agent, or `None` if the id is unknown.
    pub fn agent(&self, id: AgentId) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE id = ?1");
        self.conn()
            .prepare_cached(&sql)
            .on(self)?
            .query_row([id.0], agent_from_row)
            .optional()
            .on(self)
    }

    /// The agent whose token hashes to `token_hash`.
    pub fn agent_by_token_hash(&self, token_hash: &str) -> Result<Option<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents WHERE token_hash = ?1");
        self.conn()
            .prepare_cached(&sql)
            .on(self)?
            .query_row([token_hash], agent_from_row)
            .optional()
            .on(self)
    }

    /// Every agent, newest first.
    pub fn agents(&self) -> Result<Vec<AgentRecord>, StoreError> {
        let sql = format!("SELECT {AGENT_COLUMNS} FROM agents ORDER BY id DESC");
        let mut stmt = self.conn().prepare_cached(&sql).on(self)?;
        let rows = stmt.query_map([], agent_from_row).on(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().on(self)
    }

    /// Points an agent at the task it works on.
    pub fn set_agent_task(
        &self,
        id: AgentId,
        task: Option<TaskId>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE agents SET task_id = ?2, updated_at = ?3 WHERE id = ?1")
            .on(self)?
            .execute(params![id.0, task.map(TaskId::get), now.0])
            .on(self)?;
        Ok(())
    }

    /// The branch the agent works on, once it has a worktree.
    pub fn agent_branch(&self, id: AgentId) -> Result<Option<String>, StoreError> {
        self.conn()
            .prepare_cached("SELECT branch FROM agents WHERE id = ?1")
            .on(self)?
            .query_row([id.0], |r| r.get(0))
            .optional()
            .on(self)
            .map(Option::flatten)
    }

    /// Moves an agent to `to` and appends an `agent.state` event.
    pub fn set_agent_state(
        &self,
        id: AgentId,
        from: AgentState,
        to: AgentState,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached(
                "UPDATE agents SET state = ?3, updated_at = ?4 WHERE id = ?1 AND state = ?2",
            )
            .on(self)?
            .execute(params![id.0, from.as_str(), to.as_str(), now.0])
            .on(self)?;
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

fn agent_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentRecord> {
    let state: String = r.get(2)?;
    let state = state.parse::<AgentState>().map_err(|cause| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, cause.into())
    })?;
    Ok(AgentRecord {
        id: AgentId(r.get(0)?),
        name: r.get(1)?,
        state,
        task: r.get::<_, Option<i64>>(3)?.map(TaskId),
        bound_task: r.get::<_, Option<i64>>(4)?.map(TaskId),
        created_at: Timestamp(r.get(5)?),
    })
}
