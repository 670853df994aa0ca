//! `cw import`: upsert an `ImportSet` in one transaction. Re-import updates in place by stable
//! keys, never duplicates, and never throws away local task state.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde_json::json;
use tracing::{info, instrument};

use super::tasks::{
    add_edge_unchecked_for_cycles, apply, refuse_cycles, remove_edge, require_task,
};
use super::{Service, ServiceError};
use crate::model::{PhaseId, PlanId, TaskEvent, TaskId, TaskState};
use crate::planning::{self, ImportSet, ImportWarning, ReadOptions};
use crate::store::{
    DepOrigin, InitiativeUpsert, NewTask, PhaseUpsert, PlanUpsert, TaskRecord, TaskTextUpdate, Tx,
};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Compute and report everything, write nothing.
    pub dry_run: bool,
    /// All or nothing: a file that cannot be read or a reference that cannot be resolved
    /// refuses the import.
    pub strict: bool,
    /// A dependency that cannot be resolved is dropped instead of holding its plan back.
    pub ignore_unresolved: bool,
}

/// What an import did (or would do, with `dry_run`).
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub initiative: String,
    pub initiative_title: String,
    pub phases: usize,
    pub plans: usize,
    pub tasks_created: usize,
    pub tasks_updated: usize,
    pub tasks_unchanged: usize,
    pub tasks_marked_merged: usize,
    pub tasks_removed: usize,
    pub needs_human: usize,
    pub edges_added: usize,
    pub edges_removed: usize,
    pub state_counts: Vec<(TaskState, usize)>,
    pub next_ready: Vec<TaskRecord>,
    /// What each of `next_ready` waited for (all merged: it is ready).
    pub next_ready_depends_on: HashMap<TaskId, Vec<TaskId>>,
    pub warnings: Vec<ImportWarning>,
    pub skipped: Vec<String>,
    /// Files that could not be read (`file:line — reason`), each now a task for the human.
    pub problems: Vec<String>,
    /// What became of each PLAN and SUMMARY file.
    pub files: Vec<planning::FileOutcome>,
    /// The `.planning/` folder read (absolute); `files` are relative to it.
    pub planning_dir: PathBuf,
    pub dry_run: bool,
}

impl Service {
    /// Imports the GSD folder at `dir` (the `.planning` folder or its parent).
    #[instrument(skip_all, fields(dir = %dir.display()))]
    pub fn import(
        &self,
        dir: &Path,
        options: &ImportOptions,
    ) -> Result<ImportReport, ServiceError> {
        let root = planning::planning_root(dir);
        let key = initiative_key(self.workspace.root(), &root);
        let set = planning::read(
            dir,
            &key,
            &ReadOptions { strict: options.strict, ignore_unresolved: options.ignore_unresolved },
        )?;
        let now = self.now();
        let body = |tx: &Tx<'_>| apply_set(tx, &set, now);
        let mut report =
            if options.dry_run { self.store.rehearse(body)? } else { self.store.write(body)? };
        report.dry_run = options.dry_run;
        report.warnings.splice(0..0, set.warnings.iter().cloned());
        report.skipped = set.skipped.clone();
        report.problems = set.problems.clone();
        report.files = set.files.clone();
        report.planning_dir = fs_err::canonicalize(&root).unwrap_or(root);
        info!(
            tasks_created = report.tasks_created,
            tasks_updated = report.tasks_updated,
            "import finished"
        );
        Ok(report)
    }
}

/// The initiative key: the folder relative to the repository when inside it (so moving the
/// repository does not duplicate the initiative), else its absolute path.
fn initiative_key(repo_root: &Path, planning_root: &Path) -> String {
    let absolute = fs_err::canonicalize(planning_root).unwrap_or_else(|_| planning_root.to_owned());
    let repo = fs_err::canonicalize(repo_root).unwrap_or_else(|_| repo_root.to_owned());
    match absolute.strip_prefix(&repo) {
        Ok(relative) => relative.display().to_string(),
        Err(_) => absolute.display().to_string(),
    }
}

/// Writes `set` into the database in one transaction, in named steps: the hierarchy, the tasks
/// (new ones pending, known ones refreshed), the import's own edges, the states that follow
/// (summaries merged, free tasks ready), tasks gone from the files, and the report.
fn apply_set(
    tx: &Tx<'_>,
    set: &ImportSet,
    now: crate::model::Timestamp,
) -> Result<ImportReport, ServiceError> {
    let report =
        ImportReport { initiative_title: set.initiative.title.clone(), ..ImportReport::default() };
    let mut apply = Apply { tx, now, report };
    let (phase_ids, plan_ids) = apply.hierarchy(set)?;
    // Every plan this initiative has ever imported, so tasks that vanished from files are found.
    let mut known_plans: Vec<PlanId> = Vec::new();
    for phase_id in phase_ids.values() {
        known_plans.extend(tx.plans_of(*phase_id)?.into_iter().map(|p| p.id));
    }
    let mut existing: HashMap<String, TaskRecord> = HashMap::new();
    for plan in &known_plans {
        existing.extend(tx.tasks_by_key(*plan)?);
    }
    let task_ids = apply.tasks(set, &plan_ids, &mut existing)?;
    apply.edges(set, &task_ids, &known_plans)?;
    apply.settle_states(set, &task_ids)?;
    apply.gone_from_files(existing)?;
    apply.finish(&task_ids)
}

/// One import being applied: the transaction, its time, and what it did so far.
struct Apply<'a, 't> {
    tx: &'a Tx<'t>,
    now: crate::model::Timestamp,
    report: ImportReport,
}

impl<'s> Apply<'_, '_> {
    /// The initiative, its phases and plans with their dependencies; their ids by key.
    #[expect(clippy::type_complexity, reason = "two maps by key, named at the call")]
    fn hierarchy(
        &mut self,
        set: &'s ImportSet,
    ) -> Result<(HashMap<&'s str, PhaseId>, HashMap<&'s str, PlanId>), ServiceError> {
        let (tx, now) = (self.tx, self.now);
        let initiative = tx.upsert_initiative(
            &InitiativeUpsert {
                key: set.initiative.key.clone(),
                title: set.initiative.title.clone(),
                description: set.initiative.description.clone(),
                metadata: json!({ "source": set.root.display().to_string() }).to_string(),
            },
            now,
        )?;
        self.report.initiative = initiative.to_string();

        let mut phase_ids: HashMap<&str, PhaseId> = HashMap::new();
        for phase in &set.phases {
            let row = PhaseUpsert {
                key: phase.key.clone(),
                number: phase.number.clone(),
                seq: phase.seq,
                title: phase.title.clone(),
                description: phase.description.clone(),
                metadata: phase.metadata.to_string(),
            };
            phase_ids.insert(phase.key.as_str(), tx.upsert_phase(initiative, &row, now)?);
        }
        for phase in &set.phases {
            let deps: Vec<PhaseId> = phase
                .depends_on
                .iter()
                .filter_map(|d| phase_ids.get(d.as_str()).copied())
                .collect();
            tx.set_phase_dependencies(phase_ids[phase.key.as_str()], &deps)?;
        }
        self.report.phases = set.phases.len();

        let mut plan_ids: HashMap<&str, PlanId> = HashMap::new();
        for plan in &set.plans {
            let row = PlanUpsert {
                key: plan.key.clone(),
                seq: plan.seq,
                title: plan.title.clone(),
                description: plan.description.clone(),
                wave: plan.wave,
                source: plan.source.clone(),
                metadata: plan.metadata.to_string(),
            };
            let phase = phase_ids.get(plan.phase_key.as_str()).copied();
            plan_ids.insert(plan.key.as_str(), tx.upsert_plan(phase, &row, now)?);
        }
        for plan in &set.plans {
            let deps: Vec<PlanId> =
                plan.depends_on.iter().filter_map(|d| plan_ids.get(d.as_str()).copied()).collect();
            tx.set_plan_dependencies(plan_ids[plan.key.as_str()], &deps)?;
        }
        self.report.plans = set
            .plans
            .iter()
            .filter(|p| !p.metadata["placeholder"].as_bool().unwrap_or(false))
            .count();
        Ok((phase_ids, plan_ids))
    }

    /// Creates the new tasks (pending) and refreshes the text of known ones, taking each found
    /// out of `existing` (what is left there is gone from the files); their ids by key.
    fn tasks(
        &mut self,
        set: &'s ImportSet,
        plan_ids: &HashMap<&str, PlanId>,
        existing: &mut HashMap<String, TaskRecord>,
    ) -> Result<HashMap<&'s str, TaskId>, ServiceError> {
        let (tx, now) = (self.tx, self.now);
        let mut task_ids: HashMap<&str, TaskId> = HashMap::new();
        for task in &set.tasks {
            let plan = plan_ids[task.plan_key.as_str()];
            let metadata = task.metadata.to_string();
            let id = match existing.remove(&task.key) {
                Some(record) => {
                    let update = TaskTextUpdate {
                        title: task.title.clone(),
                        description: task.description.clone(),
                        files: task.files.clone(),
                        verify: task.verify.clone(),
                        done_criteria: task.done.clone(),
                        kind: task.kind.clone(),
                        needs_human: task.needs_human,
                        phase_seq: task.phase_seq,
                        wave: task.wave,
                        metadata,
                    };
                    if tx.update_task_text(record.id, &update, now)? {
                        self.report.tasks_updated += 1;
                    } else {
                        self.report.tasks_unchanged += 1;
                    }
                    record.id
                }
                None => {
                    let new = NewTask {
                        plan: Some(plan),
                        key: Some(task.key.clone()),
                        title: task.title.clone(),
                        description: task.description.clone(),
                        files: task.files.clone(),
                        verify: task.verify.clone(),
                        done_criteria: task.done.clone(),
                        kind: task.kind.clone(),
                        needs_human: task.needs_human,
                        priority: 2,
                        phase_seq: task.phase_seq,
                        wave: task.wave,
                        metadata,
                        dedupe_key: None,
                    };
                    self.report.tasks_created += 1;
                    tx.insert_task(&new, TaskState::Pending, now)?
                }
            };
            task_ids.insert(task.key.as_str(), id);
            if task.needs_human {
                self.report.needs_human += 1;
            }
        }
        Ok(task_ids)
    }

    /// Makes the import-made edges exactly the files' set; the human's own edges stay.
    fn edges(
        &mut self,
        set: &ImportSet,
        task_ids: &HashMap<&str, TaskId>,
        known_plans: &[PlanId],
    ) -> Result<(), ServiceError> {
        let (tx, now) = (self.tx, self.now);
        let desired: HashSet<(TaskId, TaskId)> = set
            .edges
            .iter()
            .filter_map(|(from, to)| {
                Some((*task_ids.get(from.as_str())?, *task_ids.get(to.as_str())?))
            })
            .collect();
        let current: HashSet<(TaskId, TaskId)> =
            tx.import_edges_of_plans(known_plans)?.into_iter().collect();
        for &(task, dependency) in current.difference(&desired) {
            remove_edge(tx, task, dependency, now)?;
            self.report.edges_removed += 1;
        }
        let mut to_add: Vec<&(TaskId, TaskId)> = desired.difference(&current).collect();
        to_add.sort();
        for &&(task, dependency) in &to_add {
            match add_edge_unchecked_for_cycles(tx, task, dependency, DepOrigin::Import, now) {
                Ok(true) => self.report.edges_added += 1,
                Ok(false) => {}
                Err(ServiceError::DependencyOnStartedTask { task, state }) => {
                    self.report.warnings.push(ImportWarning {
                        location: task.to_string(),
                        message: format!(
                            "is already {state}; its new dependency on {dependency} was not added"
                        ),
                    });
                }
                Err(err) => return Err(err),
            }
        }
        // The files' own cycles were refused while reading them; this catches one that the new
        // edges close with the human's own (`cw task dep add`).
        refuse_cycles(tx)
    }

    /// Tasks whose plan has a SUMMARY are merged (the work is already in history); new tasks
    /// with nothing left to wait for become ready.
    fn settle_states(
        &mut self,
        set: &ImportSet,
        task_ids: &HashMap<&str, TaskId>,
    ) -> Result<(), ServiceError> {
        let (tx, now) = (self.tx, self.now);
        for task in set.tasks.iter().filter(|t| t.merged) {
            let record = require_task(tx, task_ids[task.key.as_str()])?;
            if matches!(record.state, TaskState::Pending | TaskState::Ready) {
                apply(tx, &record, TaskEvent::ImportedAsMerged, None, "plan has a SUMMARY", now)?;
                tx.set_task_result(record.id, task.result_summary.as_deref())?;
                self.report.tasks_marked_merged += 1;
            }
        }
        for task in &set.tasks {
            let record = require_task(tx, task_ids[task.key.as_str()])?;
            if record.state == TaskState::Pending && record.unmerged_deps == 0 {
                let event = TaskEvent::DependenciesMerged;
                apply(tx, &record, event, None, "no unmerged dependencies", now)?;
            }
        }
        Ok(())
    }

    /// Tasks that disappeared from the files: deleted if never touched, else kept (cancelled
    /// when nobody holds them) with a warning.
    fn gone_from_files(&mut self, gone: HashMap<String, TaskRecord>) -> Result<(), ServiceError> {
        let (tx, now) = (self.tx, self.now);
        for (key, record) in gone {
            if tx.delete_unclaimed_task(record.id, now)? {
                self.report.tasks_removed += 1;
            } else if !record.state.is_terminal() {
                let event = TaskEvent::Cancel;
                if record.state.transition(event).is_ok() && record.agent.is_none() {
                    apply(tx, &record, event, None, "removed from its plan file", now)?;
                }
                let state = require_task(tx, record.id)?.state;
                self.report.warnings.push(ImportWarning {
                    location: record.id.to_string(),
                    message: format!(
                        "task {key} is no longer in its plan file; kept as {state} because it was already worked on"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The counts by state, the next ready tasks with what they wait on, and the event.
    fn finish(mut self, task_ids: &HashMap<&str, TaskId>) -> Result<ImportReport, ServiceError> {
        let tx = self.tx;
        let ids: Vec<TaskId> = task_ids.values().copied().collect();
        let mut counts: HashMap<TaskState, usize> = HashMap::new();
        for id in &ids {
            *counts.entry(require_task(tx, *id)?.state).or_default() += 1;
        }
        let report = &mut self.report;
        report.state_counts =
            TaskState::ALL.iter().filter_map(|s| counts.get(s).map(|n| (*s, *n))).collect();
        let imported: HashSet<TaskId> = ids.into_iter().collect();
        report.next_ready = tx
            .ready_tasks(200)?
            .into_iter()
            .filter(|id| imported.contains(id))
            .take(5)
            .map(|id| require_task(tx, id))
            .collect::<Result<_, _>>()?;
        for task in &report.next_ready {
            report.next_ready_depends_on.insert(task.id, tx.dependencies(task.id)?);
        }
        tx.append_event(
            self.now,
            "import.applied",
            None,
            None,
            &json!({
                "initiative": report.initiative,
                "created": report.tasks_created,
                "updated": report.tasks_updated,
                "merged": report.tasks_marked_merged,
            }),
        )?;
        Ok(self.report)
    }
}
