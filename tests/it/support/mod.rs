//! Shared test helpers: a temporary git repository with hermetic git, a `cw` command builder, and
//! direct access to the service for tests below the CLI.
#![expect(clippy::disallowed_methods, reason = "tests drive real git and cw processes")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) mod postgres;

use cw::service::Service;
use cw::workspace::Workspace;

/// A temporary repository with one commit, at `<temp dir>/repo` (so agent worktrees, which go
/// beside the repository, are inside the temp dir and removed with it).
pub(crate) struct TestEnv {
    dir: tempfile::TempDir,
    /// The PostgreSQL database of this repository's state, when the suite runs on PostgreSQL
    /// (`CW_TEST_STORE=postgres`): every `cw` it runs is given it as `CW_DATABASE_URL`.
    database: Option<String>,
}

/// Whether this run of the suite keeps cw's state in PostgreSQL (`CW_TEST_STORE=postgres`);
/// the tests of SQLite's own behaviour (its file, its locks) run only without it.
pub(crate) fn on_postgres() -> bool {
    std::env::var("CW_TEST_STORE").is_ok_and(|store| store == "postgres")
}

/// True (with a note on stderr) when the suite runs on PostgreSQL: for the tests of SQLite's own
/// file, locks and permissions, which run in the suite's SQLite pass (`tests/it/postgres.rs`
/// has PostgreSQL's counterparts).
pub(crate) fn sqlite_only(what: &str) -> bool {
    let skip = on_postgres();
    if skip {
        say_why_skipped(what);
    }
    skip
}

/// Waits until `done` holds; past `within`, fails naming `what` and what `why` tells.
pub(crate) fn wait_explained(
    within: std::time::Duration,
    what: &str,
    mut done: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}: {}",
            why()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Waits for `child` to exit (its exit code), failing as `wait_explained` does.
pub(crate) fn wait_for_exit(
    child: &mut std::process::Child,
    within: std::time::Duration,
    what: &str,
    why: impl Fn() -> String,
) -> i32 {
    let mut code = None;
    wait_explained(
        within,
        what,
        || {
            code = child.try_wait().unwrap().map(|status| status.code().unwrap_or(-1));
            code.is_some()
        },
        why,
    );
    code.unwrap_or(-1)
}

#[expect(clippy::print_stderr, reason = "says in the test's output why it did nothing")]
fn say_why_skipped(what: &str) {
    eprintln!("not on PostgreSQL: {what} is SQLite's own behaviour");
}

/// The output of a command, with helpers for asserting on it.
#[must_use]
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl TestEnv {
    /// A fresh repository (`git init`, one commit), without cw.
    pub(crate) fn repo() -> TestEnv {
        TestEnv::repo_with_database(on_postgres().then(postgres::fresh_database))
    }

    /// A fresh repository without cw whose `cw` commands are given `database` (a PostgreSQL URL)
    /// as `CW_DATABASE_URL`, or nothing.
    pub(crate) fn repo_with_database(database: Option<String>) -> TestEnv {
        let dir = tempfile::Builder::new().prefix("cw-test-").tempdir().expect("temp dir");
        fs_err::create_dir(dir.path().join("repo")).unwrap();
        let env = TestEnv { dir, database };
        env.git(&["init", "-q", "-b", "main"]);
        fs_err::write(env.root().join("README.md"), "test repo\n").unwrap();
        env.git(&["add", "README.md"]);
        env.git(&["commit", "-q", "-m", "initial"]);
        env
    }

    /// A fresh repository with `cw init` done.
    pub(crate) fn initialised() -> TestEnv {
        let env = TestEnv::repo();
        let run = env.cw(&["init"]);
        assert_eq!(run.code, 0, "cw init failed: {run:?}");
        env
    }

    /// The repository root.
    pub(crate) fn root(&self) -> PathBuf {
        self.dir.path().join("repo").canonicalize().unwrap()
    }

    /// The temp dir around the repository (worktrees go to `<it>/repo.cw-worktrees`).
    pub(crate) fn outer(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    /// Runs git hermetically in the repository.
    pub(crate) fn git(&self, args: &[&str]) -> Output {
        self.git_in(&self.root(), args)
    }

    /// Runs git hermetically in `dir`.
    pub(crate) fn git_in(&self, dir: &Path, args: &[&str]) -> Output {
        let output =
            hermetic(Command::new("git")).args(args).current_dir(dir).output().expect("git runs");
        assert!(
            output.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs `cw` in the repository root.
    pub(crate) fn cw(&self, args: &[&str]) -> Run {
        self.cw_in(&self.root(), args)
    }

    /// Runs `cw` in `dir`.
    pub(crate) fn cw_in(&self, dir: &Path, args: &[&str]) -> Run {
        self.cw_with(dir, args, &[])
    }

    /// Runs `cw` in `dir` with extra environment variables.
    pub(crate) fn cw_with(&self, dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let mut command = self.cw_command(dir, args);
        for (key, value) in vars {
            command.env(key, value);
        }
        Run::from(&command.output().expect("cw runs"))
    }

    /// A `cw` command ready to spawn (for concurrent process tests).
    pub(crate) fn cw_command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = hermetic(Command::new(cw_binary()));
        command.args(args).current_dir(dir);
        if let Some(url) = &self.database {
            command.env("CW_DATABASE_URL", url);
        }
        command
    }

    /// The service over this repository, for tests below the CLI.
    pub(crate) fn service(&self) -> Service {
        Service::open(Workspace::locate(&self.root()).unwrap()).unwrap()
    }

    /// The PostgreSQL database of this repository's state, when the suite runs on PostgreSQL.
    pub(crate) fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    /// The repository's store, opened directly (below the service).
    pub(crate) fn store(&self) -> cw::store::Store {
        let location = match &self.database {
            Some(url) => cw::store::Location::Postgres(url.clone()),
            None => cw::store::Location::File(self.root().join(".cw/cw.db")),
        };
        cw::store::Store::open_at(&location).unwrap()
    }

    /// Writes a file (creating its directories) relative to the repository root.
    pub(crate) fn write(&self, relative: &str, text: &str) -> PathBuf {
        let path = self.root().join(relative);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        match &self.database {
            // A test's own config keeps the repository's state where it is.
            Some(url) if relative == ".cw/config.toml" && !text.contains("[store]") => {
                fs_err::write(&path, format!("{text}\n[store]\nurl = \"{url}\"\n")).unwrap();
            }
            _ => fs_err::write(&path, text).unwrap(),
        }
        path
    }
}

impl Run {
    pub(crate) fn from(output: &Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit code 0 and returns stdout parsed as JSON.
    pub(crate) fn json(&self) -> serde_json::Value {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }

    /// Asserts exit code 0 and returns stdout.
    pub(crate) fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        &self.stdout
    }

    /// Asserts the exit code and a one-line error on stderr, and returns that line.
    pub(crate) fn error(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "unexpected exit code: {self:?}");
        self.stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line: {self:?}"))
    }
}

/// The `cw` binary under test.
pub(crate) fn cw_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cw"))
}

/// A helper binary from `tools/` (built as a cargo example).
pub(crate) fn tool_binary(name: &str) -> PathBuf {
    let mut dir = cw_binary();
    dir.pop();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join("examples").join(name)
}

/// A tool binary (see `tool_binary`) as a hermetic command.
pub(crate) fn tool_command(name: &str) -> Command {
    hermetic(Command::new(tool_binary(name)))
}

/// A hermetic command for any program (python, the inspector, cw).
pub(crate) fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    hermetic(Command::new(program))
}

/// Clears the environment of anything that could leak the developer's git or cw settings.
pub(crate) fn hermetic(mut command: Command) -> Command {
    command
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_SYSTEM", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    command
}

/// The real GSD samples beside the checkout (`../shared/planning-samples`), if present.
pub(crate) fn planning_samples() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/planning-samples");
    dir.is_dir().then(|| dir.canonicalize().unwrap())
}

/// A test dependency installed by `tools/test-deps.sh`; a missing one fails the test loudly.
pub(crate) fn test_dep(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps").join(relative);
    assert!(
        path.exists(),
        "{} is missing: run `bash tools/test-deps.sh` (tools/test.sh does)",
        path.display()
    );
    path
}

/// A running `cw run --no-dispatch`, stopped (SIGTERM, then waited for) when dropped.
pub(crate) struct RunningServer {
    pub(crate) child: std::process::Child,
    pub(crate) url: String,
    /// Its stderr after the URL line, read as it comes (a full pipe would block the server).
    pub(crate) _stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl TestEnv {
    /// Starts `cw run --no-dispatch` and waits for the line announcing its URL.
    #[expect(clippy::zombie_processes, reason = "RunningServer waits for the child in Drop")]
    pub(crate) fn start_server(&self) -> RunningServer {
        use std::io::BufRead;
        let mut child = self
            .cw_command(&self.root(), &["run", "--no-dispatch"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run exited before serving");
            if let Some(rest) = line.split("serving MCP on ").nth(1) {
                let url = rest.split_whitespace().next().unwrap().to_owned();
                let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
                let reader = std::sync::Arc::clone(&seen);
                std::thread::spawn(move || {
                    let mut line = String::new();
                    while stderr.read_line(&mut line).is_ok_and(|n| n > 0) {
                        reader.lock().unwrap().push_str(&line);
                        line.clear();
                    }
                });
                return RunningServer { child, url, _stderr: seen };
            }
        }
    }
}

impl RunningServer {
    /// `127.0.0.1:<port>`.
    pub(crate) fn address(&self) -> String {
        self.url.trim_start_matches("http://").trim_end_matches("/mcp").to_owned()
    }

    /// POSTs `body` to /mcp as one raw HTTP/1.1 request with `headers` (a `Host` header is added
    /// unless given); returns the status line and the body, waiting at most 20 s.
    pub(crate) fn post(&self, headers: &[&str], body: &str) -> (String, String) {
        self.request("POST", "/mcp", headers, body)
    }

    /// One HTTP/1.1 request (`Connection: close`) with `headers` (a `Host` of the server's
    /// address unless one is given); the status line and the body.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> (String, String) {
        use std::io::Read;
        let mut stream = self.send(method, path, headers, body);
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let status = response.lines().next().unwrap_or("").to_owned();
        let body = response.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (status, body)
    }

    /// Writes one request and returns the connection, to read the answer as it comes.
    pub(crate) fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[&str],
        body: &str,
    ) -> std::net::TcpStream {
        use std::io::Write;
        let address = self.address();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if !headers.iter().any(|h| h.starts_with("Host:")) {
            request.push_str(&format!("Host: {address}\r\n"));
        }
        for header in headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        stream
    }

    /// Sends SIGTERM and waits for the exit code.
    pub(crate) fn terminate(&mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        self.child.wait().ok()?.code()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.terminate();
        }
    }
}

/// What a cw process killed in the middle of a ref write leaves: `lock` (the ref's lock file) and
/// its own record in `.git/cw-write.lock` (`<pid> <since, unix ms>`, as `git::WriteLock` writes
/// it). The "process" is a real one, started and killed here, so its pid is a dead one's.
pub(crate) fn killed_cw_holding_the_write_lock(env: &TestEnv, lock: &std::path::Path) {
    let mut child = command("sleep").arg("60").spawn().unwrap();
    let since =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    fs_err::write(env.root().join(".git/cw-write.lock"), format!("{} {since}", child.id()))
        .unwrap();
    fs_err::write(lock, "").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}
