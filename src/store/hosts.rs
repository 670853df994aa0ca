//! Hosts that run agents (`cw worker`). Tokens are stored only as hashes.

use serde_json::json;

use super::sql::{Row, args};
use super::{StoreError, Tx};
use crate::model::Timestamp;

/// A host row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    pub name: String,
    /// How many agents it runs at once, as it last said.
    pub agents: u32,
    /// The memory it has for agents, as it last said (MiB).
    pub memory_mb: u64,
    /// When it was last heard from; `None` before its first heartbeat.
    pub last_seen: Option<Timestamp>,
    pub created_at: Timestamp,
}

const HOST_COLUMNS: &str = "name, agents, memory_mb, last_seen, created_at";

fn host_from_row(r: &Row<'_>) -> Result<HostRecord, String> {
    Ok(HostRecord {
        name: r.get(0)?,
        agents: r.get(1)?,
        memory_mb: r.get(2)?,
        last_seen: r.get::<Option<i64>>(3)?.map(Timestamp),
        created_at: Timestamp(r.get(4)?),
    })
}

impl Tx<'_> {
    /// Adds a host; false if one of that name exists.
    pub fn insert_host(
        &self,
        name: &str,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let added = self.execute(
            "INSERT INTO hosts (name, token_hash, created_at) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
            args![name, token_hash, now.0],
        )?;
        if added > 0 {
            self.append_event(now, "host.added", None, None, &json!({ "host": name }))?;
        }
        Ok(added > 0)
    }

    /// The host whose token hashes to `token_hash`.
    pub fn host_by_token_hash(&self, token_hash: &str) -> Result<Option<HostRecord>, StoreError> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE token_hash = ?1");
        self.query_opt(&sql, args![token_hash], host_from_row)
    }

    /// One host by name.
    pub fn host(&self, name: &str) -> Result<Option<HostRecord>, StoreError> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts WHERE name = ?1");
        self.query_opt(&sql, args![name], host_from_row)
    }

    /// Every host, by name.
    pub fn hosts(&self) -> Result<Vec<HostRecord>, StoreError> {
        let sql = format!("SELECT {HOST_COLUMNS} FROM hosts ORDER BY name");
        self.query_all(&sql, args![], host_from_row)
    }

    /// Records a heartbeat: the host is alive now, with this capacity. No event (a heartbeat
    /// every few seconds would flood the log and wake every waiter); the first one is logged.
    pub fn record_heartbeat(
        &self,
        name: &str,
        agents: u32,
        memory_mb: u64,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let first = self.query_opt(
            "UPDATE hosts SET agents = ?2, memory_mb = ?3, last_seen = ?4 WHERE name = ?1
             RETURNING last_seen",
            args![name, agents, i64::try_from(memory_mb).unwrap_or(i64::MAX), now.0],
            |row| row.get::<i64>(0),
        )?;
        if first.is_none() {
            return Err(StoreError::Corrupt {
                path: self.shown().to_owned(),
                cause: format!("no host named {name}"),
            });
        }
        Ok(())
    }

    /// Removes a host; false if there was none of that name.
    pub fn delete_host(&self, name: &str, now: Timestamp) -> Result<bool, StoreError> {
        let removed = self.execute("DELETE FROM hosts WHERE name = ?1", args![name])?;
        if removed > 0 {
            self.append_event(now, "host.removed", None, None, &json!({ "host": name }))?;
        }
        Ok(removed > 0)
    }
}
