//! Child processes: the only module that spawns processes or sends signals.
//!
//! Owns: spawning a child in its own process group with stdout/stderr going to files (not pipes,
//! so it outlives a crashed cw), identifying it by pid + start time (a reused pid is never
//! mistaken for it), liveness, stopping the whole group (TERM, grace period, KILL), reaping, and
//! recording how it ended.
//! Must not: know about agents, tasks, Claude or the database.
#![expect(clippy::disallowed_methods, reason = "this module is the one owner of Command::new")]

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// What to run, where, and where its output goes.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub cwd: PathBuf,
    /// Variables to set on top of the inherited environment.
    pub env: Vec<(OsString, OsString)>,
    /// Variables to remove from the inherited environment.
    pub env_remove: Vec<OsString>,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    /// Give it a pipe as stdin that the caller writes once (`Supervised::send_input`); else
    /// `/dev/null`. The pipe closes with cw: a child still waiting for its input then reads
    /// end-of-file.
    pub stdin_pipe: bool,
}

/// How to find a process again, also after cw restarts: pid, process group and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessHandle {
    pub pid: u32,
    pub pgid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat` field 22).
    pub start_time: u64,
}

/// A child this process spawned (and must reap).
#[derive(Debug)]
pub struct Supervised {
    pub handle: ProcessHandle,
    child: Child,
}

/// The child's input could not be written (it ended, or closed its stdin).
#[derive(Debug, thiserror::Error)]
#[error("cannot write to the input of process {pid}: {source}")]
pub struct InputError {
    pub pid: u32,
    #[source]
    pub source: std::io::Error,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitOutcome {
    /// Exited by itself with this code.
    Exited(i32),
    /// Ended by this signal.
    Signaled(i32),
}

impl std::fmt::Display for ExitOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitOutcome::Exited(code) => write!(f, "exited {code}"),
            ExitOutcome::Signaled(signal) => write!(f, "killed by signal {signal}"),
        }
    }
}

/// What stopping a process group did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopReport {
    /// True when the group ignored SIGTERM for the whole grace period and was killed.
    pub killed: bool,
    pub took: Duration,
}

/// A process could not be started or controlled.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot run {}: no such program (check the configured command and PATH)", program.display())]
    NotFound { program: PathBuf },
    #[error("cannot run {}: permission denied (is it executable?)", program.display())]
    NotExecutable { program: PathBuf },
    #[error("cannot start {}: {source}", program.display())]
    Spawn {
        program: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the log file {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot signal process group {pgid}: {errno}")]
    Signal { pgid: u32, errno: Errno },
}

/// Starts `spec` in a new process group (so a Ctrl-C in cw's terminal does not reach it and a
/// stop reaches every process it started), with output appended to its log files.
pub fn spawn(spec: &SpawnSpec) -> Result<Supervised, ProcessError> {
    let open = |path: &Path| {
        fs_err::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|file| file.into_parts().0)
            .map_err(|source| ProcessError::Log { path: path.to_owned(), source })
    };
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .current_dir(&spec.cwd)
        .stdin(if spec.stdin_pipe { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::from(open(&spec.stdout)?))
        .stderr(Stdio::from(open(&spec.stderr)?));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    for name in &spec.env_remove {
        command.env_remove(name);
    }
    for (name, value) in &spec.env {
        command.env(name, value);
    }
    let child = command.spawn().map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ProcessError::NotFound { program: spec.program.clone() },
        std::io::ErrorKind::PermissionDenied => {
            ProcessError::NotExecutable { program: spec.program.clone() }
        }
        _ => ProcessError::Spawn { program: spec.program.clone(), source },
    })?;
    let pid = child.id();
    let handle = ProcessHandle { pid, pgid: pid, start_time: start_time(pid).unwrap_or(0) };
    Ok(Supervised { handle, child })
}

/// Runs `spec` to its end (same group and log rules as `spawn`) and returns how it ended.
pub fn run_to_end(spec: &SpawnSpec) -> Result<ExitOutcome, ProcessError> {
    let mut child = spawn(spec)?;
    child.wait().map_err(|source| ProcessError::Spawn { program: spec.program.clone(), source })
}

/// Runs a short command with `input` on its stdin; stops its process group if it has not ended
/// after `timeout` (then `None`). For hooks the user configures, which must never hang cw.
pub fn run_with_input(
    spec: &SpawnSpec,
    input: &[u8],
    timeout: Duration,
) -> Result<Option<ExitOutcome>, ProcessError> {
    let mut child = spawn(&SpawnSpec { stdin_pipe: true, ..spec.clone() })?;
    // A command that does not read its input is fine: the pipe is closed either way.
    let _ = child.send_input(input);
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if let Some(exit) = child.try_exit() {
            return Ok(Some(exit));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.stop(Duration::from_secs(1))?;
    Ok(None)
}

/// Runs a short command to its end with its output captured (stdout and stderr together), for
/// the scripted agent's `git` calls.
pub fn capture(
    program: &Path,
    args: &[&str],
    cwd: &Path,
    env: &[(&str, &str)],
) -> Result<(ExitOutcome, String), ProcessError> {
    let output = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ProcessError::NotFound { program: program.to_owned() },
            _ => ProcessError::Spawn { program: program.to_owned(), source },
        })?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Ok((outcome(output.status), text))
}

/// A tokio command for a child that talks to its parent over pipes (an MCP server started by an
/// MCP client). It stays in the parent's process group, so stopping the parent's group stops it.
pub fn piped_command(
    program: &Path,
    args: &[OsString],
    env: &[(OsString, OsString)],
) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(program);
    command.args(args).envs(env.iter().map(|(k, v)| (k, v))).kill_on_drop(true);
    command
}

impl Supervised {
    /// How it ended, if it has (reaps it; never blocks).
    pub fn try_exit(&mut self) -> Option<ExitOutcome> {
        self.child.try_wait().ok().flatten().map(outcome)
    }

    /// Waits for it to end (reaping it).
    pub fn wait(&mut self) -> std::io::Result<ExitOutcome> {
        self.child.wait().map(outcome)
    }

    /// Writes `input` to the child's stdin pipe and closes it (the child reads end-of-file
    /// after it). Fails if it was spawned without one, has had its input, or is gone.
    pub fn send_input(&mut self, input: &[u8]) -> Result<(), InputError> {
        use std::io::Write;
        let pid = self.handle.pid;
        let mut stdin = self.child.stdin.take().ok_or_else(|| InputError {
            pid,
            source: std::io::Error::new(std::io::ErrorKind::BrokenPipe, "its input is closed"),
        })?;
        stdin
            .write_all(input)
            .and_then(|()| stdin.flush())
            .map_err(|source| InputError { pid, source })
    }

    /// Gives up the child without stopping it (it keeps running; whoever finds it by its handle
    /// later supervises it).
    pub fn release(self) -> ProcessHandle {
        self.handle
    }

    /// Stops its whole process group and reaps it.
    pub fn stop(&mut self, grace: Duration) -> Result<(StopReport, ExitOutcome), ProcessError> {
        let report = stop_group(self.handle, grace, || {
            let _ = self.child.try_wait();
        })?;
        let exit = self.wait().map_err(|source| ProcessError::Spawn {
            program: PathBuf::from(format!("pid {}", self.handle.pid)),
            source,
        })?;
        Ok((report, exit))
    }
}

fn outcome(status: std::process::ExitStatus) -> ExitOutcome {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => ExitOutcome::Exited(code),
        (None, Some(signal)) => ExitOutcome::Signaled(signal),
        (None, None) => ExitOutcome::Exited(-1),
    }
}

/// True while the process the handle names is alive: same pid *and* same start time, and not a
/// zombie. A pid reused by another program is not "running".
pub fn is_running(handle: ProcessHandle) -> bool {
    match stat(handle.pid) {
        Some(stat) => stat.start_time == handle.start_time && stat.state != 'Z',
        None => false,
    }
}

/// The start time of `pid` in clock ticks since boot, if it exists.
pub fn start_time(pid: u32) -> Option<u64> {
    stat(pid).map(|s| s.start_time)
}

/// Live (non-zombie) processes in process group `pgid`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let Ok(entries) = fs_err::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|s| s.pgrp == pgid && s.state != 'Z'))
        .collect()
}

/// SIGTERM to the whole group; after `grace`, SIGKILL to whatever is left. `reap` is called
/// while waiting so a direct child does not linger as a zombie. Returns once the group is empty.
pub fn stop_group(
    handle: ProcessHandle,
    grace: Duration,
    mut reap: impl FnMut(),
) -> Result<StopReport, ProcessError> {
    let started = Instant::now();
    let group = Pid::from_raw(i32::try_from(handle.pgid).unwrap_or(i32::MAX));
    if !signal_group(group, Signal::SIGTERM, handle.pgid)? {
        return Ok(StopReport { killed: false, took: started.elapsed() });
    }
    while started.elapsed() < grace {
        reap();
        if group_members(handle.pgid).is_empty() {
            return Ok(StopReport { killed: false, took: started.elapsed() });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    signal_group(group, Signal::SIGKILL, handle.pgid)?;
    while !group_members(handle.pgid).is_empty()
        && started.elapsed() < grace + Duration::from_secs(5)
    {
        reap();
        std::thread::sleep(Duration::from_millis(5));
    }
    reap();
    Ok(StopReport { killed: true, took: started.elapsed() })
}

/// Sends `signal` to a group; false if the group no longer exists.
fn signal_group(group: Pid, signal: Signal, pgid: u32) -> Result<bool, ProcessError> {
    match killpg(group, signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(errno) => Err(ProcessError::Signal { pgid, errno }),
    }
}

struct Stat {
    state: char,
    pgrp: u32,
    start_time: u64,
}

/// Fields of `/proc/<pid>/stat`. The command name (field 2) may contain spaces and parentheses,
/// so parsing starts after its last `)`.
fn stat(pid: u32) -> Option<Stat> {
    let text = fs_err::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state (3), ppid (4), pgrp (5), … starttime (22).
    Some(Stat {
        state: fields.first()?.chars().next()?,
        pgrp: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Process groups whose members carry every `key=value` pair in their environment: agents a cw
/// that died mid-spawn started but never recorded. One handle per group (its leader if alive).
pub fn groups_with_env(pairs: &[(&str, &str)]) -> Vec<ProcessHandle> {
    let Ok(entries) = fs_err::read_dir("/proc") else { return Vec::new() };
    let wanted: Vec<Vec<u8>> = pairs.iter().map(|(k, v)| format!("{k}={v}").into_bytes()).collect();
    let mut groups: Vec<ProcessHandle> = Vec::new();
    for pid in entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok()) {
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
        if !wanted.iter().all(|w| vars.contains(&w.as_slice())) {
            continue;
        }
        let Some(stat) = stat(pid).filter(|s| s.state != 'Z') else { continue };
        if groups.iter().any(|g| g.pgid == stat.pgrp) {
            continue;
        }
        groups.push(ProcessHandle { pid, pgid: stat.pgrp, start_time: stat.start_time });
    }
    groups
}

/// The memory the kernel says is available for new programs (`MemAvailable`), in bytes.
pub fn available_memory() -> Option<u64> {
    let text = fs_err::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}
#[cfg(test)]
mod run_with_input_tests {
    #[test]
    fn a_hanging_command_is_stopped_after_its_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let spec = super::SpawnSpec {
            program: "sh".into(),
            args: vec!["-c".into(), "sleep 30".into()],
            cwd: dir.path().to_owned(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdout: dir.path().join("out"),
            stderr: dir.path().join("out"),
            stdin_pipe: true,
        };
        let started = std::time::Instant::now();
        let outcome =
            super::run_with_input(&spec, b"{}", std::time::Duration::from_millis(300)).unwrap();
        assert_eq!(outcome, None);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }
}
