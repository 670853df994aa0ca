//! SQLite against PostgreSQL in one run (issue 23): claim + report_done throughput with many
//! client processes racing for one ready set, and single-client latencies of a claim and of
//! `cw status`. PostgreSQL is a throwaway server of this run's own (tools/pg-server.sh, on a Unix
//! socket), set to the durability cw asks of SQLite: WAL written at commit and fsynced at
//! checkpoints (SQLite `synchronous = NORMAL`; PostgreSQL `fsync = on`, `synchronous_commit =
//! off`): a power cut may lose the last commits, never corrupt the state.
//!
//! Run: `cargo build --release --example claim_worker && cargo bench --bench engines`
//! (CW_BENCH_CLIENTS=64, CW_BENCH_TASKS=2000, CW_BENCH_ROUNDS=3). Prints a markdown table;
//! BENCHMARKS.md keeps the results.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git, cw and its workers")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::{PgServer, add_ready_tasks, examples_dir, git};

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cw::service::Service;
use cw::workspace::Workspace;

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let clients = setting("CW_BENCH_CLIENTS", 64);
    let tasks = setting("CW_BENCH_TASKS", 2000);
    let rounds = setting("CW_BENCH_ROUNDS", 3);
    let server = PgServer::start();
    println!(
        "| engine | {clients} clients: claim + report_done | one claim (p50 / p99) | `cw status` |"
    );
    println!("|---|---|---|---|");
    for engine in ["sqlite", "postgres"] {
        let mut throughput = Vec::new();
        for _ in 0..rounds {
            let repo = Repo::new(engine, &server);
            throughput.push(repo.drain(clients, tasks));
        }
        throughput.sort_by(f64::total_cmp);
        let repo = Repo::new(engine, &server);
        let (p50, p99) = repo.claim_latency(300);
        let status = repo.status_time(15);
        println!(
            "| {engine} | {:.0} tasks/s (median of {rounds}; {}) | {:.2} / {:.2} ms | {:.1} ms |",
            throughput[throughput.len() / 2],
            throughput.iter().map(|t| format!("{t:.0}")).collect::<Vec<_>>().join(", "),
            ms(p50),
            ms(p99),
            ms(status),
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new(engine: &str, server: &PgServer) -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        git(&root, &["init", "-q"]);
        git(&root, &["commit", "-q", "--allow-empty", "-m", "init"]);
        let url = (engine == "postgres").then(|| server.fresh_database());
        Service::init_with_store(&root, url.as_deref()).unwrap();
        Repo { _dir: dir, root }
    }

    fn service(&self) -> Service {
        Service::open(Workspace::locate(&self.root).unwrap()).unwrap()
    }

    fn add_ready(&self, tasks: usize) {
        let service = self.service();
        let location = match &service.config().store.postgres_url() {
            Some(url) => cw::store::Location::Postgres(url.clone()),
            None => cw::store::Location::File(service.workspace().db_path()),
        };
        add_ready_tasks(&cw::store::Store::open_at(&location).unwrap(), tasks);
    }

    /// `clients` worker processes claim and report until nothing is ready; tasks per second.
    fn drain(&self, clients: usize, tasks: usize) -> f64 {
        self.add_ready(tasks);
        let go = self.root.join(".cw/go");
        let worker = examples_dir().join("claim_worker");
        assert!(worker.exists(), "build it first: cargo build --release --example claim_worker");
        let mut children: Vec<_> = (0..clients)
            .map(|_| {
                Command::new(&worker)
                    .arg(&self.root)
                    .arg(&go)
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // Every worker registers before it waits for the go file: wait for all of them.
        let service = self.service();
        let deadline = Instant::now() + Duration::from_secs(60);
        while service.agents().unwrap().len() < clients {
            assert!(Instant::now() < deadline, "the workers did not all register");
            std::thread::sleep(Duration::from_millis(20));
        }
        let started = Instant::now();
        fs_err::write(&go, "").unwrap();
        let mut claimed = 0;
        for child in children.drain(..) {
            let output = child.wait_with_output().unwrap();
            assert!(output.status.success(), "claim_worker failed");
            claimed += String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("done"))
                .count();
        }
        let wall = started.elapsed();
        assert_eq!(claimed, tasks);
        tasks as f64 / wall.as_secs_f64()
    }

    /// One agent claims and reports `n` tasks in this process: p50 and p99 of a claim.
    fn claim_latency(&self, n: usize) -> (Duration, Duration) {
        self.add_ready(n);
        let service = self.service();
        let agent = service.register_agent("bench", None).unwrap().agent.id;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let started = Instant::now();
            let claim = service.claim(agent).unwrap().unwrap();
            times.push(started.elapsed());
            service
                .report_done(agent, claim.task.id, cw::model::ReportOutcome::Done, "bench")
                .unwrap();
        }
        times.sort();
        (times[n / 2], times[n * 99 / 100])
    }

    /// The median wall time of `cw status` (a whole process: open, read, print).
    fn status_time(&self, runs: usize) -> Duration {
        let mut times: Vec<Duration> = (0..runs)
            .map(|_| {
                let started = Instant::now();
                let output = Command::new(common::cw_binary())
                    .arg("status")
                    .current_dir(&self.root)
                    .output()
                    .unwrap();
                assert!(output.status.success());
                started.elapsed()
            })
            .collect();
        times.sort();
        times[runs / 2]
    }
}
