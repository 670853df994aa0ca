//! Turning a `.planning/` folder into an `ImportSet`: phases from the roadmap and the disk, plans
//! and tasks from PLAN files, completion from SUMMARY files, and every dependency resolved to task
//! edges (gsd-format.md §8–§9).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

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
use crate::model::{MAX_DESCRIPTION_BYTES, find_cycle};

static DIR_NUMBER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})(?:-(.*))?$")).expect("invariant: static regex")
});
static PLAN_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})-(\d+|FIX\d*)(?:-.*)?$"))
        .expect("invariant: static regex")
});
static PHASE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?i:phase)\s+({PHASE_NUMBER})$")).expect("invariant: static regex")
});
static PHASE_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i:phases?)\s+({PHASE_NUMBER})\s*(?:-|–|to)\s*({PHASE_NUMBER})"))
        .expect("invariant: static regex")
});
static PHASE_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i:(?:phases?\s+)|(?:,\s*(?:phase\s+)?)|(?:\band\s+(?:phase\s+)?)|(?:&\s*(?:phase\s+)?)|/)({PHASE_NUMBER})\b"))
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
    let mut extras: Vec<(PhaseNumber, PhaseDir, PathBuf)> = Vec::new();
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
                extras.push((number.clone(), other.clone(), first));
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
    for (number, dir, first) in extras {
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

struct Context {
    root: PathBuf,
    /// `root` with every symlink resolved: no file read may lie outside it.
    canonical_root: PathBuf,
    warnings: Vec<ImportWarning>,
    unresolved: Vec<String>,
    /// Phase key → where ROADMAP.md says what it depends on (`ROADMAP.md:12`), for cycles.
    phase_dependency_lines: HashMap<String, String>,
    /// `--strict`: the first problem refuses the import instead of costing one task.
    strict: bool,
    /// `--ignore-unresolved`: a dependency that names nothing is dropped, not held for the human.
    ignore_unresolved: bool,
    /// Plans held back by dependencies that name nothing: (plan key, `file:line: what`).
    held: Vec<(String, String)>,
    /// Files that could not be read, each in words (`file:line — reason`).
    problems: Vec<String>,
    /// What became of each file read or passed over.
    files: Vec<super::FileOutcome>,
}

impl Context {
    fn location(&self, path: &Path, line: Option<usize>) -> String {
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

    fn warn(&mut self, path: &Path, line: Option<usize>, message: String) {
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

/// Plan key → (raw `depends_on` items, legacy ordering, where the field is).
type PlanDepends = HashMap<String, (Vec<String>, bool, String)>;

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
        let deps_raw = file
            .parsed
            .front
            .as_ref()
            .and_then(|fm| fm.get("depends_on"))
            .map(FmValue::texts)
            .unwrap_or_default();
        let location = cx.location(&file.path, Some(depends_line(&file.text)));
        plan_depends.insert(plan.key.clone(), (deps_raw, legacy, location));
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
fn for_the_human(plan_key: &str, suffix: &str, title: &str, phase: &ImportPhase) -> ImportTask {
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

/// Phase `Depends on` → phase keys (gsd-format.md §9 step 8).
fn resolve_phase_dependencies(
    set: &mut ImportSet,
    roadmap: &Roadmap,
    kept: &[PhaseNumber],
    cx: &mut Context,
) {
    let roadmap_path = cx.root.join("ROADMAP.md");
    for (index, number) in kept.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| kept[i].clone());
        let field = roadmap.phases.get(number).and_then(|r| r.depends_on.clone());
        let deps: Vec<PhaseNumber> = match field {
            None => previous.into_iter().collect(),
            Some((raw, line)) => {
                let location = cx.location(&roadmap_path, Some(line));
                cx.phase_dependency_lines.insert(number.as_str().to_owned(), location);
                let (deps, understood) = parse_phase_dependencies(&raw, number, kept);
                if !understood {
                    cx.warn(
                        &roadmap_path,
                        Some(line),
                        format!("cannot read 'Depends on: {raw}'; assuming the previous phase"),
                    );
                    previous.into_iter().collect()
                } else {
                    let mut present = Vec::new();
                    for dep in deps {
                        if dep == *number {
                            let message =
                                format!("phase {} depends on itself; dropped", number.as_str());
                            cx.unresolved.push(message.clone());
                            cx.warn(&roadmap_path, Some(line), message);
                        } else if kept.contains(&dep) {
                            present.push(dep);
                        } else {
                            let message = format!(
                                "phase {} depends on phase {}, which is not in this import; dropped",
                                number.as_str(),
                                dep.as_str()
                            );
                            cx.unresolved.push(message.clone());
                            cx.warn(&roadmap_path, Some(line), message);
                        }
                    }
                    present
                }
            }
        };
        if let Some(phase) = set.phases.iter_mut().find(|p| p.key == number.as_str()) {
            phase.depends_on = deps.iter().map(|d| d.as_str().to_owned()).collect();
        }
    }
}

/// The phases a `Depends on` value names, and whether the value was understood at all.
fn parse_phase_dependencies(
    raw: &str,
    this: &PhaseNumber,
    all: &[PhaseNumber],
) -> (Vec<PhaseNumber>, bool) {
    let text = raw.trim().trim_end_matches('.');
    let lower = text.to_lowercase();
    if text.is_empty()
        || ["nothing", "none", "no ", "n/a", "-", "—", "–"].iter().any(|p| lower.starts_with(p))
        || lower == "no"
    {
        return (Vec::new(), true);
    }
    if lower.starts_with("all previous") || lower.starts_with("all prior") {
        return (all.iter().filter(|p| *p < this).cloned().collect(), true);
    }
    let cut = text.split('(').next().unwrap_or(text);
    let mut deps = Vec::new();
    for caps in PHASE_RANGE.captures_iter(cut) {
        if let (Some(from), Some(to)) = (PhaseNumber::parse(&caps[1]), PhaseNumber::parse(&caps[2]))
        {
            deps.extend(all.iter().filter(|p| **p >= from && **p <= to).cloned());
        }
    }
    for caps in PHASE_MENTION.captures_iter(cut) {
        if let Some(number) = PhaseNumber::parse(&caps[1]) {
            deps.push(number);
        }
    }
    deps.sort();
    deps.dedup();
    if deps.is_empty() {
        // `v1.0 complete` / `v3.0 shipped`: a previous milestone, done already. Never phase 1.0.
        let milestone =
            lower.starts_with('v') && lower.chars().nth(1).is_some_and(|c| c.is_ascii_digit());
        return (Vec::new(), milestone);
    }
    (deps, true)
}

/// The task edges of the whole set: tasks of a plan in document order, each plan's resolved
/// `depends_on` (first task waits for the dependency's last), and phase dependencies (the plans
/// that start a phase wait for every plan of the phases it depends on).
fn build_edges(set: &mut ImportSet, plan_depends: &PlanDepends, cx: &mut Context) {
    let graph = PlanGraph::new(set);
    let mut resolved: HashMap<String, Vec<String>> = HashMap::new();
    let mut has_in_phase_dependency: HashSet<String> = HashSet::new();
    for plan in &set.plans {
        let Some(declared) = plan_depends.get(&plan.key) else { continue };
        let deps = graph.dependencies(plan, declared, cx);
        let phase_plans = graph.of_phase(&plan.phase_key);
        if deps.iter().any(|d| phase_plans.iter().any(|p| p.key == *d)) {
            has_in_phase_dependency.insert(plan.key.clone());
        }
        resolved.insert(plan.key.clone(), deps);
    }
    let edges = graph.task_edges(&resolved, &has_in_phase_dependency);
    for plan in &mut set.plans {
        plan.depends_on = resolved.remove(&plan.key).unwrap_or_default();
    }
    set.edges = edges;
}

/// The plans of an import by phase, and the other names they go by, for resolving references.
struct PlanGraph<'s> {
    set: &'s ImportSet,
    by_phase: BTreeMap<&'s str, Vec<&'s ImportPlan>>,
    aliases: HashMap<String, Vec<String>>,
    /// Each plan's task keys in document order.
    tasks_of: HashMap<&'s str, Vec<&'s str>>,
}

impl<'s> PlanGraph<'s> {
    fn new(set: &'s ImportSet) -> PlanGraph<'s> {
        let mut by_phase: BTreeMap<&str, Vec<&ImportPlan>> = BTreeMap::new();
        for plan in &set.plans {
            by_phase.entry(plan.phase_key.as_str()).or_default().push(plan);
        }
        let mut tasks_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for task in &set.tasks {
            tasks_of.entry(task.plan_key.as_str()).or_default().push(task.key.as_str());
        }
        PlanGraph { set, by_phase, aliases: plan_aliases(set), tasks_of }
    }

    fn of_phase(&self, phase: &str) -> &[&'s ImportPlan] {
        self.by_phase.get(phase).map(Vec::as_slice).unwrap_or_default()
    }

    /// The plans `plan` depends on: its `depends_on` items resolved (what names nothing is
    /// reported, and holds the plan), or, for a legacy plan, the plan before it in its phase.
    fn dependencies(
        &self,
        plan: &ImportPlan,
        (raw, legacy, location): &(Vec<String>, bool, String),
        cx: &mut Context,
    ) -> Vec<String> {
        let phase_plans = self.of_phase(&plan.phase_key);
        let mut deps: Vec<String> = Vec::new();
        if *legacy {
            // GSD ≤ 1.3 ran the plans of a phase one after another.
            if let Some(position) = phase_plans.iter().position(|p| p.key == plan.key)
                && let Some(previous) = position.checked_sub(1).and_then(|i| phase_plans.get(i))
                && previous.seq >= 0
            {
                deps.push(previous.key.clone());
            }
        }
        for item in raw {
            let item = item.trim();
            if let Some(caps) = PHASE_REFERENCE.captures(item) {
                let Some(number) = PhaseNumber::parse(&caps[1]) else { continue };
                match self.by_phase.get(number.as_str()) {
                    Some(plans) => deps.extend(plans.iter().map(|p| p.key.clone())),
                    None if self.set.phases.iter().any(|p| p.key == number.as_str()) => {}
                    None => unresolved_dependency(
                        cx,
                        &plan.key,
                        location,
                        &format!(
                            "plan {} depends on phase {}, which is not in this import",
                            plan.key,
                            number.as_str()
                        ),
                    ),
                }
                continue;
            }
            match resolve_reference(item, plan, self.set, &self.aliases) {
                Reference::Plans(targets) => deps.extend(targets),
                Reference::Missing(target) => unresolved_dependency(
                    cx,
                    &plan.key,
                    location,
                    &format!("plan {} depends on {target}, which does not exist", plan.key),
                ),
                Reference::Unreadable => unresolved_dependency(
                    cx,
                    &plan.key,
                    location,
                    &format!("plan {} has a dependency '{item}' cw cannot read", plan.key),
                ),
            }
        }
        deps.sort();
        deps.dedup();
        if deps.contains(&plan.key) {
            let message = format!("plan {} depends on itself; dropped", plan.key);
            unresolved(cx, location, message);
            deps.retain(|d| *d != plan.key);
        }
        deps
    }

    /// Task edges `(task, dependency)`, sorted and without repeats.
    fn task_edges(
        &self,
        resolved: &HashMap<String, Vec<String>>,
        has_in_phase_dependency: &HashSet<String>,
    ) -> Vec<(String, String)> {
        let first = |plan: &str| self.tasks_of.get(plan).and_then(|t| t.first().copied());
        let last = |plan: &str| self.tasks_of.get(plan).and_then(|t| t.last().copied());
        let mut edges: Vec<(String, String)> = Vec::new();
        let mut push = |from: Option<&str>, to: Option<&str>| {
            if let (Some(from), Some(to)) = (from, to)
                && from != to
            {
                edges.push((from.to_owned(), to.to_owned()));
            }
        };
        // Tasks of one plan run in document order.
        for tasks in self.tasks_of.values() {
            for pair in tasks.windows(2) {
                push(Some(pair[1]), Some(pair[0]));
            }
        }
        for plan in &self.set.plans {
            for dep in resolved.get(&plan.key).map(Vec::as_slice).unwrap_or(&[]) {
                push(first(&plan.key), last(dep));
            }
        }
        for phase in &self.set.phases {
            let roots = self
                .of_phase(&phase.key)
                .iter()
                .filter(|p| !has_in_phase_dependency.contains(&p.key));
            let roots: Vec<&&ImportPlan> = roots.collect();
            for dep_phase in &phase.depends_on {
                for dep_plan in self.of_phase(dep_phase) {
                    for root in &roots {
                        push(first(&root.key), last(&dep_plan.key));
                    }
                }
            }
        }
        edges.sort();
        edges.dedup();
        edges
    }
}

/// What a `depends_on` item names.
enum Reference {
    Plans(Vec<String>),
    /// It reads as this plan key, which the import does not hold.
    Missing(String),
    Unreadable,
}

/// Other names a plan is known by in `depends_on`: its file name with and without `.md` and
/// `-PLAN`, and the slug of an `NN-slug-MM-PLAN.md` name, each lower-cased; and a phase
/// directory's name for all of that phase's plans.
fn plan_aliases(set: &ImportSet) -> HashMap<String, Vec<String>> {
    static SLUG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"^{PHASE_NUMBER}-([A-Za-z].*?)-\d+$"))
            .expect("invariant: static regex")
    });
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |alias: &str, key: &str| {
        aliases.entry(alias.to_lowercase()).or_default().push(key.to_owned());
    };
    for plan in &set.plans {
        let Some(source) = &plan.source else { continue };
        let name = source.rsplit('/').next().unwrap_or(source);
        let stem = name.strip_suffix(".md").unwrap_or(name);
        let bare = stem.strip_suffix("-PLAN").unwrap_or(stem);
        for alias in [name, stem, bare] {
            add(alias, &plan.key);
        }
        if let Some(caps) = SLUG.captures(bare) {
            add(&caps[1], &plan.key);
        }
        let dir = source.rsplit('/').nth(1).unwrap_or("");
        if !dir.is_empty() {
            add(dir, &plan.key);
        }
    }
    for keys in aliases.values_mut() {
        keys.sort();
        keys.dedup();
    }
    aliases
}

/// Reads one `depends_on` item of `plan`: a plan key (`01-02`, `26-P01`), a plan number of the
/// same phase (`02`), a path or file name (`.planning/phases/44-x/44-01-PLAN.md`), a slug, or a
/// phase directory's name.
fn resolve_reference(
    item: &str,
    plan: &ImportPlan,
    set: &ImportSet,
    aliases: &HashMap<String, Vec<String>>,
) -> Reference {
    let item = item.trim().trim_matches(['"', '\'', '`']).trim();
    let name = item.rsplit('/').next().unwrap_or(item);
    let exists = |key: &str| set.plans.iter().any(|p| p.key == key);
    let by_name = |text: &str| {
        if let Some(number) = plan_number(text) {
            return Some(plan_key(&plan.phase_key, &number));
        }
        let (phase, number) = names::reference(text)?;
        let phase = match phase {
            Some(phase) => PhaseNumber::parse(&phase)?.as_str().to_owned(),
            None => plan.phase_key.clone(),
        };
        Some(plan_key(&phase, &number))
    };
    let target = by_name(name);
    if let Some(target) = &target
        && exists(target)
    {
        return Reference::Plans(vec![target.clone()]);
    }
    for alias in [item, name] {
        if let Some(keys) = aliases.get(&alias.to_lowercase()) {
            return Reference::Plans(keys.clone());
        }
    }
    target.map_or(Reference::Unreadable, Reference::Missing)
}

/// A `depends_on` item that names nothing in the import: the plan waits for the human to fix
/// it (a task of theirs holds it back), unless `--ignore-unresolved` drops the item — running
/// early a plan whose dependency was misspelt would build on work not done yet.
fn unresolved_dependency(cx: &mut Context, plan: &str, location: &str, what: &str) {
    if cx.ignore_unresolved {
        unresolved(cx, location, format!("{what}; dropped (--ignore-unresolved)"));
        return;
    }
    cx.held.push((plan.to_owned(), format!("{location}: {what}")));
    unresolved(
        cx,
        location,
        format!(
            "{what}; a task for the human holds the plan until it is fixed (or import with --ignore-unresolved)"
        ),
    );
}

/// The tasks that hold back plans with unresolved dependencies, each the first of its plan.
fn hold_unresolved(set: &mut ImportSet, held: &[(String, String)]) {
    let mut by_plan: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (plan, why) in held {
        by_plan.entry(plan.as_str()).or_default().push(why.as_str());
    }
    for (plan_key, reasons) in by_plan {
        let Some(plan) = set.plans.iter().find(|p| p.key == plan_key) else { continue };
        if plan.complete {
            continue;
        }
        let Some(phase) = set.phases.iter().find(|p| p.key == plan.phase_key) else { continue };
        let key = format!("{plan_key}#deps");
        let first = set.tasks.iter().find(|t| t.plan_key == plan_key).map(|t| t.key.clone());
        let title =
            format!("Fix the depends_on of plan {plan_key} ({}), then re-import", reasons[0]);
        let task = ImportTask {
            description: format!(
                "cw cannot tell what plan {plan_key} waits for, so it does not start yet:\n\n{}\n\nCorrect `depends_on` in the plan's front matter and run `cw import` again (or `cw import --ignore-unresolved` to drop what cannot be resolved).",
                reasons.join("\n")
            ),
            done: "depends_on names plans that exist, and `cw import` was run again".to_owned(),
            wave: plan.wave.unwrap_or(0),
            metadata: json!({ "placeholder": true, "unresolved": reasons }),
            ..for_the_human(plan_key, "deps", &title, phase)
        };
        set.tasks.push(task);
        if let Some(first) = first {
            set.edges.push((first, key));
        }
    }
    set.edges.sort();
    set.edges.dedup();
}

fn unresolved(cx: &mut Context, location: &str, message: String) {
    cx.unresolved.push(format!("{location}: {message}"));
    cx.warnings.push(ImportWarning { location: location.to_owned(), message });
}

fn check_cycles(
    set: &ImportSet,
    plan_depends: &HashMap<String, (Vec<String>, bool, String)>,
    cx: &Context,
) -> Result<(), ImportError> {
    let index: HashMap<&str, usize> =
        set.tasks.iter().enumerate().map(|(i, t)| (t.key.as_str(), i)).collect();
    let mut graph: HashMap<usize, Vec<usize>> = HashMap::new();
    for (from, to) in &set.edges {
        if let (Some(&a), Some(&b)) = (index.get(from.as_str()), index.get(to.as_str())) {
            graph.entry(a).or_default().push(b);
        }
    }
    let nodes: Vec<usize> = (0..set.tasks.len()).collect();
    let Some(cycle) = find_cycle(&nodes, &graph) else { return Ok(()) };
    let mut plans: Vec<&str> = Vec::new();
    for node in cycle {
        let plan = set.tasks[node].plan_key.as_str();
        if plans.last() != Some(&plan) {
            plans.push(plan);
        }
    }
    // Where the cycle's edges were written: the plans' own depends_on, and — when it runs
    // through more than one phase — the phases' `Depends on` lines in ROADMAP.md.
    let phases: HashSet<&str> = plans
        .iter()
        .filter_map(|key| set.plans.iter().find(|p| p.key == *key))
        .map(|p| p.phase_key.as_str())
        .collect();
    let from_roadmap = phases
        .iter()
        .filter(|_| phases.len() > 1)
        .filter_map(|phase| cx.phase_dependency_lines.get(*phase).cloned());
    let sources: Vec<String> = plans
        .iter()
        .filter_map(|p| plan_depends.get(*p))
        .filter(|(raw, _, _)| !raw.is_empty())
        .map(|(_, _, location)| location.clone())
        .chain(from_roadmap)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // By file, then line as a number (ROADMAP.md:9 before ROADMAP.md:12).
    let mut sources = sources;
    sources.sort_by_key(|location| match location.rsplit_once(':') {
        Some((file, line)) => (file.to_owned(), line.parse::<usize>().unwrap_or(0)),
        None => (location.clone(), 0),
    });
    let mut cycle = plans.join(" → ");
    if !sources.is_empty() {
        cycle.push_str(&format!(" (→ means \"depends on\"; see {})", sources.join(", ")));
    }
    Err(ImportError::Cycle { cycle })
}

/// Every text the import stores within the limits `cw task add` and MCP apply, so no task is
/// too big to hand to an agent.
/// A plan whose objective or one of whose tasks is over the size limit cannot be imported as it
/// is: like a file that cannot be read, it becomes one task for the human (`--strict`: refused).
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

    fn deps(raw: &str) -> (Vec<String>, bool) {
        let all: Vec<PhaseNumber> = ["1", "2", "2.1", "3", "4", "5", "6", "7", "8", "12", "12.6"]
            .iter()
            .filter_map(|n| PhaseNumber::parse(n))
            .collect();
        let this = PhaseNumber::parse("8").unwrap();
        let (found, understood) = parse_phase_dependencies(raw, &this, &all);
        (found.into_iter().map(|p| p.0).collect(), understood)
    }

    #[test]
    fn depends_on_values_from_the_survey() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(deps("Phase 4"), (s(&["4"]), true));
        assert_eq!(deps("Phase 4 (v1.0 complete)"), (s(&["4"]), true));
        assert_eq!(deps("Phase 12.6 (Core Kit foundation must be in place)"), (s(&["12.6"]), true));
        assert_eq!(deps("Nothing (but blocks Phases 99, 100, 102)"), (s(&[]), true));
        assert_eq!(deps("None"), (s(&[]), true));
        assert_eq!(deps("Phase 5, Phase 8"), (s(&["5", "8"]), true));
        assert_eq!(deps("Phase 25, 26, 27 (all previous phases)"), (s(&["25", "26", "27"]), true));
        assert_eq!(deps("Phases 5-7"), (s(&["5", "6", "7"]), true));
        assert_eq!(deps("Phases 2–3"), (s(&["2", "2.1", "3"]), true));
        assert_eq!(deps("v0.5 complete"), (s(&[]), true));
        assert_eq!(deps("Phase 61/62 per-user"), (s(&["61", "62"]), true));
        assert_eq!(
            deps("All previous phases"),
            (s(&["1", "2", "2.1", "3", "4", "5", "6", "7"]), true)
        );
        assert_eq!(deps("Existing shared template base chain"), (s(&[]), false));
    }

    #[test]
    fn files_split_on_commas_newlines_and_bullets() {
        assert_eq!(split_files("src/a.ts, src/b.ts"), ["src/a.ts", "src/b.ts"]);
        assert_eq!(split_files("- `src/a.ts`\n- src/b.ts (new)\n"), ["src/a.ts", "src/b.ts (new)"]);
    }
}
