//! Tasks and their dependency edges, with the ready set kept current inside each write.
//!
//! `tasks.unmerged_deps` counts a task's dependencies that are not merged; the service moves a
//! task between pending and ready when that count crosses zero, so reading the ready set is one
//! index range scan (`tasks_ready`) and never a recursive query.

use std::collections::HashMap;

use serde_json::json;

use super::sql::{Row, args};
use super::{StoreError, Tx};
use crate::model::{AgentId, PlanId, TaskId, TaskState, Timestamp};

/// A task row.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: TaskId,
    pub plan: Option<PlanId>,
    pub key: Option<String>,
    pub title: String,
    pub description: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done_criteria: String,
    pub kind: String,
    pub needs_human: bool,
    pub state: TaskState,
    pub unmerged_deps: u32,
    pub priority: i64,
    pub phase_seq: i64,
    pub wave: i64,
    pub attempts: u32,
    pub agent: Option<AgentId>,
    pub lease_expires_at: Option<Timestamp>,
    pub result_summary: Option<String>,
    pub failure_reason: Option<String>,
    /// A JSON object with everything else an import knew about the task.
    pub metadata: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The fields of a new task.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub plan: Option<PlanId>,
    pub key: Option<String>,
    pub title: String,
    pub description: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done_criteria: String,
    pub kind: String,
    pub needs_human: bool,
    pub priority: i64,
    pub phase_seq: i64,
    pub wave: i64,
    pub metadata: String,
    /// Set for a task added from a file: a second insert with the same key adds nothing.
    pub dedupe_key: Option<String>,
}

/// Text fields an import may refresh in place (never the state).
#[derive(Debug, Clone)]
pub struct TaskTextUpdate {
    pub title: String,
    pub description: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done_criteria: String,
    pub kind: String,
    pub needs_human: bool,
    pub phase_seq: i64,
    pub wave: i64,
    pub metadata: String,
}

/// Who made a dependency edge: re-import may rewrite its own edges but never the human's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepOrigin {
    Manual,
    Import,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub state: Option<TaskState>,
    pub plan: Option<PlanId>,
}

const TASK_COLUMNS: &str = "id, plan_id, key, title, description, files, verify, done_criteria, \
     kind, needs_human, state, unmerged_deps, priority, phase_seq, wave, attempts, agent_id, \
     lease_expires_at, result_summary, failure_reason, metadata, created_at, updated_at";

impl Tx<'_> {
    /// Inserts a task in `state` with `unmerged_deps` already counted by the caller.
    pub fn insert_task(
        &self,
        task: &NewTask,
        state: TaskState,
        now: Timestamp,
    ) -> Result<TaskId, StoreError> {
        let id = self.query_one(
            "INSERT INTO tasks (id, plan_id, key, title, description, files, verify, done_criteria,
                kind, needs_human, state, priority, phase_seq, wave, metadata, created_at, updated_at,
                dedupe_key)
             VALUES ((SELECT coalesce(max(n), 0) + 1 FROM (SELECT max(id) AS n FROM tasks
                          UNION ALL SELECT above FROM id_floors WHERE entity = 'tasks') AS floors),
                ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?15, ?16)
             RETURNING id",
            args![
                task.plan.map(PlanId::get),
                &task.key,
                &task.title,
                &task.description,
                json!(task.files).to_string(),
                &task.verify,
                &task.done_criteria,
                if task.kind.is_empty() { "auto" } else { &task.kind },
                task.needs_human,
                state.as_str(),
                task.priority,
                task.phase_seq,
                task.wave,
                if task.metadata.is_empty() { "{}" } else { &task.metadata },
                now.0,
                &task.dedupe_key,
            ],
            |row| row.get(0).map(TaskId),
        )?;
        self.append_event(
            now,
            "task.created",
            Some(id),
            None,
            &json!({ "state": state.as_str(), "title": task.title }),
        )?;
        Ok(id)
    }

    /// Refreshes an imported task's text in place; its state and claim are untouched.
    pub fn update_task_text(
        &self,
        id: TaskId,
        update: &TaskTextUpdate,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self.execute(
            "UPDATE tasks SET title = ?2, description = ?3, files = ?4, verify = ?5,
                    done_criteria = ?6, kind = ?7, needs_human = ?8, phase_seq = ?9, wave = ?10,
                    metadata = ?11, updated_at = ?12
                 WHERE id = ?1 AND (title, description, files, verify, done_criteria, kind,
                    needs_human, phase_seq, wave, metadata)
                    IS DISTINCT FROM (?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            args![
                id.0,
                update.title,
                update.description,
                json!(update.files).to_string(),
                update.verify,
                update.done_criteria,
                update.kind,
                update.needs_human,
                update.phase_seq,
                update.wave,
                update.metadata,
                now.0
            ],
        )?;
        if changed > 0 {
            self.append_event(now, "task.updated", Some(id), None, &json!({ "source": "import" }))?;
        }
        Ok(changed > 0)
    }

    /// One task, or `None` if the id is unknown.
    pub fn task(&self, id: TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE id = ?1");
        self.query_opt(&sql, args![id.0], task_from_row)
    }

    /// Tasks matching `filter`, in plan order then id.
    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM tasks
             WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR plan_id = ?2)
             ORDER BY phase_seq, plan_id IS NULL, plan_id, id"
        );
        self.query_all(
            &sql,
            args![filter.state.map(TaskState::as_str), filter.plan.map(PlanId::get)],
            task_from_row,
        )
    }

    /// Tasks of one plan keyed by their import key. Its own query, on the plan index: the
    /// optional filters of `tasks` (`?2 IS NULL OR plan_id = ?2`) scan every task, and an
    /// import asks once per plan (re-importing 5,000 plans took 11 s; BENCHMARKS.md).
    pub fn tasks_by_key(&self, plan: PlanId) -> Result<HashMap<String, TaskRecord>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE plan_id = ?1");
        let tasks = self.query_all(&sql, args![plan.get()], task_from_row)?;
        Ok(tasks.into_iter().filter_map(|t| Some((t.key.clone()?, t))).collect())
    }

    /// The task added with `dedupe_key`, if one was.
    pub fn task_by_dedupe_key(&self, dedupe_key: &str) -> Result<Option<TaskId>, StoreError> {
        self.query_opt("SELECT id FROM tasks WHERE dedupe_key = ?1", args![dedupe_key], |row| {
            row.get(0).map(TaskId)
        })
    }

    /// Number of tasks in each state.
    /// Ready tasks that are the human's to do (GSD checkpoints, "plan this phase").
    pub fn ready_for_the_human(&self) -> Result<u64, StoreError> {
        self.query_one(
            "SELECT count(*) FROM tasks WHERE state = 'ready' AND needs_human != 0",
            args![],
            |row| row.get(0),
        )
    }

    pub fn task_counts(&self) -> Result<Vec<(TaskState, u64)>, StoreError> {
        let counts =
            self.query_all("SELECT state, count(*) FROM tasks GROUP BY state", args![], |row| {
                Ok((row.get::<String>(0)?, row.get::<u64>(1)?))
            })?;
        counts.into_iter().map(|(state, count)| Ok((parse_state(&state)?, count))).collect()
    }

    /// The dependencies of `id`.
    pub fn dependencies(&self, id: TaskId) -> Result<Vec<TaskId>, StoreError> {
        self.id_list("SELECT depends_on FROM task_deps WHERE task_id = ?1 ORDER BY depends_on", id)
    }

    /// The tasks that depend on `id`.
    pub fn dependents(&self, id: TaskId) -> Result<Vec<TaskId>, StoreError> {
        self.id_list("SELECT task_id FROM task_deps WHERE depends_on = ?1 ORDER BY task_id", id)
    }

    /// Every edge as `task → [dependencies]`, for listing many tasks with one query.
    pub fn all_dependencies(&self) -> Result<HashMap<TaskId, Vec<TaskId>>, StoreError> {
        let mut map: HashMap<TaskId, Vec<TaskId>> = HashMap::new();
        self.query_each(
            "SELECT task_id, depends_on FROM task_deps ORDER BY task_id, depends_on",
            args![],
            |row| {
                map.entry(TaskId(row.get(0)?)).or_default().push(TaskId(row.get(1)?));
                Ok(())
            },
        )?;
        Ok(map)
    }

    /// Import-made edges whose dependent belongs to one of `plans`.
    pub fn import_edges_of_plans(
        &self,
        plans: &[PlanId],
    ) -> Result<Vec<(TaskId, TaskId)>, StoreError> {
        let mut edges = Vec::new();
        for plan in plans {
            edges.extend(self.query_all(
                "SELECT d.task_id, d.depends_on FROM task_deps d JOIN tasks t ON t.id = d.task_id
                 WHERE d.origin = 'import' AND t.plan_id = ?1",
                args![plan.0],
                |row| Ok((TaskId(row.get(0)?), TaskId(row.get(1)?))),
            )?);
        }
        Ok(edges)
    }

    /// Adds `task → dependency`; returns false if the edge already existed.
    pub fn insert_dependency(
        &self,
        task: TaskId,
        dependency: TaskId,
        origin: DepOrigin,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let origin_text = match origin {
            DepOrigin::Manual => "manual",
            DepOrigin::Import => "import",
        };
        let added = self.execute(
            "INSERT INTO task_deps (task_id, depends_on, origin) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            args![task.0, dependency.0, origin_text],
        )?;
        if added > 0 {
            self.append_event(
                now,
                "task.dep_added",
                Some(task),
                None,
                &json!({ "depends_on": dependency.to_string(), "origin": origin_text }),
            )?;
        }
        Ok(added > 0)
    }

    /// Removes `task → dependency`; returns false if there was no such edge.
    pub fn delete_dependency(
        &self,
        task: TaskId,
        dependency: TaskId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let removed = self.execute(
            "DELETE FROM task_deps WHERE task_id = ?1 AND depends_on = ?2",
            args![task.0, dependency.0],
        )?;
        if removed > 0 {
            self.append_event(
                now,
                "task.dep_removed",
                Some(task),
                None,
                &json!({ "depends_on": dependency.to_string() }),
            )?;
        }
        Ok(removed > 0)
    }

    /// Adds `delta` to a task's count of unmerged dependencies; returns the new count.
    pub fn adjust_unmerged_deps(&self, id: TaskId, delta: i64) -> Result<u32, StoreError> {
        self.query_one("UPDATE tasks SET unmerged_deps = unmerged_deps + ?2 WHERE id = ?1 RETURNING unmerged_deps", args![id.0, delta], |row| row.get(0))
    }

    /// Moves a task from `from` to `to` (guarded: no change if it is no longer in `from`), sets
    /// the holder and lease, records `reason`, and appends a `task.state` event.
    #[expect(
        clippy::too_many_arguments,
        reason = "one guarded UPDATE; a struct would only rename them"
    )]
    pub fn set_task_state(
        &self,
        id: TaskId,
        from: TaskState,
        to: TaskState,
        agent: Option<AgentId>,
        lease_expires_at: Option<Timestamp>,
        reason: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let changed = self.execute(
            "UPDATE tasks SET state = ?3, agent_id = ?4, lease_expires_at = ?5, updated_at = ?6
                 WHERE id = ?1 AND state = ?2",
            args![
                id.0,
                from.as_str(),
                to.as_str(),
                agent.map(AgentId::get),
                lease_expires_at.map(|t| t.0),
                now.0
            ],
        )?;
        if changed == 0 {
            return Err(StoreError::Corrupt {
                path: self.shown().to_owned(),
                cause: format!("task {id} was not {from} when moving it to {to}"),
            });
        }
        self.append_event(
            now,
            "task.state",
            Some(id),
            agent,
            &json!({ "from": from.as_str(), "to": to.as_str(), "reason": reason }),
        )?;
        Ok(())
    }

    /// Sets how many attempts a task has used.
    pub fn set_task_attempts(&self, id: TaskId, attempts: u32) -> Result<(), StoreError> {
        self.execute("UPDATE tasks SET attempts = ?2 WHERE id = ?1", args![id.0, attempts])?;
        Ok(())
    }

    /// Records why a task failed (or clears it).
    pub fn set_task_failure(&self, id: TaskId, reason: Option<&str>) -> Result<(), StoreError> {
        self.execute("UPDATE tasks SET failure_reason = ?2 WHERE id = ?1", args![id.0, reason])?;
        Ok(())
    }

    /// Records the outcome summary a task's agent (or an import's SUMMARY file) reported.
    pub fn set_task_result(&self, id: TaskId, summary: Option<&str>) -> Result<(), StoreError> {
        self.execute("UPDATE tasks SET result_summary = ?2 WHERE id = ?1", args![id.0, summary])?;
        Ok(())
    }

    /// Extends the lease of a task held by `agent`; false if it does not hold it any more.
    pub fn renew_lease(
        &self,
        id: TaskId,
        agent: AgentId,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self.execute(
            "UPDATE tasks SET lease_expires_at = ?3 WHERE id = ?1 AND agent_id = ?2
                 AND state IN ('claimed', 'waiting', 'conflict')",
            args![id.0, agent.0, until.0],
        )?;
        Ok(changed > 0)
    }

    /// The first ready task an unassigned agent may take, in dispatch order.
    pub fn first_ready_task(&self) -> Result<Option<TaskId>, StoreError> {
        self.query_opt(
            "SELECT id FROM tasks INDEXED BY tasks_ready
             WHERE state = 'ready' AND agent_id IS NULL AND needs_human = 0
             ORDER BY needs_human, priority, phase_seq, wave, id LIMIT 1",
            args![],
            |row| row.get(0).map(TaskId),
        )
    }

    /// Up to `limit` ready tasks in dispatch order (including those for the human).
    pub fn ready_tasks(&self, limit: u32) -> Result<Vec<TaskId>, StoreError> {
        self.query_all(
            "SELECT id FROM tasks INDEXED BY tasks_ready WHERE state = 'ready' AND agent_id IS NULL
             ORDER BY needs_human, priority, phase_seq, wave, id LIMIT ?1",
            args![limit],
            |row| row.get(0).map(TaskId),
        )
    }

    /// The task `agent` currently holds (claimed, waiting or bounced back to it).
    pub fn task_held_by(&self, agent: AgentId) -> Result<Option<TaskId>, StoreError> {
        self.query_opt(
            "SELECT id FROM tasks WHERE agent_id = ?1 AND state IN ('claimed', 'waiting', 'conflict')
             ORDER BY id LIMIT 1",
            args![agent.0],
            |row| row.get(0).map(TaskId),
        )
    }

    /// Claimed tasks whose lease ended before `now`, with their attempt counts.
    pub fn expired_leases(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(TaskId, AgentId, u32)>, StoreError> {
        self.query_all(
            "SELECT id, agent_id, attempts FROM tasks INDEXED BY tasks_by_lease
             WHERE state = 'claimed' AND lease_expires_at <= ?1 ORDER BY lease_expires_at",
            args![now.0],
            |row| {
                Ok((
                    TaskId(row.get(0)?),
                    AgentId(row.get::<Option<i64>>(1)?.unwrap_or(0)),
                    row.get(2)?,
                ))
            },
        )
    }

    /// The tasks in `state`, by id (on the state index: for the few tasks of a passing state).
    pub fn tasks_in_state(&self, state: TaskState) -> Result<Vec<TaskRecord>, StoreError> {
        let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE state = ?1 ORDER BY id");
        self.query_all(&sql, args![state.as_str()], task_from_row)
    }

    /// The number of tasks.
    pub fn task_count(&self) -> Result<u64, StoreError> {
        self.query_one("SELECT count(*) FROM tasks", args![], |row| row.get(0))
    }

    /// Deletes a task that was never claimed (import placeholders); edges go with it.
    pub fn delete_unclaimed_task(&self, id: TaskId, now: Timestamp) -> Result<bool, StoreError> {
        let removed = self.execute("DELETE FROM tasks WHERE id = ?1 AND state IN ('pending', 'ready') AND attempts = 0 AND agent_id IS NULL", args![id.0])?;
        if removed > 0 {
            self.append_event(
                now,
                "task.deleted",
                Some(id),
                None,
                &json!({ "reason": "removed from its plan" }),
            )?;
        }
        Ok(removed > 0)
    }

    fn id_list(&self, sql: &str, id: TaskId) -> Result<Vec<TaskId>, StoreError> {
        self.query_all(sql, args![id.0], |row| row.get(0).map(TaskId))
    }
}

fn parse_state(text: &str) -> Result<TaskState, StoreError> {
    text.parse().map_err(|cause| StoreError::Corrupt { path: Default::default(), cause })
}

fn task_from_row(row: &Row<'_>) -> Result<TaskRecord, String> {
    let files: String = row.get(5)?;
    let state: String = row.get(10)?;
    let state = state.parse::<TaskState>().map_err(|cause| format!("column 10: {cause}"))?;
    Ok(TaskRecord {
        id: TaskId(row.get(0)?),
        plan: row.get::<Option<i64>>(1)?.map(PlanId),
        key: row.get(2)?,
        title: row.get(3)?,
        description: row.get(4)?,
        files: serde_json::from_str(&files).unwrap_or_default(),
        verify: row.get(6)?,
        done_criteria: row.get(7)?,
        kind: row.get(8)?,
        needs_human: row.get(9)?,
        state,
        unmerged_deps: row.get(11)?,
        priority: row.get(12)?,
        phase_seq: row.get(13)?,
        wave: row.get(14)?,
        attempts: row.get(15)?,
        agent: row.get::<Option<i64>>(16)?.map(AgentId),
        lease_expires_at: row.get::<Option<i64>>(17)?.map(Timestamp),
        result_summary: row.get(18)?,
        failure_reason: row.get(19)?,
        metadata: row.get(20)?,
        created_at: Timestamp(row.get(21)?),
        updated_at: Timestamp(row.get(22)?),
    })
}
