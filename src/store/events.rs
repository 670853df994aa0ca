//! The append-only `events` table: the log every state change writes and every waiter reads.

use super::sql::{Row, args};
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

fn event_row(row: &Row<'_>) -> Result<EventRecord, String> {
    Ok(EventRecord {
        id: row.get(0)?,
        at: Timestamp(row.get(1)?),
        kind: row.get(2)?,
        task: row.get::<Option<i64>>(3)?.map(TaskId),
        agent: row.get::<Option<i64>>(4)?.map(AgentId),
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
        let id = self.query_one(
            "INSERT INTO events (at, kind, task_id, agent_id, data) VALUES (?1, ?2, ?3, ?4, ?5)
             RETURNING id",
            args![at.0, kind, task.map(TaskId::get), agent.map(AgentId::get), data.to_string()],
            |row| row.get(0),
        )?;
        self.mark_event_appended();
        Ok(id)
    }

    /// The newest event id, 0 for an empty log.
    pub fn latest_event_id(&self) -> Result<i64, StoreError> {
        self.query_one("SELECT coalesce(max(id), 0) FROM events", args![], |row| row.get(0))
    }

    /// Up to `limit` events after `after_id`, oldest first.
    pub fn events_after(&self, after_id: i64, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        self.query_all(
            "SELECT id, at, kind, task_id, agent_id, data FROM events WHERE id > ?1 ORDER BY id LIMIT ?2",
            args![after_id, limit],
            event_row,
        )
    }

    /// The newest `limit` events of `task`, oldest first.
    pub fn task_events(&self, task: TaskId, limit: u32) -> Result<Vec<EventRecord>, StoreError> {
        let mut events = self.query_all(
            "SELECT id, at, kind, task_id, agent_id, data FROM events WHERE task_id = ?1 ORDER BY id DESC LIMIT ?2",
            args![task.get(), limit],
            event_row,
        )?;
        events.reverse();
        Ok(events)
    }

    /// The time of the newest event of `kind`, if any.
    pub fn last_event_time(&self, kind: &str) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> =
            self.query_one("SELECT max(at) FROM events WHERE kind = ?1", args![kind], |row| {
                row.get(0)
            })?;
        Ok(at.map(Timestamp))
    }
}
