//! The append-only `events` table: the log every state change writes and every waiter reads.

use rusqlite::{OptionalExtension, params};

use super::error::SqlResultExt;
use super::{StoreError, Tx};
use crate::model::{AgentId, TaskId, Timestamp};

/// One row of the event log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    pub id: i64,
    pub at: Timestamp,
    pub kind: String,
    pub task: Option<TaskId>,
    pub agent: Option<AgentId>,
    /// A JSON object with the details.
    pub data: String,
}

fn event_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<EventRecord> {
    Ok(EventRecord {
        id: row.get(0)?,
        at: Timestamp(row.get(1)?),
        kind: row.get(2)?,
        task: row.get::<_, Option<i64>>(3)?.map(TaskId),
        agent: row.get::<_, Option<i64>>(4)?.map(AgentId),
        data: row.get(5)?,
    })
}

impl Tx<'_> {
    /// Appends an event; returns its id.
    pub fn append_event(
        &self,
        at: Timestamp,
        kind: &str,
        task: Option<TaskId>,
        agent: Option<AgentId>,
        data: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "INSERT INTO events (at, kind, task_id, agent_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .on(self)?;
        stmt.execute(params![
            at.0,
            kind,
            task.map(TaskId::get),
            agent.map(AgentId::get),
            data.to_string()
        ])
        .on(self)?;
        self.mark_event_appended();
        Ok(self.conn().last_insert_rowid())
    }

    /// The newest event id, 0 for an empty log.
    pub fn latest_event_id(&self) -> Result<i64, StoreError> {
        self.conn()
            .query_row("SELECT coalesce(max(id), 0) FROM events", [], |row| row.get(0))
            .on(self)
    }

    /// Up to `limit` events after `after_id`, oldest first.
    pub fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, at, kind, task_id, agent_id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            )
            .on(self)?;
        let rows = stmt.query_map(params![after_id, limit], event_row).on(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().on(self)
    }

    /// The newest `limit` events of `task`, oldest first.
    pub fn task_events(&self, task: TaskId, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT id, at, kind, task_id, agent_id, data FROM events WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .on(self)?;
        let rows = stmt.query_map(params![task.get(), limit], event_row).on(self)?;
        let mut events = rows.collect::<rusqlite::Result<Vec<_>>>().on(self)?;
        events.reverse();
        Ok(events)
    }

    /// The time of the newest event of `kind`, if any.
    pub fn last_event_time(&self, kind: &str) -> Result<Option<Timestamp>, StoreError> {
        self.conn()
            .query_row("SELECT max(at) FROM events WHERE kind = ?1", [kind], |row| {
                row.get::<_, Option<i64>>(0)
            })
            .optional()
            .on(self)
            .map(|at| at.flatten().map(Timestamp))
    }
}
