//! Agents on one machine against agents on three `cw worker` hosts (issue 23), in one run: the
//! same plan, the same PostgreSQL state, the same number of agents. One machine: `cw run
//! --agents 6`. Three hosts: `cw run --agents 0` (it only merges) and three workers of two
//! agents each, every one in a clone of its own, pushing its agents' branches to the coordinator's
//! repository and fetching the integration branch before each start. On one machine this
//! measures what the hosts' protocol costs (pushes, fetches, heartbeats, the race for ready
//! tasks), not what more machines gain.
//!
//! Run: `cargo build --release && cargo bench --bench hosts` (CW_BENCH_TASKS=200,
//! CW_BENCH_WORK_MS=500). Prints a markdown table; BENCHMARKS.md keeps the results.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git, cw and its workers")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::{PgServer, git};

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let tasks = setting("CW_BENCH_TASKS", 200);
    let work = setting("CW_BENCH_WORK_MS", 500);
    let server = PgServer::start();
    let one = Plan::new(&server, tasks, work).run_on_one_machine();
    let three = Plan::new(&server, tasks, work).run_on_three_hosts();
    println!("| {tasks} tasks, {work} ms of work each, 6 agents | wall time | merges per second |");
    println!("|---|---|---|");
    for (what, wall) in [("one machine (`cw run --agents 6`)", one), ("three hosts of 2", three)] {
        println!(
            "| {what} | {:.1} s | {:.1} |",
            wall.as_secs_f64(),
            tasks as f64 / wall.as_secs_f64()
        );
    }
    println!("\nthree hosts / one machine: {:.2}", three.as_secs_f64() / one.as_secs_f64());
}

struct Plan {
    dir: tempfile::TempDir,
    root: PathBuf,
    url: String,
}

impl Plan {
    /// A repository on a fresh database with `tasks` scripted tasks in layers of 20, each after
    /// one task of the layer before.
    fn new(server: &PgServer, tasks: u64, work: u64) -> Plan {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs_err::create_dir(&root).unwrap();
        git(&root, &["init", "-q", "-b", "main"]);
        git(&root, &["commit", "-q", "--allow-empty", "-m", "init"]);
        let url = server.fresh_database();
        let plan = Plan { dir, root, url };
        plan.cw(&["init"]);
        let config = plan.root.join(".cw/config.toml");
        let text = fs_err::read_to_string(&config).unwrap();
        let text = text
            .replace("command = \"claude\"", "command = \"sim\"")
            .replace("memory_headroom_mb = 1024", "memory_headroom_mb = 0")
            .replace("heartbeat_seconds = 5", "heartbeat_seconds = 1");
        fs_err::write(&config, text).unwrap();
        let mut ids: Vec<String> = Vec::new();
        let action = format!("sim: sleep {work}");
        for i in 0..tasks {
            let mut args = vec!["task", "add", "step", "--description", &action, "--json"];
            let i = usize::try_from(i).unwrap();
            let after = (i >= 20).then(|| ids[i - 20 + (i % 3)].clone());
            if let Some(after) = &after {
                args.extend(["--after", after]);
            }
            let out = plan.cw(&args);
            let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
            ids.push(json["id"].as_str().unwrap().to_owned());
        }
        plan
    }

    fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut command = Command::new(common::cw_binary());
        command
            .args(args)
            .current_dir(dir)
            .env("CW_DATABASE_URL", &self.url)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "b")
            .env("GIT_AUTHOR_EMAIL", "b@b")
            .env("GIT_COMMITTER_NAME", "b")
            .env("GIT_COMMITTER_EMAIL", "b@b");
        command
    }

    fn cw(&self, args: &[&str]) -> Vec<u8> {
        let output = self.command(&self.root, args).output().unwrap();
        assert!(
            output.status.success(),
            "cw {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn run_on_one_machine(&self) -> Duration {
        let started = Instant::now();
        self.cw(&["run", "--agents", "6", "--exit-when-done"]);
        started.elapsed()
    }

    fn run_on_three_hosts(&self) -> Duration {
        let mut coordinator = self
            .command(&self.root, &["run", "--agents", "0", "--exit-when-done"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(coordinator.stderr.take().unwrap());
        let mut line = String::new();
        let base = loop {
            line.clear();
            assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run exited before serving");
            if let Some(rest) = line.split("serving MCP on ").nth(1) {
                break rest.split_whitespace().next().unwrap().trim_end_matches("/mcp").to_owned();
            }
        };
        let sink = self.dir.path().join("coordinator.log");
        std::thread::spawn(move || {
            let text: Vec<String> = stderr.lines().map_while(Result::ok).collect();
            let _ = fs_err::write(sink, text.join("\n"));
        });
        let started = Instant::now();
        let workers: Vec<Child> = ["w1", "w2", "w3"]
            .iter()
            .map(|name| {
                let out = self.cw(&["worker", "add", name, "--json"]);
                let token: serde_json::Value = serde_json::from_slice(&out).unwrap();
                let clone = self.dir.path().join(name);
                let status = Command::new("git")
                    .args(["clone", "-q"])
                    .arg(&self.root)
                    .arg(&clone)
                    .status()
                    .unwrap();
                assert!(status.success());
                let mut command = self.command(&clone, &["worker", "--server", &base]);
                command
                    .args(["--agents", "2", "--agent-command", "sim", "--exit-when-done"])
                    .env_remove("CW_DATABASE_URL")
                    .env("CW_WORKER_TOKEN", token["token"].as_str().unwrap())
                    .stdout(Stdio::null())
                    .stderr(
                        fs_err::File::create(self.dir.path().join(format!("{name}.log")))
                            .unwrap()
                            .into_parts()
                            .0,
                    )
                    .spawn()
                    .unwrap()
            })
            .collect();
        if !coordinator.wait().unwrap().success() {
            std::thread::sleep(Duration::from_millis(500));
            let log =
                |name: &str| fs_err::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            panic!(
                "cw run did not merge every task:\n{}\nw1:\n{}\nw2:\n{}",
                log("coordinator.log"),
                log("w1.log"),
                log("w2.log")
            );
        }
        let wall = started.elapsed();
        for mut worker in workers {
            let _ = worker.wait();
        }
        wall
    }
}
