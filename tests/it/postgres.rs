//! PostgreSQL as the store: set-up, its wake-ups, its append-only log, and surviving a server
//! that restarts. (The rest of the suite runs on PostgreSQL too with `CW_TEST_STORE=postgres`;
//! tools/test.sh runs it both ways.)

use std::time::Duration;

use crate::support::TestEnv;
use crate::support::postgres::{self, Server};

/// A repository whose cw commands are not pointed anywhere by the environment.
fn plain_repo() -> TestEnv {
    TestEnv::repo_with_database(None)
}

/// A child killed if the test ends first (a failed test must not leave `cw run` retrying).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn init_store_keeps_the_state_in_postgresql_and_one_database_serves_one_repository() {
    let url = postgres::fresh_database();
    let env = plain_repo();
    let init = env.cw(&["init", "--store", &url, "--json"]).json();
    assert_eq!(init["changed"], true, "{init}");
    let cw_dir = env.root().join(".cw");
    assert!(!cw_dir.join("cw.db").exists(), "no SQLite file beside a PostgreSQL store");
    let config = fs_err::read_to_string(cw_dir.join("config.toml")).unwrap();
    assert!(config.contains(&format!("url = \"{url}\"")), "{config}");
    use std::os::unix::fs::PermissionsExt;
    let mode = fs_err::metadata(cw_dir.join("config.toml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "a URL may carry a password: the config is the owner's");

    env.cw(&["task", "add", "kept in postgres"]).ok();
    assert_eq!(postgres::run(&url, "SELECT title FROM tasks"), ["kept in postgres"]);
    let listed = env.cw(&["task", "list", "--json"]).json();
    assert_eq!(listed[0]["title"], "kept in postgres");

    // Twice with the same URL: nothing changes. Another URL: refused, naming the way.
    assert_eq!(env.cw(&["init", "--store", &url, "--json"]).json()["changed"], false);
    let other = postgres::fresh_database();
    let run = env.cw(&["init", "--store", &other]);
    assert!(run.error(1).contains("with its state elsewhere"), "{run:?}");
    assert!(run.stderr.contains("cw store migrate"), "{run:?}");

    // A second repository pointed at a database that holds a repository's state is refused.
    let second = plain_repo();
    let run = second.cw(&["init", "--store", &url]);
    assert!(run.error(1).contains("already exists"), "{run:?}");
    assert!(!second.root().join(".cw").exists(), "a refused init leaves nothing behind");
    assert_eq!(postgres::run(&url, "SELECT count(*) FROM tasks"), ["1"], "nothing was touched");
}

#[test]
fn a_bad_or_unreachable_store_url_is_named_with_its_way_out() {
    let env = plain_repo();
    let run = env.cw(&["init", "--store", "postgres://cw@db:notaport/x"]);
    assert!(run.error(1).contains("the store URL is not usable"), "{run:?}");
    assert!(!env.root().join(".cw").exists());

    let nowhere = env.outer().join("no-server-here");
    let url = format!("host={} user=cw dbname=cw", nowhere.display());
    let run =
        env.cw_with(&env.root(), &["init", "--store", &url], &[("CW_BUSY_TIMEOUT_MS", "300")]);
    let error = run.error(1);
    assert!(error.contains("cannot reach the database postgres://cw@"), "{error}");
    assert!(run.stderr.contains("hint: start the PostgreSQL server"), "{run:?}");
    assert!(!env.root().join(".cw").exists(), "a failed init leaves nothing behind");
}

/// Another process's commit wakes a waiter through LISTEN/NOTIFY: the waiter polls nothing (its
/// poll interval is an hour).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_in_another_process_wakes_a_waiter_through_notify() {
    let env = TestEnv::repo_with_database(Some(postgres::fresh_database()));
    env.cw(&["init"]).ok();
    let service = env.service();
    let mut watch = service.watch_changes().unwrap();
    let start = watch.last_seen();
    let waiter = tokio::spawn(async move {
        watch.changed(Duration::from_secs(3600), Duration::from_secs(3600)).await.unwrap()
    });
    let mut adding = env.cw_command(&env.root(), &["task", "add", "from another process"]);
    let added = tokio::task::spawn_blocking(move || adding.output());
    let woke = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .expect("woken by the other process's NOTIFY")
        .unwrap();
    assert!(added.await.unwrap().unwrap().status.success());
    assert!(woke.is_some_and(|id| id > start), "{woke:?} after {start}");
}

#[test]
fn the_event_log_is_append_only_on_postgresql() {
    let url = postgres::fresh_database();
    let env = TestEnv::repo_with_database(Some(url.clone()));
    env.cw(&["init"]).ok();
    env.cw(&["task", "add", "x"]).ok();
    for change in ["UPDATE events SET kind = 'rewritten'", "DELETE FROM events", "TRUNCATE events"]
    {
        let err = postgres::try_run(&url, change).unwrap_err();
        assert!(err.contains("events are append-only"), "{change}: {err}");
    }
    let kinds = postgres::run(&url, "SELECT kind FROM events ORDER BY id");
    assert!(kinds.iter().any(|k| k == "task.created"), "{kinds:?}");
}

/// A server that crashes and comes back: the processes that had it open carry on (a new
/// connection before their next transaction), a waiter hears of commits made after it, and
/// nothing committed is lost.
#[test]
fn a_server_restart_between_transactions_loses_nothing_and_every_process_carries_on() {
    let server = Server::start();
    let env = TestEnv::repo_with_database(Some(server.fresh_database()));
    env.cw(&["init"]).ok();
    let service = env.service();
    let add = |title: &str| {
        let task = cw::service::AddTask { title: title.into(), ..cw::service::AddTask::default() };
        service.add_task(&cw::service::Caller::CLI, &task).unwrap().id
    };
    add("before the restart");
    let mut watch = service.watch_changes().unwrap();
    server.restart();
    add("after the restart");
    let woke = watch.wait_blocking(Duration::from_millis(10), Duration::from_secs(20)).unwrap();
    assert!(woke.is_some(), "the listener connected again and heard the commit");
    env.cw(&["task", "add", "from a new process"]).ok();
    let titles: Vec<String> = env
        .cw(&["task", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(titles, ["before the restart", "after the restart", "from a new process"]);
}

/// `cw run` with scripted agents, the server restarted twice while tasks are claimed, reported
/// and merged: the run finishes, every task is merged exactly once.
#[test]
fn a_run_survives_two_server_restarts_and_merges_every_task_once() {
    let server = Server::start();
    let url = server.fresh_database();
    let env = TestEnv::repo_with_database(Some(url.clone()));
    env.cw(&["init"]).ok();
    crate::coordinator::configure_sim(&env, "");
    let total = 12;
    let mut previous: Option<String> = None;
    for i in 0..total {
        let description = format!("write f{i}.txt {i}");
        let mut args = vec!["task", "add", "step", "--description", &description, "--json"];
        let after = previous.clone().filter(|_| i % 3 != 0);
        if let Some(after) = &after {
            args.extend(["--after", after]);
        }
        previous = Some(env.cw(&args).json()["id"].as_str().unwrap().to_owned());
    }
    let log = env.outer().join("run.log");
    let mut run = KillOnDrop(
        env.cw_command(&env.root(), &["run", "--agents", "3", "--exit-when-done"])
            .stdout(std::process::Stdio::null())
            .stderr(fs_err::File::create(&log).unwrap().into_parts().0)
            .spawn()
            .unwrap(),
    );
    let run = &mut run.0;
    let count = |sql: &str| -> u32 {
        let rows = postgres::try_run(&url, sql).unwrap_or_default();
        rows.first().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let merged = || count("SELECT count(*) FROM tasks WHERE state = 'merged'");
    let why = || {
        let states = postgres::try_run(&url, "SELECT id || ' ' || state FROM tasks ORDER BY id");
        format!("{states:?}\n{}", fs_err::read_to_string(&log).unwrap_or_default())
    };
    for (fraction, what) in [(1, "a third of the tasks merged"), (2, "two thirds merged")] {
        let mut ended = None;
        crate::support::wait_explained(
            Duration::from_secs(60),
            what,
            || {
                ended = run.try_wait().unwrap();
                ended.is_some() || merged() >= fraction * total / 3
            },
            why,
        );
        assert!(ended.is_none(), "cw run ended {ended:?} before the restart: {}", why());
        server.restart();
    }
    let code = crate::support::wait_for_exit(
        run,
        Duration::from_secs(120),
        "cw run to finish after the restarts",
        why,
    );
    assert_eq!(code, 0, "cw run: {}", why());
    assert_eq!(merged(), total, "{}", why());
    let twice = count(
        "SELECT count(*) FROM (SELECT task_id FROM merges WHERE state = 'merged'
         GROUP BY task_id HAVING count(*) > 1) AS twice",
    );
    assert_eq!(twice, 0, "a task merged twice: {}", why());
}

/// An SQLite state with a finished run in it moves into PostgreSQL with every row; the
/// repository then works on PostgreSQL, its ids continuing.
#[test]
fn store_migrate_moves_every_row_into_postgresql_and_the_repository_carries_on() {
    let env = plain_repo();
    env.cw(&["init"]).ok();
    crate::coordinator::configure_sim(&env, "");
    let first = env.cw(&["task", "add", "one", "--description", "write a.txt a", "--json"]).json();
    let first = first["id"].as_str().unwrap().to_owned();
    env.cw(&["task", "add", "two", "--description", "write b.txt b", "--after", &first]).ok();
    env.cw(&["run", "--agents", "2", "--exit-when-done"]).ok();
    env.cw(&["task", "add", "three, not started"]).ok();
    let before = env.cw(&["task", "list", "--json"]).json();
    let db = env.root().join(".cw/cw.db");
    let counts = |count: &dyn Fn(&str) -> String| -> Vec<String> {
        ["tasks", "task_deps", "agents", "merges", "events", "questions", "messages"]
            .iter()
            .map(|table| format!("{table} {}", count(table)))
            .collect()
    };
    let sqlite = rusqlite::Connection::open(&db).unwrap();
    let in_sqlite = counts(&|table| {
        sqlite
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0))
            .unwrap()
            .to_string()
    });
    drop(sqlite);

    let url = postgres::fresh_database();
    let moved = env.cw(&["store", "migrate", &url, "--json"]).json();
    assert_eq!(moved["rows"]["tasks"], 3, "{moved}");
    let in_postgres =
        counts(&|table| postgres::run(&url, &format!("SELECT count(*) FROM {table}")).concat());
    assert_eq!(in_postgres, in_sqlite);
    assert!(!db.exists(), "the SQLite file is moved aside");
    assert!(env.root().join(".cw/cw.db.migrated").exists(), "and kept");
    assert_eq!(env.cw(&["task", "list", "--json"]).json(), before);

    // Ids continue where they were, events included.
    let next = env.cw(&["task", "add", "four", "--json"]).json();
    assert_eq!(next["id"], "t4");
    let ids = postgres::run(&url, "SELECT count(DISTINCT id) = count(*) FROM events");
    assert_eq!(ids, ["t"], "event ids stay unique after the copy");
    let run = env.cw(&["store", "migrate", &url]);
    assert!(run.error(1).contains("already in PostgreSQL"), "{run:?}");
}

#[test]
fn store_migrate_is_refused_while_cw_run_serves_or_into_a_database_in_use() {
    let env = plain_repo();
    env.cw(&["init"]).ok();
    env.cw(&["task", "add", "kept"]).ok();
    let used = postgres::fresh_database();
    plain_repo().cw(&["init", "--store", &used]).ok();
    let run = env.cw(&["store", "migrate", &used]);
    assert!(run.error(1).contains("already exists"), "{run:?}");
    assert!(env.root().join(".cw/cw.db").exists(), "nothing moved");

    let mut server = env.start_server();
    let url = postgres::fresh_database();
    let run = env.cw(&["store", "migrate", &url]);
    assert!(run.error(1).contains("cw run"), "{run:?}");
    server.terminate();
    assert_eq!(
        postgres::run(&url, "SELECT count(*) FROM pg_tables WHERE tablename = 'tasks'"),
        ["0"]
    );
    env.cw(&["store", "migrate", &url]).ok();
    assert_eq!(env.cw(&["task", "list", "--json"]).json()[0]["title"], "kept");
}
