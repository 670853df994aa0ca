//! Merges into the integration branch on real repositories: computed in memory (the user's
//! checkout is never touched), a merge commit per branch, conflicts reported with their paths
//! and nothing changed, and a ref that moved meanwhile is detected, never overwritten.

use cw::git::{self, MergeOutcome};
use cw::workspace::Workspace;

use crate::support::TestEnv;

fn rev(env: &TestEnv, name: &str) -> String {
    String::from_utf8(env.git(&["rev-parse", name]).stdout).unwrap().trim().to_owned()
}

/// A branch off the integration branch with one commit writing `file`.
fn branch_with(env: &TestEnv, branch: &str, file: &str, text: &str) {
    env.git(&["checkout", "-q", "-b", branch, "cw/integration"]);
    env.write(file, text);
    env.git(&["add", file]);
    env.git(&["commit", "-q", "-m", &format!("{branch}: {file}")]);
    env.git(&["checkout", "-q", "main"]);
}

#[test]
fn clean_branches_merge_in_memory_with_a_merge_commit_each() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    branch_with(&env, "cw/a-t1", "a.txt", "a\n");
    branch_with(&env, "cw/b-t2", "b.txt", "b\n");
    let main_before = rev(&env, "main");
    let outcome = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/a-t1",
        "merge t1",
    )
    .unwrap();
    let MergeOutcome::Merged { commit } = outcome else { panic!("{outcome:?}") };
    assert_eq!(rev(&env, "cw/integration"), commit);
    let outcome = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/b-t2",
        "merge t2",
    )
    .unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{outcome:?}");
    let log = env.git(&["log", "--format=%s", "--first-parent", "cw/integration"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout), "merge t2\nmerge t1\ninitial\n");
    let files = env.git(&["ls-tree", "--name-only", "cw/integration"]);
    assert_eq!(String::from_utf8_lossy(&files.stdout), "README.md\na.txt\nb.txt\n");
    // Asking again changes nothing; the user's checkout never moved.
    let again = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/a-t1",
        "merge t1",
    )
    .unwrap();
    assert_eq!(again, MergeOutcome::AlreadyMerged);
    assert_eq!(rev(&env, "main"), main_before);
    assert!(!env.root().join("a.txt").exists());
    let status = env.git(&["status", "--porcelain"]);
    assert!(status.stdout.is_empty());
}

#[test]
fn a_conflict_names_its_paths_and_changes_nothing() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    branch_with(&env, "cw/one-t1", "shared.txt", "one\n");
    branch_with(&env, "cw/two-t2", "shared.txt", "two\n");
    git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/one-t1",
        "merge t1",
    )
    .unwrap();
    let before = rev(&env, "cw/integration");
    let outcome = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/two-t2",
        "merge t2",
    )
    .unwrap();
    assert_eq!(outcome, MergeOutcome::Conflict { paths: vec!["shared.txt".to_owned()] });
    assert_eq!(rev(&env, "cw/integration"), before, "the integration branch did not move");
}

#[test]
fn unknown_branches_are_clear_errors() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    let err = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/nope-t9",
        "x",
    )
    .unwrap_err();
    assert!(err.to_string().contains("the branch cw/nope-t9 does not exist"), "{err}");
}

#[test]
fn a_ref_moved_after_the_merge_was_computed_is_never_overwritten() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    branch_with(&env, "cw/a-t1", "a.txt", "a\n");
    branch_with(&env, "cw/b-t2", "b.txt", "b\n");
    let git::Prepared::Ready(prepared) =
        git::prepare_merge(&location, "cw/integration", "cw/a-t1", "merge t1").unwrap()
    else {
        panic!("a clean merge")
    };
    // Someone else merges first.
    git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/b-t2",
        "merge t2",
    )
    .unwrap();
    let moved = rev(&env, "cw/integration");
    let outcome = git::advance(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        &prepared,
        "merge t1",
    )
    .unwrap();
    assert_eq!(outcome, git::Advanced::RefMoved);
    assert_eq!(rev(&env, "cw/integration"), moved, "the other merge was kept");
    // Computed again on the new tip, it holds both.
    let outcome = git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/a-t1",
        "merge t1",
    )
    .unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{outcome:?}");
    let files = env.git(&["ls-tree", "--name-only", "cw/integration"]);
    assert_eq!(String::from_utf8_lossy(&files.stdout), "README.md\na.txt\nb.txt\n");
}

#[test]
fn branches_changing_the_same_file_in_different_places_merge_by_content() {
    // Not the tree-level fast path: both sides changed one file, so git's content merge decides.
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    let lines: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    branch_with(&env, "cw/base-t1", "list.txt", &lines);
    git::merge_branch(
        &location,
        &git::WriteLock::acquire(&location).unwrap(),
        "cw/integration",
        "cw/base-t1",
        "merge t1",
    )
    .unwrap();
    branch_with(&env, "cw/top-t2", "list.txt", &lines.replace("line 1\n", "line one\n"));
    branch_with(&env, "cw/end-t3", "list.txt", &lines.replace("line 20\n", "line twenty\n"));
    for (branch, message) in [("cw/top-t2", "merge t2"), ("cw/end-t3", "merge t3")] {
        let outcome = git::merge_branch(
            &location,
            &git::WriteLock::acquire(&location).unwrap(),
            "cw/integration",
            branch,
            message,
        )
        .unwrap();
        assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{branch}: {outcome:?}");
    }
    let merged = env.git(&["show", "cw/integration:list.txt"]);
    let merged = String::from_utf8_lossy(&merged.stdout);
    assert!(merged.starts_with("line one\n") && merged.ends_with("line twenty\n"), "{merged}");
}

/// Merges `branch` into cw/integration under cw's write lock.
fn merge_into_integration(
    location: &cw::git::RepoLocation,
    branch: &str,
    message: &str,
) -> Result<MergeOutcome, cw::git::GitError> {
    let lock = git::WriteLock::acquire(location).unwrap();
    git::merge_branch(location, &lock, "cw/integration", branch, message)
}

#[test]
fn a_ref_lock_left_by_a_killed_cw_does_not_wedge_merges_and_a_live_gits_is_never_removed() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    branch_with(&env, "cw/a-t1", "a.txt", "a\n");
    let lock = env.root().join(".git/refs/heads/cw/integration.lock");

    // A lock a live process holds open (a git writing a huge ref update): never removed.
    fs_err::write(&lock, "").unwrap();
    let holder_script = format!("exec 3>>'{}'; echo holding; sleep 30", lock.display());
    let mut holder = crate::support::command("bash")
        .args(["-c", &holder_script])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = [0u8; 8];
    std::io::Read::read_exact(holder.stdout.as_mut().unwrap(), &mut said).unwrap();
    let err = merge_into_integration(&location, "cw/a-t1", "merge t1").unwrap_err();
    assert!(err.to_string().contains("lock"), "{err}");
    assert!(lock.exists(), "the lock of a git that is alive is left alone");
    holder.kill().unwrap();
    holder.wait().unwrap();
    // Its holder gone (an agent killed mid-commit): after the wait, nobody holds it; removed.
    let outcome = merge_into_integration(&location, "cw/a-t1", "merge t1").unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{outcome:?}");
    assert!(!lock.exists());
    branch_with(&env, "cw/b-t2", "b.txt", "b\n");

    // A cw killed holding the write lock, mid-write: its record stays in the lock file.
    crate::support::killed_cw_holding_the_write_lock(&env, &lock);
    let started = std::time::Instant::now();
    let outcome = merge_into_integration(&location, "cw/b-t2", "merge t2").unwrap();
    assert!(matches!(outcome, MergeOutcome::Merged { .. }), "{outcome:?}");
    assert!(!lock.exists());
    let waited = started.elapsed();
    assert!(
        waited < std::time::Duration::from_secs(2),
        "a dead cw's lock goes at once: {waited:?}"
    );
}
