//! Reading GSD `.planning/` folders (see gsd-format.md) into an `ImportSet`: plain data with
//! stable keys and fully expanded task edges, ready for the service to upsert in one transaction.
//!
//! Owns: tolerant parsing of ROADMAP.md, PLAN and SUMMARY files, dependency resolution, cycle
//! detection with file:line, warnings.
//! Must not: touch the database, git or the clock. Reading files is its only effect.

mod edges;
mod frontmatter;
#[cfg(test)]
mod fuzz;
mod names;
mod numbers;
mod plan;
mod resolve;
mod roadmap;
mod text;

use std::path::{Path, PathBuf};

#[cfg(test)]
pub(crate) use fuzz::config as fuzz_config;
pub use resolve::{canonical_plan_key, read};

/// The largest file an import reads (a plan's tasks are limited further, see the service's
/// `MAX_DESCRIPTION_BYTES`).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// Everything one `.planning/` folder describes.
#[derive(Debug, Clone)]
pub struct ImportSet {
    pub root: PathBuf,
    pub initiative: ImportInitiative,
    pub phases: Vec<ImportPhase>,
    pub plans: Vec<ImportPlan>,
    pub tasks: Vec<ImportTask>,
    /// `(task key, dependency task key)`, chains, plan edges and phase edges all expanded.
    pub edges: Vec<(String, String)>,
    pub warnings: Vec<ImportWarning>,
    /// Phases left out (backlog, abandoned), with why.
    pub skipped: Vec<String>,
    /// Files that could not be read (`file:line — reason`); each costs one task for the human.
    pub problems: Vec<String>,
    /// What became of each PLAN and SUMMARY file, by path.
    pub files: Vec<FileOutcome>,
}

/// What an import made of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileOutcome {
    /// Relative to the `.planning/` folder.
    pub path: String,
    /// `imported`, `merged`, `read`, `skipped` or `problem`.
    pub outcome: &'static str,
    /// Why, in words (`plan 01-02: 3 tasks`, `not a GSD plan name`).
    pub detail: String,
}

/// The initiative (the folder).
#[derive(Debug, Clone)]
pub struct ImportInitiative {
    pub key: String,
    pub title: String,
    pub description: String,
}

/// One phase.
#[derive(Debug, Clone)]
pub struct ImportPhase {
    /// Normalised number, e.g. `2.1`.
    pub key: String,
    /// As written, e.g. `02.1`.
    pub number: String,
    pub seq: i64,
    pub title: String,
    pub description: String,
    pub complete: bool,
    pub depends_on: Vec<String>,
    pub metadata: serde_json::Value,
}

/// One plan.
#[derive(Debug, Clone)]
pub struct ImportPlan {
    pub phase_key: String,
    /// Canonical plan id, e.g. `12.2-01`.
    pub key: String,
    pub seq: i64,
    pub title: String,
    pub description: String,
    pub wave: Option<i64>,
    pub source: Option<String>,
    pub depends_on: Vec<String>,
    /// A SUMMARY exists (or the roadmap says the phase is done): the work is already in history.
    pub complete: bool,
    pub metadata: serde_json::Value,
}

/// One task.
#[derive(Debug, Clone)]
pub struct ImportTask {
    pub plan_key: String,
    /// `<plan key>#<ordinal>`, stable across re-imports while tasks keep their order.
    pub key: String,
    pub title: String,
    pub description: String,
    pub files: Vec<String>,
    pub verify: String,
    pub done: String,
    pub kind: String,
    pub needs_human: bool,
    /// Already done (its plan has a SUMMARY).
    pub merged: bool,
    pub result_summary: Option<String>,
    pub phase_seq: i64,
    pub wave: i64,
    pub metadata: serde_json::Value,
}

/// Something the importer tolerated but the human should know, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportWarning {
    pub location: String,
    pub message: String,
}

/// Why a folder cannot be imported. Nothing is written when this happens.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{} is not a directory (pass a .planning folder or the folder that contains one)", path.display())]
    NotADirectory { path: PathBuf },
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is a link to {}, outside the imported folder; cw reads only files inside it (replace the link with a copy of the file, or remove it)", path.display(), target.display())]
    OutsideFolder { path: PathBuf, target: PathBuf },
    #[error("{} is not a regular file (a directory, FIFO, socket or device); remove it from the folder", path.display())]
    NotAFile { path: PathBuf },
    #[error("{} is binary, not text (it contains NUL bytes); remove it from the folder", path.display())]
    NotText { path: PathBuf },
    #[error("{} is {bytes} bytes; a planning file may be at most {limit} bytes", path.display())]
    TooLarge { path: PathBuf, bytes: u64, limit: u64 },
    #[error(
        "{location}: the {what} is {bytes} bytes; the limit is {limit} (split the task, or put the detail in a file the task names)"
    )]
    TooLong { location: String, what: String, bytes: usize, limit: usize },
    #[error("{}:{line}: {message}", path.display())]
    Syntax { path: PathBuf, line: usize, message: String },
    #[error("{}: not a GSD roadmap (no 'Phase N:' headings or checklist entries)", path.display())]
    NotGsd { path: PathBuf },
    #[error("{}: nothing to import (no ROADMAP.md and no phases/ directory)", path.display())]
    Empty { path: PathBuf },
    #[error("phase {number} has two directories: {} and {} (remove or rename one)", first.display(), second.display())]
    DuplicatePhaseDirs { number: String, first: PathBuf, second: PathBuf },
    #[error("dependency cycle: {cycle}")]
    Cycle { cycle: String },
    #[error("{count} unresolved dependencies with --strict; first: {first}")]
    Strict { count: usize, first: String },
}

/// How to read a folder.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// All or nothing: a file that cannot be read, or a reference that cannot be resolved,
    /// refuses the import instead of costing one task for the human.
    pub strict: bool,
    /// A dependency that cannot be resolved is dropped instead of holding its plan back.
    pub ignore_unresolved: bool,
}

/// The directory holding ROADMAP.md/phases: `dir` itself, or `dir/.planning`.
pub fn planning_root(dir: &Path) -> PathBuf {
    let nested = dir.join(".planning");
    if !dir.join("ROADMAP.md").exists() && !dir.join("phases").is_dir() && nested.is_dir() {
        return nested;
    }
    dir.to_owned()
}
