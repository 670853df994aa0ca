//! Coordinator benchmarks (issue 5), each side by side with its yardstick in the same run:
//! - schedule: a 200-task DAG (13 layers of up to 16, each task after two of the layer above)
//!   run by 16 scripted agents doing 2 s of simulated work each, against the ideal
//!   critical-path schedule (13 × 2 s), three runs, the median quoted;
//! - merge throughput: 100 non-conflicting branches on a 10,000-file repository merged by cw (in
//!   memory, merge commit, compare-and-swap) next to a loop of `git merge --no-ff` in a checkout;
//! - coordinator memory: the RSS of `cw run` supervising 50 running agents.
//!
//! Run: `cargo build --release && cargo bench --bench coordinator [-- schedule|merges|rss]`.
//! Prints a markdown table.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git and cw processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::git;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cw::agent::AgentRuntime;
use cw::coordinator::{Coordinator, Progress, RunOptions, Snapshot};
use cw::service::{AddTask, Service};
use cw::workspace::Workspace;
use tokio_util::sync::CancellationToken;

const WORK_MS: u64 = 2_000;
const LAYER: usize = 16;
const TASKS: usize = 200;

struct Quiet;

impl Progress for Quiet {
    fn line(&mut self, _text: &str) {}
    fn snapshot(&mut self, _snapshot: &Snapshot) {}
}

fn main() {
    cw::logging::init(0);
    let cw_bin = release_cw();
    // `cargo bench --bench coordinator -- merges` runs only the benchmarks named.
    let only: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let mut rows = Vec::new();
    if wanted("schedule") {
        rows.push(schedule(&cw_bin));
    }
    if wanted("merges") {
        rows.extend(merges(&cw_bin));
    }
    if wanted("rss") {
        rows.push(coordinator_rss(&cw_bin));
    }
    println!("| measurement | result |\n|---|---|");
    for (what, result) in rows {
        println!("| {what} | {result} |");
    }
}

/// Runs of the schedule benchmark; the median is quoted (this shared machine's speed drifts
/// within minutes). `CW_BENCH_RUNS` changes it.
const SCHEDULE_RUNS: usize = 3;

/// 200 tasks, 16 agents, 2 s of work each: wall time against the critical path, run
/// `SCHEDULE_RUNS` times; the median run, and every run's ratio.
fn schedule(cw_bin: &Path) -> (String, String) {
    let runs = std::env::var("CW_BENCH_RUNS").ok().and_then(|n| n.parse().ok());
    let mut runs: Vec<ScheduleRun> =
        (0..runs.unwrap_or(SCHEDULE_RUNS).max(1)).map(|_| schedule_once(cw_bin)).collect();
    runs.sort_by(|a, b| a.ratio().total_cmp(&b.ratio()));
    let ratios: Vec<String> = runs.iter().map(|r| format!("{:.3}", r.ratio())).collect();
    let median = &runs[runs.len() / 2];
    (
        format!(
            "{TASKS}-task DAG ({} layers), {LAYER} scripted agents, {WORK_MS} ms work each",
            median.layers
        ),
        format!(
            "median of {} runs: {:.1} s vs ideal critical path {:.1} s: ratio {:.3} (runs {}); \
             CPU {:.1} ms per task; {}",
            runs.len(),
            median.wall.as_secs_f64(),
            median.ideal.as_secs_f64(),
            median.ratio(),
            ratios.join(", "),
            median.cpu_per_task.as_secs_f64() * 1000.0,
            median.overhead
        ),
    )
}

struct ScheduleRun {
    layers: usize,
    wall: Duration,
    ideal: Duration,
    /// CPU (user + system) of the coordinator and every agent process, per task: how fast the
    /// machine was during this run, which moves the ratio more than anything else.
    cpu_per_task: Duration,
    /// Where the time beyond the work went on the deciding chain.
    overhead: String,
}

impl ScheduleRun {
    fn ratio(&self) -> f64 {
        self.wall.as_secs_f64() / self.ideal.as_secs_f64()
    }
}

/// One run of the schedule benchmark on a fresh repository.
fn schedule_once(cw_bin: &Path) -> ScheduleRun {
    // CW_BENCH_KEEP=1 keeps the repository (and its .cw/cw.db events) to study the timeline.
    let keep = std::env::var_os("CW_BENCH_KEEP").is_some();
    let dir = tempfile::Builder::new().disable_cleanup(keep).tempdir().unwrap();
    if keep {
        println!("keeping {}", dir.path().display());
    }
    let root = dir.path().join("repo");
    make_repo(&root, 1);
    let service = init(cw_bin, &root);
    let mut layers: Vec<Vec<cw::model::TaskId>> = Vec::new();
    let mut seed: u64 = 0x00c0_ffee;
    let mut rand = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).unwrap()
    };
    let mut count = 0;
    while count < TASKS {
        let width = LAYER.min(TASKS - count);
        let mut layer = Vec::new();
        for i in 0..width {
            let after = match layers.last() {
                Some(above) => {
                    let mut deps = vec![above[rand(above.len())], above[rand(above.len())]];
                    deps.dedup();
                    deps
                }
                None => Vec::new(),
            };
            let request = AddTask {
                title: format!("layer {} task {i}", layers.len()),
                description: format!("sim: sleep {WORK_MS}\n"),
                after,
                ..AddTask::default()
            };
            layer.push(service.add_task(&cw::service::Caller::CLI, &request).unwrap().id);
            count += 1;
        }
        layers.push(layer);
    }
    let ideal = Duration::from_millis(WORK_MS * layers.len() as u64);
    let runtime = AgentRuntime::new(Arc::clone(&service), cw_bin.to_owned());
    let options = RunOptions { agents: LAYER, exit_when_done: true, ..RunOptions::default() };
    let cpu_before = process_tree_cpu();
    let started = Instant::now();
    let report = Coordinator::new(runtime, options, CancellationToken::new(), &mut Quiet)
        .unwrap()
        .run()
        .unwrap();
    let wall = started.elapsed();
    let cpu_per_task = (process_tree_cpu() - cpu_before) / u32::try_from(TASKS).unwrap();
    assert!(report.all_merged(), "{report:?}");
    let overhead = chain_overhead(&root, &layers);
    ScheduleRun { layers: layers.len(), wall, ideal, cpu_per_task, overhead }
}

/// CPU used so far by this process and its reaped children (the agents, and through them their
/// `cw mcp` servers, which each agent reaps): utime, stime, cutime, cstime of /proc/self/stat.
fn process_tree_cpu() -> Duration {
    let stat = fs_err::read_to_string("/proc/self/stat").unwrap();
    // The command name (field 2) may hold spaces; the numbers start after its ')'.
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap())
        .collect();
    // In clock ticks, which are 1/100 s on Linux (USER_HZ).
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

/// Where the time beyond the work went on the chain that decided the end (from the last merged
/// task back through the dependency merged last): agent start (ready → claimed), the agent's
/// own overhead (claimed → merge requested, minus the work), the merge (requested → merged).
fn chain_overhead(root: &Path, layers: &[Vec<cw::model::TaskId>]) -> String {
    use std::collections::HashMap;
    let db = rusqlite::Connection::open(root.join(".cw/cw.db")).unwrap();
    let mut reached: HashMap<(i64, String), i64> = HashMap::new();
    let mut stmt = db
        .prepare(
            "SELECT task_id, json_extract(data, '$.to'), at FROM events
             WHERE kind = 'task.state' ORDER BY id",
        )
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .unwrap();
    for row in rows {
        let (task, state, at) = row.unwrap();
        reached.entry((task, state)).or_insert(at);
    }
    let mut deps: HashMap<i64, Vec<i64>> = HashMap::new();
    let mut stmt = db.prepare("SELECT task_id, depends_on FROM task_deps").unwrap();
    for row in stmt.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))).unwrap() {
        let (task, dep) = row.unwrap();
        deps.entry(task).or_default().push(dep);
    }
    let at = |task: i64, state: &str| reached[&(task, state.to_owned())];
    let all: Vec<i64> = layers.iter().flatten().map(|t| t.get()).collect();
    let first_claim = all.iter().map(|t| at(*t, "claimed")).min().unwrap();
    let mut task = *all.iter().max_by_key(|t| at(**t, "merged")).unwrap();
    let (mut start, mut agent, mut merge) = (0, 0, 0);
    loop {
        let ready = deps.get(&task).map_or(first_claim, |d| {
            d.iter().map(|d| at(*d, "merged")).max().unwrap().max(first_claim)
        });
        start += at(task, "claimed") - ready;
        agent += at(task, "merging") - at(task, "claimed") - WORK_MS as i64;
        merge += at(task, "merged") - at(task, "merging");
        match deps.get(&task) {
            Some(d) => task = *d.iter().max_by_key(|d| at(**d, "merged")).unwrap(),
            None => break,
        }
    }
    format!(
        "overhead on the deciding chain: agent start {start} ms, agent {agent} ms, merge {merge} ms"
    )
}

/// 100 branches, one new file each, on a 10,000-file repository: cw's in-memory merges against
/// `git merge --no-ff` in a checkout.
fn merges(cw_bin: &Path) -> Vec<(String, String)> {
    const BRANCHES: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    make_repo(&root, 10_000);
    let service = init(cw_bin, &root);
    for i in 0..BRANCHES {
        git(&root, &["checkout", "-q", "-b", &format!("b{i}"), "main"]);
        fs_err::write(root.join(format!("new-{i}.txt")), format!("branch {i}\n")).unwrap();
        git(&root, &["add", &format!("new-{i}.txt")]);
        git(&root, &["commit", "-q", "-m", &format!("b{i}")]);
    }
    git(&root, &["branch", "-q", "by-git", "main"]);
    git(&root, &["branch", "-q", "-f", "by-cw", "main"]);
    git(&root, &["checkout", "-q", "by-git"]);
    let location = &service.workspace().repo;
    let started = Instant::now();
    for i in 0..BRANCHES {
        let outcome = cw::git::merge_branch(
            location,
            &cw::git::WriteLock::acquire(location).unwrap(),
            "by-cw",
            &format!("b{i}"),
            &format!("Merge b{i}"),
        )
        .unwrap();
        assert!(matches!(outcome, cw::git::MergeOutcome::Merged { .. }), "{outcome:?}");
    }
    let by_cw = started.elapsed();
    let started = Instant::now();
    for i in 0..BRANCHES {
        git(&root, &["merge", "-q", "--no-ff", "--no-edit", &format!("b{i}")]);
    }
    let by_git = started.elapsed();
    let per = |d: Duration| d.as_secs_f64() * 1000.0 / BRANCHES as f64;
    vec![
        (
            format!("merge {BRANCHES} branches, 10,000-file repo: cw (in memory + CAS)"),
            format!("{:.0} ms total, {:.1} ms/merge", by_cw.as_secs_f64() * 1000.0, per(by_cw)),
        ),
        (
            format!("merge {BRANCHES} branches, 10,000-file repo: `git merge --no-ff` loop"),
            format!(
                "{:.0} ms total, {:.1} ms/merge; cw is {:.1}× faster",
                by_git.as_secs_f64() * 1000.0,
                per(by_git),
                by_git.as_secs_f64() / by_cw.as_secs_f64()
            ),
        ),
    ]
}

/// `cw run` supervising 50 running agents: its resident memory.
fn coordinator_rss(cw_bin: &Path) -> (String, String) {
    const AGENTS: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    make_repo(&root, 1);
    let service = init(cw_bin, &root);
    for i in 0..AGENTS {
        let request = AddTask {
            title: format!("idle {i}"),
            description: "sim: sleep 600000\n".to_owned(),
            ..AddTask::default()
        };
        service.add_task(&cw::service::Caller::CLI, &request).unwrap();
    }
    let mut child = Command::new(cw_bin)
        .args(["run", "--agents", &AGENTS.to_string()])
        .current_dir(&root)
        .env("CW_PLAIN", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let claimed = service
            .status(&cw::service::Caller::CLI, 0)
            .unwrap()
            .counts
            .iter()
            .find(|(s, _)| *s == cw::model::TaskState::Claimed)
            .map_or(0, |(_, n)| *n);
        if claimed as usize == AGENTS {
            break;
        }
        assert!(Instant::now() < deadline, "only {claimed} agents started");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Let the loop settle into its steady state (polling 50 logs).
    std::thread::sleep(Duration::from_secs(2));
    let status = fs_err::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap();
    let started = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    child.wait().unwrap();
    let stop = started.elapsed();
    (
        format!("`cw run` RSS supervising {AGENTS} running agents"),
        format!(
            "{:.1} MiB ({:.2} MiB per agent); graceful stop of all {AGENTS}: {:.2} s",
            rss_kib as f64 / 1024.0,
            rss_kib as f64 / 1024.0 / AGENTS as f64,
            stop.as_secs_f64()
        ),
    )
}

fn init(cw_bin: &Path, root: &Path) -> Arc<Service> {
    let status = Command::new(cw_bin).arg("init").current_dir(root).stdout(Stdio::null()).status();
    assert!(status.unwrap().success());
    let config = root.join(".cw/config.toml");
    let text = fs_err::read_to_string(&config)
        .unwrap()
        .replace("command = \"claude\"", "command = \"sim\"")
        .replace("memory_headroom_mb = 1024", "memory_headroom_mb = 0")
        .replace("agent_memory_mb = 500", "agent_memory_mb = 0");
    fs_err::write(&config, text).unwrap();
    Arc::new(Service::open(Workspace::locate(root).unwrap()).unwrap())
}

fn make_repo(root: &Path, files: usize) {
    fs_err::create_dir_all(root).unwrap();
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.name", "bench"]);
    git(root, &["config", "user.email", "bench@example.invalid"]);
    for i in 0..files {
        let sub = root.join(format!("d{}", i % 100));
        fs_err::create_dir_all(&sub).unwrap();
        fs_err::write(sub.join(format!("f{i}.txt")), format!("file {i}\n")).unwrap();
    }
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", "base"]);
}

fn release_cw() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/release/cw");
    assert!(path.is_file(), "build it first: cargo build --release");
    path
}
