//! Helpers the benchmark drivers share.
#![expect(clippy::disallowed_methods, reason = "benchmarks drive git processes")]

use std::path::Path;
use std::process::Command;

/// Runs git in `dir` with a fixed identity and no global config; panics if it fails.
pub(crate) fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@b")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@b")
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// The directory the running benchmark's binaries were built in (`target/release`).
fn build_dir() -> std::path::PathBuf {
    let mut dir = std::env::current_exe().unwrap();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// The `cw` binary built beside the running benchmark.
#[allow(dead_code, reason = "not every benchmark starts cw")]
pub(crate) fn cw_binary() -> std::path::PathBuf {
    build_dir().join("cw")
}

/// Where `cargo build --release --example …` puts the examples (the claim worker).
#[allow(dead_code, reason = "not every benchmark runs an example")]
pub(crate) fn examples_dir() -> std::path::PathBuf {
    build_dir().join("examples")
}

/// `tasks` ready tasks added to `store` in one transaction.
#[allow(dead_code, reason = "not every benchmark loads tasks this way")]
pub(crate) fn add_ready_tasks(store: &cw::store::Store, tasks: usize) {
    use cw::model::{TaskState, Timestamp};
    store
        .write(|tx| {
            for i in 0..tasks {
                let task = cw::store::NewTask { title: format!("t{i}"), ..Default::default() };
                tx.insert_task(&task, TaskState::Ready, Timestamp(1))?;
            }
            Ok::<_, cw::store::StoreError>(())
        })
        .unwrap();
}

/// A throwaway PostgreSQL server for one benchmark run (tools/pg-server.sh; stopped when the
/// benchmark exits), at the durability cw asks of SQLite: WAL written at commit, fsynced at
/// checkpoints (`fsync = on`, `synchronous_commit = off`, like SQLite's `synchronous = NORMAL`).
#[allow(dead_code, reason = "not every benchmark needs PostgreSQL")]
pub(crate) struct PgServer {
    dir: std::path::PathBuf,
}

#[allow(dead_code, reason = "not every benchmark needs PostgreSQL")]
impl PgServer {
    pub(crate) fn start() -> PgServer {
        use std::io::BufRead;
        let dir = tempfile::Builder::new().prefix("cw-pg-").tempdir().unwrap().keep();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pg-server.sh");
        let mut child = Command::new("bash")
            .env("CW_PG_OPTIONS", "-c fsync=on -c full_page_writes=on -c synchronous_commit=off")
            .arg(script)
            .arg(&dir)
            .arg(std::process::id().to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert!(line.starts_with("ready"), "PostgreSQL did not start: {line}");
        // The script lives on until the benchmark exits, then stops the server.
        std::mem::forget(child);
        PgServer { dir }
    }

    /// A new, empty database; its URL.
    pub(crate) fn fresh_database(&self) -> String {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("bench_{}", NEXT.fetch_add(1, Ordering::Relaxed));
        let status = Command::new("psql")
            .args(["-q", "-h"])
            .arg(&self.dir)
            .args(["-U", "cw", "-d", "postgres", "-c", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(status.success());
        format!("host={} user=cw dbname={name}", self.dir.display())
    }
}
