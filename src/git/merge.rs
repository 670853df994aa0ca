//! Merging a task branch into the integration branch without a checkout: the merge is computed
//! in memory (a tree-level merge when the two sides touched different paths, git2's full merge
//! otherwise), a clean result is committed, and the branch ref is
//! advanced with a compare-and-swap, so a concurrent move of the ref is detected, never
//! overwritten. Between the two steps a merge gate may test the merged tree (`gate_checkout`).

use std::path::Path;

use git2::build::CheckoutBuilder;
use git2::{BranchType, MergeOptions, Oid, Repository, Signature};

use super::tree_merge::merge_trees;
use super::{GitError, RepoLocation, WriteLock, open, retry_past_stale_lock};

/// What merging a branch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    /// A merge commit now tops the integration branch.
    Merged { commit: String },
    /// Every commit of the branch was already on the integration branch.
    AlreadyMerged,
    /// The merge conflicts in these paths; nothing changed.
    Conflict { paths: Vec<String> },
    /// The integration branch moved while the merge was computed; nothing changed, try again.
    RefMoved,
}

/// What moving the integration branch to a prepared merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advanced {
    /// The merge commit now tops the integration branch.
    Merged { commit: String },
    /// The branch moved since the merge was computed; nothing changed, merge again.
    RefMoved,
}

/// A merge commit made but not yet on the integration branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedMerge {
    pub into: String,
    /// The integration tip the merge was computed on (the compare-and-swap's expected value).
    pub base: String,
    pub commit: String,
}

/// The first step of a merge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prepared {
    Ready(PreparedMerge),
    AlreadyMerged,
    Conflict { paths: Vec<String> },
}

/// Merges `branch` into `into` with a merge commit (always, so history shows each task's merge).
pub fn merge_branch(
    location: &RepoLocation,
    lock: &WriteLock,
    into: &str,
    branch: &str,
    message: &str,
) -> Result<MergeOutcome, GitError> {
    match prepare_merge(location, into, branch, message)? {
        Prepared::AlreadyMerged => Ok(MergeOutcome::AlreadyMerged),
        Prepared::Conflict { paths } => Ok(MergeOutcome::Conflict { paths }),
        Prepared::Ready(merge) => Ok(match advance(location, lock, &merge, message)? {
            Advanced::Merged { commit } => MergeOutcome::Merged { commit },
            Advanced::RefMoved => MergeOutcome::RefMoved,
        }),
    }
}

/// Computes the merge of `branch` into `into` in memory and, when clean, writes its merge commit
/// (reachable from no ref yet). Nothing a user sees changes.
pub fn prepare_merge(
    location: &RepoLocation,
    into: &str,
    branch: &str,
    message: &str,
) -> Result<Prepared, GitError> {
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let ours = branch_commit(&repo, into)?;
    let theirs = branch_commit(&repo, branch)?;
    let walks = super::open_for_walks(location)?;
    let bases = merge_bases(&walks, ours, theirs).map_err(wrap)?;
    if ours == theirs || bases == [theirs] {
        return Ok(Prepared::AlreadyMerged);
    }
    let ours_commit = repo.find_commit(ours).map_err(wrap)?;
    let theirs_commit = repo.find_commit(theirs).map_err(wrap)?;
    let fast = match bases.as_slice() {
        [base] => {
            let base_tree = repo.find_commit(*base).map_err(wrap)?.tree_id();
            merge_trees(&repo, base_tree, ours_commit.tree_id(), theirs_commit.tree_id())
                .map_err(wrap)?
        }
        // Criss-cross histories need git's virtual merge base.
        _ => None,
    };
    let tree = match fast {
        Some(tree) => tree,
        None => match full_merge(&repo, &ours_commit, &theirs_commit).map_err(wrap)? {
            Ok(tree) => tree,
            Err(paths) => return Ok(Prepared::Conflict { paths }),
        },
    };
    let tree = repo.find_tree(tree).map_err(wrap)?;
    let signature =
        repo.signature().or_else(|_| Signature::now("cw", "cw@localhost")).map_err(wrap)?;
    let commit = repo
        .commit(None, &signature, &signature, message, &tree, &[&ours_commit, &theirs_commit])
        .map_err(wrap)?;
    Ok(Prepared::Ready(PreparedMerge {
        into: into.to_owned(),
        base: ours.to_string(),
        commit: commit.to_string(),
    }))
}

/// The best common ancestors of two commits (none for unrelated histories).
fn merge_bases(repo: &Repository, one: Oid, two: Oid) -> Result<Vec<Oid>, git2::Error> {
    match repo.merge_bases(one, two) {
        Ok(bases) => Ok(bases.iter().copied().collect()),
        Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// git2's full merge (index-based: content merges, renames): the merged tree, or the
/// conflicting paths.
fn full_merge(
    repo: &Repository,
    ours: &git2::Commit<'_>,
    theirs: &git2::Commit<'_>,
) -> Result<Result<Oid, Vec<String>>, git2::Error> {
    let mut options = MergeOptions::new();
    options.fail_on_conflict(false);
    let mut index = repo.merge_commits(ours, theirs, Some(&options))?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        return Ok(Err(paths));
    }
    index.write_tree_to(repo).map(Ok)
}

/// Moves the integration branch to the prepared merge commit if it still points where the merge
/// was computed (compare-and-swap); `RefMoved` otherwise. Refused (`CheckedOut`) while the branch
/// is checked out anywhere.
pub fn advance(
    location: &RepoLocation,
    lock: &WriteLock,
    merge: &PreparedMerge,
    message: &str,
) -> Result<Advanced, GitError> {
    lock.covers(location);
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let commit = Oid::from_str(&merge.commit).map_err(wrap)?;
    let base = Oid::from_str(&merge.base).map_err(wrap)?;
    let name = format!("refs/heads/{}", merge.into);
    // Never move a branch under someone's checkout (checked under the lock, at every move).
    super::check_integration_branch(location, &merge.into)?;
    let lock = location.common_dir.join(format!("{name}.lock"));
    let written = retry_past_stale_lock(location, &lock, || {
        repo.reference_matching(&name, commit, true, base, &format!("cw: {message}"))
    });
    match written {
        Ok(_) => Ok(Advanced::Merged { commit: merge.commit.clone() }),
        // The ref is no longer where the merge started: someone moved it. Never overwrite.
        Err(err) if err.code() == git2::ErrorCode::Modified => Ok(Advanced::RefMoved),
        Err(source) => Err(wrap(source)),
    }
}

/// Makes the merge gate's scratch worktree at `path` on first use (detached at `commit`, on a
/// branch of its own that git needs; kept between gates so build caches survive).
pub fn ensure_gate_worktree(
    location: &RepoLocation,
    lock: &WriteLock,
    path: &Path,
    commit: &str,
) -> Result<(), GitError> {
    lock.covers(location);
    let wrap = |source| GitError::Git { path: path.to_owned(), source };
    let repo = open(location)?;
    let oid = Oid::from_str(commit).map_err(wrap)?;
    if !path.join(".git").exists() {
        if path.exists() {
            return Err(GitError::PathExists { path: path.to_owned() });
        }
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)
                .map_err(|source| GitError::Io { path: parent.to_owned(), source })?;
        }
        let name = format!(
            "cw-gate-{}",
            path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
        );
        // A worktree needs a branch; the gate's own one is moved to every commit it tests.
        let branch =
            repo.branch(&name, &repo.find_commit(oid).map_err(wrap)?, true).map_err(wrap)?;
        let mut options = git2::WorktreeAddOptions::new();
        let reference = branch.into_reference();
        options.reference(Some(&reference));
        repo.worktree(&name, path, Some(&options)).map_err(wrap)?;
    }
    Ok(())
}

/// Checks `commit` out in the gate's scratch worktree at `path` (`ensure_gate_worktree` made it),
/// removing untracked files but not ignored ones. Only the scratch worktree's own files, index and
/// HEAD change, so no write lock is needed.
pub fn gate_checkout(path: &Path, commit: &str) -> Result<(), GitError> {
    let wrap = |source| GitError::Git { path: path.to_owned(), source };
    let oid = Oid::from_str(commit).map_err(wrap)?;
    let scratch = Repository::open(path).map_err(wrap)?;
    let target = scratch.find_commit(oid).map_err(wrap)?;
    scratch.set_head_detached(oid).map_err(wrap)?;
    let mut checkout = CheckoutBuilder::new();
    checkout.force().remove_untracked(true);
    scratch.checkout_tree(target.as_object(), Some(&mut checkout)).map_err(wrap)?;
    Ok(())
}

fn branch_commit(repo: &Repository, branch: &str) -> Result<Oid, GitError> {
    repo.find_branch(branch, BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
        .ok_or_else(|| GitError::MissingBranch { branch: branch.to_owned() })
}
