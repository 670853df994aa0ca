//! The database under stress: the change watch across processes, a locked or damaged database.

use std::time::Duration;

use cw::service::AddTask;

use crate::support::TestEnv;

/// A waiter in one process wakes when another process changes state (polling data_version).
#[test]
fn the_change_watch_wakes_on_another_process_write() {
    let env = TestEnv::initialised();
    let service = env.service();
    let mut watch = service.watch_changes().unwrap();
    let start = watch.last_seen();
    assert_eq!(watch.poll().unwrap(), None);
    env.cw(&["task", "add", "from another process"]).ok();
    let woke = watch.wait_blocking(Duration::from_millis(5), Duration::from_secs(10)).unwrap();
    assert!(woke.is_some_and(|id| id > start), "the watcher did not see the other process's event");
    assert_eq!(watch.poll().unwrap(), None, "one change is reported once");
}

/// In-process writers wake waiters at once, without waiting for the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_watch_has_an_in_process_fast_path() {
    let env = TestEnv::initialised();
    let service = std::sync::Arc::new(env.service());
    let mut watch = service.watch_changes().unwrap();
    let writer = service.clone();
    let waiter = tokio::spawn(async move {
        // A poll interval far longer than the test timeout: only the in-process signal can wake it.
        watch.changed(Duration::from_secs(3600), Duration::from_secs(3600)).await.unwrap()
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    writer
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask { title: "wake up".into(), ..AddTask::default() },
        )
        .unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("woken by the in-process signal")
        .unwrap();
    assert!(woke.is_some());
}

/// A database held locked by another process gives a clear error after the busy timeout and
/// loses nothing.
#[test]
fn a_locked_database_is_a_clear_error() {
    if crate::support::sqlite_only("a file lock held by another connection") {
        return;
    }
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "before the lock"]).ok();
    let lock = rusqlite::Connection::open(env.root().join(".cw/cw.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE; INSERT INTO events (at, kind) VALUES (0, 'lock.test');")
        .unwrap();
    let root = env.root();
    let run =
        env.cw_with(&root, &["task", "add", "during the lock"], &[("CW_BUSY_TIMEOUT_MS", "200")]);
    let line = run.error(1);
    assert!(line.contains("is locked by another process (waited 200 ms); try again"), "{line}");
    assert!(run.stderr.contains("hint: another cw process holds the database"), "{run:?}");
    lock.execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let tasks = env.cw(&["task", "list", "--json"]).json();
    let titles: Vec<&str> =
        tasks.as_array().unwrap().iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["before the lock"]);
}

/// A writer that finds the database locked for a moment waits and then writes: nothing is lost
/// and no error is shown (the busy handler retries until the busy timeout).
#[test]
fn a_briefly_locked_database_is_waited_for() {
    if crate::support::sqlite_only("a file lock held by another connection") {
        return;
    }
    let env = TestEnv::initialised();
    let lock = rusqlite::Connection::open(env.root().join(".cw/cw.db")).unwrap();
    lock.execute_batch("BEGIN IMMEDIATE; INSERT INTO events (at, kind) VALUES (0, 'lock.test');")
        .unwrap();
    let mut writer = env.cw_command(&env.root(), &["task", "add", "after the wait"]);
    writer.env("CW_BUSY_TIMEOUT_MS", "20000").stdout(std::process::Stdio::null());
    let mut writer = writer.spawn().unwrap();
    // Released once the writer has the database open and sleeps (in SQLite's busy handler: the
    // only wait after opening), and is still running: its write can only come after the release.
    let pid = writer.id();
    crate::agents::wait_until(Duration::from_secs(20), "the writer waits for the database", || {
        let fds =
            fs_err::read_dir(format!("/proc/{pid}/fd")).map(|d| d.flatten().collect::<Vec<_>>());
        let has_db = fds.is_ok_and(|fds| {
            fds.iter().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|p| p.ends_with("cw.db")))
        });
        let state = fs_err::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let sleeping = state.rsplit(") ").next().is_some_and(|rest| rest.starts_with('S'));
        has_db && sleeping
    });
    assert!(
        writer.try_wait().unwrap().is_none(),
        "the writer did not finish while the lock was held"
    );
    lock.execute_batch("ROLLBACK").unwrap();
    assert!(writer.wait().unwrap().success(), "the writer waited, then wrote");
    let tasks = env.cw(&["task", "list", "--json"]).json();
    assert_eq!(tasks[0]["title"], "after the wait");
}

#[test]
fn a_missing_or_damaged_database_is_named() {
    if crate::support::sqlite_only("a damaged database file") {
        return;
    }
    let env = TestEnv::initialised();
    let db = env.root().join(".cw/cw.db");
    fs_err::write(&db, b"this is not a database at all, just text that is long enough").unwrap();
    let _ = fs_err::remove_file(env.root().join(".cw/cw.db-wal"));
    let _ = fs_err::remove_file(env.root().join(".cw/cw.db-shm"));
    let run = env.cw(&["status"]);
    assert!(run.error(1).contains("cw.db is not usable"), "{run:?}");
    assert!(run.stderr.contains("hint: restore .cw/cw.db"), "{run:?}");
    fs_err::remove_file(&db).unwrap();
    let run = env.cw(&["status"]);
    assert!(run.error(1).contains("cw.db is missing (moved away or deleted)"), "{run:?}");
}

#[test]
fn events_are_append_only() {
    if crate::support::sqlite_only("triggers read through rusqlite") {
        return;
    }
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "x"]).ok();
    let conn = rusqlite::Connection::open(env.root().join(".cw/cw.db")).unwrap();
    let err = conn.execute("UPDATE events SET kind = 'rewritten'", []).unwrap_err();
    assert!(err.to_string().contains("events are append-only"));
    let err = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("events are append-only"));
}
