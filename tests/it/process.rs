//! The process manager on real processes: groups, logs, stop with TERM then KILL, exit status,
//! liveness by pid + start time, and clear errors for commands that cannot run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cw::process::{self, ExitOutcome, ProcessError, ProcessHandle, SpawnSpec};

fn spec(dir: &Path, script: &str) -> SpawnSpec {
    SpawnSpec {
        program: PathBuf::from("/bin/sh"),
        args: vec!["-c".into(), script.into()],
        cwd: dir.to_owned(),
        env: vec![("CW_TEST_VALUE".into(), "from-the-spec".into())],
        env_remove: Vec::new(),
        stdout: dir.join("stdout.log"),
        stderr: dir.join("stderr.log"),
        stdin_pipe: false,
    }
}

/// Waits until `path` contains `needle` (the child says it is ready), failing after 10 s.
fn wait_for_output(path: &Path, needle: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !fs_err::read_to_string(path).unwrap_or_default().contains(needle) {
        assert!(std::time::Instant::now() < deadline, "{} never said {needle}", path.display());
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn stop_ends_the_whole_group_with_sigterm_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = process::spawn(&spec(
        dir.path(),
        "sleep 300 & sleep 300 & sleep 300 & echo \"ready $CW_TEST_VALUE\"; wait",
    ))
    .unwrap();
    wait_for_output(&dir.path().join("stdout.log"), "ready from-the-spec");
    assert_eq!(child.handle.pgid, child.handle.pid, "the child leads its own process group");
    assert_eq!(
        process::group_members(child.handle.pgid).len(),
        4,
        "the shell and its three sleeps"
    );
    assert!(process::is_running(child.handle));
    let (report, exit) = child.stop(Duration::from_secs(5)).unwrap();
    assert!(!report.killed, "SIGTERM was enough");
    assert_eq!(exit, ExitOutcome::Signaled(15));
    assert!(process::group_members(child.handle.pgid).is_empty(), "no orphans left in the group");
    assert!(!process::is_running(child.handle));
}

#[test]
fn a_group_that_ignores_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let mut child =
        process::spawn(&spec(dir.path(), "trap '' TERM; sleep 300 & echo ready; wait")).unwrap();
    wait_for_output(&dir.path().join("stdout.log"), "ready");
    let (report, exit) = child.stop(Duration::from_millis(300)).unwrap();
    assert!(report.killed, "TERM was ignored, so KILL followed");
    assert!(report.took >= Duration::from_millis(300));
    assert_eq!(exit, ExitOutcome::Signaled(9));
    assert!(process::group_members(child.handle.pgid).is_empty());
}

#[test]
fn exits_are_recorded_with_their_code_or_signal_and_output_goes_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut ok = process::spawn(&spec(dir.path(), "echo out; echo err >&2; exit 3")).unwrap();
    assert_eq!(ok.wait().unwrap(), ExitOutcome::Exited(3));
    assert_eq!(fs_err::read_to_string(dir.path().join("stdout.log")).unwrap(), "out\n");
    assert_eq!(fs_err::read_to_string(dir.path().join("stderr.log")).unwrap(), "err\n");
    let mut killed = process::spawn(&spec(dir.path(), "kill -9 $$")).unwrap();
    assert_eq!(killed.wait().unwrap(), ExitOutcome::Signaled(9));
    // Logs are appended, never truncated: a restarted agent keeps its history.
    let mut again = process::spawn(&spec(dir.path(), "echo second")).unwrap();
    again.wait().unwrap();
    assert_eq!(fs_err::read_to_string(dir.path().join("stdout.log")).unwrap(), "out\nsecond\n");
}

#[test]
fn a_reused_pid_is_not_mistaken_for_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = process::spawn(&spec(dir.path(), "echo ready; sleep 300")).unwrap();
    wait_for_output(&dir.path().join("stdout.log"), "ready");
    let impostor = ProcessHandle { start_time: child.handle.start_time + 1, ..child.handle };
    assert!(process::is_running(child.handle));
    assert!(!process::is_running(impostor), "same pid, other start time: not our process");
    child.stop(Duration::from_secs(5)).unwrap();
    // Stopping a group that is already gone is not an error.
    let report = process::stop_group(child.handle, Duration::from_millis(100), || {}).unwrap();
    assert!(!report.killed);
}

#[test]
fn commands_that_cannot_run_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut missing = spec(dir.path(), "");
    missing.program = PathBuf::from("/nonexistent/claude");
    let err = process::spawn(&missing).unwrap_err();
    assert!(matches!(err, ProcessError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        "cannot run /nonexistent/claude: no such program (check the configured command and PATH)"
    );
    let script = dir.path().join("not-executable.sh");
    fs_err::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let mut plain = spec(dir.path(), "");
    plain.program = script;
    assert!(matches!(process::spawn(&plain).unwrap_err(), ProcessError::NotExecutable { .. }));
    let mut bad_log = spec(dir.path(), "true");
    bad_log.stdout = dir.path().join("no/such/dir/stdout.log");
    let err = process::spawn(&bad_log).unwrap_err();
    assert!(err.to_string().starts_with("cannot open the log file"), "{err}");
}
