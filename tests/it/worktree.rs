//! Agent worktrees on real repositories: cut from the integration branch, never over an existing
//! directory or branch, never from a dirty checkout of the integration branch, with
//! `.worktreeinclude` files copied in.

use std::path::PathBuf;

use cw::git::{self, GitError, WorktreeSpec};
use cw::workspace::Workspace;

use crate::support::TestEnv;

fn spec(env: &TestEnv, branch: &str) -> WorktreeSpec {
    let path = env
        .root()
        .parent()
        .unwrap()
        .join(format!("{}-wt", env.root().file_name().unwrap().to_string_lossy()))
        .join(branch.replace('/', "-"));
    WorktreeSpec { branch: branch.to_owned(), path, base: "cw/integration".to_owned() }
}

fn location(env: &TestEnv) -> git::RepoLocation {
    Workspace::locate(&env.root()).unwrap().repo
}

fn head_of(env: &TestEnv, dir: &std::path::Path) -> String {
    String::from_utf8(env.git_in(dir, &["rev-parse", "HEAD"]).stdout).unwrap().trim().to_owned()
}

#[test]
fn a_worktree_starts_from_the_integration_branch_not_head() {
    let env = TestEnv::initialised();
    let integration = String::from_utf8(env.git(&["rev-parse", "cw/integration"]).stdout)
        .unwrap()
        .trim()
        .to_owned();
    env.write("later.txt", "committed on main after init\n");
    env.git(&["add", "later.txt"]);
    env.git(&["commit", "-q", "-m", "later"]);
    let created = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &spec(&env, "cw/first-t1"),
    )
    .unwrap();
    assert_eq!(created.base_commit, integration);
    assert_eq!(head_of(&env, &created.path), integration);
    assert!(created.path.join("README.md").is_file());
    assert!(
        !created.path.join("later.txt").exists(),
        "work on main after init is not in the agent's base"
    );
    let branch =
        String::from_utf8(env.git_in(&created.path, &["branch", "--show-current"]).stdout).unwrap();
    assert_eq!(branch.trim(), "cw/first-t1");
    let listed = String::from_utf8(env.git(&["worktree", "list"]).stdout).unwrap();
    assert!(listed.contains(&created.path.display().to_string()), "{listed}");
    // cw finds its state from inside the agent's worktree.
    assert_eq!(
        env.cw_in(&created.path, &["status", "--json"]).json()["root"],
        env.root().display().to_string()
    );
    fs_err::remove_dir_all(created.path.parent().unwrap()).unwrap();
}

#[test]
fn existing_directories_and_branches_are_refused_and_nothing_is_left_behind() {
    let env = TestEnv::initialised();
    let taken = spec(&env, "cw/taken-t2");
    fs_err::create_dir_all(&taken.path).unwrap();
    let err = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &taken,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::PathExists { .. }), "{err}");
    assert!(err.to_string().contains("already exists; cw will not check a worktree out over it"));
    let branches = String::from_utf8(env.git(&["branch", "--list", "cw/taken-t2"]).stdout).unwrap();
    assert_eq!(branches, "", "no branch was created");

    env.git(&["branch", "cw/exists-t3"]);
    let err = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &spec(&env, "cw/exists-t3"),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the branch cw/exists-t3 already exists; cw never reuses or overwrites a branch (delete or rename it)"
    );

    let mut missing_base = spec(&env, "cw/orphan-t4");
    missing_base.base = "cw/nowhere".to_owned();
    let err = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &missing_base,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::MissingBranch { .. }), "{err}");
    let err = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &spec(&env, "cw/bad..name"),
    )
    .unwrap_err();
    assert!(matches!(err, GitError::InvalidBranchName { .. }), "{err}");
    fs_err::remove_dir_all(taken.path.parent().unwrap()).unwrap();
}

#[test]
fn an_integration_branch_checked_out_anywhere_is_refused_naming_the_checkout() {
    let env = TestEnv::initialised();
    git::check_integration_branch(&location(&env), "cw/integration").unwrap();
    env.git(&["checkout", "-q", "cw/integration"]);
    let err = git::check_integration_branch(&location(&env), "cw/integration").unwrap_err();
    let GitError::CheckedOut { path, .. } = &err else { panic!("{err}") };
    assert_eq!(path, &env.root());
    assert!(err.to_string().contains("is checked out in"), "{err}");
    env.git(&["checkout", "-q", "main"]);

    let side = env.outer().join("side-checkout");
    env.git(&["worktree", "add", "-q", side.to_str().unwrap(), "cw/integration"]);
    let err = git::check_integration_branch(&location(&env), "cw/integration").unwrap_err();
    let GitError::CheckedOut { path, .. } = &err else { panic!("{err}") };
    assert_eq!(path, &side);
    env.git(&["worktree", "remove", side.to_str().unwrap()]);
    git::check_integration_branch(&location(&env), "cw/integration").unwrap();

    for bad in ["", "../../x", "a..b", "-x"] {
        let err = git::check_integration_branch(&location(&env), bad).unwrap_err();
        assert!(matches!(err, GitError::InvalidBranchName { .. }), "{bad:?}: {err}");
    }
    let err = git::check_integration_branch(&location(&env), "cw/missing").unwrap_err();
    assert!(matches!(err, GitError::MissingBranch { .. }), "{err}");
}

#[test]
fn worktreeinclude_copies_the_ignored_files_it_names() {
    let env = TestEnv::initialised();
    env.write(".gitignore", ".env\n*.log\nsecrets/\n");
    env.write(".worktreeinclude", "# ignored files agents need\n.env\nsecrets/api.key\n");
    env.git(&["add", ".gitignore", ".worktreeinclude"]);
    env.git(&["commit", "-q", "-m", "ignore"]);
    env.git(&["branch", "-f", "cw/integration", "HEAD"]);
    env.write(".env", "DATABASE_URL=postgres://local\n");
    env.write("debug.log", "not wanted\n");
    env.write("secrets/api.key", "k\n");
    env.write("secrets/other.key", "not listed\n");
    let created = git::create_worktree(
        &location(&env),
        &git::WriteLock::acquire(&location(&env)).unwrap(),
        &spec(&env, "cw/with-env-t7"),
    )
    .unwrap();
    assert_eq!(created.included, [PathBuf::from(".env"), PathBuf::from("secrets/api.key")]);
    assert_eq!(
        fs_err::read_to_string(created.path.join(".env")).unwrap(),
        "DATABASE_URL=postgres://local\n"
    );
    assert!(!created.path.join("debug.log").exists());
    assert!(!created.path.join("secrets/other.key").exists());
    assert!(!created.path.join(".cw").exists(), "cw's own state is never copied");
    fs_err::remove_dir_all(created.path.parent().unwrap()).unwrap();
}

#[test]
fn removing_a_merged_worktree_deletes_its_branch_unless_someone_checked_it_out() {
    let env = TestEnv::initialised();
    let location = location(&env);
    let first = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/first-t9"),
    )
    .unwrap();
    let second = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/second-t10"),
    )
    .unwrap();
    // Both branches hold nothing beyond the integration branch: merged.
    git::remove_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &first.path,
        "cw/first-t9",
        "cw/integration",
    )
    .unwrap();
    assert!(!first.path.exists());
    assert!(!git::branch_exists(&location, "cw/first-t9"));
    assert!(!env.root().join(".git/logs/refs/heads/cw/first-t9").exists(), "reflog removed");
    let listed = String::from_utf8(env.git(&["worktree", "list"]).stdout).unwrap();
    assert!(!listed.contains("first-t9"), "{listed}");
    // The user checks the second branch out by hand in the main working tree: it stays.
    fs_err::remove_dir_all(&second.path).unwrap();
    git::prune_missing(&location, &git::WriteLock::acquire(&location).unwrap()).unwrap();
    env.git(&["checkout", "-q", "cw/second-t10"]);
    git::remove_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &second.path,
        "cw/second-t10",
        "cw/integration",
    )
    .unwrap();
    assert!(git::branch_exists(&location, "cw/second-t10"));
    env.git(&["checkout", "-q", "main"]);
    fs_err::remove_dir_all(first.path.parent().unwrap()).unwrap();
}

#[test]
fn a_worktree_record_left_by_a_killed_create_does_not_block_the_name() {
    let env = TestEnv::initialised();
    let location = location(&env);
    // Killed right after git made the record's directory, before it wrote anything in it.
    let half = env.root().join(".git/worktrees/cw-stale-t11");
    fs_err::create_dir_all(&half).unwrap();
    // Killed after the record was written, before the checkout existed.
    let stale = env.root().join(".git/worktrees/cw-gone-t12");
    fs_err::create_dir_all(&stale).unwrap();
    let missing = spec(&env, "cw/gone-t12").path.join(".git");
    fs_err::write(stale.join("gitdir"), format!("{}\n", missing.display())).unwrap();
    fs_err::write(stale.join("HEAD"), "ref: refs/heads/cw/gone-t12\n").unwrap();

    let first = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/stale-t11"),
    )
    .unwrap();
    let second = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/gone-t12"),
    )
    .unwrap();
    assert!(first.path.join("README.md").is_file() && second.path.join("README.md").is_file());
    let listed = String::from_utf8(env.git(&["worktree", "list"]).stdout).unwrap();
    assert!(listed.contains("cw-stale-t11") && listed.contains("cw-gone-t12"), "{listed}");
    fs_err::remove_dir_all(first.path.parent().unwrap()).unwrap();
}

#[test]
fn a_branch_lock_left_by_a_killed_cw_does_not_block_the_branch() {
    let env = TestEnv::initialised();
    let lock = env.root().join(".git/refs/heads/cw/locked-t13.lock");
    fs_err::create_dir_all(lock.parent().unwrap()).unwrap();
    crate::support::killed_cw_holding_the_write_lock(&env, &lock);
    // As the service does: the write lock around the creation, and a second acquire in the same
    // thread refused instead of waiting for itself forever.
    let write = git::WriteLock::acquire(&location(&env)).unwrap();
    let twice = git::WriteLock::acquire(&location(&env)).unwrap_err();
    assert!(matches!(twice, GitError::LockedTwice { .. }), "{twice}");
    let created =
        git::create_worktree(&location(&env), &write, &spec(&env, "cw/locked-t13")).unwrap();
    assert!(created.path.join("README.md").is_file());
    assert!(!lock.exists());
    fs_err::remove_dir_all(created.path.parent().unwrap()).unwrap();
}

fn text(output: std::process::Output) -> String {
    String::from_utf8(output.stdout).unwrap()
}

/// A worktree on `branch` with `file` committed in it, merged into the integration branch.
fn merged_worktree(env: &TestEnv, branch: &str, file: &str) -> git::CreatedWorktree {
    let location = location(env);
    let created = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(env, branch),
    )
    .unwrap();
    fs_err::write(created.path.join(file), format!("{branch}\n")).unwrap();
    env.git_in(&created.path, &["add", file]);
    env.git_in(&created.path, &["commit", "-q", "-m", file]);
    let merged = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        branch,
        "merge",
    )
    .unwrap();
    assert!(matches!(merged, git::MergeOutcome::Merged { .. }), "{merged:?}");
    created
}

#[test]
fn a_merged_worktree_is_reused_as_a_fresh_checkout_of_the_new_branch() {
    let env = TestEnv::initialised();
    env.write(".gitignore", "build/\n");
    env.write("doomed.txt", "removed on the integration branch later\n");
    env.git(&["add", ".gitignore", "doomed.txt"]);
    env.git(&["commit", "-q", "-m", "ignore build"]);
    env.git(&["branch", "-f", "cw/integration", "HEAD"]);
    let location = location(&env);
    let old = merged_worktree(&env, "cw/old-t1", "old.txt");
    // A build cache the old agent left (ignored), then more work lands on the integration branch
    // from elsewhere: a new file, a deleted one.
    fs_err::create_dir_all(old.path.join("build")).unwrap();
    fs_err::write(old.path.join("build/cache.bin"), "warm\n").unwrap();
    let other = merged_worktree(&env, "cw/other-t2", "other.txt");
    env.git_in(&other.path, &["rm", "-q", "doomed.txt"]);
    env.git_in(&other.path, &["commit", "-q", "-m", "drop doomed"]);
    git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/other-t2",
        "merge again",
    )
    .unwrap();
    let tip = text(env.git(&["rev-parse", "cw/integration"])).trim().to_owned();

    let new = spec(&env, "cw/new-t3");
    let created = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &old.path,
        "cw/old-t1",
        &new,
    )
    .unwrap();
    assert_eq!(created.path, new.path);
    assert_eq!(created.base_commit, tip);
    assert!(!old.path.exists(), "the old directory became the new one");
    assert_eq!(head_of(&env, &created.path), tip);
    assert_eq!(text(env.git_in(&created.path, &["branch", "--show-current"])).trim(), "cw/new-t3");
    assert_eq!(text(env.git_in(&created.path, &["status", "--porcelain"])), "", "clean");
    for file in ["old.txt", "other.txt", "README.md", ".gitignore"] {
        assert!(created.path.join(file).is_file(), "{file} is checked out");
    }
    assert!(!created.path.join("doomed.txt").exists(), "deleted on the integration branch");
    assert_eq!(fs_err::read_to_string(created.path.join("build/cache.bin")).unwrap(), "warm\n");
    // git's records agree: the old branch is gone, the worktree is listed where it now is, and
    // nothing is left for a prune.
    assert!(!git::branch_exists(&location, "cw/old-t1"));
    let listed = text(env.git(&["worktree", "list", "--porcelain"]));
    assert!(listed.contains(&format!("worktree {}\n", created.path.display())), "{listed}");
    assert!(!listed.contains(&old.path.display().to_string()), "{listed}");
    let prune = hermetic_git_stderr(&env, &["worktree", "prune", "--dry-run", "-v"]);
    assert_eq!(prune, "", "no stale worktree record");
    // The new agent works in it as in a fresh one, and cw finds its state from inside.
    fs_err::write(created.path.join("new.txt"), "new\n").unwrap();
    env.git_in(&created.path, &["add", "new.txt"]);
    env.git_in(&created.path, &["commit", "-q", "-m", "new"]);
    assert_eq!(
        env.cw_in(&created.path, &["status", "--json"]).json()["root"],
        env.root().display().to_string()
    );
    // And it is removed like any other once merged.
    git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/new-t3",
        "merge new",
    )
    .unwrap();
    git::remove_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &created.path,
        "cw/new-t3",
        "cw/integration",
    )
    .unwrap();
    assert!(!created.path.exists());
    assert_eq!(hermetic_git_stderr(&env, &["worktree", "prune", "--dry-run", "-v"]), "");
    fs_err::remove_dir_all(new.path.parent().unwrap()).unwrap();
}

fn hermetic_git_stderr(env: &TestEnv, args: &[&str]) -> String {
    String::from_utf8(env.git(args).stderr).unwrap()
}

#[test]
fn unmerged_or_dirty_worktrees_are_never_reused_and_nothing_changes() {
    let env = TestEnv::initialised();
    let location = location(&env);
    // Unmerged work: refused, the worktree and its branch untouched, no new branch.
    let unmerged = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/unmerged-t4"),
    )
    .unwrap();
    fs_err::write(unmerged.path.join("work.txt"), "not merged\n").unwrap();
    env.git_in(&unmerged.path, &["add", "work.txt"]);
    env.git_in(&unmerged.path, &["commit", "-q", "-m", "work"]);
    let new = spec(&env, "cw/new-t5");
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &unmerged.path,
        "cw/unmerged-t4",
        &new,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::Unmerged { .. }), "{err}");
    assert!(unmerged.path.join("work.txt").is_file() && !new.path.exists());
    assert!(!git::branch_exists(&location, "cw/new-t5"));

    // Merged but with an untracked file, or a modified tracked one: refused, named.
    let dirty = merged_worktree(&env, "cw/dirty-t6", "dirty.txt");
    fs_err::write(dirty.path.join("notes.txt"), "left behind\n").unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::NotReusable { .. }), "{err}");
    assert!(err.to_string().contains("uncommitted files (notes.txt"), "{err}");
    fs_err::remove_file(dirty.path.join("notes.txt")).unwrap();
    fs_err::write(dirty.path.join("README.md"), "edited\n").unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(err.to_string().contains("README.md"), "{err}");
    assert_eq!(fs_err::read_to_string(dirty.path.join("README.md")).unwrap(), "edited\n");
    assert!(!new.path.exists() && !git::branch_exists(&location, "cw/new-t5"));
    env.git_in(&dirty.path, &["checkout", "-q", "--", "README.md"]);
    // A deleted tracked file, an untracked directory, and a staged file since removed from
    // disk (only the index holds it): refused, nothing written, no new branch.
    fs_err::remove_file(dirty.path.join("dirty.txt")).unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(err.to_string().contains("uncommitted files (dirty.txt"), "{err}");
    assert!(!dirty.path.join("dirty.txt").exists());
    env.git_in(&dirty.path, &["checkout", "-q", "--", "dirty.txt"]);
    fs_err::create_dir_all(dirty.path.join("scratch/deeper")).unwrap();
    fs_err::write(dirty.path.join("scratch/deeper/notes.txt"), "mine\n").unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(err.to_string().contains("uncommitted files (scratch/"), "{err}");
    assert!(dirty.path.join("scratch/deeper/notes.txt").is_file());
    fs_err::remove_dir_all(dirty.path.join("scratch")).unwrap();
    fs_err::write(dirty.path.join("staged.txt"), "staged\n").unwrap();
    env.git_in(&dirty.path, &["add", "staged.txt"]);
    fs_err::remove_file(dirty.path.join("staged.txt")).unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(err.to_string().contains("uncommitted files (staged.txt"), "{err}");
    env.git_in(&dirty.path, &["reset", "-q"]);
    assert!(!new.path.exists() && !git::branch_exists(&location, "cw/new-t5"));
    assert_eq!(text(env.git_in(&dirty.path, &["status", "--porcelain"])), "");

    // Not a worktree of this repository on that branch: refused.
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &env.outer(),
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::NotReusable { .. }), "{err}");
    // A target that exists is refused before anything moves.
    fs_err::create_dir_all(&new.path).unwrap();
    let err = git::recycle_worktree(
        &location,
        &mut git::WriteLock::acquire(&location).unwrap(),
        &dirty.path,
        "cw/dirty-t6",
        &new,
    )
    .unwrap_err();
    assert!(matches!(err, GitError::PathExists { .. }), "{err}");
    assert!(dirty.path.join("dirty.txt").is_file());
    fs_err::remove_dir_all(new.path.parent().unwrap()).unwrap();
}

#[test]
fn a_reuse_killed_while_moving_git_s_record_does_not_block_the_new_name() {
    let env = TestEnv::initialised();
    let location = location(&env);
    let old = merged_worktree(&env, "cw/old-t7", "old.txt");
    // Killed right after the record was renamed for the new task, before the old directory's
    // `.git` was pointed at it: the record names the old directory, which names another record.
    let records = env.root().join(".git/worktrees");
    fs_err::rename(records.join("cw-old-t7"), records.join("cw-new-t8")).unwrap();

    let created = git::create_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &spec(&env, "cw/new-t8"),
    )
    .unwrap();
    assert_eq!(text(env.git_in(&created.path, &["status", "--porcelain"])), "");
    assert_eq!(text(env.git_in(&created.path, &["branch", "--show-current"])).trim(), "cw/new-t8");
    // The old worktree is broken but still removed as merged work, and nothing is left to prune.
    git::remove_worktree(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &old.path,
        "cw/old-t7",
        "cw/integration",
    )
    .unwrap();
    assert!(!old.path.exists());
    assert_eq!(hermetic_git_stderr(&env, &["worktree", "prune", "--dry-run", "-v"]), "");
    let listed = text(env.git(&["worktree", "list", "--porcelain"]));
    assert!(listed.contains(&format!("worktree {}\n", created.path.display())), "{listed}");
    fs_err::remove_dir_all(created.path.parent().unwrap()).unwrap();
}
