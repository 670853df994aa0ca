//! Agent runtime benchmarks (issue 4), on a repository of 10,000 files:
//! - spawn latency: task ready → agent process running in its fresh worktree (p50 of 20), next to
//!   plain `git worktree add` and to git2's worktree creation alone, in the same run;
//! - a new agent's worktree made from a finished agent's merged one (`recycle_worktree`), next to
//!   a fresh checkout of the same tip;
//! - `stop` of an agent with 5 child processes (TERM to the group, until it is empty);
//! - memory per supervised agent: the `cw mcp` server each agent runs (RSS and private);
//! - cw's share of `claude` start-up: the `cw mcp` handshake against `claude -p` start → first API
//!   request (real claude from .test-deps, fake API), when installed.
//!
//! Run: `cargo build --release && cargo bench --bench agents`. Prints a markdown table.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git, cw and claude processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::git;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cw::agent::AgentRuntime;
use cw::git::{self, WorktreeSpec};
use cw::service::Service;
use cw::workspace::Workspace;

const FILES: usize = 10_000;
const RUNS: usize = 20;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    make_repo(&root, FILES);
    let cw_bin = release_cw();
    run(&cw_bin, &root, &["init"]);
    let agent_script = dir.path().join("agent.sh");
    fs_err::write(&agent_script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    set_perm(&agent_script);
    set_config(&root, &format!("command = {:?}", agent_script.to_str().unwrap()));
    let service = Arc::new(Service::open(Workspace::locate(&root).unwrap()).unwrap());
    let runtime = AgentRuntime::new(service.clone(), cw_bin.clone());
    let mut rows = Vec::new();

    // Spawn latency: ready task → process running in its worktree (cw, git2 worktrees).
    let mut spawn = Vec::new();
    for i in 0..RUNS {
        let task = service
            .add_task(&cw::service::Caller::CLI, &add(&format!("bench task {i}")))
            .unwrap()
            .id;
        let started = Instant::now();
        let live = runtime.spawn_on_task(task, None).unwrap();
        spawn.push(started.elapsed());
        runtime.stop(live.agent, Some(live)).unwrap();
    }
    // The same repository: `git worktree add -b` (the CLI) and git2 alone.
    let mut cli = Vec::new();
    let mut git2_only = Vec::new();
    let location = &service.workspace().repo;
    for i in 0..RUNS {
        let path = dir.path().join(format!("cli-{i}"));
        let started = Instant::now();
        git(
            &root,
            &[
                "worktree",
                "add",
                "-q",
                "-b",
                &format!("bench/cli-{i}"),
                path.to_str().unwrap(),
                "cw/integration",
            ],
        );
        cli.push(started.elapsed());
        let spec = WorktreeSpec {
            branch: format!("bench/git2-{i}"),
            path: dir.path().join(format!("git2-{i}")),
            base: "cw/integration".to_owned(),
        };
        let started = Instant::now();
        git::create_worktree(location, &git::WriteLock::acquire(location).unwrap(), &spec).unwrap();
        git2_only.push(started.elapsed());
    }
    rows.push(format!(
        "| spawn: ready task → agent running in a new worktree ({FILES} files) | {} | `git worktree add -b` {} · git2 worktree alone {} |",
        ms(median(&mut spawn)),
        ms(median(&mut cli)),
        ms(median(&mut git2_only))
    ));

    // A new agent's worktree made from a finished agent's merged one, after 10 files changed on
    // the integration branch (what a few merges bring), next to a fresh checkout of the same tip.
    let feeder = dir.path().join("feeder");
    git(&root, &["worktree", "add", "-q", feeder.to_str().unwrap(), "cw/integration"]);
    let reuse_spec = |i: usize| WorktreeSpec {
        branch: format!("bench/reuse-{i}"),
        path: dir.path().join(format!("reuse-{i}")),
        base: "cw/integration".to_owned(),
    };
    let mut previous =
        git::create_worktree(location, &git::WriteLock::acquire(location).unwrap(), &reuse_spec(0))
            .unwrap();
    let mut reused = Vec::new();
    let mut fresh = Vec::new();
    for i in 1..=RUNS {
        for f in 0..10 {
            let file = feeder.join(format!("src/d{f:03}/f{:05}.txt", f * 100));
            fs_err::write(&file, format!("changed {i}\n")).unwrap();
        }
        git(&feeder, &["commit", "-q", "-am", &format!("feed {i}")]);
        let started = Instant::now();
        let next = git::recycle_worktree(
            location,
            &mut git::WriteLock::acquire(location).unwrap(),
            &previous.path,
            &previous.branch,
            &reuse_spec(i),
        )
        .unwrap();
        reused.push(started.elapsed());
        previous = next;
        let spec = WorktreeSpec {
            branch: format!("bench/fresh-{i}"),
            path: dir.path().join(format!("fresh-{i}")),
            base: "cw/integration".to_owned(),
        };
        let started = Instant::now();
        git::create_worktree(location, &git::WriteLock::acquire(location).unwrap(), &spec).unwrap();
        fresh.push(started.elapsed());
    }
    rows.push(format!(
        "| new agent worktree from a finished agent's merged one, 10 files changed ({FILES} files) | {} | fresh git2 checkout of the same tip {} |",
        ms(median(&mut reused)),
        ms(median(&mut fresh))
    ));

    // Stop an agent with 5 children (the scripted agent: its cw mcp + 5 sleeps).
    set_config(&root, "command = \"sim\"");
    let service = Arc::new(Service::open(Workspace::locate(&root).unwrap()).unwrap());
    let runtime = AgentRuntime::new(service.clone(), cw_bin.clone());
    let mut stops = Vec::new();
    let mut rss = Vec::new();
    for i in 0..5 {
        let mut add_task = add(&format!("stop bench {i}"));
        add_task.description = "sim: children 5\nsim: hang".to_owned();
        let task = service.add_task(&cw::service::Caller::CLI, &add_task).unwrap().id;
        let live = runtime.spawn_on_task(task, None).unwrap();
        let pgid = live.pid();
        wait_until(|| cw::process::group_members(pgid).len() >= 7);
        if let Some(mcp) = cw_mcp_pid(pgid) {
            rss.push(memory_kib(mcp));
        }
        let started = Instant::now();
        runtime.stop(live.agent, Some(live)).unwrap();
        stops.push(started.elapsed());
        assert!(cw::process::group_members(pgid).is_empty());
    }
    rows.push(format!(
        "| stop: agent + 5 children, TERM to the group until empty | {} | |",
        ms(median(&mut stops))
    ));
    rss.sort_unstable();
    if let Some((rss, private)) = rss.get(rss.len() / 2) {
        rows.push(format!(
            "| memory per supervised agent: its `cw mcp` server | {:.1} MB RSS, {:.1} MB private | |",
            *rss as f64 / 1024.0,
            *private as f64 / 1024.0
        ));
    }

    if let Some(row) = claude_share(&cw_bin, &root) {
        rows.push(row);
    }
    println!("| measure | cw | side by side |\n|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

fn add(title: &str) -> cw::service::AddTask {
    cw::service::AddTask { title: title.to_owned(), ..Default::default() }
}

/// cw's share of `claude` start-up: the `cw mcp` handshake (start, initialize, tools/list) as a
/// fraction of `claude -p` start → its first API request, with cw's MCP config.
fn claude_share(cw_bin: &Path, root: &Path) -> Option<String> {
    let claude =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/claude/node_modules/.bin/claude");
    if !claude.exists() {
        eprintln!("(claude not installed: run tools/test-deps.sh for the start-up share)");
        return None;
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut handshakes = Vec::new();
    for _ in 0..10 {
        handshakes.push(runtime.block_on(mcp_handshake(cw_bin, root)));
    }
    let dir = tempfile::tempdir().unwrap();
    let port_file = dir.path().join("port");
    let log = dir.path().join("requests.jsonl");
    let mut api = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fake_anthropic.py"))
        .args(["--port-file", port_file.to_str().unwrap(), "--log", log.to_str().unwrap()])
        .spawn()
        .unwrap();
    wait_until(|| port_file.is_file());
    let port = fs_err::read_to_string(&port_file).unwrap();
    let mcp = dir.path().join("mcp.json");
    fs_err::write(
        &mcp,
        serde_json::json!({"mcpServers": {"cw": {"type": "stdio", "command": cw_bin, "args": ["-C", root, "mcp"]}}}).to_string(),
    )
    .unwrap();
    let mut firsts = Vec::new();
    for _ in 0..5 {
        let _ = fs_err::remove_file(&log);
        let started = Instant::now();
        let mut child = Command::new(&claude)
            .args([
                "-p",
                "no task here",
                "--output-format",
                "stream-json",
                "--verbose",
                "--strict-mcp-config",
                "--mcp-config",
            ])
            .arg(&mcp)
            .env("HOME", dir.path())
            .env("ANTHROPIC_BASE_URL", format!("http://127.0.0.1:{}", port.trim()))
            .env("ANTHROPIC_API_KEY", "fake")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("CLAUDE_CODE_MAX_RETRIES", "0")
            .env("IS_SANDBOX", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(|| fs_err::read_to_string(&log).is_ok_and(|t| t.contains("\"step\"")));
        firsts.push(started.elapsed());
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = api.kill();
    let _ = api.wait();
    let handshake = median(&mut handshakes);
    let first = median(&mut firsts);
    Some(format!(
        "| cw's share of `claude` start-up: `cw mcp` start + initialize + tools/list / claude start → first API request | {} / {} = {:.0}% | |",
        ms(handshake),
        ms(first),
        100.0 * handshake.as_secs_f64() / first.as_secs_f64()
    ))
}

/// Start `cw mcp`, initialize, list the tools, close: what Claude Code waits for before its first
/// request.
async fn mcp_handshake(cw_bin: &Path, root: &Path) -> Duration {
    use rmcp::ServiceExt;
    use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
    let started = Instant::now();
    let mut command = tokio::process::Command::new(cw_bin);
    command.args(["-C", root.to_str().unwrap(), "mcp"]).stderr(Stdio::null());
    let config =
        ClientConfig::new(ClientCapabilities::default(), Implementation::new("bench", "0"));
    let client =
        config.serve(rmcp::transport::TokioChildProcess::new(command).unwrap()).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert!(!tools.is_empty());
    let took = started.elapsed();
    let _ = client.cancel().await;
    took
}

fn cw_mcp_pid(pgid: u32) -> Option<u32> {
    cw::process::group_members(pgid).into_iter().find(|pid| {
        fs_err::read_to_string(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c.contains("mcp\0--agent"))
    })
}

/// (RSS, private) in KiB from /proc/<pid>/smaps_rollup.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = fs_err::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Private_Clean:") + field("Private_Dirty:"))
}

fn wait_until(mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !check() {
        assert!(Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn make_repo(root: &Path, files: usize) {
    fs_err::create_dir_all(root).unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    for i in 0..files {
        let path = root.join(format!("src/d{:03}/f{i:05}.txt", i / 100));
        if i % 100 == 0 {
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        }
        fs_err::write(&path, format!("file {i}\n")).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "10k files"]);
}

fn run(cw: &Path, dir: &Path, args: &[&str]) {
    let status =
        Command::new(cw).args(args).current_dir(dir).stdout(Stdio::null()).status().unwrap();
    assert!(status.success(), "cw {args:?}");
}

fn set_config(root: &Path, command_line: &str) {
    let path = root.join(".cw/config.toml");
    let text = fs_err::read_to_string(&path).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| if l.starts_with("command = ") { command_line.to_owned() } else { l.to_owned() })
        .collect();
    fs_err::write(&path, text.join("\n") + "\n").unwrap();
}

fn set_perm(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn release_cw() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/cw");
    assert!(path.exists(), "build it first: cargo build --release");
    path
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}
