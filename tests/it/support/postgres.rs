//! A PostgreSQL server for this test process, started on first use by `tools/pg-server.sh` (a
//! cluster in a temp dir, a Unix socket, no TCP port) and stopped by that script when this
//! process exits; and a fresh database per test.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// A server of the tests' own (see `tools/pg-server.sh`).
pub(crate) struct Server {
    dir: PathBuf,
}

impl Server {
    /// Starts a new server; it stops when this process ends, or when dropped.
    pub(crate) fn start() -> Server {
        let dir = tempfile::Builder::new().prefix("cw-pg-").tempdir().expect("temp dir").keep();
        let mut child = Command::new("bash")
            .arg(script())
            .arg(&dir)
            .arg(std::process::id().to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("tools/pg-server.sh starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("tools/pg-server.sh says when the server is ready");
        assert!(
            line.starts_with("ready"),
            "PostgreSQL did not start (tools/pg-server.sh): {line:?}"
        );
        // The script lives on until this process ends, then stops the server and removes `dir`.
        std::mem::forget(child);
        Server { dir }
    }

    /// The URL of database `name` on this server.
    pub(crate) fn url(&self, name: &str) -> String {
        format!("host={} user=cw dbname={name}", self.dir.display())
    }

    /// A new, empty database on this server; its URL.
    pub(crate) fn fresh_database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(1);
        let name = format!("cw_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        run(&self.url("postgres"), &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// Restarts the server as if it had crashed (every connection is cut).
    pub(crate) fn restart(&self) {
        let status = Command::new("bash").arg(script()).arg("restart").arg(&self.dir).status();
        assert!(status.is_ok_and(|s| s.success()), "the test server restarts");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
    }
}

fn script() -> PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/pg-server.sh")
}

/// The server every test of this process shares (started the first time).
pub(crate) fn shared() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

/// A new, empty database on the shared server; its URL.
pub(crate) fn fresh_database() -> String {
    shared().fresh_database()
}

/// Runs SQL in the database at `url`; the first column of every row, as text. On a thread of
/// its own: the client runs a runtime of its own, which cannot start inside an async test's.
pub(crate) fn run(url: &str, sql: &str) -> Vec<String> {
    try_run(url, sql).unwrap_or_else(|err| panic!("{sql}: {err}"))
}

/// As [`run`], with the server's error as text.
pub(crate) fn try_run(url: &str, sql: &str) -> Result<Vec<String>, String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let describe = |err: postgres::Error| match err.as_db_error() {
            Some(db) => db.message().to_owned(),
            None => err.to_string(),
        };
        let mut client = postgres::Client::connect(&url, postgres::NoTls).map_err(describe)?;
        let rows = client.simple_query(&sql).map_err(describe)?;
        Ok(rows
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => Some(row.get(0).unwrap_or("").to_owned()),
                _ => None,
            })
            .collect())
    })
    .join()
    .expect("the query thread does not panic")
}
