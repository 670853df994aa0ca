//! The merge queue: one row per `request_merge`, finished as merged, bounced or failed.

use serde_json::json;

use super::sql::{Row, args};
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
        let id = self.query_one(
            "INSERT INTO merges (task_id, state, branch, requested_at) VALUES (?1, 'queued', ?2, ?3)
             RETURNING id",
            args![task.0, branch, now.0],
            |row| row.get(0),
        )?;
        self.append_event(now, "merge.requested", Some(task), None, &json!({ "merge": id }))?;
        Ok(id)
    }

    /// Number of queued merge requests.
    pub fn queued_merges(&self) -> Result<u64, StoreError> {
        self.query_one("SELECT count(*) FROM merges WHERE state = 'queued'", args![], |r| r.get(0))
    }

    /// Every queued request, oldest first.
    pub fn queued_merge_requests(&self) -> Result<Vec<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE state = 'queued' ORDER BY requested_at, id"
        );
        self.query_all(&sql, args![], merge_from_row)
    }

    /// The newest merge request of a task.
    pub fn latest_merge(&self, task: TaskId) -> Result<Option<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE task_id = ?1 ORDER BY id DESC LIMIT 1"
        );
        self.query_opt(&sql, args![task.0], merge_from_row)
    }

    /// How many times the task's merge was bounced since it was last retried (or ever).
    pub fn bounces_since_retry(&self, task: TaskId) -> Result<u32, StoreError> {
        // The one JSON lookup in cw's SQL, spelt as each engine spells it.
        let from = if self.is_postgres() {
            "(data::json ->> 'from')"
        } else {
            "json_extract(data, '$.from')"
        };
        let sql = format!(
            "SELECT COUNT(*) FROM merges WHERE task_id = ?1 AND state = 'conflict'
             AND finished_at >= COALESCE((SELECT MAX(at) FROM events
                 WHERE task_id = ?1 AND kind = 'task.state' AND {from} IN ('failed', 'cancelled')), 0)"
        );
        self.query_one(&sql, args![task.0], |row| row.get(0))
    }

    /// The newest `limit` finished requests, newest first.
    pub fn recent_merges(&self, limit: u32) -> Result<Vec<MergeRecord>, StoreError> {
        let sql = format!(
            "SELECT {MERGE_COLUMNS} FROM merges WHERE state != 'queued' ORDER BY id DESC LIMIT ?1"
        );
        self.query_all(&sql, args![limit], merge_from_row)
    }

    /// Every finished merge request's end and time, oldest first (the dashboard's chart and
    /// counts; a row per request, so small next to the event log).
    pub fn merge_history(&self) -> Result<Vec<(MergeState, Timestamp)>, StoreError> {
        let rows = self.query_all(
            "SELECT state, finished_at FROM merges WHERE state != 'queued' AND finished_at IS NOT NULL ORDER BY finished_at",
            args![],
            |row| Ok((row.get::<String>(0)?, Timestamp(row.get(1)?))),
        )?;
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
        let changed = self.execute(
            "UPDATE merges SET state = ?2, commit_sha = ?3, conflict_paths = ?4, detail = ?5,
                 finished_at = ?6 WHERE id = ?1 AND state = 'queued'",
            args![merge.id, end.as_str(), commit, json!(paths).to_string(), detail, now.0],
        )?;
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
        self.execute(
            "UPDATE merges SET delivered_at = ?2 WHERE id = ?1",
            args![merge, at.map(|t| t.0)],
        )?;
        let kind = if at.is_some() { "merge.delivered" } else { "merge.redeliver" };
        self.append_event(now, kind, Some(task), None, &json!({ "merge": merge }))?;
        Ok(())
    }
}

fn merge_from_row(r: &Row<'_>) -> Result<MergeRecord, String> {
    let paths: String = r.get(5)?;
    Ok(MergeRecord {
        id: r.get(0)?,
        task: TaskId(r.get(1)?),
        state: r.get::<String>(2)?.parse().map_err(|cause: String| format!("column 2: {cause}"))?,
        branch: r.get(3)?,
        commit: r.get(4)?,
        paths: serde_json::from_str(&paths).unwrap_or_default(),
        detail: r.get(6)?,
        requested_at: Timestamp(r.get(7)?),
        finished_at: r.get::<Option<i64>>(8)?.map(Timestamp),
        delivered_at: r.get::<Option<i64>>(9)?.map(Timestamp),
    })
}
