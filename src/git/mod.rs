//! Git: the only user of git2.
//!
//! Owns: finding the repository and its main working tree (also from a linked worktree), the
//! integration branch, `.git/info/exclude`.
//! Must not: touch the database or the user's checkout (no checkout, no index writes).

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

use tracing::warn;

mod branches;
mod merge;
mod tree_merge;
mod worktree;

use git2::{BranchType, ErrorCode, Repository};

pub use branches::{
    archive_branch, branch_diff, branch_exists, is_merged, merge_diff, missing_worktrees,
    prune_missing, remove_tombstones, remove_worktree, task_numbers_in_refs, uncommitted_paths,
};
pub use merge::{
    Advanced, MergeOutcome, Prepared, PreparedMerge, advance, ensure_gate_worktree, gate_checkout,
    merge_branch, prepare_merge,
};
pub use worktree::{
    CreatedWorktree, WorktreeSpec, check_integration_branch, create_worktree, recycle_worktree,
    restore_worktree, task_branch, task_number, worktree_on_branch,
};

/// A git failure, named by the repository or branch it concerns.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{} is not inside a git repository (run `git init` first, or cd into one)", path.display())]
    NotARepository { path: PathBuf },
    #[error("{} is a bare repository; cw needs a working tree (clone it, or use `git worktree add`)", path.display())]
    Bare { path: PathBuf },
    #[error("the repository {} has no commits yet; make a first commit, then try again", path.display())]
    NoCommits { path: PathBuf },
    #[error("the directory {} already exists; cw will not check a worktree out over it (remove it or choose another worktree directory)", path.display())]
    PathExists { path: PathBuf },
    #[error(
        "the branch {branch} already exists; cw never reuses or overwrites a branch (delete or rename it)"
    )]
    BranchExists { branch: String },
    #[error(
        "the branch {branch} does not exist (run `cw init`, or set integration_branch in .cw/config.toml)"
    )]
    MissingBranch { branch: String },
    #[error("the integration branch {branch} is checked out in {}; cw moves it with every merge, which would change the files under that checkout (switch that checkout to another branch, e.g. `git -C {} switch -`, or set another integration_branch in .cw/config.toml)", path.display(), path.display())]
    CheckedOut { branch: String, path: PathBuf },
    #[error(
        "the branch {branch} holds work that is not merged; cw keeps it (archive it with `cw gc` once its task is cancelled or failed)"
    )]
    Unmerged { branch: String },
    #[error("the worktree {} cannot be reused: {why}", path.display())]
    NotReusable { path: PathBuf, why: String },
    #[error("'{name}' is not a valid branch name")]
    InvalidBranchName { name: String },
    #[error("cw asked for the write lock {} while it held it (a bug in cw: please report it)", path.display())]
    LockedTwice { path: PathBuf },
    #[error("git error in {}: {source}", path.display())]
    Git {
        path: PathBuf,
        #[source]
        source: git2::Error,
    },
    #[error("cannot update {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Where a repository lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoLocation {
    /// The main working tree (the one that owns `.git`), even when found from a linked worktree.
    pub main_workdir: PathBuf,
    /// Git's common directory (`<main>/.git`).
    pub common_dir: PathBuf,
}

/// What `ensure_branch` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchOutcome {
    Created,
    AlreadyExisted,
}

/// Finds the repository containing `start` and its main working tree.
pub fn locate(start: &Path) -> Result<RepoLocation, GitError> {
    let repo = Repository::discover(start).map_err(|err| match err.code() {
        ErrorCode::NotFound => GitError::NotARepository { path: start.to_owned() },
        _ => GitError::Git { path: start.to_owned(), source: err },
    })?;
    if repo.is_bare() {
        return Err(GitError::Bare { path: repo.path().to_owned() });
    }
    let common_dir = repo.commondir().to_owned();
    let main_workdir = if repo.is_worktree() {
        let main = Repository::open(&common_dir)
            .map_err(|source| GitError::Git { path: common_dir.clone(), source })?;
        match main.workdir() {
            Some(dir) => dir.to_owned(),
            None => return Err(GitError::Bare { path: common_dir }),
        }
    } else {
        match repo.workdir() {
            Some(dir) => dir.to_owned(),
            None => return Err(GitError::Bare { path: repo.path().to_owned() }),
        }
    };
    Ok(RepoLocation { main_workdir: strip_trailing_slash(&main_workdir), common_dir })
}

/// Checks that HEAD points at a commit (the integration branch is cut from it).
pub fn require_commits(location: &RepoLocation) -> Result<(), GitError> {
    let repo = open(location)?;
    match repo.head() {
        Ok(_) => Ok(()),
        Err(err) if matches!(err.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
            Err(GitError::NoCommits { path: location.main_workdir.clone() })
        }
        Err(source) => Err(GitError::Git { path: location.main_workdir.clone(), source }),
    }
}

/// Checks a branch name without creating anything.
pub fn validate_branch_name(name: &str) -> Result<(), GitError> {
    match git2::Branch::name_is_valid(name) {
        Ok(true) => Ok(()),
        _ => Err(GitError::InvalidBranchName { name: name.to_owned() }),
    }
}

/// Creates `branch` at HEAD unless it exists already.
pub fn ensure_branch(
    location: &RepoLocation,
    lock: &WriteLock,
    branch: &str,
) -> Result<BranchOutcome, GitError> {
    lock.covers(location);
    validate_branch_name(branch)?;
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    if repo.find_branch(branch, BranchType::Local).is_ok() {
        return Ok(BranchOutcome::AlreadyExisted);
    }
    let head = repo.head().map_err(|err| match err.code() {
        ErrorCode::UnbornBranch | ErrorCode::NotFound => {
            GitError::NoCommits { path: location.main_workdir.clone() }
        }
        _ => wrap(err),
    })?;
    let commit = head.peel_to_commit().map_err(wrap)?;
    repo.branch(branch, &commit, false).map_err(wrap)?;
    Ok(BranchOutcome::Created)
}

/// Adds `pattern` to `.git/info/exclude` (once), so cw's own files never show as untracked.
pub fn exclude(location: &RepoLocation, pattern: &str) -> Result<(), GitError> {
    let info = location.common_dir.join("info");
    let path = info.join("exclude");
    let io = |source| GitError::Io { path: path.clone(), source };
    fs_err::create_dir_all(&info).map_err(io)?;
    let current = match fs_err::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(io(err)),
    };
    if current.lines().any(|line| line.trim() == pattern) {
        return Ok(());
    }
    let mut updated = current;
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str(pattern);
    updated.push('\n');
    fs_err::write(&path, updated).map_err(io)
}

/// The main repository, opened once per thread and kept. Opening re-reads git's config files,
/// and a fresh handle re-reads every object it needs; a kept one has them in libgit2's object
/// cache. A kept handle still sees what other processes write: refs are read from disk on every
/// lookup, the object database rescans on a miss, config files are re-read when they change,
/// and cached objects are immutable by their ids.
fn open(location: &RepoLocation) -> Result<Rc<Repository>, GitError> {
    thread_local! {
        static KEPT: KeptRepository = const { RefCell::new(None) };
    }
    KEPT.with(|kept| reuse_or_open(kept, location))
}

/// A second kept handle of the main repository, only for history walks (merge bases, "is it
/// merged"). libgit2 caches an object either parsed (`find_commit`) or raw (what a walk reads)
/// and never replaces a parsed entry with a raw one, so on the main handle every commit once
/// looked up is read from disk again by every walk that passes it. Nothing here looks commits
/// up, so each is read once per process.
fn open_for_walks(location: &RepoLocation) -> Result<Rc<Repository>, GitError> {
    thread_local! {
        static KEPT: KeptRepository = const { RefCell::new(None) };
    }
    KEPT.with(|kept| reuse_or_open(kept, location))
}

type KeptRepository = RefCell<Option<(PathBuf, Rc<Repository>)>>;

fn reuse_or_open(
    kept: &KeptRepository,
    location: &RepoLocation,
) -> Result<Rc<Repository>, GitError> {
    let mut kept = kept.borrow_mut();
    if let Some((path, repo)) = kept.as_ref()
        && *path == location.main_workdir
    {
        return Ok(Rc::clone(repo));
    }
    let repo = Rc::new(
        Repository::open(&location.main_workdir)
            .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })?,
    );
    *kept = Some((location.main_workdir.clone(), Rc::clone(&repo)));
    Ok(repo)
}

fn strip_trailing_slash(path: &Path) -> PathBuf {
    path.components().collect()
}

/// How long cw waits for a ref's `.lock` to go before it says the ref is locked (git holds one
/// for milliseconds).
const LOCK_WAIT: Duration = Duration::from_secs(3);

/// Runs a ref write (the caller holds `WriteLock`) of a ref only cw writes (the integration
/// branch, a branch cw is creating or moving where no agent works). When git finds the ref's
/// `lock` file taken, the file is removed only if it is provably a killed cw's: made while a cw
/// process held the write lock and died holding it (`WriteLock` records each such death). Any
/// other lock is someone's live git — an agent's commit in a large repository can hold one for
/// seconds — and is waited for, up to `LOCK_WAIT`, never removed.
///
/// A lock still there after `LOCK_WAIT` that no process holds open is a leftover too (git and
/// libgit2 keep a lock file open from its creation until just before the rename that ends the
/// write): an agent killed mid-commit leaves one on its branch, and it is removed once.
fn retry_past_stale_lock<T>(
    location: &RepoLocation,
    lock: &Path,
    mut write: impl FnMut() -> Result<T, git2::Error>,
) -> Result<T, git2::Error> {
    let started = Instant::now();
    let mut removed_unheld = false;
    loop {
        match write() {
            Err(err)
                if err.code() == ErrorCode::Locked
                    && started.elapsed() >= LOCK_WAIT
                    && !removed_unheld
                    && lock.exists()
                    && !held_open(lock) =>
            {
                warn!(lock = %lock.display(), "removing a lock no process holds (a killed writer's)");
                removed_unheld = true;
                if fs_err::remove_file(lock).is_err() {
                    return Err(err);
                }
            }
            Err(err) if err.code() == ErrorCode::Locked && started.elapsed() < LOCK_WAIT => {
                let made = fs_err::metadata(lock).and_then(|m| m.modified()).ok();
                match made {
                    Some(made) if WriteLock::made_by_a_dead_holder(location, made) => {
                        warn!(lock = %lock.display(), "removing a lock left by a killed cw process");
                        if fs_err::remove_file(lock).is_err() {
                            return Err(err);
                        }
                    }
                    Some(_) => std::thread::sleep(Duration::from_millis(50)),
                    // Gone meanwhile: write again.
                    None => {}
                }
            }
            other => return other,
        }
    }
}

/// True if some process has `path` open (Linux: `/proc/<pid>/fd`; processes of other users are
/// not visible and count as not holding it). Where `/proc` cannot be read, true: never guess.
fn held_open(path: &Path) -> bool {
    let Ok(target) = fs_err::canonicalize(path) else { return false };
    let Ok(processes) = fs_err::read_dir("/proc") else { return true };
    processes.flatten().any(|process| {
        let is_pid = process.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit());
        let fds = fs_err::read_dir(process.path().join("fd"));
        is_pid
            && fds.is_ok_and(|fds| {
                fds.flatten().any(|fd| fs_err::read_link(fd.path()).is_ok_and(|l| l == target))
            })
    })
}

/// Held while cw changes the repository (worktrees, branches, merges): cw's own git writes are
/// serialised per repository, across processes, so they never race for `index.lock` or a ref.
///
/// The lock file holds its holder's record (`<pid> <since, unix ms>`) and is emptied on release.
/// A record found by the next holder is a holder that died holding the lock (the kernel frees a
/// dead process's flock, never its record): the window it held the lock is appended to
/// `cw-write.deaths`, so a ref lock made in that window can be told for its leftover.
///
/// It is a value every git write takes (`&WriteLock`): holding one is the proof. A thread that
/// asks for a lock it already holds gets an error, not a deadlock (each acquire is a new open
/// file, whose `flock` would wait for the first forever).
#[derive(Debug)]
pub struct WriteLock {
    file: std::fs::File,
    common_dir: PathBuf,
    /// False while `released` runs its work (and after a failed take-back).
    held: bool,
}

thread_local! {
    /// The repositories (common directories) whose write lock this thread holds.
    static HELD: std::cell::RefCell<Vec<PathBuf>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// How many deaths `cw-write.deaths` keeps.
const DEATHS_KEPT: usize = 20;

impl WriteLock {
    /// Blocks until this process holds the repository's write lock; refuses if this thread
    /// holds it already.
    pub fn acquire(location: &RepoLocation) -> Result<WriteLock, GitError> {
        let path = location.common_dir.join("cw-write.lock");
        if HELD.with_borrow(|held| held.contains(&location.common_dir)) {
            return Err(GitError::LockedTwice { path });
        }
        let file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| GitError::Io { path: path.clone(), source })?
            .into_parts()
            .0;
        let mut lock = WriteLock { file, common_dir: location.common_dir.clone(), held: false };
        lock.take()?;
        Ok(lock)
    }

    /// Locks the open file and writes this holder's record, recording a dead holder's first.
    fn take(&mut self) -> Result<(), GitError> {
        use std::io::{Read, Seek, Write};
        let path = self.common_dir.join("cw-write.lock");
        let io = |source| GitError::Io { path: path.clone(), source };
        self.file.lock().map_err(io)?;
        self.held = true;
        HELD.with_borrow_mut(|held| held.push(self.common_dir.clone()));
        let mut record = String::new();
        let _ = self.file.rewind().and_then(|()| self.file.read_to_string(&mut record));
        let now = unix_ms(SystemTime::now());
        if let Some(since) = record.split_whitespace().nth(1).and_then(|s| s.parse::<u128>().ok()) {
            let pid = record.split_whitespace().next().unwrap_or("?");
            warn!(pid, "a cw process died holding the repository's write lock");
            record_death(&self.common_dir.join("cw-write.deaths"), since, now);
        }
        self.file.set_len(0).map_err(io)?;
        self.file.rewind().map_err(io)?;
        write!(self.file, "{} {now}", std::process::id()).map_err(io)?;
        Ok(())
    }

    /// Lets the lock go (cleanly: no record left) while `work` runs, and takes it again after.
    pub fn released<T>(&mut self, work: impl FnOnce() -> T) -> Result<T, GitError> {
        self.give_back();
        let done = work();
        self.take()?;
        Ok(done)
    }

    fn give_back(&mut self) {
        if !std::mem::replace(&mut self.held, false) {
            return;
        }
        // Released cleanly: no record for the next holder to take for a death.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
        HELD.with_borrow_mut(|held| held.retain(|dir| *dir != self.common_dir));
    }

    /// Checks (in debug builds) that this is the lock of the repository at `location`.
    pub fn covers(&self, location: &RepoLocation) {
        debug_assert_eq!(
            self.common_dir, location.common_dir,
            "the write lock of another repository"
        );
    }

    /// True if a file modified at `made` was made while a cw process that died held the lock.
    fn made_by_a_dead_holder(location: &RepoLocation, made: SystemTime) -> bool {
        let made = unix_ms(made);
        let deaths = fs_err::read_to_string(location.common_dir.join("cw-write.deaths"));
        deaths.unwrap_or_default().lines().any(|line| {
            let mut window = line.split_whitespace().map(|n| n.parse::<u128>().ok());
            matches!((window.next(), window.next()), (Some(Some(from)), Some(Some(to))) if from <= made && made <= to)
        })
    }
}

/// Appends `since until` (ms) to the deaths file, keeping the newest `DEATHS_KEPT`.
fn record_death(path: &Path, since: u128, until: u128) {
    let old = fs_err::read_to_string(path).unwrap_or_default();
    let mut lines: Vec<String> = old.lines().map(str::to_owned).collect();
    // A lock file's time has the file system's granularity: the window is widened by a second.
    lines.push(format!("{} {}", since.saturating_sub(1_000), until + 1_000));
    let start = lines.len().saturating_sub(DEATHS_KEPT);
    let _ = fs_err::write(path, lines[start..].join("\n") + "\n");
}

fn unix_ms(at: SystemTime) -> u128 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        self.give_back();
    }
}
