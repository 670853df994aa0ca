//! Turning a `.planning/` folder into an `ImportSet`: phases from the roadmap and the disk, plans
//! and tasks from PLAN files, completion from SUMMARY files, and every dependency resolved to task
//! edges (gsd-format.md §8–§9).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::edges::{build_edges, check_cycles, hold_unresolved, resolve_phase_dependencies};
use super::frontmatter::{self, FmValue};
use super::names::{self, SummaryOf};
use super::numbers::{PHASE_NUMBER, PhaseNumber, plan_key, plan_number, plan_sort_key};
use super::plan::{self, ParsedPlan, ParsedTask};
use super::roadmap::{self, Roadmap, RoadmapPhase};
use super::text::{clip, dedent, first_line, first_sentence, line_of, normalise};
use super::{
    ImportError, ImportInitiative, ImportPhase, ImportPlan, ImportSet, ImportTask, ImportWarning,
    MAX_FILE_BYTES, ReadOptions, planning_root,
};
use crate::model::MAX_DESCRIPTION_BYTES;

static DIR_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})(?:-(.*))?$")).expect("invariant: static regex")
});
static PLAN_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})-(\d+|FIX\d*)(?:-.*)?$"))
        .expect("invariant: static regex")
});

/// One phase directory on disk.
#[derive(Debug, Clone)]
struct PhaseDir {
    path: PathBuf,
    slug: String,
    raw_number: String,
    /// `v1.1` for a directory under `milestones/v1.1-phases/`: archived when it shipped.
    milestone: Option<String>,
}

/// A PLAN file read and parsed.
struct PlanFile {
    number: String,
    path: PathBuf,
    text: String,
    parsed: ParsedPlan,
    /// Why it could not be read (`file:line — reason`): the plan becomes a task for the human.
    broken: Option<String>,
}

/// The canonical key of a plan reference typed by a human (`1-2`, `01-02` → `01-02`).
pub fn canonical_plan_key(text: &str) -> Option<String> {
    let caps = PLAN_REFERENCE.captures(text.trim())?;
    let phase = PhaseNumber::parse(&caps[1])?;
    Some(plan_key(phase.as_str(), &plan_number(&caps[2])?))
}

/// Reads the folder at `dir` (or `dir/.planning`) into an `ImportSet` keyed by `initiative_key`.
pub fn read(
    dir: &Path,
    initiative_key: &str,
    options: &ReadOptions,
) -> Result<ImportSet, ImportError> {
    let root = planning_root(dir);
    if !root.is_dir() {
        return Err(ImportError::NotADirectory { path: dir.to_owned() });
    }
    let canonical_root = fs_err::canonicalize(&root)
        .map_err(|source| ImportError::Io { path: root.clone(), source })?;
    let mut cx = Context {
        root: root.clone(),
        canonical_root,
        warnings: Vec::new(),
        unresolved: Vec::new(),
        phase_dependency_lines: HashMap::new(),
        strict: options.strict,
        ignore_unresolved: options.ignore_unresolved,
        held: Vec::new(),
        problems: Vec::new(),
        files: Vec::new(),
    };
    let roadmap = cx.read_roadmap()?;
    let dirs = cx.scan_phase_dirs();
    if roadmap.as_ref().is_none_or(|r| r.phases.is_empty()) && dirs.is_empty() {
        let path = root.join("ROADMAP.md");
        let text = cx.read_text(&path).unwrap_or_default();
        if path.is_file()
            && !text.trim().is_empty()
            && !text.to_lowercase().contains("no active roadmap")
        {
            return Err(ImportError::NotGsd { path });
        }
        return Err(ImportError::Empty { path: root });
    }
    let has_roadmap = roadmap.is_some();
    let roadmap = roadmap.unwrap_or_default();
    let title =
        roadmap.title.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| cx.project_title());
    let initiative = ImportInitiative {
        key: initiative_key.to_owned(),
        title,
        description: roadmap.overview.clone(),
    };

    let mut numbers: Vec<PhaseNumber> = roadmap.phases.keys().chain(dirs.keys()).cloned().collect();
    numbers.sort();
    numbers.dedup();
    let mut set = ImportSet {
        root,
        initiative,
        phases: Vec::new(),
        plans: Vec::new(),
        tasks: Vec::new(),
        edges: Vec::new(),
        warnings: Vec::new(),
        skipped: Vec::new(),
        problems: Vec::new(),
        files: Vec::new(),
    };
    let mut kept: Vec<PhaseNumber> = Vec::new();
    let mut plan_depends = PlanDepends::new();
    let mut extras: Vec<SecondDir> = Vec::new();
    for number in &numbers {
        let found = dirs.get(number).map(Vec::as_slice).unwrap_or_default();
        // The directory that is this phase: the first holding plans, else the first.
        let primary = found.iter().position(has_plans).unwrap_or(0);
        let dir = found.get(primary);
        // Numbers restart per milestone: an archived roadmap's phase N is the archived
        // directory N, not a current one that reuses the number (which is new, unfinished work).
        let road = roadmap.phases.get(number).filter(|road| {
            let restarted = dir.is_some_and(|d| d.milestone.is_none())
                && found.iter().any(|d| d.milestone.is_some());
            !(road.from_archive && restarted)
        });
        for (_, other) in found.iter().enumerate().filter(|(at, _)| *at != primary) {
            if has_plans(other) {
                let first = dir.map(|d| d.path.clone()).unwrap_or_default();
                extras.push(SecondDir { number: number.clone(), dir: other.clone(), first });
            } else {
                let kept_dir = dir.map(|d| cx.location(&d.path, None)).unwrap_or_default();
                cx.warn(
                    &other.path,
                    None,
                    format!(
                        "a second directory for phase {} holds no plans; {kept_dir} is read",
                        number.as_str()
                    ),
                );
            }
        }
        if let Some(road) = road
            && (road.backlog || road.abandoned)
        {
            let why = if road.backlog { "backlog" } else { "abandoned" };
            set.skipped.push(format!("phase {} ({why}): {}", number.as_str(), road.name));
            continue;
        }
        if road.is_none()
            && let Some(dir) = dir
            && has_roadmap
        {
            cx.warn(
                &dir.path,
                None,
                format!("phase directory not in ROADMAP.md; imported as phase {}", number.as_str()),
            );
        }
        let seq = i64::try_from(kept.len()).unwrap_or(i64::MAX);
        kept.push(number.clone());
        let phase = build_phase(number, road, dir, seq);
        read_phase(&mut cx, &mut set, &mut plan_depends, phase, road, dir)?;
    }
    // Second directories with plans of their own (an older milestone's phase 3 beside this
    // one's): phases of their own, keyed by milestone and directory.
    for SecondDir { number, dir, first } in extras {
        if options.strict {
            return Err(ImportError::DuplicatePhaseDirs {
                number: number.as_str().to_owned(),
                first,
                second: dir.path,
            });
        }
        let key = match &dir.milestone {
            Some(milestone) => format!("{milestone}-{}", file_name(&dir.path)),
            None => file_name(&dir.path),
        };
        cx.warn(
            &dir.path,
            None,
            format!(
                "a second directory for phase {} holds plans; imported as phase {key}",
                number.as_str()
            ),
        );
        let seq = i64::try_from(set.phases.len()).unwrap_or(i64::MAX);
        let mut phase = build_phase(&number, None, Some(&dir), seq);
        phase.key = key;
        read_phase(&mut cx, &mut set, &mut plan_depends, phase, None, Some(&dir))?;
    }
    check_sizes(&mut set, &mut cx)?;
    resolve_phase_dependencies(&mut set, &roadmap, &kept, &mut cx);
    build_edges(&mut set, &plan_depends, &mut cx);
    hold_unresolved(&mut set, &cx.held);
    check_cycles(&set, &plan_depends, &cx)?;
    if options.strict && !cx.unresolved.is_empty() {
        return Err(ImportError::Strict {
            count: cx.unresolved.len(),
            first: cx.unresolved[0].clone(),
        });
    }
    set.warnings = cx.warnings;
    set.problems = cx.problems;
    cx.files.sort_by(|a, b| a.path.cmp(&b.path));
    set.files = cx.files;
    Ok(set)
}

pub(super) struct Context {
    pub(super) root: PathBuf,
    /// `root` with every symlink resolved: no file read may lie outside it.
    canonical_root: PathBuf,
    pub(super) warnings: Vec<ImportWarning>,
    pub(super) unresolved: Vec<String>,
    /// Phase key → where ROADMAP.md says what it depends on (`ROADMAP.md:12`), for cycles.
    pub(super) phase_dependency_lines: HashMap<String, String>,
    /// `--strict`: the first problem refuses the import instead of costing one task.
    strict: bool,
    /// `--ignore-unresolved`: a dependency that names nothing is dropped, not held for the human.
    pub(super) ignore_unresolved: bool,
    /// Plans held back by dependencies that name nothing.
    pub(super) held: Vec<HeldPlan>,
    /// Files that could not be read, each in words (`file:line — reason`).
    problems: Vec<String>,
    /// What became of each file read or passed over.
    files: Vec<super::FileOutcome>,
}

impl Context {
    pub(super) fn location(&self, path: &Path, line: Option<usize>) -> String {
        let relative = path.strip_prefix(&self.root).unwrap_or(path).display().to_string();
        match line {
            Some(line) => format!("{relative}:{line}"),
            None => relative,
        }
    }

    /// A file that cannot be read: with `--strict` the import's error; otherwise counted, warned
    /// about, and returned in words for the task that asks the human to fix it.
    fn problem(&mut self, err: ImportError) -> Result<String, ImportError> {
        if self.strict {
            return Err(err);
        }
        let (location, reason) = match &err {
            ImportError::Syntax { path, line, message } => {
                (self.location(path, Some(*line)), message.clone())
            }
            ImportError::Io { path, .. }
            | ImportError::OutsideFolder { path, .. }
            | ImportError::NotAFile { path }
            | ImportError::NotText { path }
            | ImportError::TooLarge { path, .. } => {
                let shown = path.display().to_string();
                (self.location(path, None), err.to_string().replacen(&shown, "it", 1))
            }
            ImportError::TooLong { location, what, bytes, limit } => (
                location.clone(),
                format!(
                    "the {what} is {bytes} bytes; the limit is {limit} (split the task, or put the detail in a file the task names)"
                ),
            ),
            other => (String::new(), other.to_string()),
        };
        let words = crate::safe_text::one_line(&format!("{location} — {reason}")).into_owned();
        self.problems.push(words.clone());
        self.warnings
            .push(ImportWarning { location, message: format!("cannot be read ({reason})") });
        Ok(words)
    }

    /// What became of one file, for `cw import --json`.
    fn record(&mut self, path: &Path, outcome: &'static str, detail: String) {
        let path = self.location(path, None);
        self.files.push(super::FileOutcome { path, outcome, detail });
    }

    pub(super) fn warn(&mut self, path: &Path, line: Option<usize>, message: String) {
        let location = self.location(path, line);
        self.warnings.push(ImportWarning { location, message });
    }

    /// Reads one file of the folder as text. A file whose real location is outside the folder
    /// (a symlink, or a symlinked directory on the way: a cloned repository can point
    /// `01-05-PLAN.md` at `~/.ssh/id_ed25519`, and a task's text goes to the model provider), a
    /// file that is not a regular file (a FIFO would block the import), a binary file and a
    /// file over `MAX_FILE_BYTES` are refused, naming the file.
    fn read_text(&self, path: &Path) -> Result<String, ImportError> {
        let io = |source| ImportError::Io { path: path.to_owned(), source };
        let real = fs_err::canonicalize(path).map_err(io)?;
        if !real.starts_with(&self.canonical_root) {
            return Err(ImportError::OutsideFolder { path: path.to_owned(), target: real });
        }
        let metadata = fs_err::metadata(&real).map_err(io)?;
        if !metadata.is_file() {
            return Err(ImportError::NotAFile { path: path.to_owned() });
        }
        if metadata.len() > MAX_FILE_BYTES {
            return Err(ImportError::TooLarge {
                path: path.to_owned(),
                bytes: metadata.len(),
                limit: MAX_FILE_BYTES,
            });
        }
        let bytes = fs_err::read(&real).map_err(io)?;
        if bytes.contains(&0) {
            return Err(ImportError::NotText { path: path.to_owned() });
        }
        Ok(normalise(&String::from_utf8_lossy(&bytes)))
    }

    /// The project's name: PROJECT.md's first heading, else the folder's name.
    fn project_title(&self) -> String {
        let root = &self.root;
        let from_project = self.read_text(&root.join("PROJECT.md")).ok().and_then(|text| {
            text.lines().find_map(|l| l.strip_prefix("# ").map(|t| t.trim().to_owned()))
        });
        from_project.unwrap_or_else(|| {
            let dir =
                if file_name(root) == ".planning" { root.parent().unwrap_or(root) } else { root };
            file_name(dir)
        })
    }

    /// ROADMAP.md, with the phases of archived milestone roadmaps (`milestones/vX-ROADMAP.md`)
    /// that it no longer lists: a roadmap collapsed after every milestone shipped lists none, and
    /// is read through its archives. `None` when there is no roadmap at all (phases then come
    /// from the directories).
    fn read_roadmap(&mut self) -> Result<Option<Roadmap>, ImportError> {
        let path = self.root.join("ROADMAP.md");
        let main = if path.is_file() {
            match self.read_text(&path) {
                Ok(text) => Some((roadmap::parse(&text), text)),
                Err(err) => {
                    self.problem(err)?;
                    None
                }
            }
        } else {
            None
        };
        let archived = self.archived_roadmaps()?;
        let mut read = match main {
            Some((parsed, _)) if roadmap::looks_like_gsd(&parsed) => parsed,
            Some((parsed, text)) => {
                let lower = text.to_lowercase();
                let why = if !archived.is_empty() {
                    format!(
                        "lists no phases (collapsed after its milestones shipped); phases come from the {} archived roadmaps in milestones/ and from the phase directories",
                        archived.len()
                    )
                } else if text.trim().is_empty() || lower.contains("no active roadmap") {
                    "the roadmap is empty; phases come from the phase directories".to_owned()
                } else if self.strict {
                    return Err(ImportError::NotGsd { path });
                } else {
                    "not a GSD roadmap (no 'Phase N:' headings or checklist entries); phases come from the phase directories".to_owned()
                };
                self.warn(&path, None, why);
                Roadmap { title: parsed.title, overview: parsed.overview, ..Roadmap::default() }
            }
            None => {
                if !path.is_file() {
                    self.warn(
                        &self.root.clone(),
                        None,
                        "no ROADMAP.md; phases come from the phase directories".to_owned(),
                    );
                }
                if archived.is_empty() {
                    return Ok(None);
                }
                Roadmap::default()
            }
        };
        for (milestone, old) in archived {
            if read.title.is_none() {
                read.title.clone_from(&old.title);
            }
            for (number, mut phase) in old.phases {
                if let std::collections::btree_map::Entry::Vacant(slot) = read.phases.entry(number)
                {
                    phase.in_shipped_milestone = true;
                    phase.from_archive = true;
                    phase.milestone.get_or_insert(milestone.clone());
                    slot.insert(phase);
                }
            }
        }
        Ok(Some(read))
    }

    /// The roadmaps GSD archives when a milestone ships (`milestones/v1.2-ROADMAP.md`, or
    /// `v1.2-ROADMAP.md` beside ROADMAP.md), by milestone, oldest first.
    fn archived_roadmaps(&mut self) -> Result<Vec<(String, Roadmap)>, ImportError> {
        let mut found: BTreeMap<Vec<u64>, (String, PathBuf)> = BTreeMap::new();
        for dir in [self.root.join("milestones"), self.root.clone()] {
            for path in list_dir(&dir).unwrap_or_default() {
                let name = file_name(&path);
                let Some(milestone) = name.strip_suffix("-ROADMAP.md") else { continue };
                let order: Vec<u64> = milestone
                    .split(|c: char| !c.is_ascii_digit())
                    .filter_map(|n| n.parse().ok())
                    .collect();
                found.entry(order).or_insert_with(|| (milestone.to_owned(), path));
            }
        }
        let mut roadmaps = Vec::new();
        for (milestone, path) in found.into_values() {
            match self.read_text(&path) {
                Ok(text) => {
                    let parsed = roadmap::parse(&text);
                    if roadmap::looks_like_gsd(&parsed) {
                        roadmaps.push((milestone, parsed));
                    }
                }
                Err(err) => {
                    self.problem(err)?;
                }
            }
        }
        Ok(roadmaps)
    }

    /// Every phase directory by number, the current ones (`phases/`) before archived ones
    /// (`milestones/vX-phases/`): numbers restart per milestone, and a number can have an
    /// abandoned directory beside the real one.
    fn scan_phase_dirs(&mut self) -> BTreeMap<PhaseNumber, Vec<PhaseDir>> {
        let mut parents = vec![(self.root.join("phases"), None)];
        if let Ok(mut entries) = list_dir(&self.root.join("milestones")) {
            entries.sort();
            parents.extend(entries.into_iter().filter(|p| p.is_dir()).filter_map(|p| {
                let milestone = file_name(&p).strip_suffix("-phases")?.to_owned();
                Some((p, Some(milestone)))
            }));
        }
        let mut dirs: BTreeMap<PhaseNumber, Vec<PhaseDir>> = BTreeMap::new();
        for (parent, milestone) in parents {
            let Ok(entries) = list_dir(&parent) else { continue };
            for path in entries.into_iter().filter(|p| p.is_dir()) {
                let name = file_name(&path);
                let Some(caps) = DIR_NUMBER.captures(&name) else { continue };
                let Some(number) = PhaseNumber::parse(&caps[1]) else { continue };
                dirs.entry(number).or_default().push(PhaseDir {
                    slug: caps.get(2).map_or(String::new(), |m| m.as_str().to_owned()),
                    raw_number: caps[1].to_owned(),
                    path: path.clone(),
                    milestone: milestone.clone(),
                });
            }
        }
        dirs
    }

    fn plan_files(
        &mut self,
        dir: &PhaseDir,
        phase: &ImportPhase,
    ) -> Result<Vec<PlanFile>, ImportError> {
        let number = PhaseNumber::parse(&phase.number);
        let mut candidates: Vec<(String, PathBuf)> = Vec::new();
        let mut entries = list_dir(&dir.path)
            .map_err(|source| ImportError::Io { path: dir.path.clone(), source })?;
        if let Ok(nested) = list_dir(&dir.path.join("plans")) {
            entries.extend(nested);
        }
        entries.sort();
        let mut versions: HashMap<String, u32> = HashMap::new();
        for path in entries.into_iter().filter(|p| !p.is_dir()) {
            let name = file_name(&path);
            let nested = path.parent().is_some_and(|p| file_name(p) == "plans");
            let Some(found) = names::plan_file(&name, nested) else {
                if name.ends_with(".md")
                    && name.contains("PLAN")
                    && names::summary_file(&name).is_none()
                {
                    self.warn(&path, None, "looks like a plan but its name is not a GSD plan name (`NN-MM-PLAN.md`, any `*-PLAN.md`); skipped".to_owned());
                    self.record(&path, "skipped", "not a GSD plan name".to_owned());
                }
                continue;
            };
            if let Some(file_phase) = found.phase.as_deref().and_then(PhaseNumber::parse)
                && number.as_ref().is_some_and(|n| *n != file_phase)
            {
                self.warn(&path, None, format!("file name says phase {} but it is in the directory of phase {}; using the directory", file_phase.as_str(), phase.number));
            }
            let plan = found.plan;
            if let Some(at) = candidates.iter().position(|(n, _)| *n == plan) {
                let kept = versions.get(&plan).copied().unwrap_or(1);
                let key = plan_key(&phase.key, &plan);
                let (skipped, read, version) = if found.version > kept {
                    versions.insert(plan.clone(), found.version);
                    let older = std::mem::replace(&mut candidates[at].1, path.clone());
                    (older, path.clone(), found.version)
                } else {
                    (path.clone(), candidates[at].1.clone(), kept)
                };
                let why = if version > 1 {
                    format!(
                        "version {version} of plan {key} ({}) is read instead",
                        file_name(&read)
                    )
                } else {
                    format!("a second file for plan {key}; {} is read instead", file_name(&read))
                };
                self.warn(&skipped, None, why);
                continue;
            }
            versions.insert(plan.clone(), found.version);
            candidates.push((plan, path));
        }
        candidates.sort_by_key(|(n, _)| plan_sort_key(n));
        let mut files = Vec::new();
        for (plan, path) in candidates {
            let read =
                self.read_text(&path).and_then(|text| {
                    plan::parse(&text).map(|parsed| (text, parsed)).map_err(|e| {
                        ImportError::Syntax { path: path.clone(), line: e.line, message: e.message }
                    })
                });
            let (text, parsed) = match read {
                Ok(read) => read,
                Err(err) => {
                    let broken = self.problem(err)?;
                    let parsed = ParsedPlan::default();
                    files.push(PlanFile {
                        number: plan,
                        path,
                        text: String::new(),
                        parsed,
                        broken: Some(broken),
                    });
                    continue;
                }
            };
            if parsed.front.is_none() {
                self.warn(
                    &path,
                    None,
                    "no front matter; phase and plan come from the file name".to_owned(),
                );
            } else if parsed.front.as_ref().is_some_and(|f| f.used_fallback) {
                self.warn(
                    &path,
                    Some(1),
                    "front matter is not valid YAML; read it line by line like GSD does".to_owned(),
                );
            }
            if let Some(how) = parsed.fallback {
                self.warn(&path, None, format!("no <task> elements; tasks taken from the {how}"));
            }
            files.push(PlanFile { number: plan, path, text, parsed, broken: None });
        }
        let _ = &dir.raw_number;
        Ok(files)
    }

    /// SUMMARY files by plan number, each with its one-line outcome; a phase's own SUMMARY
    /// (`05-SUMMARY.md`) stands for every plan of the phase that has none.
    fn summaries(
        &mut self,
        dir: &PhaseDir,
        files: &[PlanFile],
    ) -> Result<HashMap<String, String>, ImportError> {
        let mut found = HashMap::new();
        let mut phase_summary = None;
        let mut entries = list_dir(&dir.path)
            .map_err(|source| ImportError::Io { path: dir.path.clone(), source })?;
        if let Ok(nested) = list_dir(&dir.path.join("plans")) {
            entries.extend(nested);
        }
        entries.sort();
        for path in entries.into_iter().filter(|p| !p.is_dir()) {
            let name = file_name(&path);
            let Some(of) = names::summary_file(&name) else { continue };
            // A SUMMARY that cannot be read still says, by being there, that its plan ran.
            let text = match self.read_text(&path) {
                Ok(text) => text,
                Err(err) => {
                    self.problem(err)?;
                    String::new()
                }
            };
            let front = frontmatter::split(&text).ok().flatten();
            let body = front.as_ref().map_or(text.as_str(), |f| &text[f.body_start..]);
            let number = match of {
                SummaryOf::Plan(number) => Some(number),
                SummaryOf::Phase => {
                    phase_summary = Some(summary_one_liner(body));
                    self.record(
                        &path,
                        "read",
                        "the phase's summary: its plans are done".to_owned(),
                    );
                    continue;
                }
                SummaryOf::Unknown => front
                    .as_ref()
                    .and_then(|f| f.get("plan"))
                    .and_then(FmValue::text)
                    .and_then(|p| plan_number(p.rsplit('-').next().unwrap_or(p))),
            };
            match number {
                Some(number) if files.iter().any(|f| f.number == number) => {
                    found.insert(number.clone(), summary_one_liner(body));
                    self.record(&path, "read", format!("the summary of plan {number}: done"));
                }
                _ => {
                    self.warn(&path, None, "summary without a matching plan; ignored".to_owned());
                    self.record(&path, "skipped", "a summary without a matching plan".to_owned());
                }
            }
        }
        if let Some(outcome) = phase_summary {
            for file in files {
                found.entry(file.number.clone()).or_insert_with(|| outcome.clone());
            }
        }
        Ok(found)
    }

    fn build_plan(
        &mut self,
        phase: &ImportPhase,
        road: Option<&RoadmapPhase>,
        file: &PlanFile,
        summary: Option<&String>,
        index: usize,
    ) -> Result<ImportPlan, ImportError> {
        let key = plan_key(&phase.key, &file.number);
        let front = file.parsed.front.as_ref();
        if let Some(declared) = front.and_then(|f| f.get("plan")).and_then(FmValue::text) {
            let declared_number = plan_number(declared.rsplit('-').next().unwrap_or(declared));
            if declared_number.as_deref().is_some_and(|d| d != file.number) {
                self.warn(&file.path, None, format!("front matter says plan {declared} but the file name says {}; using the file name", file.number));
            }
        }
        let wave = match front.and_then(|f| f.get("wave")).and_then(FmValue::text) {
            Some(text) => match text.trim().parse::<i64>() {
                Ok(wave) => Some(wave),
                Err(_) => {
                    self.warn(&file.path, None, format!("wave '{text}' is not a number; ignored"));
                    None
                }
            },
            None => None,
        };
        let roadmap_title = road
            .and_then(|r| r.plan_entries.iter().find(|(n, _)| *n == file.number))
            .map(|(_, d)| d.clone())
            .filter(|d| !d.is_empty());
        let title = roadmap_title
            .or_else(|| first_sentence(&file.parsed.objective))
            .unwrap_or_else(|| file_name(&file.path).trim_end_matches(".md").to_owned());
        let mut description = file.parsed.objective.clone();
        if let Some(setup) = front.and_then(|f| f.get("user_setup")) {
            description.push_str(&format!(
                "\n\nUser setup (needs the human):\n{}",
                serde_json::to_string_pretty(&setup.to_json()).unwrap_or_default()
            ));
        }
        // A phase's tick does not cover a plan its own list leaves unticked, where that list
        // does tick plans: the unchecked line and the missing SUMMARY win (unfinished work
        // marked merged would never be done by anyone).
        let archived = phase.metadata["archived_in"].as_str().map(str::to_owned);
        let checks = road.map(|r| r.plan_checks.as_slice()).unwrap_or_default();
        let unticked = checks
            .iter()
            .any(|(_, ticked, _)| *ticked)
            .then(|| checks.iter().find(|(n, ticked, _)| *n == file.number && !ticked))
            .flatten()
            .map(|(_, _, line)| *line);
        let complete = match (summary, &archived, unticked, road) {
            (Some(_), _, _, _) => true,
            (None, None, Some(line), Some(road)) if phase.complete => {
                let roadmap = self.root.join("ROADMAP.md");
                let phase_at = self.location(&roadmap, Some(road.line));
                let plan_at = self.location(&roadmap, Some(line));
                self.warn(&file.path, None, format!("{phase_at} marks phase {} complete, but {plan_at} lists this plan unchecked and it has no SUMMARY; imported as not done", phase.number));
                false
            }
            (None, _, _, _) if phase.complete => {
                let why = match &archived {
                    Some(milestone) => format!(
                        "no SUMMARY, but the plan is archived with milestone {milestone}; imported as merged"
                    ),
                    None => {
                        "no SUMMARY but the roadmap marks the phase complete; imported as merged"
                            .to_owned()
                    }
                };
                self.warn(&file.path, None, why);
                true
            }
            (None, _, _, _) => false,
        };
        let front_json = front.map_or(json!({}), |f| FmValue::Map(f.fields.clone()).to_json());
        let blocks: serde_json::Map<String, serde_json::Value> =
            file.parsed.blocks.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        Ok(ImportPlan {
            phase_key: phase.key.clone(),
            seq: i64::try_from(index).unwrap_or(0),
            title,
            description: description.trim().to_owned(),
            wave,
            source: Some(self.location(&file.path, None)),
            depends_on: Vec::new(),
            complete,
            metadata: json!({ "front_matter": front_json, "blocks": blocks, "summary": summary }),
            key,
        })
    }
}

/// A second directory for one phase number that holds plans of its own.
struct SecondDir {
    number: PhaseNumber,
    dir: PhaseDir,
    /// The directory kept as the phase itself.
    first: PathBuf,
}

/// What a plan's front matter says it waits for, before it is resolved against the import.
pub(super) struct DeclaredDepends {
    /// The raw `depends_on` items, as written.
    pub(super) items: Vec<String>,
    /// GSD ≤ 1.3 (no `wave`, no `depends_on` in the phase): plans run one after another.
    pub(super) legacy: bool,
    /// Where the field is (`file:line`), for warnings and cycles.
    pub(super) location: String,
}

/// Plan key → what it declares it depends on.
pub(super) type PlanDepends = HashMap<String, DeclaredDepends>;

/// A plan held back by a dependency that names nothing.
pub(super) struct HeldPlan {
    pub(super) plan: String,
    /// `file:line: what`.
    pub(super) reason: String,
}

/// True if a phase directory holds at least one plan file.
fn has_plans(dir: &PhaseDir) -> bool {
    let nested = list_dir(&dir.path.join("plans")).unwrap_or_default();
    list_dir(&dir.path).unwrap_or_default().iter().chain(&nested).any(|p| {
        let in_plans = p.parent().is_some_and(|d| file_name(d) == "plans");
        names::plan_file(&file_name(p), in_plans).is_some()
    })
}

/// One phase's plans and tasks into `set`.
fn read_phase(
    cx: &mut Context,
    set: &mut ImportSet,
    plan_depends: &mut PlanDepends,
    phase: ImportPhase,
    road: Option<&RoadmapPhase>,
    dir: Option<&PhaseDir>,
) -> Result<(), ImportError> {
    let files = match dir {
        Some(dir) => cx.plan_files(dir, &phase)?,
        None => Vec::new(),
    };
    let summaries = match dir {
        Some(dir) => cx.summaries(dir, &files)?,
        None => HashMap::new(),
    };
    let mut phase = phase;
    let summarised = dir.is_some_and(|d| {
        list_dir(&d.path)
            .unwrap_or_default()
            .iter()
            .any(|p| names::summary_file(&file_name(p)).is_some())
    });
    if files.is_empty() && !phase.complete && summarised {
        // Its PLAN files are gone but their SUMMARY files say the work was done.
        let dir = dir.map(|d| d.path.clone()).unwrap_or_default();
        cx.warn(
            &dir,
            None,
            format!(
                "phase {} has SUMMARY files but no PLAN files; its work is taken as done",
                phase.number
            ),
        );
        phase.complete = true;
    }
    if files.is_empty() && !phase.complete {
        let location = cx.root.join("ROADMAP.md");
        cx.warn(&location, road.map(|r| r.line), format!("phase {} has no plans yet (run /gsd:plan-phase {}); a placeholder task for the human holds its dependants", phase.number, phase.number));
        add_placeholder(set, &phase);
    }
    let legacy = !files.is_empty()
        && files.iter().all(|f| {
            f.parsed.front.as_ref().is_none_or(|fm| !fm.has("wave") && !fm.has("depends_on"))
        });
    for (index, file) in files.iter().enumerate() {
        let summary = summaries.get(&file.number).cloned();
        let plan = cx.build_plan(&phase, road, file, summary.as_ref(), index)?;
        let items = file
            .parsed
            .front
            .as_ref()
            .and_then(|fm| fm.get("depends_on"))
            .map(FmValue::texts)
            .unwrap_or_default();
        let location = cx.location(&file.path, Some(depends_line(&file.text)));
        plan_depends.insert(plan.key.clone(), DeclaredDepends { items, legacy, location });
        let before = set.tasks.len();
        match &file.broken {
            Some(why) => add_fix_task(set, &plan, why, &phase),
            None => add_tasks(set, &plan, &file.parsed, summary.as_deref(), &phase, cx),
        }
        let tasks = match set.tasks.len() - before {
            1 => "1 task".to_owned(),
            n => format!("{n} tasks"),
        };
        let (outcome, detail) = match (&file.broken, plan.complete) {
            (Some(why), _) => ("problem", why.clone()),
            (None, true) => ("merged", format!("plan {}: {tasks}, done", plan.key)),
            (None, false) => ("imported", format!("plan {}: {tasks}", plan.key)),
        };
        cx.record(&file.path, outcome, detail);
        set.plans.push(plan);
    }
    set.phases.push(phase);
    Ok(())
}

fn build_phase(
    number: &PhaseNumber,
    road: Option<&RoadmapPhase>,
    dir: Option<&PhaseDir>,
    seq: i64,
) -> ImportPhase {
    let raw_number = road
        .map(|r| r.number.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| dir.map(|d| d.raw_number.clone()))
        .unwrap_or_else(|| number.as_str().to_owned());
    let title = road
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty())
        .or_else(|| dir.map(|d| d.slug.replace('-', " ")))
        .unwrap_or_else(|| format!("Phase {}", number.as_str()));
    let mut description = road.map(|r| r.goal.clone()).unwrap_or_default();
    if let Some(criteria) = road.map(|r| r.success_criteria.as_str()).filter(|c| !c.is_empty()) {
        description.push_str("\n\nSuccess criteria:\n");
        description.push_str(criteria);
    }
    let metadata = json!({
        "requirements": road.map(|r| r.requirements.clone()),
        "milestone": road.and_then(|r| r.milestone.clone()),
        "inserted": road.is_some_and(|r| r.inserted),
        "depends_on_text": road.and_then(|r| r.depends_on.as_ref().map(|d| d.0.clone())),
        "directory": dir.map(|d| d.path.display().to_string()),
        "archived_in": dir.and_then(|d| d.milestone.clone()),
    });
    ImportPhase {
        key: number.as_str().to_owned(),
        number: raw_number,
        seq,
        title,
        description: description.trim().to_owned(),
        // A directory archived under `milestones/vX-phases/` shipped with its milestone.
        complete: road.is_some_and(RoadmapPhase::complete)
            || dir.is_some_and(|d| d.milestone.is_some()),
        depends_on: Vec::new(),
        metadata,
    }
}

fn add_placeholder(set: &mut ImportSet, phase: &ImportPhase) {
    let plan_key = plan_key(&phase.key, "unplanned");
    set.plans.push(ImportPlan {
        phase_key: phase.key.clone(),
        key: plan_key.clone(),
        seq: -1,
        title: format!("Phase {} has no plans yet", phase.number),
        description: String::new(),
        wave: None,
        source: None,
        depends_on: Vec::new(),
        complete: false,
        metadata: json!({ "placeholder": true }),
    });
    let title = format!(
        "Plan phase {}: {} (run /gsd:plan-phase {}, then re-import)",
        phase.number, phase.title, phase.number
    );
    set.tasks.push(ImportTask {
        description: phase.description.clone(),
        done: "The phase has PLAN files and `cw import` was run again".to_owned(),
        ..for_the_human(&plan_key, "1", &title, phase)
    });
}

/// A task cw adds for the human to a plan (`<plan>#<suffix>`): a placeholder that holds back what
/// depends on the plan until the human acts and imports again.
pub(super) fn for_the_human(
    plan_key: &str,
    suffix: &str,
    title: &str,
    phase: &ImportPhase,
) -> ImportTask {
    ImportTask {
        plan_key: plan_key.to_owned(),
        key: format!("{plan_key}#{suffix}"),
        title: clip(title, crate::model::MAX_TITLE_CHARS),
        description: String::new(),
        files: Vec::new(),
        verify: String::new(),
        done: String::new(),
        kind: "placeholder".to_owned(),
        needs_human: true,
        merged: false,
        result_summary: None,
        phase_seq: phase.seq,
        wave: 0,
        metadata: json!({ "placeholder": true }),
    }
}

/// A plan whose file cannot be read: one task for the human to fix it, holding back what depends
/// on the plan (nothing, when a SUMMARY says the plan is done anyway).
fn add_fix_task(set: &mut ImportSet, plan: &ImportPlan, why: &str, phase: &ImportPhase) {
    if plan.complete {
        return;
    }
    set.tasks.push(ImportTask {
        description: format!(
            "cw could not read this plan file, so its tasks are not imported yet:\n\n{why}\n\nFix the file and run `cw import` again; the plans that depend on it wait until then."
        ),
        done: "The file reads and `cw import` was run again".to_owned(),
        wave: plan.wave.unwrap_or(0),
        metadata: json!({ "placeholder": true, "broken": why }),
        ..for_the_human(&plan.key, "fix", &format!("Fix {why}, then re-import"), phase)
    });
}

fn add_tasks(
    set: &mut ImportSet,
    plan: &ImportPlan,
    parsed: &ParsedPlan,
    summary: Option<&str>,
    phase: &ImportPhase,
    cx: &mut Context,
) {
    if parsed.tasks.is_empty() {
        if !plan.complete {
            cx.warnings.push(ImportWarning {
                location: plan.source.clone().unwrap_or_default(),
                message: "plan has no tasks; a placeholder task for the human stands in".to_owned(),
            });
            let title = format!("Plan {} has no tasks: write them, then re-import", plan.key);
            set.tasks.push(ImportTask {
                description: plan.description.clone(),
                wave: plan.wave.unwrap_or(0),
                ..for_the_human(&plan.key, "1", &title, phase)
            });
        }
        return;
    }
    for (index, task) in parsed.tasks.iter().enumerate() {
        set.tasks.push(build_task(plan, task, index, summary, phase));
    }
}

fn build_task(
    plan: &ImportPlan,
    task: &ParsedTask,
    index: usize,
    summary: Option<&str>,
    phase: &ImportPhase,
) -> ImportTask {
    let kind = task.attribute("type").unwrap_or("auto").to_owned();
    let needs_human = kind.starts_with("checkpoint");
    let title = task
        .child("name")
        .or_else(|| task.child("title"))
        .map(|t| clip(&first_line(t).unwrap_or_default(), 200))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| synthesized_title(task, &kind, index));
    let mut sections: Vec<String> = Vec::new();
    for (tag, heading) in [
        ("action", ""),
        ("behavior", "Behavior"),
        ("implementation", "Implementation"),
        ("what-built", "What was built"),
        ("how-to-verify", "How to verify"),
        ("decision", "Decision"),
        ("context", "Context"),
        ("instructions", "Instructions"),
        ("read_first", "Read first"),
        ("resume-signal", "Resume signal"),
    ] {
        if let Some(text) = task.child(tag) {
            sections.push(if heading.is_empty() {
                text.to_owned()
            } else {
                format!("{heading}:\n{text}")
            });
        }
    }
    if !task.options.is_empty() {
        let options: Vec<String> =
            task.options.iter().map(|(id, name)| format!("- {id}: {name}")).collect();
        sections.push(format!("Options:\n{}", options.join("\n")));
    }
    let files = task.child("files").map(split_files).unwrap_or_default();
    let verify = [task.child("verify"), task.child("verification")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    let done = [task.child("done"), task.child("acceptance_criteria")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
    let attributes: serde_json::Map<String, serde_json::Value> =
        task.attributes.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let options: Vec<serde_json::Value> =
        task.options.iter().map(|(id, name)| json!({ "id": id, "name": name })).collect();
    ImportTask {
        plan_key: plan.key.clone(),
        key: format!("{}#{}", plan.key, index + 1),
        title,
        description: sections.join("\n\n"),
        files,
        verify: dedent(&verify),
        done: dedent(&done),
        kind,
        needs_human,
        merged: plan.complete,
        result_summary: if plan.complete { summary.map(str::to_owned) } else { None },
        phase_seq: phase.seq,
        wave: plan.wave.unwrap_or(0),
        metadata: json!({ "attributes": attributes, "options": options, "line": task.line }),
    }
}

fn synthesized_title(task: &ParsedTask, kind: &str, index: usize) -> String {
    let (prefix, source) = match kind {
        "checkpoint:human-verify" => {
            ("Verify", task.child("what-built").or_else(|| task.child("how-to-verify")))
        }
        "checkpoint:decision" => ("Decide", task.child("decision")),
        "checkpoint:human-action" => {
            ("Manual step", task.child("action").or_else(|| task.child("instructions")))
        }
        _ => ("", task.child("action")),
    };
    match source.and_then(first_line) {
        Some(line) if prefix.is_empty() => clip(&line, 120),
        Some(line) => clip(&format!("{prefix}: {line}"), 120),
        None => format!("Task {}", index + 1),
    }
}

fn split_files(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(|f| f.trim().trim_start_matches("- ").trim_matches('`').trim())
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

fn summary_one_liner(body: &str) -> String {
    let bold = body
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("**") && l.ends_with("**") && l.len() > 4);
    let line = bold.map(|l| l.trim_matches('*').trim().to_owned()).or_else(|| {
        body.lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("---"))
            .map(str::to_owned)
    });
    clip(&line.unwrap_or_default(), 300)
}

/// Every text the import stores stays within the limits `cw task add` and MCP apply, so no task
/// is too big to hand to an agent: a plan whose objective or one of whose tasks is over the limit
/// becomes one task for the human, like a file that cannot be read (`--strict`: refused).
fn check_sizes(set: &mut ImportSet, cx: &mut Context) -> Result<(), ImportError> {
    let too_long = |location: String, what: &str, bytes: usize| ImportError::TooLong {
        location,
        what: what.to_owned(),
        bytes,
        limit: MAX_DESCRIPTION_BYTES,
    };
    let source = |set: &ImportSet, key: &str| {
        set.plans.iter().find(|p| p.key == key).and_then(|p| p.source.clone())
    };
    let mut over: Vec<(String, ImportError)> = Vec::new();
    for plan in &set.plans {
        if plan.description.len() > MAX_DESCRIPTION_BYTES {
            let location = plan.source.clone().unwrap_or_else(|| plan.key.clone());
            over.push((
                plan.key.clone(),
                too_long(location, "plan's objective", plan.description.len()),
            ));
        }
    }
    for task in &set.tasks {
        let longest = [
            ("task's text", task.description.len()),
            ("task's verify text", task.verify.len()),
            ("task's done criteria", task.done.len()),
        ]
        .into_iter()
        .find(|(_, bytes)| *bytes > MAX_DESCRIPTION_BYTES);
        if let Some((what, bytes)) = longest
            && !over.iter().any(|(key, _)| *key == task.plan_key)
        {
            let location = match (source(set, &task.plan_key), task.metadata["line"].as_u64()) {
                (Some(source), Some(line)) => format!("{source}:{line}"),
                (Some(source), None) => source,
                (None, _) => task.key.clone(),
            };
            over.push((task.plan_key.clone(), too_long(location, what, bytes)));
        }
    }
    for (key, err) in over {
        let why = cx.problem(err)?;
        set.tasks.retain(|t| t.plan_key != key);
        let Some(plan) = set.plans.iter_mut().find(|p| p.key == key) else { continue };
        plan.description = clip(&plan.description, 4_000);
        let plan = plan.clone();
        if let Some(phase) = set.phases.iter().find(|p| p.key == plan.phase_key).cloned() {
            add_fix_task(set, &plan, &why, &phase);
        }
    }
    Ok(())
}

fn depends_line(text: &str) -> usize {
    text.find("depends_on").map_or(1, |offset| line_of(text, offset))
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        paths.push(entry?.path());
    }
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_split_on_commas_newlines_and_bullets() {
        assert_eq!(split_files("src/a.ts, src/b.ts"), ["src/a.ts", "src/b.ts"]);
        assert_eq!(split_files("- `src/a.ts`\n- src/b.ts (new)\n"), ["src/a.ts", "src/b.ts (new)"]);
    }
}
