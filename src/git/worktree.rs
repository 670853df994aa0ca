//! Agent worktrees: a new branch cut from the integration branch, checked out in its own
//! directory outside the user's working tree, with the ignored files `.worktreeinclude` names
//! (`.env` and friends) copied in.

use std::path::{Path, PathBuf};

use git2::{BranchType, Repository, StatusOptions, WorktreeAddOptions};

use super::{GitError, RepoLocation, retry_past_stale_lock};

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
    spec: &WorktreeSpec,
) -> Result<CreatedWorktree, GitError> {
    super::validate_branch_name(&spec.branch)?;
    let repo = Repository::open(&location.main_workdir)
        .map_err(|source| GitError::Git { path: location.main_workdir.clone(), source })?;
    let wrap = |source| GitError::Git { path: location.main_workdir.clone(), source };
    if spec.path.exists() {
        return Err(GitError::PathExists { path: spec.path.clone() });
    }
    if repo.find_branch(&spec.branch, BranchType::Local).is_ok() {
        return Err(GitError::BranchExists { branch: spec.branch.clone() });
    }
    let base = repo
        .find_branch(&spec.base, BranchType::Local)
        .map_err(|_| GitError::MissingBranch { branch: spec.base.clone() })?;
    refuse_dirty_checkout(&repo, location, &spec.base)?;
    let commit = base.get().peel_to_commit().map_err(wrap)?;
    let lock = location.common_dir.join(format!("refs/heads/{}.lock", spec.branch));
    let branch =
        retry_past_stale_lock(&lock, || repo.branch(&spec.branch, &commit, false)).map_err(wrap)?;
    let reference = branch.into_reference();
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(&reference));
    if let Some(parent) = spec.path.parent() {
        fs_err::create_dir_all(parent)
            .map_err(|source| GitError::Io { path: parent.to_owned(), source })?;
    }
    let name = spec.branch.replace('/', "-");
    remove_stale_admin_dir(location, &name)?;
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

/// A process killed while git was adding a worktree can leave its record
/// (`<common dir>/worktrees/<name>/`) without a working directory; the name would be taken
/// forever. A record whose working directory does not exist is removed (git's own prune rule).
fn remove_stale_admin_dir(location: &RepoLocation, name: &str) -> Result<(), GitError> {
    let admin = location.common_dir.join("worktrees").join(name);
    if !admin.exists() {
        return Ok(());
    }
    let checkout = fs_err::read_to_string(admin.join("gitdir"))
        .ok()
        .map(|gitdir| PathBuf::from(gitdir.trim_end()))
        .and_then(|dot_git| dot_git.parent().map(Path::to_path_buf));
    if checkout.is_some_and(|dir| dir.exists()) {
        return Ok(());
    }
    fs_err::remove_dir_all(&admin).map_err(|source| GitError::Io { path: admin.clone(), source })
}

/// The integration branch moves under any checkout of it; uncommitted edits there would be
/// stranded, so they must be committed or stashed first.
fn refuse_dirty_checkout(
    repo: &Repository,
    location: &RepoLocation,
    base: &str,
) -> Result<(), GitError> {
    let full = format!("refs/heads/{base}");
    let mut checkouts: Vec<PathBuf> = Vec::new();
    if repo.head().ok().and_then(|h| h.name().ok().map(str::to_owned)).as_deref()
        == Some(full.as_str())
    {
        checkouts.push(location.main_workdir.clone());
    }
    for linked in linked_worktrees(location) {
        if linked.head == format!("ref: {full}") {
            checkouts.push(linked.path);
        }
    }
    for dir in checkouts {
        let checkout =
            Repository::open(&dir).map_err(|source| GitError::Git { path: dir.clone(), source })?;
        let mut options = StatusOptions::new();
        options.include_untracked(false);
        let dirty = checkout.statuses(Some(&mut options)).map(|s| !s.is_empty()).unwrap_or(false);
        if dirty {
            return Err(GitError::DirtyIntegration { branch: base.to_owned(), path: dir });
        }
    }
    Ok(())
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
}
