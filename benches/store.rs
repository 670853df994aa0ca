//! Store benchmarks (issue 2): ready and claim latency at 1K/10K/100K tasks in a random DAG,
//! claim throughput with 16 processes, `cw task list --json` at 10K, `cw status` cold start, and
//! the same operations on beads (`br`) side by side when it is installed.
//!
//! Run: `cargo build --release --example claim_worker && cargo bench --bench store` (sizes: CW_BENCH_SIZES=1000,10000,100000; peer binary:
//! CW_BENCH_BR=/path/to/br). Prints a markdown table; BENCHMARKS.md keeps the results.
#![expect(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git, cw and br processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::{add_ready_tasks, examples_dir, git};

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cw::model::{TaskState, Timestamp};
use cw::service::Service;
use cw::store::{DepOrigin, NewTask};
use cw::workspace::Workspace;

fn main() {
    let sizes: Vec<usize> = std::env::var("CW_BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000,100000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let br = peer_binary();
    let mut rows = Vec::new();
    for &size in &sizes {
        let repo = Repo::new();
        let service = repo.load_random_dag(size);
        let ready = median_of(200, || {
            let started = Instant::now();
            let tasks = service.ready(10).unwrap();
            assert!(!tasks.is_empty());
            started.elapsed()
        });
        let claims = claim_latencies(&service, 200);
        rows.push(format!(
            "| ready (next 10) + claim, random DAG | {size} | {} | {} / p99 {} |",
            ms(ready.0),
            ms(claims.0),
            ms(claims.1)
        ));
        let listed =
            median_of(10, || time_command(&repo.root, &["task", "list", "--ready", "--json"]));
        let mut process_claims: Vec<Duration> = (0..11)
            .map(|i| {
                let token = service
                    .register_agent_of(&format!("cli-{i}"), None, cw::model::AgentKind::Bare)
                    .unwrap()
                    .token;
                time_command_with(&repo.root, &["task", "claim", "--json"], &[("CW_TOKEN", &token)])
            })
            .collect();
        process_claims.sort();
        rows.push(format!(
            "| cw as a process: `task list --ready --json` (whole ready set) / `task claim --json` | {size} | {} | {} |",
            ms(listed.0),
            ms(process_claims[5])
        ));
        if let Some(br) = &br
            && let Some((ready, claim)) = beads_side_by_side(br, size)
        {
            rows.push(format!(
                "| beads `br` ready --json / update --claim | {size} | {} | {} |",
                ms(ready),
                ms(claim)
            ));
        }
        if size == 10_000 {
            let list = median_of(10, || time_command(&repo.root, &["task", "list", "--json"]));
            rows.push(format!("| `cw task list --json` (process) | {size} | {} | |", ms(list.0)));
            let status = median_of(30, || time_command(&repo.root, &["status"]));
            rows.push(format!(
                "| `cw status` cold start (process) | {size} | {} | |",
                ms(status.0)
            ));
        }
    }
    let small = Repo::new();
    small
        .service()
        .add_task(
            &cw::service::Caller::CLI,
            &cw::service::AddTask { title: "one".into(), ..Default::default() },
        )
        .unwrap();
    let status = median_of(30, || time_command(&small.root, &["status"]));
    rows.push(format!("| `cw status` cold start (process) | 1 | {} | |", ms(status.0)));
    for tasks in [1_000, 10_000, 50_000] {
        rows.push(format!(
            "| `cw import` of one plan with N tasks (process) | {tasks} | {} | |",
            ms(import_one_plan(tasks))
        ));
    }
    for processes in [1, 16] {
        let (claims_per_second, wall) = claim_throughput(processes, 10_000);
        rows.push(format!("| claim + report, {processes} processes, 10K tasks | 10000 | {claims_per_second:.0} claims/s | wall {} |", ms(wall)));
    }
    println!("| operation | tasks | median | claim median |\n|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
}

/// Times `cw import` of a folder with one plan of `tasks` tasks (issue 17: it was quadratic).
fn import_one_plan(tasks: usize) -> Duration {
    let repo = Repo::new();
    let phase = repo.root.join(".planning/phases/01-one");
    fs_err::create_dir_all(&phase).unwrap();
    fs_err::write(
        repo.root.join(".planning/ROADMAP.md"),
        "# Roadmap: Bench\n\n## Phases\n\n- [ ] **Phase 1: One** - all\n\n### Phase 1: One\n**Goal**: g\n",
    )
    .unwrap();
    let mut plan =
        String::from("---\nphase: 01-one\nplan: 01\nwave: 1\ndepends_on: []\n---\n\n<tasks>\n");
    for i in 0..tasks {
        plan.push_str(&format!(
            "<task type=\"auto\">\n<name>Task {i}</name>\n<files>src/f{i}.rs</files>\n<action>Do {i}.</action>\n<verify>cargo test</verify>\n<done>{i} done</done>\n</task>\n"
        ));
    }
    plan.push_str("</tasks>\n");
    fs_err::write(phase.join("01-01-PLAN.md"), plan).unwrap();
    time_command(&repo.root, &["import", ".planning"])
}

/// A temporary repository with cw initialised.
struct Repo {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        git(&root, &["init", "-q"]);
        git(&root, &["commit", "-q", "--allow-empty", "-m", "init"]);
        Service::init(&root).unwrap();
        Repo { _dir: dir, root }
    }

    fn service(&self) -> Service {
        Service::open(Workspace::locate(&self.root).unwrap()).unwrap()
    }

    /// `size` tasks; each depends on up to 3 of the 50 tasks before it; the first 40% are merged,
    /// so a realistic frontier is ready and the rest pending. Loaded in one transaction.
    fn load_random_dag(&self, size: usize) -> Service {
        let service = self.service();
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        let deps = random_dag(size, &mut rng);
        let merged_below = size * 2 / 5;
        cw::store::Store::open(&service.workspace().db_path())
            .unwrap()
            .write(|tx| {
                let now = Timestamp(1);
                let mut ids = Vec::with_capacity(size);
                for (index, task_deps) in deps.iter().enumerate() {
                    let unmerged = task_deps.iter().filter(|&&d| d >= merged_below).count();
                    let state = if index < merged_below {
                        TaskState::Merged
                    } else if unmerged == 0 {
                        TaskState::Ready
                    } else {
                        TaskState::Pending
                    };
                    let new = NewTask {
                        title: format!("task {index}"),
                        priority: i64::try_from(rng.next() % 4).unwrap(),
                        ..NewTask::default()
                    };
                    let id = tx.insert_task(&new, state, now)?;
                    for &dep in task_deps {
                        tx.insert_dependency(id, ids[dep], DepOrigin::Manual, now)?;
                    }
                    if unmerged > 0 {
                        tx.adjust_unmerged_deps(id, i64::try_from(unmerged).unwrap())?;
                    }
                    ids.push(id);
                }
                Ok::<_, cw::store::StoreError>(())
            })
            .unwrap();
        service
    }
}

fn random_dag(size: usize, rng: &mut XorShift) -> Vec<Vec<usize>> {
    (0..size)
        .map(|index| {
            let count = if index == 0 { 0 } else { usize::try_from(rng.next() % 4).unwrap() };
            let mut deps: Vec<usize> = (0..count)
                .map(|_| index - 1 - usize::try_from(rng.next()).unwrap() % index.min(50))
                .collect();
            deps.sort_unstable();
            deps.dedup();
            deps
        })
        .collect()
}

/// p50 and p99 of `samples` claims, each by a fresh agent (registered outside the timing). The
/// task is released afterwards so the ready set keeps its size whatever the sample count.
fn claim_latencies(service: &Service, samples: usize) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(samples);
    for i in 0..samples {
        let agent = service.register_agent(&format!("bench-{i}"), None).unwrap().agent.id;
        let started = Instant::now();
        let claim = service.claim(agent).unwrap().expect("a ready task");
        times.push(started.elapsed());
        service.release(agent, claim.task.id).unwrap();
    }
    times.sort();
    (times[samples / 2], times[samples * 99 / 100])
}

/// Claims per second for `processes` workers draining `tasks` independent tasks.
fn claim_throughput(processes: usize, tasks: usize) -> (f64, Duration) {
    let repo = Repo::new();
    let service = repo.service();
    add_ready_tasks(&cw::store::Store::open(&service.workspace().db_path()).unwrap(), tasks);
    let go = repo.root.join(".cw/go");
    let worker = examples_dir().join("claim_worker");
    assert!(worker.exists(), "build it first: cargo build --release --example claim_worker");
    let children: Vec<_> = (0..processes)
        .map(|_| {
            Command::new(&worker).arg(&repo.root).arg(&go).stdout(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300)); // let every worker open the database
    let started = Instant::now();
    fs_err::write(&go, "").unwrap();
    let mut claimed = 0;
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "claim_worker failed (rebuild it: cargo build --release --example claim_worker)"
        );
        claimed += String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("done"))
            .count();
    }
    let wall = started.elapsed();
    assert_eq!(claimed, tasks);
    (tasks as f64 / wall.as_secs_f64(), wall)
}

/// Loads the same DAG into beads and times `br ready --json` and `br update --claim`.
fn beads_side_by_side(br: &Path, size: usize) -> Option<(Duration, Duration)> {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    git(root, &["init", "-q"]);
    run_br(br, root, &["init", "--prefix", "bd"])?;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let deps = random_dag(size, &mut rng);
    // One JSONL import instead of `size` process spawns.
    let mut jsonl = String::new();
    let now = "2026-01-01T00:00:00Z";
    for (index, task_deps) in deps.iter().enumerate() {
        let dependencies: Vec<serde_json::Value> = task_deps
            .iter()
            .map(|d| serde_json::json!({ "issue_id": format!("bd-{index}"), "depends_on_id": format!("bd-{d}"), "type": "blocks", "created_at": now, "created_by": "bench" }))
            .collect();
        let status = if index < size * 2 / 5 { "closed" } else { "open" };
        let issue = serde_json::json!({
            "id": format!("bd-{index}"), "title": format!("task {index}"), "status": status, "priority": rng.next() % 4,
            "issue_type": "task", "created_at": now, "updated_at": now, "dependencies": dependencies,
        });
        if status == "closed" {
            jsonl.push_str(
                &serde_json::to_string(&{
                    let mut i = issue;
                    i["closed_at"] = now.into();
                    i
                })
                .unwrap(),
            );
        } else {
            jsonl.push_str(&serde_json::to_string(&issue).unwrap());
        }
        jsonl.push('\n');
    }
    fs_err::write(root.join(".beads/issues.jsonl"), jsonl).unwrap();
    run_br(br, root, &["sync", "--import-only"])?;
    let ready = median_of(5, || time_br(br, root, &["ready", "--json"]));
    // Claim issues that are really ready (br refuses blocked ones, as it should).
    let listed = Command::new(br)
        .args(["ready", "--json", "--limit", "20"])
        .current_dir(root)
        .output()
        .ok()?;
    let ready_ids: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&listed.stdout)
        .ok()?
        .iter()
        .filter_map(|issue| issue["id"].as_str().map(str::to_owned))
        .collect();
    let mut claims = Vec::new();
    for id in ready_ids.iter().take(11) {
        let started = Instant::now();
        run_br(br, root, &["update", id, "--claim"])?;
        claims.push(started.elapsed());
    }
    claims.sort();
    Some((ready.0, claims[claims.len() / 2]))
}

fn peer_binary() -> Option<PathBuf> {
    let candidate = std::env::var_os("CW_BENCH_BR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp/br-src/target/release/br"));
    candidate.exists().then_some(candidate)
}

fn run_br(br: &Path, dir: &Path, args: &[&str]) -> Option<()> {
    let output = Command::new(br).args(args).current_dir(dir).env("NO_COLOR", "1").output().ok()?;
    if !output.status.success() {
        eprintln!(
            "br {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    Some(())
}

fn time_br(br: &Path, dir: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let status = Command::new(br)
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "br {args:?}");
    started.elapsed()
}

fn time_command(dir: &Path, args: &[&str]) -> Duration {
    time_command_with(dir, args, &[])
}

fn time_command_with(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> Duration {
    let mut command = Command::new(cw_binary());
    command.args(args).current_dir(dir).stdout(Stdio::null());
    for (key, value) in vars {
        command.env(key, value);
    }
    let started = Instant::now();
    let status = command.status().unwrap();
    assert!(status.success(), "cw {args:?}");
    started.elapsed()
}

fn median_of(runs: usize, mut measure: impl FnMut() -> Duration) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs).map(|_| measure()).collect();
    times.sort();
    (times[runs / 2], times[runs * 99 / 100])
}

fn cw_binary() -> PathBuf {
    let dir = examples_dir();
    dir.parent().unwrap().join("cw")
}

fn ms(duration: Duration) -> String {
    format!("{:.3} ms", duration.as_secs_f64() * 1000.0)
}

/// A tiny deterministic generator, so every run measures the same graph.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}
