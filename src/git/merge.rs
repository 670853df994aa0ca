//! Merging a task branch into the integration branch without a checkout: the merge is computed
//! in memory (git2 merge of the two commits), a clean result is committed, and the branch ref is
//! advanced with a compare-and-swap, so a concurrent move of the ref is detected, never
//! overwritten.

use git2::{BranchType, MergeOptions, Oid, Repository, Signature};

use super::{GitError, RepoLocation, open};

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

/// Merges `branch` into `into` with a merge commit (always, so history shows each task's merge).
pub fn merge_branch(
    location: &RepoLocation,
    into: &str,
    branch: &str,
    message: &str,
) -> Result<MergeOutcome, GitError> {
    let repo = open(location)?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    let ours = branch_commit(&repo, into)?;
    let theirs = branch_commit(&repo, branch)?;
    if ours == theirs || repo.graph_descendant_of(ours, theirs).map_err(wrap)? {
        return Ok(MergeOutcome::AlreadyMerged);
    }
    let ours_commit = repo.find_commit(ours).map_err(wrap)?;
    let theirs_commit = repo.find_commit(theirs).map_err(wrap)?;
    let mut options = MergeOptions::new();
    options.fail_on_conflict(false);
    let mut index =
        repo.merge_commits(&ours_commit, &theirs_commit, Some(&options)).map_err(wrap)?;
    if index.has_conflicts() {
        let mut paths: Vec<String> = index
            .conflicts()
            .map_err(wrap)?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .collect();
        paths.sort();
        paths.dedup();
        return Ok(MergeOutcome::Conflict { paths });
    }
    let tree = repo.find_tree(index.write_tree_to(&repo).map_err(wrap)?).map_err(wrap)?;
    let signature =
        repo.signature().or_else(|_| Signature::now("cw", "cw@localhost")).map_err(wrap)?;
    let commit = repo
        .commit(None, &signature, &signature, message, &tree, &[&ours_commit, &theirs_commit])
        .map_err(wrap)?;
    let name = format!("refs/heads/{into}");
    match repo.reference_matching(&name, commit, true, ours, &format!("cw: {message}")) {
        Ok(_) => Ok(MergeOutcome::Merged { commit: commit.to_string() }),
        // The ref is no longer where the merge started: someone moved it. Never overwrite.
        Err(err) if err.code() == git2::ErrorCode::Modified => Ok(MergeOutcome::RefMoved),
        Err(source) => Err(wrap(source)),
    }
}

fn branch_commit(repo: &Repository, branch: &str) -> Result<Oid, GitError> {
    repo.find_branch(branch, BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
        .ok_or_else(|| GitError::MissingBranch { branch: branch.to_owned() })
}
