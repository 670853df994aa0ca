//! Task use cases: add, show, list, dependencies, cancel, retry, status — and the one place that
//! applies a transition and keeps the ready set current.

use std::collections::HashMap;

use tracing::instrument;

use super::{Caller, Service, ServiceError};
use crate::model::{
    AgentId, PlanId, TaskEvent, TaskId, TaskState, Timestamp, find_cycle, path_between,
};
use crate::store::{
    AgentRecord, DepOrigin, InitiativeRecord, NewTask, PhaseRecord, PlanRecord, TaskFilter,
    TaskRecord, Tx,
};

use crate::model::MAX_PRIORITY;
pub use crate::model::{MAX_DESCRIPTION_BYTES, MAX_TITLE_CHARS};

/// A plan named by id (`p3`) or by import key (`01-02`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanRef {
    Id(PlanId),
    Key(String),
}

/// A task typed in by the human.
#[derive(Debug, Clone, Default)]
pub struct AddTask {
    pub title: String,
    pub description: String,
    pub plan: Option<PlanRef>,
    pub after: Vec<TaskId>,
    pub priority: Option<i64>,
    /// Makes the add idempotent (a file read twice): a task added with this key before is
    /// returned as it is, and nothing is added.
    pub dedupe_key: Option<String>,
}

/// What `edit_task` changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct TaskEdit {
    pub title: Option<String>,
    pub description: Option<String>,
}

/// Everything `cw task list` shows: tasks with their edges and containers.
#[derive(Debug, Clone)]
pub struct TaskListing {
    pub tasks: Vec<TaskRecord>,
    pub dependencies: HashMap<TaskId, Vec<TaskId>>,
    pub initiatives: Vec<InitiativeRecord>,
    pub phases: Vec<PhaseRecord>,
    pub plans: Vec<PlanRecord>,
}

/// A page of `task_page`: each task with the tasks it depends on.
#[derive(Debug, Clone)]
pub struct TaskPage {
    pub tasks: Vec<(TaskRecord, Vec<TaskId>)>,
    /// Tasks in the state asked for, on every page.
    pub total: usize,
    /// More follow after the last one.
    pub more: bool,
}

/// One task with its neighbourhood, for `cw task show`.
#[derive(Debug, Clone)]
pub struct TaskDetail {
    pub task: TaskRecord,
    pub dependencies: Vec<TaskRecord>,
    pub dependents: Vec<TaskRecord>,
    pub plan: Option<PlanRecord>,
    pub phase: Option<PhaseRecord>,
    /// Its newest merge request, with why it bounced or failed.
    pub last_merge: Option<crate::store::MergeRecord>,
}

/// What a dependency change did.
#[derive(Debug, Clone)]
pub struct DependencyChange {
    pub task: TaskRecord,
    pub dependency: TaskId,
    /// False when the edge already existed (add) or did not exist (remove is an error instead).
    pub changed: bool,
}

/// A task after a state change, with the dependents it affects.
#[derive(Debug, Clone)]
pub struct TaskChange {
    pub task: TaskRecord,
    pub previous: TaskState,
    /// Dependents that can now not become ready until this task is merged.
    pub blocked_dependents: Vec<TaskId>,
}

/// What a running coordinator shows: tasks by state, the merge queue, questions, merges.
#[derive(Debug, Clone, PartialEq)]
pub struct Overview {
    pub counts: Vec<(TaskState, u64)>,
    pub total: u64,
    pub queued_merges: u64,
    pub open_questions: usize,
    /// Of the ready tasks, those for the human: they wait for a person, not an agent.
    pub for_you: u64,
    /// The newest finished merge requests, newest first.
    pub recent_merges: Vec<MergeLine>,
}

/// The overview for `cw status`.
#[derive(Debug, Clone)]
pub struct StatusReport {
    pub counts: Vec<(TaskState, u64)>,
    pub total: u64,
    pub next_ready: Vec<TaskRecord>,
    /// What each of `next_ready` depends on (all merged: they are ready).
    pub next_ready_deps: HashMap<TaskId, Vec<TaskId>>,
    pub agents: Vec<AgentRecord>,
    pub latest_event: i64,
    pub queued_merges: u64,
    pub open_questions: usize,
    /// The newest finished merge requests, newest first.
    pub recent_merges: Vec<MergeLine>,
    /// The `cw worker` hosts, by name.
    pub hosts: Vec<super::HostStatus>,
}

/// A finished merge request as the status shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeLine {
    pub task: TaskId,
    pub title: String,
    pub state: crate::model::MergeState,
    pub commit: Option<String>,
    pub paths: Vec<String>,
    /// Why it bounced or failed.
    pub reason: Option<String>,
    pub finished_at: Option<Timestamp>,
}

/// How many finished merges the status shows.
const RECENT_MERGES: u32 = 5;

impl Service {
    /// Adds a task (the operator only); it is ready at once unless one of `after` is not merged.
    #[instrument(skip_all, fields(title = %request.title))]
    pub fn add_task(&self, caller: &Caller, request: &AddTask) -> Result<TaskRecord, ServiceError> {
        caller.require_operator()?;
        let title = request.title.trim();
        check_title(title)?;
        check_description(&request.description)?;
        if let Some(priority) = request.priority.filter(|p| !(0..=MAX_PRIORITY).contains(p)) {
            return Err(ServiceError::InvalidInput(format!(
                "priority {priority} is out of range: 0 (most urgent) to {MAX_PRIORITY}"
            )));
        }
        let now = self.now();
        self.store.write(|tx| {
            if let Some(key) = &request.dedupe_key
                && let Some(id) = tx.task_by_dedupe_key(key)?
            {
                return require_task(tx, id);
            }
            let plan = match &request.plan {
                Some(plan_ref) => Some(resolve_plan(tx, plan_ref)?),
                None => None,
            };
            let mut unmerged = 0;
            for &dep in &request.after {
                let dependency = require_task(tx, dep)?;
                if dependency.state != TaskState::Merged {
                    unmerged += 1;
                }
            }
            let state = if unmerged == 0 { TaskState::Ready } else { TaskState::Pending };
            let new = NewTask {
                plan: plan.as_ref().map(|p| p.id),
                title: title.to_owned(),
                description: request.description.clone(),
                priority: request.priority.unwrap_or(2),
                wave: plan.as_ref().and_then(|p| p.wave).unwrap_or(0),
                dedupe_key: request.dedupe_key.clone(),
                ..NewTask::default()
            };
            let id = tx.insert_task(&new, state, now)?;
            for &dep in &request.after {
                tx.insert_dependency(id, dep, DepOrigin::Manual, now)?;
            }
            if unmerged > 0 {
                tx.adjust_unmerged_deps(id, unmerged)?;
            }
            require_task(tx, id)
        })
    }

    /// One task and its neighbourhood.
    pub fn task(&self, id: TaskId) -> Result<TaskDetail, ServiceError> {
        self.store.read(|tx| detail(tx, id))
    }

    /// One task and its neighbourhood, for the operator (MCP `show_task`).
    pub fn show_task(&self, caller: &Caller, id: TaskId) -> Result<TaskDetail, ServiceError> {
        caller.require_operator()?;
        self.task(id)
    }

    /// A page of tasks for the operator (MCP `list_tasks`): those in `state` (all when `None`),
    /// in id order after `after`, at most `limit`, each with its dependencies; and whether more
    /// follow.
    pub fn task_page(
        &self,
        caller: &Caller,
        state: Option<TaskState>,
        after: Option<TaskId>,
        limit: usize,
    ) -> Result<TaskPage, ServiceError> {
        caller.require_operator()?;
        let listing = self.list_tasks(&TaskFilter { state, plan: None })?;
        let total = listing.tasks.len();
        let mut tasks: Vec<TaskRecord> = listing.tasks;
        tasks.sort_by_key(|t| t.id);
        tasks.retain(|t| after.is_none_or(|after| t.id > after));
        let more = tasks.len() > limit;
        tasks.truncate(limit);
        let rows = tasks
            .into_iter()
            .map(|task| {
                let deps = listing.dependencies.get(&task.id).cloned().unwrap_or_default();
                (task, deps)
            })
            .collect();
        Ok(TaskPage { tasks: rows, total, more })
    }

    /// Tasks (filtered) with their dependency edges and containers.
    pub fn list_tasks(&self, filter: &TaskFilter) -> Result<TaskListing, ServiceError> {
        self.store.read(|tx| {
            Ok(TaskListing {
                tasks: tx.tasks(filter)?,
                dependencies: tx.all_dependencies()?,
                initiatives: tx.initiatives()?,
                phases: tx.phases()?,
                plans: tx.plans()?,
            })
        })
    }

    /// Makes `task` depend on `dependency`. Refuses cycles (naming them) and tasks already started.
    #[instrument(skip_all, fields(task_id = %task, dependency = %dependency))]
    pub fn add_dependency(
        &self,
        task: TaskId,
        dependency: TaskId,
    ) -> Result<DependencyChange, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            let changed = add_edge(tx, task, dependency, DepOrigin::Manual, now)?;
            Ok(DependencyChange { task: require_task(tx, task)?, dependency, changed })
        })
    }

    /// Removes the edge `task → dependency`; the task becomes ready if that was its last blocker.
    #[instrument(skip_all, fields(task_id = %task, dependency = %dependency))]
    pub fn remove_dependency(
        &self,
        task: TaskId,
        dependency: TaskId,
    ) -> Result<DependencyChange, ServiceError> {
        let now = self.now();
        self.store.write(|tx| {
            require_task(tx, task)?;
            let dep = require_task(tx, dependency)?;
            if !tx.delete_dependency(task, dependency, now)? {
                return Err(ServiceError::NoSuchDependency { task, dependency });
            }
            if dep.state != TaskState::Merged {
                unblock_one(tx, task, now)?;
            }
            Ok(DependencyChange { task: require_task(tx, task)?, dependency, changed: true })
        })
    }

    /// Cancels a task; its dependents stay pending until it is retried and merged.
    #[instrument(skip_all, fields(task_id = %id))]
    pub fn cancel_task(&self, caller: &Caller, id: TaskId) -> Result<TaskChange, ServiceError> {
        caller.require_operator()?;
        let now = self.now();
        self.store.write(|tx| {
            let task = require_task(tx, id)?;
            apply(tx, &task, TaskEvent::Cancel, None, "cancelled by the operator", now)?;
            let blocked_dependents = tx.dependents(id)?;
            Ok(TaskChange { task: require_task(tx, id)?, previous: task.state, blocked_dependents })
        })
    }

    /// Changes a task's title or description (same rules as `add_task`).
    #[instrument(skip_all, fields(task_id = %id))]
    pub fn edit_task(&self, id: TaskId, edit: &TaskEdit) -> Result<TaskRecord, ServiceError> {
        let title = edit.title.as_deref().map(str::trim);
        if let Some(title) = title {
            check_title(title)?;
        }
        if let Some(description) = &edit.description {
            check_description(description)?;
        }
        let now = self.now();
        self.store.write(|tx| {
            let task = require_task(tx, id)?;
            let update = crate::store::TaskTextUpdate {
                title: title.map_or_else(|| task.title.clone(), str::to_owned),
                description: edit.description.clone().unwrap_or_else(|| task.description.clone()),
                files: task.files.clone(),
                verify: task.verify.clone(),
                done_criteria: task.done_criteria.clone(),
                kind: task.kind.clone(),
                needs_human: task.needs_human,
                phase_seq: task.phase_seq,
                wave: task.wave,
                metadata: task.metadata,
            };
            tx.update_task_text(id, &update, now)?;
            require_task(tx, id)
        })
    }

    /// Gives a failed or cancelled task a fresh start (attempts reset).
    #[instrument(skip_all, fields(task_id = %id))]
    pub fn retry_task(&self, caller: &Caller, id: TaskId) -> Result<TaskChange, ServiceError> {
        caller.require_operator()?;
        let now = self.now();
        self.store.write(|tx| {
            let task = require_task(tx, id)?;
            let event = TaskEvent::Retry { dependencies_merged: task.unmerged_deps == 0 };
            apply(tx, &task, event, None, "retried by the operator", now)?;
            tx.set_task_attempts(id, 0)?;
            tx.set_task_failure(id, None)?;
            Ok(TaskChange {
                task: require_task(tx, id)?,
                previous: task.state,
                blocked_dependents: Vec::new(),
            })
        })
    }

    /// The first `limit` ready tasks in dispatch order (tasks for the human last).
    pub fn ready(&self, limit: u32) -> Result<Vec<TaskRecord>, ServiceError> {
        self.store.read(|tx| records(tx, &tx.ready_tasks(limit)?))
    }

    /// Counts by state, what runs next, and who is working (the operator's overview).
    pub fn status(&self, caller: &Caller, next_limit: u32) -> Result<StatusReport, ServiceError> {
        caller.require_operator()?;
        let hosts = self.hosts()?;
        self.store.read(|tx| {
            let overview = overview(tx)?;
            let next_ready = records(tx, &tx.ready_tasks(next_limit)?)?;
            let next_ready_deps = next_ready
                .iter()
                .map(|t| Ok((t.id, tx.dependencies(t.id)?)))
                .collect::<Result<_, ServiceError>>()?;
            Ok(StatusReport {
                counts: overview.counts,
                total: overview.total,
                next_ready,
                next_ready_deps,
                agents: tx.agents()?,
                latest_event: tx.latest_event_id()?,
                queued_merges: overview.queued_merges,
                open_questions: overview.open_questions,
                recent_merges: overview.recent_merges,
                hosts: hosts.clone(),
            })
        })
    }

    /// The part of the status a running coordinator shows (a few indexed reads, no lists).
    pub fn overview(&self) -> Result<Overview, ServiceError> {
        self.store.read(overview)
    }
}

fn overview(tx: &Tx<'_>) -> Result<Overview, ServiceError> {
    let counts = tx.task_counts()?;
    let total = counts.iter().map(|(_, n)| n).sum();
    Ok(Overview {
        counts,
        total,
        queued_merges: tx.queued_merges()?,
        open_questions: tx.open_question_count()?,
        for_you: tx.ready_for_the_human()?,
        recent_merges: tx
            .recent_merges(RECENT_MERGES)?
            .into_iter()
            .map(|merge| {
                Ok(MergeLine {
                    task: merge.task,
                    title: require_task(tx, merge.task)?.title,
                    state: merge.state,
                    commit: merge.commit,
                    paths: merge.paths,
                    reason: merge.detail,
                    finished_at: merge.finished_at,
                })
            })
            .collect::<Result<_, ServiceError>>()?,
    })
}

/// Applies `event` to `task`, keeps holder and lease consistent with the new state, and, when the
/// task becomes merged, makes dependents whose last blocker it was ready. Returns the new state.
pub(super) fn apply(
    tx: &Tx<'_>,
    task: &TaskRecord,
    event: TaskEvent,
    claim: Option<(AgentId, Timestamp)>,
    reason: &str,
    now: Timestamp,
) -> Result<TaskState, ServiceError> {
    let next = task
        .state
        .transition(event)
        .map_err(|source| ServiceError::Transition { task: task.id, source })?;
    let (agent, lease) = match next {
        TaskState::Pending | TaskState::Ready | TaskState::Cancelled => (None, None),
        TaskState::Claimed => match claim {
            Some((agent, lease)) => (Some(agent), Some(lease)),
            None => (task.agent, task.lease_expires_at),
        },
        _ => (task.agent, None),
    };
    tx.set_task_state(task.id, task.state, next, agent, lease, reason, now)?;
    if next == TaskState::Merged {
        for dependent in tx.dependents(task.id)? {
            unblock_one(tx, dependent, now)?;
        }
    }
    Ok(next)
}

/// One of `task`'s unmerged dependencies went away (merged or edge removed).
fn unblock_one(tx: &Tx<'_>, task: TaskId, now: Timestamp) -> Result<(), ServiceError> {
    let remaining = tx.adjust_unmerged_deps(task, -1)?;
    if remaining == 0 {
        let record = require_task(tx, task)?;
        if record.state == TaskState::Pending {
            apply(
                tx,
                &record,
                TaskEvent::DependenciesMerged,
                None,
                "all dependencies merged",
                now,
            )?;
        }
    }
    Ok(())
}

/// Adds an edge with every check; returns false if it already existed.
pub(super) fn add_edge(
    tx: &Tx<'_>,
    task: TaskId,
    dependency: TaskId,
    origin: DepOrigin,
    now: Timestamp,
) -> Result<bool, ServiceError> {
    if task == dependency {
        return Err(ServiceError::SelfDependency(task));
    }
    // The new edge closes a cycle exactly when `dependency` already (transitively) depends on
    // `task`; the path found plus the new edge is the cycle.
    if let Some(path) = path_between(dependency, task, |node| tx.dependencies(node))? {
        let mut cycle = vec![task];
        cycle.extend(path);
        return Err(ServiceError::Cycle { cycle });
    }
    add_edge_unchecked_for_cycles(tx, task, dependency, origin, now)
}

/// `add_edge` without the cycle check, for many edges at once: each check walks the graph, so
/// checking every edge of a chain of N tasks costs N². The caller checks the whole graph once
/// afterwards (`refuse_cycles`), in the same transaction.
pub(super) fn add_edge_unchecked_for_cycles(
    tx: &Tx<'_>,
    task: TaskId,
    dependency: TaskId,
    origin: DepOrigin,
    now: Timestamp,
) -> Result<bool, ServiceError> {
    if task == dependency {
        return Err(ServiceError::SelfDependency(task));
    }
    let dependent = require_task(tx, task)?;
    let dep = require_task(tx, dependency)?;
    if tx.dependencies(task)?.contains(&dependency) {
        return Ok(false);
    }
    if !matches!(dependent.state, TaskState::Pending | TaskState::Ready) {
        return Err(ServiceError::DependencyOnStartedTask { task, state: dependent.state });
    }
    tx.insert_dependency(task, dependency, origin, now)?;
    if dep.state != TaskState::Merged {
        tx.adjust_unmerged_deps(task, 1)?;
        if dependent.state == TaskState::Ready {
            apply(
                tx,
                &dependent,
                TaskEvent::DependencyReopened,
                None,
                "new unmerged dependency",
                now,
            )?;
        }
    }
    Ok(true)
}

/// Fails (so the transaction rolls back) if the dependency graph has a cycle, naming it.
pub(super) fn refuse_cycles(tx: &Tx<'_>) -> Result<(), ServiceError> {
    let edges = tx.all_dependencies()?;
    let mut nodes: Vec<TaskId> = edges.keys().copied().collect();
    nodes.sort_unstable();
    match find_cycle(&nodes, &edges) {
        Some(mut cycle) => {
            cycle.pop();
            Err(ServiceError::Cycle { cycle })
        }
        None => Ok(()),
    }
}

/// Removes an import-made edge, keeping the counts right.
pub(super) fn remove_edge(
    tx: &Tx<'_>,
    task: TaskId,
    dependency: TaskId,
    now: Timestamp,
) -> Result<(), ServiceError> {
    let dep = require_task(tx, dependency)?;
    if tx.delete_dependency(task, dependency, now)? && dep.state != TaskState::Merged {
        unblock_one(tx, task, now)?;
    }
    Ok(())
}

/// A description is free text within the limit.
fn check_description(description: &str) -> Result<(), ServiceError> {
    if description.len() > MAX_DESCRIPTION_BYTES {
        return Err(ServiceError::InvalidInput(format!(
            "the description is {} bytes; the limit is {MAX_DESCRIPTION_BYTES}",
            description.len()
        )));
    }
    Ok(())
}

/// A title is one line of plain text within the limit (add, edit, import through the same).
fn check_title(title: &str) -> Result<(), ServiceError> {
    if title.is_empty() {
        return Err(ServiceError::InvalidInput("a task needs a non-empty title".to_owned()));
    }
    if title.contains(['\n', '\r']) {
        return Err(ServiceError::InvalidInput(
            "a title is one line; put the rest in the description (--description)".to_owned(),
        ));
    }
    if let Some(c) = title.chars().find(|&c| crate::safe_text::is_unsafe(c)) {
        return Err(ServiceError::InvalidInput(format!(
            "the title contains the control character U+{:04X}; titles are plain text",
            u32::from(c)
        )));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ServiceError::InvalidInput(format!(
            "the title is {} characters long; the limit is {MAX_TITLE_CHARS} (put details in --description)",
            title.chars().count()
        )));
    }
    Ok(())
}

/// A task with its dependencies, dependents, plan and phase, read in `tx`.
pub(super) fn detail(tx: &Tx<'_>, id: TaskId) -> Result<TaskDetail, ServiceError> {
    let task = require_task(tx, id)?;
    let dependencies = records(tx, &tx.dependencies(id)?)?;
    let dependents = records(tx, &tx.dependents(id)?)?;
    let plan = match task.plan {
        Some(plan) => tx.plan(plan)?,
        None => None,
    };
    let phase = match plan.as_ref().and_then(|p| p.phase) {
        Some(phase) => tx.phase(phase)?,
        None => None,
    };
    let last_merge = tx.latest_merge(id)?;
    Ok(TaskDetail { task, dependencies, dependents, plan, phase, last_merge })
}

pub(super) fn require_task(tx: &Tx<'_>, id: TaskId) -> Result<TaskRecord, ServiceError> {
    tx.task(id)?.ok_or(ServiceError::TaskNotFound(id))
}

fn records(tx: &Tx<'_>, ids: &[TaskId]) -> Result<Vec<TaskRecord>, ServiceError> {
    ids.iter().map(|&id| require_task(tx, id)).collect()
}

fn resolve_plan(tx: &Tx<'_>, plan_ref: &PlanRef) -> Result<PlanRecord, ServiceError> {
    match plan_ref {
        PlanRef::Id(id) => tx.plan(*id)?.ok_or_else(|| ServiceError::PlanNotFound(id.to_string())),
        PlanRef::Key(key) => {
            let mut plans = tx.plans_with_key(key)?;
            if plans.is_empty()
                && let Some(canonical) = crate::planning::canonical_plan_key(key)
            {
                plans = tx.plans_with_key(&canonical)?;
            }
            match plans.len() {
                0 => Err(ServiceError::PlanNotFound(key.clone())),
                1 => Ok(plans.remove(0)),
                count => Err(ServiceError::PlanAmbiguous { key: key.clone(), count }),
            }
        }
    }
}
