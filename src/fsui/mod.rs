//! The file mirror (design.md §7): the state as files under `.cw/` that a person reads and edits
//! in their editor, and their edits back into the database.
//!
//! Owns: rendering and reading the mirror files (`inbox/`, `agents/<id>/`, `STATUS.md`), atomic
//! writes, the notes beside files that cannot be applied, and the watcher loop (`watch`).
//! Must not: write SQL, touch git, or change state except through the `Service` use cases the
//! CLI and MCP call (as the operator, `Via::File`).
//! Invariants: a file the human wrote is changed or removed only once what it says was applied
//! (a question's file moves to `answered/`, an inbox page is emptied of what was sent); a file
//! that cannot be applied is left byte for byte, with the reason in `<name>.error.md`; nothing
//! outside `.cw/` is read or written and no link is followed.

mod agents;
mod files;
mod inbox;
mod status;
mod tasks;
pub mod watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::{AgentId, AgentState, QuestionId, QuestionStatus, TaskId, TaskState};
use crate::service::{Caller, Service, ServiceError, Via};
use crate::store::QuestionRecord;

/// What one sync did.
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Edits applied, in words ("answered q3 from .cw/inbox/q3.md").
    pub applied: Vec<String>,
    /// Files that could not be applied, with why (also in the `.error.md` beside each).
    pub problems: Vec<String>,
    /// Mirror files written.
    pub written: usize,
}

/// The mirror of one repository's state.
pub struct Mirror<'s> {
    service: &'s Service,
    dir: PathBuf,
    caller: Caller,
    /// What cw last wrote to each file (a hash), so its own writes are not taken for edits.
    written: std::cell::RefCell<HashMap<PathBuf, u64>>,
}

impl<'s> Mirror<'s> {
    pub fn new(service: &'s Service) -> Mirror<'s> {
        let dir = service.workspace().cw_dir.clone();
        Mirror { service, dir, caller: Caller::Operator(Via::File), written: Default::default() }
    }

    /// The files the human edits (what the watcher reports changes in).
    pub fn watched_dirs(&self) -> [PathBuf; 3] {
        [self.dir.join("inbox"), self.dir.join("agents"), self.dir.join("tasks")]
    }

    /// Applies what the human wrote, then brings every mirror file up to date.
    pub fn sync(&self) -> Result<SyncReport, ServiceError> {
        let mut report = SyncReport::default();
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| ServiceError::Io { path, source }
        };
        let inbox = self.dir.join("inbox");
        files::ensure_dir(&inbox).map_err(io(&inbox))?;
        files::ensure_dir(&inbox.join("answered")).map_err(io(&inbox))?;
        self.sync_questions(&inbox, &mut report)?;
        self.sync_agents(&mut report)?;
        self.sync_tasks(&mut report)?;
        let status = self.service.status(&Caller::Operator(Via::File), 5)?;
        let open = self.service.open_questions(&self.caller)?;
        let page = status::render(&status, &open, &report.problems);
        let path = self.dir.join("STATUS.md");
        self.write(&path, &page, &mut report)?;
        Ok(report)
    }

    fn sync_questions(&self, inbox: &Path, report: &mut SyncReport) -> Result<(), ServiceError> {
        let questions = self.service.all_questions(&self.caller)?;
        let by_id: HashMap<QuestionId, &QuestionRecord> =
            questions.iter().map(|q| (q.id, q)).collect();
        // Files the human may have written in: applied first.
        for path in markdown_files(inbox) {
            let Some(id) = question_id(&path) else { continue };
            let Some(question) = by_id.get(&id) else {
                self.problem(
                    report,
                    &path,
                    &format!("there is no question {id} (see `cw inbox --all`)"),
                )?;
                continue;
            };
            self.apply_answer_file(&path, question, report)?;
        }
        // Then what the database says, reread: answers may have just been given.
        for question in self.service.all_questions(&self.caller)? {
            let context = self.context(question.agent, question.task);
            let open_file = inbox.join(format!("{}.md", question.id));
            if question.status == QuestionStatus::Open {
                // An existing file is the human's to edit; only a missing one is (re)written.
                if !open_file.exists() && fs_err::symlink_metadata(&open_file).is_err() {
                    self.write(&open_file, &inbox::render_open(&question, &context), report)?;
                }
                continue;
            }
            let answered = inbox.join("answered").join(format!("{}.md", question.id));
            self.write(&answered, &inbox::render_answered(&question, &context), report)?;
        }
        Ok(())
    }

    /// One question's file: its answer is given, or — answered elsewhere meanwhile — the file goes
    /// to `answered/`, keeping a different answer the human wrote as a `.conflict.md` copy.
    fn apply_answer_file(
        &self,
        path: &Path,
        question: &QuestionRecord,
        report: &mut SyncReport,
    ) -> Result<(), ServiceError> {
        let text = match files::read(path) {
            Ok(Some(text)) => text,
            Ok(None) => return Ok(()),
            Err(why) => return self.problem(report, path, &why),
        };
        let written = match inbox::parse_answer(&text, question) {
            Ok(written) => written,
            Err(why) => return self.problem(report, path, &why),
        };
        let mut recorded = question.clone();
        if question.status == QuestionStatus::Open {
            let Some(answer) = &written else {
                return self.clear_problem(path);
            };
            match self.service.answer(&self.caller, question.id, answer) {
                Ok(deferred) if deferred.status == QuestionStatus::Open => {
                    // A task for the human, deferred: it stays, its file as it was asked.
                    report.applied.push(format!(
                        "deferred {} from {}",
                        question.id,
                        self.shown(path)
                    ));
                    let context = self.context(deferred.agent, deferred.task);
                    let fresh = inbox::render_open(&deferred, &context);
                    files::write_if_changed(path, &fresh)
                        .map_err(|source| ServiceError::Io { path: path.to_owned(), source })?;
                    return self.clear_problem(path);
                }
                Ok(answered) => {
                    report.applied.push(format!(
                        "answered {} from {}",
                        question.id,
                        self.shown(path)
                    ));
                    recorded = answered;
                }
                Err(ServiceError::AlreadyAnswered { .. }) => {
                    recorded = self.service.question(question.id)?;
                }
                Err(err) => return self.problem(report, path, &err.to_string()),
            }
        }
        let answered_dir = path.parent().unwrap_or(Path::new(".")).join("answered");
        if let Some(mine) = written.filter(|w| Some(w.as_str()) != recorded.answer.as_deref()) {
            // Both changed: the human's words are kept where they can be found.
            let copy = files::beside(&answered_dir.join(format!("{}.md", question.id)), "conflict");
            files::write_if_changed(&copy, &text)
                .map_err(|source| ServiceError::Io { path: copy.clone(), source })?;
            report.problems.push(format!(
                "{}: {} was already answered {} (\"{}\"); your answer \"{}\" is kept in {}",
                self.shown(path),
                question.id,
                crate::service::Via::words(recorded.answered_by.as_deref().unwrap_or("")),
                files::scalar(recorded.answer.as_deref().unwrap_or("")),
                files::scalar(&mine),
                self.shown(&copy)
            ));
        }
        let context = self.context(recorded.agent, recorded.task);
        let target = answered_dir.join(format!("{}.md", question.id));
        self.write(&target, &inbox::render_answered(&recorded, &context), report)?;
        // Removed only if it still holds what was read: a save meanwhile is read next time.
        if files::read(path).ok().flatten().as_deref() == Some(text.as_str()) {
            fs_err::remove_file(path)
                .map_err(|source| ServiceError::Io { path: path.to_owned(), source })?;
        }
        self.clear_problem(path)
    }

    fn sync_agents(&self, report: &mut SyncReport) -> Result<(), ServiceError> {
        for agent in self.service.agents()? {
            let dir = self.service.workspace().agent_dir(agent.id);
            files::ensure_dir(&dir)
                .map_err(|source| ServiceError::Io { path: dir.clone(), source })?;
            let title = match agent.task.or(agent.bound_task) {
                Some(task) => Some(self.service.task(task)?.task.title),
                None => None,
            };
            self.write(
                &dir.join("status.md"),
                &agents::render_status(&agent, title.as_deref()),
                report,
            )?;
            let alive = !matches!(agent.state, AgentState::Exited | AgentState::Crashed);
            let page = dir.join("inbox.md");
            let text = match files::read(&page) {
                Ok(text) => text,
                Err(why) => {
                    self.problem(report, &page, &why)?;
                    continue;
                }
            };
            let mut sent_now = false;
            if let Some(text) = &text {
                let written = match agents::parse_inbox(text, agent.id) {
                    Ok(written) => written,
                    Err(why) => {
                        self.problem(report, &page, &why)?;
                        continue;
                    }
                };
                for (body, key) in &written.paragraphs {
                    match self.service.send_message_once(&self.caller, agent.id, body, Some(key)) {
                        Ok(Some(_)) => {
                            report.applied.push(format!(
                                "sent a message to {} from {}",
                                agent.id,
                                self.shown(&page)
                            ));
                        }
                        Ok(None) => {}
                        Err(err) => {
                            self.problem(report, &page, &err.to_string())?;
                            continue;
                        }
                    }
                    sent_now = true;
                }
                self.clear_problem(&page)?;
            }
            if text.is_none() && !alive {
                continue;
            }
            let sent = self.service.agent_messages(&self.caller, agent.id)?;
            let fresh = agents::render_inbox(agent.id, sent.len(), &sent);
            // Rewritten only when what it holds was sent (or it is cw's own page): never over
            // words still to be sent.
            let unchanged = text.is_none()
                || sent_now
                || text.as_deref().is_some_and(|t| {
                    agents::parse_inbox(t, agent.id).is_ok_and(|w| w.paragraphs.is_empty())
                });
            if unchanged && files::read(&page).ok().flatten() == text {
                self.write(&page, &fresh, report)?;
            }
        }
        Ok(())
    }

    /// `.cw/tasks/`: the human's edits against what cw last wrote (kept in `.cw/mirror/`), then
    /// every plan's file rendered again — unless an edit was refused (then the file stays as the
    /// human wrote it, with the reason beside it).
    fn sync_tasks(&self, report: &mut SyncReport) -> Result<(), ServiceError> {
        let dir = self.dir.join("tasks");
        let baselines = self.dir.join("mirror").join("tasks");
        for d in [&dir, &baselines] {
            files::ensure_dir(d).map_err(|source| ServiceError::Io { path: d.clone(), source })?;
        }
        self.sync_new_tasks(&dir.join("new.md"), report)?;
        for _ in 0..2 {
            let mut changed = false;
            for (name, (heading, plan, list)) in &self.task_groups()? {
                let path = dir.join(format!("{name}.md"));
                let baseline = baselines.join(format!("{name}.md"));
                let text = match files::read(&path) {
                    Ok(text) => text,
                    Err(why) => {
                        self.problem(report, &path, &why)?;
                        continue;
                    }
                };
                let before = files::read(&baseline).ok().flatten();
                if let (Some(text), Some(before)) = (&text, &before)
                    && text != before
                {
                    match self.apply_task_edits(name, text, before, *plan) {
                        Ok(applied) => {
                            changed |= !applied.is_empty();
                            let shown = self.shown(&path);
                            report
                                .applied
                                .extend(applied.into_iter().map(|a| format!("{a} from {shown}")));
                            self.clear_problem(&path)?;
                        }
                        Err(why) => {
                            self.problem(report, &path, &why)?;
                            continue;
                        }
                    }
                }
                // (After an edit this listing is stale; the next pass renders the result.)
                let page = tasks::render(heading, list);
                if files::read(&path).ok().flatten() == text {
                    self.write(&path, &page, report)?;
                    self.write(&baseline, &page, report)?;
                }
            }
            if !changed {
                break;
            }
        }
        Ok(())
    }

    /// Tasks by the file they are listed in: name → (heading, plan, tasks with what they wait for).
    #[expect(clippy::type_complexity, reason = "a local grouping, named where it is used")]
    fn task_groups(
        &self,
    ) -> Result<
        std::collections::BTreeMap<
            String,
            (String, Option<crate::model::PlanId>, Vec<(crate::store::TaskRecord, Vec<TaskId>)>),
        >,
        ServiceError,
    > {
        let listing = self.service.list_tasks(&crate::store::TaskFilter::default())?;
        let mut groups = std::collections::BTreeMap::new();
        for task in &listing.tasks {
            let plan = task.plan.and_then(|id| listing.plans.iter().find(|p| p.id == id));
            let (name, heading) = match plan {
                Some(plan) => {
                    let key = plan.key.clone().unwrap_or_else(|| plan.id.to_string());
                    (file_name(&key), format!("Plan {key}: {}", files::scalar(&plan.title)))
                }
                None => ("unplanned".to_owned(), "Tasks without a plan".to_owned()),
            };
            let after = listing.dependencies.get(&task.id).cloned().unwrap_or_default();
            groups
                .entry(name)
                .or_insert_with(|| (heading, task.plan, Vec::new()))
                .2
                .push((task.clone(), after));
        }
        Ok(groups)
    }

    /// Applies the differences between the human's `text` and what cw wrote (`before`) to the
    /// file `name`; stops at the first refusal, which is returned in words (what was applied
    /// before it stays). Applying the same text again changes nothing more: an edit the database
    /// already shows is skipped and an added line carries its key.
    fn apply_task_edits(
        &self,
        name: &str,
        text: &str,
        before: &str,
        plan: Option<crate::model::PlanId>,
    ) -> Result<Vec<String>, String> {
        let now = tasks::parse(text)?;
        let was = tasks::parse(before).unwrap_or_default();
        let refuse = |err: ServiceError| err.to_string();
        let listing =
            self.service.list_tasks(&crate::store::TaskFilter::default()).map_err(refuse)?;
        let version = tasks::digest(before);
        let mut applied = Vec::new();
        for (at, line) in now.iter().enumerate() {
            let Some(id) = line.id else {
                let key = tasks::dedupe_key(name, &version, &now, at);
                let added = self.add_task_line(line, plan, key).map_err(refuse)?;
                if !listing.tasks.iter().any(|t| t.id == added.id) {
                    applied.push(format!("added {}", added.id));
                }
                continue;
            };
            let Some(old) = was.iter().find(|l| l.id == Some(id)) else {
                return Err(format!(
                    "{id} is not in this file; add a task with a line without an id"
                ));
            };
            let Some(current) = listing.tasks.iter().find(|t| t.id == id) else {
                return Err(format!("{id} no longer exists; remove its line"));
            };
            let edit = crate::service::TaskEdit {
                title: (line.title != old.title && line.title != current.title)
                    .then(|| line.title.clone()),
                description: (line.description != old.description
                    && line.description != tasks::canonical(&current.description))
                .then(|| line.description.clone()),
            };
            if edit.title.is_some() || edit.description.is_some() {
                self.service.edit_task(id, &edit).map_err(refuse)?;
                let what = if edit.title.is_some() { "retitled" } else { "redescribed" };
                applied.push(format!("{what} {id}"));
            }
            let deps = listing.dependencies.get(&id).map_or(&[][..], Vec::as_slice);
            for added in line.after.difference(&old.after).filter(|d| !deps.contains(d)) {
                self.service.add_dependency(id, *added).map_err(refuse)?;
                applied.push(format!("{id} now after {added}"));
            }
            for removed in old.after.difference(&line.after).filter(|d| deps.contains(d)) {
                self.service.remove_dependency(id, *removed).map_err(refuse)?;
                applied.push(format!("{id} no longer after {removed}"));
            }
            let retryable = [TaskState::Failed, TaskState::Cancelled].contains(&current.state);
            match tasks::state_edit(id, &old.state, &line.state)? {
                Some(tasks::StateEdit::Cancel) if current.state != TaskState::Cancelled => {
                    self.service.cancel_task(&self.caller, id).map_err(refuse)?;
                    applied.push(format!("cancelled {id}"));
                }
                Some(tasks::StateEdit::Retry) if retryable => {
                    self.service.retry_task(&self.caller, id).map_err(refuse)?;
                    applied.push(format!("retried {id}"));
                }
                _ => {}
            }
        }
        Ok(applied)
    }

    fn add_task_line(
        &self,
        line: &tasks::Line,
        plan: Option<crate::model::PlanId>,
        dedupe_key: String,
    ) -> Result<crate::store::TaskRecord, ServiceError> {
        self.service.add_task(
            &Caller::Operator(Via::File),
            &crate::service::AddTask {
                title: line.title.clone(),
                description: line.description.clone(),
                plan: plan.map(crate::service::PlanRef::Id),
                after: line.after.iter().copied().collect(),
                dedupe_key: Some(dedupe_key),
                ..crate::service::AddTask::default()
            },
        )
    }

    /// `.cw/tasks/new.md`: each line below its line becomes a task, then the page is emptied
    /// (and given a new version, so the same line written again later is a new task).
    fn sync_new_tasks(&self, path: &Path, report: &mut SyncReport) -> Result<(), ServiceError> {
        let text = match files::read(path) {
            Ok(Some(text)) => text,
            Ok(None) => {
                return self.write(path, &tasks::render_new(&tasks::fresh_version()), report);
            }
            Err(why) => return self.problem(report, path, &why),
        };
        let (version, lines) = match tasks::parse_new(&text) {
            Ok(parsed) => parsed,
            Err(why) => return self.problem(report, path, &why),
        };
        // Tasks that exist already: a line added before a crash is not reported again.
        let mut known = std::collections::HashSet::new();
        if !lines.is_empty() {
            let listing = self.service.list_tasks(&Default::default())?;
            known.extend(listing.tasks.iter().map(|t| t.id));
        }
        for (done, line) in lines.iter().enumerate() {
            let key = tasks::dedupe_key("new.md", &version, &lines, done);
            match self.add_task_line(line, None, key) {
                Ok(added) if known.contains(&added.id) => {}
                Ok(added) => {
                    report.applied.push(format!("added {} from {}", added.id, self.shown(path)));
                }
                Err(err) => {
                    // What was added leaves the page; the refused line and the rest stay.
                    if done > 0 {
                        let keep: String =
                            lines[done..].iter().map(tasks::render_new_line).collect();
                        let page = format!("{}{keep}", tasks::render_new(&tasks::fresh_version()));
                        self.write(path, &page, report)?;
                    }
                    return self.problem(report, path, &err.to_string());
                }
            }
        }
        self.clear_problem(path)?;
        if !lines.is_empty() && files::read(path).ok().flatten().as_deref() == Some(text.as_str()) {
            self.write(path, &tasks::render_new(&tasks::fresh_version()), report)?;
        }
        Ok(())
    }

    fn write(
        &self,
        path: &Path,
        content: &str,
        report: &mut SyncReport,
    ) -> Result<(), ServiceError> {
        let wrote = files::write_if_changed(path, content)
            .map_err(|source| ServiceError::Io { path: path.to_owned(), source })?;
        self.written.borrow_mut().insert(path.to_owned(), content_hash(content.as_bytes()));
        report.written += usize::from(wrote);
        Ok(())
    }

    fn problem(&self, report: &mut SyncReport, path: &Path, why: &str) -> Result<(), ServiceError> {
        report.problems.push(format!("{}: {why}", self.shown(path)));
        files::set_error(path, Some(why))
            .map_err(|source| ServiceError::Io { path: path.to_owned(), source })
    }

    fn clear_problem(&self, path: &Path) -> Result<(), ServiceError> {
        files::set_error(path, None)
            .map_err(|source| ServiceError::Io { path: path.to_owned(), source })
    }

    /// `.cw/inbox/q3.md`, as the human knows it.
    fn shown(&self, path: &Path) -> String {
        let root = self.service.workspace().root();
        path.strip_prefix(root).unwrap_or(path).display().to_string()
    }

    /// " from agent a2 (t5: Title)".
    fn context(&self, agent: Option<AgentId>, task: Option<TaskId>) -> String {
        let mut out = String::new();
        if let Some(agent) = agent {
            out.push_str(&format!(" from agent {agent}"));
        }
        if let Some(task) = task {
            let title = self.service.task(task).map(|d| d.task.title).unwrap_or_default();
            out.push_str(&format!(" ({task}: {})", files::scalar(&title)));
        }
        out
    }
}

/// The mirror files that were not applied, each with the first line of why (from the
/// `.error.md` notes beside them), for `cw status`.
pub fn problems(workspace: &crate::workspace::Workspace) -> Vec<String> {
    let cw = &workspace.cw_dir;
    let mut notes: Vec<PathBuf> = Vec::new();
    let inbox = cw.join("inbox");
    let agents = cw.join("agents");
    let mut dirs = vec![inbox];
    if let Ok(entries) = fs_err::read_dir(&agents) {
        dirs.extend(entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()));
    }
    for dir in dirs {
        let Ok(entries) = fs_err::read_dir(&dir) else { continue };
        notes.extend(
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".error.md")),
        );
    }
    notes.sort();
    let root = workspace.root();
    notes
        .iter()
        .filter_map(|note| {
            let text = files::read(note).ok().flatten()?;
            let why = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#'))?;
            let name = note.to_string_lossy().replace(".error.md", ".md");
            let shown = Path::new(&name)
                .strip_prefix(root)
                .map_or(name.clone(), |p| p.display().to_string());
            Some(format!("{shown}: {why}"))
        })
        .collect()
}

/// The mirror files the human edits in `dir` (not cw's notes or temp files, not links).
fn markdown_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs_err::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md") && !is_cw_note(p))
        .collect();
    found.sort();
    found
}

/// cw's own files beside the human's, and editors' temp files.
pub(crate) fn is_cw_note(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    name.ends_with(".error.md")
        || name.ends_with(".conflict.md")
        || name.starts_with(".cw-mirror-")
        || name.starts_with(".#")
        || name.ends_with('~')
        || name.ends_with(".swp")
        || name.ends_with(".swx")
}

/// A plan key as a file name: anything but letters, digits, `.`, `_` and `-` becomes `-`.
fn file_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' })
        .collect();
    if name.starts_with('.') || name == "new" || name == "unplanned" {
        format!("plan-{name}")
    } else {
        name
    }
}

/// A fast hash of a file's bytes (not for security: to recognise cw's own writes).
fn content_hash(bytes: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    hasher.finish()
}

/// `q3.md` → q3.
fn question_id(path: &Path) -> Option<QuestionId> {
    let stem = path.file_stem()?.to_str()?;
    stem.strip_prefix('q').filter(|n| n.chars().all(|c| c.is_ascii_digit()))?;
    stem.parse().ok()
}
