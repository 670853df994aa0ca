//! The merge queue: one row per `request_merge`, finished as merged, bounced or failed.

use rusqlite::{OptionalExtension, params};
use serde_json::json;

use super::error::SqlResultExt;
use super::{StoreError, Tx};
use crate::model::{MergeState, TaskId, Timestamp};

/// A merge request row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRecord {
    pub id: i64,
    pub task: TaskId,
    pub state: MergeState,
    pub branch: Option<String>,
    /// The merge commit on the integration branch, once merged.
    pub commit: Option<String>,
    /// The conflicting paths of a bounce.
    pub paths: Vec<String>,
    /// Why it bounced (the merge gate's output) or failed.
    pub detail: Option<String>,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    /// When a bounce was handed to the agent (its session resumed with it).
    pub delivered_at: Option<Timestamp>,
}

/// How a merge request finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeEnd {
    Merged,
    Conflict,
    Failed,
}

impl MergeEnd {
    fn as_str(self) -> &'static str {
        match self {
            MergeEnd::Merged => "merged",
            MergeEnd::Conflict => "conflict",
            MergeEnd::Failed => "failed",
        }
    }
}

const MERGE_COLUMNS: &str = "id, task_id, state, branch, commit_sha, conflict_paths, detail, \
     requested_at, finished_at, delivered_at";

impl Tx<'_> {
    /// Queues a merge request for a task's branch.
    pub fn insert_merge_request(
        &self,
        task: TaskId,
        branch: Option<&str>,
        now: Timestamp,
    ) -> Result<i64, StoreError> {
        self.conn()
            .prepare_cached("INSERT INTO merges (task_id, state, branch, requested_at) VALUES (?1, 'queued', ?2, ?3)")
            .on(self)?
            .execute(params![task.0, branch, now.0])
            .on(self)?;
        let id = self.conn().last_insert_rowid();
        self.append_event(now, "merge.requested", Some(task), None, &json!({ "merge": id }))?;
        Ok(id)
    }

    /// Number of queued merge requests.
    pub fn queued_merges(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .conn()
            .prepare_cached("SELECT count(*) FROM merges WHERE state = 'queued'")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .on(self)?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Every queued request, oldest first.
    pub fn queued_merge_requests(&self) -> Result<Vec<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE state = 'queued' ORDER BY requested_at, id"
        );
        let mut stmt = self.conn().prepare_cached(&sql).on(self)?;
        let rows = stmt.query_map([], merge_from_row).on(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().on(self)
    }

    /// The newest merge request of a task.
    pub fn latest_merge(&self, task: TaskId) -> Result<Option<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE task_id = ?1 ORDER BY id DESC LIMIT 1"
        );
        self.conn()
            .prepare_cached(&sql)
            .on(self)?
            .query_row([task.0], merge_from_row)
            .optional()
            .on(self)
    }

    /// How many times the task's merge was bounced since it was last retried (or ever).
    pub fn bounces_since_retry(&self, task: TaskId) -> Result<u32, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT COUNT(*) FROM merges WHERE task_id = ?1 AND state = 'conflict'
                 AND finished_at >= COALESCE((SELECT MAX(at) FROM events
                     WHERE task_id = ?1 AND kind = 'task.state'
                     AND json_extract(data, '$.from') IN ('failed', 'cancelled')), 0)",
            )
            .on(self)?
            .query_row([task.0], |row| row.get(0))
            .on(self)
    }

    /// The newest `limit` finished requests, newest first.
    pub fn recent_merges(&self, limit: u32) -> Result<Vec<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE state != 'queued' ORDER BY id DESC LIMIT ?1"
        );
        let mut stmt = self.conn().prepare_cached(&sql).on(self)?;
        let rows = stmt.query_map([limit], merge_from_row).on(self)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().on(self)
    }

    /// Every finished merge request's end and time, oldest first (the dashboard's chart and
    /// counts; a row per request, so small next to the event log).
    pub fn merge_history(&self) -> Result<Vec<(MergeState, Timestamp)>, StoreError> {
        let mut stmt = self
            .conn()
            .prepare_cached(
                "SELECT state, finished_at FROM merges WHERE state != 'queued' AND finished_at IS NOT NULL ORDER BY finished_at",
            )
            .on(self)?;
        let rows = stmt
            .query_map([], |row| {
                let state: String = row.get(0)?;
                Ok((state, Timestamp(row.get(1)?)))
            })
            .on(self)?;
        let rows = rows.collect::<rusqlite::Result<Vec<_>>>().on(self)?;
        Ok(rows.into_iter().filter_map(|(state, at)| Some((state.parse().ok()?, at))).collect())
    }

    /// Finishes a queued request; false if it was not queued (finished by someone else).
    pub fn finish_merge(
        &self,
        merge: &MergeRecord,
        end: MergeEnd,
        commit: Option<&str>,
        paths: &[String],
        detail: Option<&str>,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn()
            .prepare_cached(
                "UPDATE merges SET state = ?2, commit_sha = ?3, conflict_paths = ?4, detail = ?5,
                 finished_at = ?6 WHERE id = ?1 AND state = 'queued'",
            )
            .on(self)?
            .execute(params![
                merge.id,
                end.as_str(),
                commit,
                json!(paths).to_string(),
                detail,
                now.0
            ])
            .on(self)?;
        if changed > 0 {
            self.append_event(
                now,
                &format!("merge.{}", end.as_str()),
                Some(merge.task),
                None,
                &json!({ "merge": merge.id, "commit": commit, "paths": paths }),
            )?;
        }
        Ok(changed > 0)
    }

    /// Records that a bounce was handed to the agent (`Some`), or that it must be again (`None`).
    pub fn set_merge_delivered(
        &self,
        merge: i64,
        task: TaskId,
        at: Option<Timestamp>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn()
            .prepare_cached("UPDATE merges SET delivered_at = ?2 WHERE id = ?1")
            .on(self)?
            .execute(params![merge, at.map(|t| t.0)])
            .on(self)?;
        let kind = if at.is_some() { "merge.delivered" } else { "merge.redeliver" };
        self.append_event(now, kind, Some(task), None, &json!({ "merge": merge }))?;
        Ok(())
    }
}

fn merge_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MergeRecord> {
    let paths: String = r.get(5)?;
    Ok(MergeRecord {
        id: r.get(0)?,
        task: TaskId(r.get(1)?),
        state: r.get::<_, String>(2)?.parse().map_err(|cause: String| {
            rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, cause.into())
        })?,
        branch: r.get(3)?,
        commit: r.get(4)?,
        paths: serde_json::from_str(&paths).unwrap_or_default(),
        detail: r.get(6)?,
        requested_at: Timestamp(r.get(7)?),
        finished_at: r.get::<_, Option<i64>>(8)?.map(Timestamp),
        delivered_at: r.get::<_, Option<i64>>(9)?.map(Timestamp),
    })
}
