//! Where cw's state lives: `<main working tree>/.cw/`, found from any directory of the
//! repository, including linked worktrees (through git's common dir). There is never a second one.

use std::path::{Path, PathBuf};

use crate::git::{self, GitError, RepoLocation};

/// The name of cw's state directory at the root of the main working tree.
pub const CW_DIR: &str = ".cw";

/// What is at `.cw/` (and `.cw/cw.db`), for the one message and the one way out each case has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateDir {
    /// No `.cw`: cw is not set up here.
    Absent,
    /// `.cw` and its database are in place.
    Ready,
    /// `.cw` is there but `cw.db` is not (moved away, deleted): `cw init` makes a new one.
    NoDatabase,
    /// Something is in the way that cw will not touch: `path` is `what`.
    Broken { path: PathBuf, what: &'static str },
}

/// A repository with (or about to get) cw state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub repo: RepoLocation,
    pub cw_dir: PathBuf,
}

impl Workspace {
    /// Finds the repository around `start`; `.cw` may or may not exist yet.
    pub fn locate(start: &Path) -> Result<Workspace, GitError> {
        // Fast path for the common case (a command run inside the main working tree): walk up to
        // the first directory holding `.git`; if `.cw/cw.db` is beside it, no git2 call is needed.
        for dir in start.ancestors() {
            let dot_git = dir.join(".git");
            if dot_git.is_dir() && dir.join(CW_DIR).join("cw.db").is_file() {
                let repo = RepoLocation { main_workdir: dir.to_owned(), common_dir: dot_git };
                return Ok(Workspace { cw_dir: dir.join(CW_DIR), repo });
            }
            if dot_git.exists() {
                break;
            }
        }
        let repo = git::locate(start)?;
        Ok(Workspace { cw_dir: repo.main_workdir.join(CW_DIR), repo })
    }

    /// What is at `.cw/` now.
    pub fn state_dir(&self) -> StateDir {
        match kind_of(&self.cw_dir) {
            Kind::Missing => return StateDir::Absent,
            Kind::Directory => {}
            Kind::Other(what) => return StateDir::Broken { path: self.cw_dir.clone(), what },
            Kind::File => {
                return StateDir::Broken {
                    path: self.cw_dir.clone(),
                    what: "a file, not a directory",
                };
            }
        }
        let db = self.db_path();
        match kind_of(&db) {
            Kind::File => StateDir::Ready,
            Kind::Missing => StateDir::NoDatabase,
            Kind::Directory => StateDir::Broken { path: db, what: "a directory, not a file" },
            Kind::Other(what) => StateDir::Broken { path: db, what },
        }
    }

    /// An agent's directory: its MCP config, stream log, stderr log.
    pub fn agent_dir(&self, agent: crate::model::AgentId) -> PathBuf {
        self.cw_dir.join("agents").join(agent.to_string())
    }

    /// Where agent worktrees go: `worktree_dir` from config (relative to the repository's parent),
    /// or `<parent>/<repo name>.cw-worktrees` — outside the user's working tree.
    pub fn worktrees_dir(&self, configured: &str) -> PathBuf {
        let root = self.root();
        let parent = root.parent().unwrap_or(root);
        if configured.trim().is_empty() {
            let name = root
                .file_name()
                .map_or_else(|| "repo".to_owned(), |n| n.to_string_lossy().into_owned());
            parent.join(format!("{name}.cw-worktrees"))
        } else {
            parent.join(configured)
        }
    }

    /// The user's prompt overrides (`.cw/prompts/<name>.md`).
    pub fn prompts_dir(&self) -> PathBuf {
        self.cw_dir.join("prompts")
    }

    /// The database file.
    pub fn db_path(&self) -> PathBuf {
        self.cw_dir.join("cw.db")
    }

    /// The config file.
    pub fn config_path(&self) -> PathBuf {
        self.cw_dir.join("config.toml")
    }

    /// The operator token file (mode 0600).
    pub fn operator_token_path(&self) -> PathBuf {
        self.cw_dir.join("operator.token")
    }

    /// Where long-running commands write their logs.
    pub fn logs_dir(&self) -> PathBuf {
        self.cw_dir.join("logs")
    }

    /// The repository root (the main working tree).
    pub fn root(&self) -> &Path {
        &self.repo.main_workdir
    }
}

enum Kind {
    Missing,
    File,
    Directory,
    Other(&'static str),
}

/// What `path` is, following a symlink (a dangling one is named as such).
fn kind_of(path: &Path) -> Kind {
    let Ok(own) = fs_err::symlink_metadata(path) else { return Kind::Missing };
    match fs_err::metadata(path) {
        Err(_) if own.file_type().is_symlink() => Kind::Other("a dangling symbolic link"),
        Err(_) => Kind::Other("unreadable"),
        Ok(target) if target.is_dir() => Kind::Directory,
        Ok(target) if target.is_file() => Kind::File,
        Ok(_) => Kind::Other("not a regular file or directory"),
    }
}
