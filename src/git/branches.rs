//! Agent branches after the work: what they changed (`cw diff`), whether they are merged,
//! uncommitted files in a worktree, archiving unmerged work under `refs/cw/archive/`, and removing
//! worktrees. Nothing here ever deletes a commit that no ref holds.

use std::path::{Path, PathBuf};

use git2::{
    BranchType, DiffFormat, DiffOptions, Repository, StatusOptions, StatusShow,
    WorktreePruneOptions,
};

use super::worktree::linked_worktrees;
use super::{GitError, RepoLocation, WriteLock, open};

fn tip<'r>(
    repo: &'r Repository,
    branch: &str,
    location: &RepoLocation,
) -> Result<git2::Commit<'r>, GitError> {
    let found = repo
        .find_branch(branch, BranchType::Local)
        .map_err(|_| GitError::MissingBranch { branch: branch.to_owned() })?;
    found
        .get()
        .peel_to_commit()
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })
}

/// The patch of `branch` against where it left `base` (the merge base), then, when `worktree`
/// is given, its uncommitted changes.
pub fn branch_diff(
    location: &RepoLocation,
    base: &str,
    branch: &str,
    worktree: Option<&Path>,
) -> Result<String, GitError> {
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let head = tip(&repo, branch, location)?;
    let base_tip = tip(&repo, base, location)?;
    let merge_base =
        super::open_for_walks(location)?.merge_base(base_tip.id(), head.id()).map_err(wrap)?;
    let from = repo.find_commit(merge_base).and_then(|c| c.tree()).map_err(wrap)?;
    let to = head.tree().map_err(wrap)?;
    let committed = repo.diff_tree_to_tree(Some(&from), Some(&to), None).map_err(wrap)?;
    let mut out = patch_text(&committed).map_err(wrap)?;
    if let Some(dir) = worktree.filter(|d| d.is_dir()) {
        let linked = Repository::open(dir)
            .map_err(|source| GitError::Git { path: dir.to_owned(), source })?;
        let mut options = DiffOptions::new();
        options.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
        let tree = linked.head().and_then(|h| h.peel_to_tree()).map_err(wrap)?;
        let dirty = linked
            .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut options))
            .map_err(wrap)?;
        let text = patch_text(&dirty).map_err(wrap)?;
        if !text.is_empty() {
            out.push_str(&format!("# uncommitted in {}\n", dir.display()));
            out.push_str(&text);
        }
    }
    Ok(out)
}

/// What merge commit `commit` brought into its first parent (a merged branch, after the branch
/// is gone).
pub fn merge_diff(location: &RepoLocation, commit: &str) -> Result<String, GitError> {
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let merge = git2::Oid::from_str(commit).and_then(|id| repo.find_commit(id)).map_err(wrap)?;
    let to = merge.tree().map_err(wrap)?;
    let from = merge.parent(0).and_then(|p| p.tree()).map_err(wrap)?;
    let diff = repo.diff_tree_to_tree(Some(&from), Some(&to), None).map_err(wrap)?;
    patch_text(&diff).map_err(wrap)
}

fn patch_text(diff: &git2::Diff<'_>) -> Result<String, git2::Error> {
    let mut out = String::new();
    diff.print(DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            out.push(line.origin());
        }
        out.push_str(&String::from_utf8_lossy(line.content()));
        true
    })?;
    Ok(out)
}

/// True when every commit of `branch` is on `into` (a missing branch counts as merged: it holds
/// nothing).
pub fn is_merged(location: &RepoLocation, branch: &str, into: &str) -> Result<bool, GitError> {
    let repo = open(location)?;
    let Ok(head) = tip(&repo, branch, location) else { return Ok(true) };
    let target = tip(&repo, into, location)?;
    if head.id() == target.id() {
        return Ok(true);
    }
    super::open_for_walks(location)?
        .graph_descendant_of(target.id(), head.id())
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })
}

/// Files with uncommitted changes (untracked ones included, ignored ones not) in a worktree.
pub fn uncommitted_paths(worktree: &Path) -> Result<Vec<String>, GitError> {
    let repo = Repository::open(worktree)
        .map_err(|source| GitError::Git { path: worktree.to_owned(), source })?;
    // Nothing staged (the index's tree ids, which a commit leaves in it, are HEAD's): only the
    // files need looking at, not HEAD's tree against the index as well.
    if let Ok(false) = super::worktree::has_staged_changes(&repo, worktree) {
        return changed_files(&repo, worktree, StatusShow::Workdir);
    }
    uncommitted_in(&repo, worktree)
}

/// `uncommitted_paths` of an open worktree.
pub(super) fn uncommitted_in(repo: &Repository, worktree: &Path) -> Result<Vec<String>, GitError> {
    changed_files(repo, worktree, StatusShow::IndexAndWorkdir)
}

/// The files `show` finds changed (untracked ones included when `show` looks at the files,
/// ignored ones never).
pub(super) fn changed_files(
    repo: &Repository,
    worktree: &Path,
    show: StatusShow,
) -> Result<Vec<String>, GitError> {
    let mut options = StatusOptions::new();
    options.show(show).include_untracked(true).recurse_untracked_dirs(true).include_ignored(false);
    let statuses = repo
        .statuses(Some(&mut options))
        .map_err(|source| GitError::Git { path: worktree.to_owned(), source })?;
    Ok(statuses.iter().filter_map(|e| e.path().ok().map(str::to_owned)).collect())
}

/// Keeps `branch`'s commits under `refs/cw/archive/<branch>` (so deleting the branch loses
/// nothing); returns the ref name.
pub fn archive_branch(
    location: &RepoLocation,
    lock: &WriteLock,
    branch: &str,
) -> Result<String, GitError> {
    lock.covers(location);
    let repo = open(location)?;
    let head = tip(&repo, branch, location)?;
    let name = format!("refs/cw/archive/{}", branch.trim_start_matches("cw/"));
    repo.reference(&name, head.id(), true, &format!("cw: archived {branch}"))
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })?;
    Ok(name)
}

/// The task numbers that cw's branches and archive refs carry (`cw/<slug>-t12` → 12): a new
/// database must not hand those ids out again.
pub fn task_numbers_in_refs(location: &RepoLocation) -> Result<Vec<i64>, GitError> {
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let mut numbers = Vec::new();
    for glob in ["refs/heads/cw/*", "refs/cw/archive/*"] {
        for reference in repo.references_glob(glob).map_err(wrap)? {
            let reference = reference.map_err(wrap)?;
            if let Some(number) = reference.name().ok().and_then(super::worktree::task_number) {
                numbers.push(number);
            }
        }
    }
    Ok(numbers)
}

/// Removes a worktree's directory and git's record of it, and deletes its branch. Refuses unless
/// the branch is merged into `into` or archived (`archived` = the archive ref exists).
pub fn remove_worktree(
    location: &RepoLocation,
    lock: &WriteLock,
    path: &Path,
    branch: &str,
    into: &str,
) -> Result<(), GitError> {
    lock.covers(location);
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let archived = repo
        .find_reference(&format!("refs/cw/archive/{}", branch.trim_start_matches("cw/")))
        .ok()
        .and_then(|r| r.target())
        .zip(tip(&repo, branch, location).ok().map(|c| c.id()))
        .is_some_and(|(a, b)| a == b);
    if !archived && !is_merged(location, branch, into)? {
        return Err(GitError::Unmerged { branch: branch.to_owned() });
    }
    remove_dir_whole(path)?;
    prune_missing(location, lock)?;
    let full = format!("refs/heads/{branch}");
    let symbolic = format!("ref: {full}");
    let checked_out = repo.head().ok().is_some_and(|h| h.name().ok() == Some(full.as_str()))
        || linked_worktrees(location).iter().any(|w| w.head == symbolic);
    if checked_out {
        // Someone checked the branch out by hand: leave it to them.
        return Ok(());
    }
    // Deleting the reference (and its reflog) directly: `Branch::delete` also rewrites
    // .git/config and opens every worktree, which cw's branches never need.
    if let Ok(mut found) = repo.find_reference(&full) {
        found.delete().map_err(wrap)?;
    }
    Ok(())
}

/// Removes a directory so that a process killed meanwhile never leaves part of it where it was
/// (a half-deleted worktree without its `.git` file would look like someone else's directory):
/// it is renamed to a hidden tombstone beside it first, then deleted. Tombstones left by a killed
/// process are deleted on the next call.
fn remove_dir_whole(path: &Path) -> Result<(), GitError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| GitError::Io { path, source }
    };
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Ok(());
    };
    remove_tombstones(parent);
    if !path.exists() {
        return Ok(());
    }
    let tombstone = parent.join(format!(".{}{TOMBSTONE}", name.to_string_lossy()));
    fs_err::rename(path, &tombstone).map_err(io(path))?;
    fs_err::remove_dir_all(&tombstone).map_err(io(&tombstone))
}

/// Deletes what removals killed midway left in `dir` (hidden `*.cw-removing` directories).
pub fn remove_tombstones(dir: &Path) {
    let Ok(entries) = fs_err::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') && file.ends_with(TOMBSTONE) {
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
}

/// The suffix of a directory being removed.
const TOMBSTONE: &str = ".cw-removing";

/// The worktrees git records whose directories are gone (what [`prune_missing`] would forget).
pub fn missing_worktrees(location: &RepoLocation) -> Vec<PathBuf> {
    linked_worktrees(location).into_iter().map(|w| w.path).filter(|p| !p.exists()).collect()
}

/// Forgets worktrees whose directories are gone; returns their paths.
pub fn prune_missing(location: &RepoLocation, lock: &WriteLock) -> Result<Vec<PathBuf>, GitError> {
    lock.covers(location);
    let repo = open(location)?;
    let mut pruned = Vec::new();
    for linked in linked_worktrees(location).into_iter().filter(|w| !w.path.exists()) {
        let Ok(worktree) = repo.find_worktree(&linked.name) else { continue };
        let path = worktree.path().to_owned();
        let mut options = WorktreePruneOptions::new();
        options.working_tree(false).valid(true);
        if worktree.prune(Some(&mut options)).is_ok() {
            pruned.push(path);
        }
    }
    Ok(pruned)
}

/// True when the local branch exists.
pub fn branch_exists(location: &RepoLocation, branch: &str) -> bool {
    open(location).is_ok_and(|repo| repo.find_branch(branch, BranchType::Local).is_ok())
}
