//! Agent worktrees: a new branch cut from the integration branch, checked out in its own
//! directory outside the user's working tree, with the ignored files `.worktreeinclude` names
//! (`.env` and friends) copied in.

use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{
    BranchType, CheckoutNotificationType, Repository, StatusOptions, StatusShow, WorktreeAddOptions,
};

use super::{GitError, RepoLocation, WriteLock, retry_past_stale_lock};
use tracing::warn;

/// A worktree to create.
#[derive(Debug, Clone)]
pub struct WorktreeSpec {
    /// The new branch, e.g. `cw/add-login-t12`.
    pub branch: String,
    /// Where to check it out; must not exist.
    pub path: PathBuf,
    /// The branch to cut it from (the integration branch).
    pub base: String,
}

/// A created worktree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedWorktree {
    pub path: PathBuf,
    pub branch: String,
    /// The commit the branch starts at.
    pub base_commit: String,
    /// Files copied in because `.worktreeinclude` names them.
    pub included: Vec<PathBuf>,
}

/// The branch name for a task: `cw/<slug of the title>-<task id>`.
pub fn task_branch(title: &str, task_id: &str) -> String {
    let mut slug = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 40 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    if slug.is_empty() { format!("cw/{task_id}") } else { format!("cw/{slug}-{task_id}") }
}

/// Creates the branch at the tip of `spec.base` and checks it out at `spec.path`.
pub fn create_worktree(
    location: &RepoLocation,
    lock: &WriteLock,
    spec: &WorktreeSpec,
) -> Result<CreatedWorktree, GitError> {
    lock.covers(location);
    let repo = super::open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let commit = repo.find_commit(branch_point(&repo, location, spec)?).map_err(wrap)?;
    let reference = create_branch(&repo, location, spec, &commit)?.into_reference();
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(&reference));
    if let Some(parent) = spec.path.parent() {
        fs_err::create_dir_all(parent)
            .map_err(|source| GitError::Io { path: parent.to_owned(), source })?;
    }
    let name = free_admin_name(location, &spec.branch.replace('/', "-"))?;
    if let Err(source) = repo.worktree(&name, &spec.path, Some(&options)) {
        // Leave nothing half-made: the branch points at the base commit and holds no work.
        if let Ok(mut branch) = repo.find_branch(&spec.branch, BranchType::Local) {
            let _ = branch.delete();
        }
        return Err(wrap(source));
    }
    let included = copy_included_files(&repo, location, &spec.path)?;
    Ok(CreatedWorktree {
        path: spec.path.clone(),
        branch: spec.branch.clone(),
        base_commit: commit.id().to_string(),
        included,
    })
}

/// The task number at the end of a name `task_branch` made (`cw/add-login-t12`, its worktree
/// directory `add-login-t12`, `cw/t3`), if it is one.
pub fn task_number(name: &str) -> Option<i64> {
    let (head, digits) = name.rsplit_once('t')?;
    if !(head.is_empty() || head.ends_with(['-', '/'])) || digits.is_empty() {
        return None;
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// True when `path` is a linked worktree with `branch` checked out.
pub fn worktree_on_branch(location: &RepoLocation, path: &Path, branch: &str) -> bool {
    let head = format!("ref: refs/heads/{branch}");
    path.is_dir()
        && linked_worktrees(location).iter().any(|w| w.head == head && same_dir(&w.path, path))
}

/// Checks `branch` out again at `path` after its worktree directory was removed (by `cw gc`, or
/// by hand): from the branch when it still exists, else from its `refs/cw/archive/` copy, else
/// fresh from `base`. Git's stale record of the old directory is forgotten first.
pub fn restore_worktree(
    location: &RepoLocation,
    lock: &WriteLock,
    path: &Path,
    branch: &str,
    base: &str,
) -> Result<(), GitError> {
    lock.covers(location);
    super::validate_branch_name(branch)?;
    if path.exists() {
        return Err(GitError::PathExists { path: path.to_owned() });
    }
    super::prune_missing(location, lock)?;
    let repo = super::open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    if repo.find_branch(branch, BranchType::Local).is_err() {
        let archive = format!("refs/cw/archive/{}", branch.trim_start_matches("cw/"));
        let start = match repo.find_reference(&archive) {
            Ok(archived) => archived.peel_to_commit().map_err(wrap)?,
            Err(_) => repo
                .find_branch(base, BranchType::Local)
                .map_err(|_| GitError::MissingBranch { branch: base.to_owned() })?
                .get()
                .peel_to_commit()
                .map_err(wrap)?,
        };
        repo.branch(branch, &start, false).map_err(wrap)?;
    }
    let reference = repo.find_branch(branch, BranchType::Local).map_err(wrap)?.into_reference();
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(&reference));
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent)
            .map_err(|source| GitError::Io { path: parent.to_owned(), source })?;
    }
    let name = free_admin_name(location, &branch.replace('/', "-"))?;
    repo.worktree(&name, path, Some(&options)).map_err(wrap)?;
    copy_included_files(&repo, location, path)?;
    Ok(())
}

/// Checks that `spec` can be made (its directory and branch are free, its base exists) and
/// returns the commit its branch starts at.
fn branch_point(
    repo: &Repository,
    location: &RepoLocation,
    spec: &WorktreeSpec,
) -> Result<git2::Oid, GitError> {
    super::validate_branch_name(&spec.branch)?;
    if spec.path.exists() {
        return Err(GitError::PathExists { path: spec.path.clone() });
    }
    if repo.find_branch(&spec.branch, BranchType::Local).is_ok() {
        return Err(GitError::BranchExists { branch: spec.branch.clone() });
    }
    let base = repo
        .find_branch(&spec.base, BranchType::Local)
        .map_err(|_| GitError::MissingBranch { branch: spec.base.clone() })?;
    base.get()
        .peel_to_commit()
        .map(|c| c.id())
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })
}

/// Turns the worktree of finished, merged work into the fresh worktree `spec` asks for, which
/// costs a rename and the files that differ instead of a whole checkout (and keeps ignored files,
/// i.e. build caches, warm). The result is what `create_worktree` makes: `spec.branch` new at the
/// tip of `spec.base`, checked out at `spec.path` with no tracked or untracked difference. The old
/// worktree must be clean and its branch merged into `spec.base`; its branch is deleted.
/// On an error nothing of `spec` is left behind (the caller can create it fresh), and the old
/// worktree is either untouched or gone (its work is merged, so nothing is lost).
///
/// The caller's `lock` is held to check the old worktree and create the branch, then to move
/// the worktree and its record; it is let go for the checkout in between (`WriteLock::released`):
/// that writes only the old worktree's own files and index, which no other cw writer touches,
/// and merges and other agents' starts need not wait for it.
pub fn recycle_worktree(
    location: &RepoLocation,
    lock: &mut WriteLock,
    old_path: &Path,
    old_branch: &str,
    spec: &WorktreeSpec,
) -> Result<CreatedWorktree, GitError> {
    lock.covers(location);
    let repo = super::open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let commit = repo.find_commit(branch_point(&repo, location, spec)?).map_err(wrap)?;
    let old = ReusableWorktree::check(&repo, location, old_path, old_branch, commit.id())?;
    create_branch(&repo, location, spec, &commit)?;
    let checked_out = lock.released(|| old.check_out(&commit))?;
    let moved = match checked_out {
        // Refused before a file was written: the old worktree is as it was.
        Err(refused @ GitError::NotReusable { .. }) => {
            let _ = delete_branch_ref(&repo, &spec.branch);
            return Err(refused);
        }
        checked_out => checked_out
            .and_then(|()| old.still_recorded(old_path))
            .and_then(|()| old.move_to(location, old_path, spec)),
    };
    if let Err(err) = moved {
        discard_half_recycled(&repo, location, lock, old_path, &spec.path, &spec.branch);
        return Err(err);
    }
    // The old branch's work is merged; deleting it loses nothing, and failing to (a lock a
    // killed process left) must not undo a reuse that is done: `cw gc` removes it later.
    if let Err(err) = delete_branch_ref(&repo, old_branch) {
        warn!(branch = old_branch, cause = %err, "a reused worktree's old branch stays");
    }
    let included = copy_included_files(&repo, location, &spec.path)?;
    Ok(CreatedWorktree {
        path: spec.path.clone(),
        branch: spec.branch.clone(),
        base_commit: commit.id().to_string(),
        included,
    })
}

/// A linked worktree found fit for reuse: git's record of it agrees with its directory, it is on
/// its branch, that branch is merged, and nothing is staged in it. (That nothing in its files is
/// uncommitted is checked by the checkout itself, which reads every file's metadata anyway.)
struct ReusableWorktree {
    /// The name of git's record (`<common dir>/worktrees/<name>/`).
    name: String,
    admin: PathBuf,
    repo: Repository,
}

impl ReusableWorktree {
    fn check(
        main: &Repository,
        location: &RepoLocation,
        path: &Path,
        branch: &str,
        base: git2::Oid,
    ) -> Result<ReusableWorktree, GitError> {
        let refuse =
            |why: &str| GitError::NotReusable { path: path.to_owned(), why: why.to_owned() };
        // Its `.git` file names its record, whose `gitdir` names it back.
        let dot_git = fs_err::read_to_string(path.join(".git")).unwrap_or_default();
        let admin = dot_git
            .strip_prefix("gitdir: ")
            .map(|d| PathBuf::from(d.trim_end()))
            .filter(|admin| admin.parent() == Some(location.common_dir.join("worktrees").as_path()))
            .ok_or_else(|| refuse("it is not a linked worktree of this repository"))?;
        let back = fs_err::read_to_string(admin.join("gitdir")).unwrap_or_default();
        if !same_dir(Path::new(back.trim_end()), &path.join(".git")) {
            return Err(refuse("git's record of it names another directory"));
        }
        let head = fs_err::read_to_string(admin.join("HEAD")).unwrap_or_default();
        if head.trim_end() != format!("ref: refs/heads/{branch}") {
            return Err(refuse(&format!("it is not on its branch {branch}")));
        }
        let tip = main
            .find_branch(branch, BranchType::Local)
            .ok()
            .and_then(|b| b.get().target())
            .ok_or_else(|| GitError::MissingBranch { branch: branch.to_owned() })?;
        let merged = tip == base
            || super::open_for_walks(location)?
                .graph_descendant_of(base, tip)
                .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })?;
        if !merged {
            return Err(GitError::Unmerged { branch: branch.to_owned() });
        }
        let repo = Repository::open(path)
            .map_err(|source| GitError::Git { path: path.to_owned(), source })?;
        if has_staged_changes(&repo, path)? {
            let staged = super::branches::changed_files(&repo, path, StatusShow::Index)?;
            let first = staged.first().map_or("unresolved conflicts", String::as_str);
            return Err(refuse(&format!("it has uncommitted files ({first}…)")));
        }
        let name = admin.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(ReusableWorktree { name, admin, repo })
    }

    /// Fails if git's record of it is gone or no longer names it: the lock was not held during
    /// the checkout, and a `cw gc` may have removed the worktree meanwhile.
    fn still_recorded(&self, path: &Path) -> Result<(), GitError> {
        let back = fs_err::read_to_string(self.admin.join("gitdir")).unwrap_or_default();
        if same_dir(Path::new(back.trim_end()), &path.join(".git")) && path.join(".git").is_file() {
            return Ok(());
        }
        Err(GitError::NotReusable {
            path: path.to_owned(),
            why: "it was removed while it was being refreshed".to_owned(),
        })
    }

    /// Moves it and git's record of it to `spec`'s directory and name, and puts it on
    /// `spec.branch`. HEAD moves last: until then a killed cw leaves a worktree no branch of the
    /// new task is checked out in, which recovery removes like any merged one.
    fn move_to(
        &self,
        location: &RepoLocation,
        old_path: &Path,
        spec: &WorktreeSpec,
    ) -> Result<(), GitError> {
        let wanted = spec.branch.replace('/', "-");
        let new_name =
            if self.name == wanted { wanted } else { free_admin_name(location, &wanted)? };
        move_worktree(location, old_path, &self.name, &spec.path, &new_name)?;
        let head = location.common_dir.join("worktrees").join(&new_name).join("HEAD");
        write_atomically(&head, &format!("ref: refs/heads/{}\n", spec.branch))
    }

    /// Checks `commit` out over it (`check_out_unchanged`). (Its HEAD is then written directly:
    /// libgit2's `set_head` opens every other worktree to see whether the branch is checked out
    /// there, and the new branch was created a moment ago.)
    fn check_out(&self, commit: &git2::Commit<'_>) -> Result<(), GitError> {
        check_out_unchanged(&self.repo, &self.admin, commit.id())
    }
}

/// Checks `commit` out over a worktree whose files hold its HEAD's: only the files that differ
/// are written, ignored files are kept. A modified, deleted or untracked file refuses it
/// (`NotReusable`) before anything is written: libgit2 reports each such file while it plans the
/// checkout, and the callback stops it there.
fn check_out_unchanged(repo: &Repository, admin: &Path, commit: git2::Oid) -> Result<(), GitError> {
    let path = repo.workdir().unwrap_or(admin).to_owned();
    let wrap = |source| GitError::Git { path: path.clone(), source };
    let target = repo.find_commit(commit).map_err(wrap)?;
    let mut uncommitted: Option<PathBuf> = None;
    let result = {
        let mut checkout = CheckoutBuilder::new();
        checkout
            .safe()
            .notify_on(
                CheckoutNotificationType::CONFLICT
                    | CheckoutNotificationType::DIRTY
                    | CheckoutNotificationType::UNTRACKED,
            )
            .notify(|_, file, _, _, _| {
                uncommitted = Some(file.map(Path::to_owned).unwrap_or_default());
                false
            });
        repo.checkout_tree(target.as_object(), Some(&mut checkout))
    };
    match (result, uncommitted) {
        (_, Some(file)) => Err(GitError::NotReusable {
            path,
            why: format!("it has uncommitted files ({}…)", file.display()),
        }),
        (result, None) => result.map_err(wrap),
    }
}

/// Whether a worktree's index differs from its HEAD commit (no file of the worktree is read).
/// The index can keep the id of each directory's tree (git's cache-tree), and `git commit` and
/// the scripted agent's commits write those ids with the commit, so for a worktree whose work was
/// committed this is one comparison, not a diff. (Only the trees of directories changed since,
/// say by a checkout, are hashed again, and an index with unresolved conflicts has no tree.)
pub(super) fn has_staged_changes(repo: &Repository, path: &Path) -> Result<bool, GitError> {
    let wrap = |source| GitError::Git { path: path.to_owned(), source };
    let head = repo.head().and_then(|h| h.peel_to_tree()).map_err(wrap)?.id();
    let mut index = repo.index().map_err(wrap)?;
    Ok(index.write_tree() != Ok(head))
}

/// Replaces a small file of git's with a temporary file renamed over it.
fn write_atomically(path: &Path, text: &str) -> Result<(), GitError> {
    let io = |source| GitError::Io { path: path.to_owned(), source };
    let temp = path.with_extension("cw-tmp");
    fs_err::write(&temp, text).map_err(io)?;
    fs_err::rename(&temp, path).map_err(io)
}

/// Moves a linked worktree and git's record of it (`<common dir>/worktrees/<name>/`) to a new
/// directory and name, in an order where a process killed at any step leaves only what a prune
/// (the worktree's recorded directory is gone) or a removal of the merged old one cleans up.
fn move_worktree(
    location: &RepoLocation,
    old_path: &Path,
    old_name: &str,
    new_path: &Path,
    new_name: &str,
) -> Result<(), GitError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GitError::Io { path, source }
    };
    let admin_root = location.common_dir.join("worktrees");
    let old_admin = admin_root.join(old_name);
    let new_admin = admin_root.join(new_name);
    if old_name != new_name {
        fs_err::rename(&old_admin, &new_admin).map_err(io(&new_admin))?;
    }
    write_atomically(&old_path.join(".git"), &format!("gitdir: {}\n", new_admin.display()))?;
    if let Some(parent) = new_path.parent() {
        fs_err::create_dir_all(parent).map_err(io(parent))?;
    }
    fs_err::rename(old_path, new_path).map_err(io(new_path))?;
    let new_path = fs_err::canonicalize(new_path).unwrap_or_else(|_| new_path.to_owned());
    write_atomically(&new_admin.join("gitdir"), &format!("{}\n", new_path.join(".git").display()))
}

/// Undoes a recycle that failed after the old worktree started changing: the new branch, the
/// moved or half-moved directory and git's record of it go (the old work is merged, nothing is
/// lost).
fn discard_half_recycled(
    repo: &Repository,
    location: &RepoLocation,
    lock: &WriteLock,
    old_path: &Path,
    new_path: &Path,
    branch: &str,
) {
    for dir in [new_path, old_path] {
        if dir.join(".git").is_file() {
            let _ = fs_err::remove_dir_all(dir);
        }
    }
    let _ = super::prune_missing(location, lock);
    let _ = delete_branch_ref(repo, branch);
}

/// Creates `spec.branch` at `commit`, past a ref lock left by a killed process.
fn create_branch<'r>(
    repo: &'r Repository,
    location: &RepoLocation,
    spec: &WorktreeSpec,
    commit: &git2::Commit<'_>,
) -> Result<git2::Branch<'r>, GitError> {
    let lock = location.common_dir.join(format!("refs/heads/{}.lock", spec.branch));
    retry_past_stale_lock(location, &lock, || repo.branch(&spec.branch, commit, false))
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })
}

/// Deletes a local branch's reference if it exists (not `Branch::delete`, which rewrites
/// `.git/config` and opens every worktree to see whether the branch is checked out).
fn delete_branch_ref(repo: &Repository, branch: &str) -> Result<(), git2::Error> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(mut reference) => reference.delete(),
        Err(_) => Ok(()),
    }
}

/// A process killed while git was adding (or cw was moving) a worktree can leave its record
/// (`<common dir>/worktrees/<name>/`) without a working directory that belongs to it; the name
/// would be taken forever. A record whose working directory does not exist, or whose directory's
/// `.git` file names another record, is removed (git's own prune rule, and a broken link).
fn remove_stale_admin_dir(location: &RepoLocation, name: &str) -> Result<(), GitError> {
    let admin = location.common_dir.join("worktrees").join(name);
    if !admin.exists() {
        return Ok(());
    }
    let dot_git = fs_err::read_to_string(admin.join("gitdir"))
        .ok()
        .map(|gitdir| PathBuf::from(gitdir.trim_end()));
    let points_back = dot_git.as_deref().is_some_and(|dot_git| {
        let named = fs_err::read_to_string(dot_git).unwrap_or_default();
        let named = named.strip_prefix("gitdir: ").map(|d| PathBuf::from(d.trim_end()));
        named.is_some_and(|named| named == admin || same_dir(&named, &admin))
    });
    if points_back {
        return Ok(());
    }
    fs_err::remove_dir_all(&admin).map_err(|source| GitError::Io { path: admin.clone(), source })
}

/// A name for git's record of a new worktree: `wanted`, or `wanted-2`, `wanted-3`… when a record
/// that still belongs to a worktree holds it (as `git worktree add` does). Stale records of the
/// name are removed first.
fn free_admin_name(location: &RepoLocation, wanted: &str) -> Result<String, GitError> {
    for n in 1..100 {
        let name = if n == 1 { wanted.to_owned() } else { format!("{wanted}-{n}") };
        remove_stale_admin_dir(location, &name)?;
        if !location.common_dir.join("worktrees").join(&name).exists() {
            return Ok(name);
        }
    }
    Err(GitError::Io {
        path: location.common_dir.join("worktrees").join(wanted),
        source: std::io::Error::other("a hundred worktree records of this name are in use"),
    })
}

/// The same directory, spelled alike or not (symlinks, `..`).
fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || fs_err::canonicalize(a)
            .ok()
            .zip(fs_err::canonicalize(b).ok())
            .is_some_and(|(a, b)| a == b)
}

/// Checks that `branch` can serve as the integration branch: a valid name, an existing branch,
/// and checked out nowhere. cw moves it with every merge; under a checkout that would make the
/// merged files look deleted in `git status`, and the user's next commit would undo them.
pub fn check_integration_branch(location: &RepoLocation, branch: &str) -> Result<(), GitError> {
    super::validate_branch_name(branch)?;
    let repo = super::open(location)?;
    if repo.find_branch(branch, BranchType::Local).is_err() {
        return Err(GitError::MissingBranch { branch: branch.to_owned() });
    }
    match checkout_of(location, branch) {
        Some(path) => Err(GitError::CheckedOut { branch: branch.to_owned(), path }),
        None => Ok(()),
    }
}

/// The working tree (main or linked) that has `branch` checked out, if any. Read from git's own
/// HEAD files: opening every worktree as a repository costs far more, and cw has one per agent.
fn checkout_of(location: &RepoLocation, branch: &str) -> Option<PathBuf> {
    let wanted = format!("ref: refs/heads/{branch}");
    let main_head = fs_err::read_to_string(location.common_dir.join("HEAD")).unwrap_or_default();
    if main_head.trim_end() == wanted {
        return Some(location.main_workdir.clone());
    }
    linked_worktrees(location)
        .into_iter()
        .find(|linked| linked.head == wanted && linked.path.exists())
        .map(|linked| linked.path)
}

/// A linked worktree as git records it under `<common dir>/worktrees/<name>/`.
#[derive(Debug, Clone)]
pub(super) struct LinkedWorktree {
    pub(super) name: String,
    /// Its working directory (which may be gone).
    pub(super) path: PathBuf,
    /// Its HEAD file: `ref: refs/heads/<branch>` or a commit id.
    pub(super) head: String,
}

/// Every linked worktree, read from git's files: opening each as a repository costs far more,
/// and cw has one per agent.
pub(super) fn linked_worktrees(location: &RepoLocation) -> Vec<LinkedWorktree> {
    let Ok(entries) = fs_err::read_dir(location.common_dir.join("worktrees")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        let (Ok(gitdir), Ok(head)) =
            (fs_err::read_to_string(dir.join("gitdir")), fs_err::read_to_string(dir.join("HEAD")))
        else {
            continue;
        };
        // gitdir names the worktree's `.git` file.
        let dot_git = PathBuf::from(gitdir.trim_end());
        let path = dot_git.parent().map_or_else(|| dot_git.clone(), Path::to_path_buf);
        found.push(LinkedWorktree {
            name: entry.file_name().to_string_lossy().into_owned(),
            path,
            head: head.trim_end().to_owned(),
        });
    }
    found
}

/// Copies the ignored files matching `.worktreeinclude` (gitignore-style patterns) from the main
/// working tree into the new worktree.
fn copy_included_files(
    repo: &Repository,
    location: &RepoLocation,
    target: &Path,
) -> Result<Vec<PathBuf>, GitError> {
    let list = location.main_workdir.join(".worktreeinclude");
    let Ok(text) = fs_err::read_to_string(&list) else { return Ok(Vec::new()) };
    let patterns: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    if patterns.is_empty() {
        return Ok(Vec::new());
    }
    let pathspec = git2::Pathspec::new(patterns.iter())
        .map_err(|source| GitError::Git { path: list.clone(), source })?;
    let mut options = StatusOptions::new();
    options.include_ignored(true).recurse_ignored_dirs(true).include_untracked(false);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })?;
    let mut copied = Vec::new();
    for entry in statuses.iter().filter(|e| e.status().is_ignored()) {
        let Ok(relative) = entry.path().map(PathBuf::from) else { continue };
        if relative.starts_with(".cw")
            || !pathspec.matches_path(&relative, git2::PathspecFlags::DEFAULT)
        {
            continue;
        }
        let from = location.main_workdir.join(&relative);
        let to = target.join(&relative);
        if !from.is_file() {
            continue;
        }
        let io = |source| GitError::Io { path: to.clone(), source };
        if let Some(parent) = to.parent() {
            fs_err::create_dir_all(parent).map_err(io)?;
        }
        fs_err::copy(&from, &to).map_err(io)?;
        copied.push(relative);
    }
    copied.sort();
    Ok(copied)
}

#[cfg(test)]
mod tests {
    use super::task_branch;

    #[test]
    fn branch_names_are_readable_slugs_with_the_task_id() {
        assert_eq!(task_branch("Add login page (OAuth)", "t12"), "cw/add-login-page-oauth-t12");
        assert_eq!(task_branch("   ", "t3"), "cw/t3");
        assert_eq!(task_branch("Ünïcode — only", "t4"), "cw/n-code-only-t4");
        assert!(task_branch(&"x".repeat(200), "t5").len() < 50);
    }

    #[test]
    fn task_numbers_are_read_back_from_the_names_task_branch_makes() {
        use super::task_number;
        assert_eq!(task_number("refs/heads/cw/add-login-page-oauth-t12"), Some(12));
        assert_eq!(task_number("cw/t3"), Some(3));
        assert_eq!(task_number("n-code-only-t4"), Some(4));
        assert_eq!(task_number("refs/heads/cw/integration"), None);
        assert_eq!(task_number("cw/format-t"), None);
        assert_eq!(task_number("cw/sprint-t1x"), None);
        assert_eq!(task_number("cw/eat7"), None);
    }
}
