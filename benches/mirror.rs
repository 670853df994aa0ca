//! File-mirror benchmarks (issue 18): how long a saved answer takes to reach the database (and so
//! the agent blocked in `ask_user`, which wakes on that change), how long a new question takes to
//! appear as a file, the watcher's CPU while idle over 1,000 mirror files, and a full resync.
//!
//! Run: `cargo bench --bench mirror` (answers: CW_BENCH_ANSWERS=200). Uses the release `cw`
//! (`cw mirror --watch` as its own process, as a user runs it). BENCHMARKS.md keeps the results.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::disallowed_methods, reason = "the benchmark drives git and cw processes")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::git;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cw::fsui::Mirror;
use cw::model::AgentKind;
use cw::service::{AddTask, Service};
use cw::workspace::Workspace;

fn main() {
    let answers: usize =
        std::env::var("CW_BENCH_ANSWERS").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    fs_err::create_dir(&root).unwrap();
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["commit", "-q", "--allow-empty", "-m", "init"]);
    let cw = PathBuf::from(env!("CARGO_BIN_EXE_cw"));
    assert!(
        Command::new(&cw)
            .arg("init")
            .current_dir(&root)
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success()
    );
    let service = Service::open(Workspace::locate(&root).unwrap()).unwrap();
    let agent = service.register_agent_of("bench", None, AgentKind::Bare).unwrap().agent.id;
    let watcher = Killed(
        Command::new(&cw)
            .args(["mirror", "--watch"])
            .current_dir(&root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let inbox = root.join(".cw/inbox");
    wait(&inbox.join("../STATUS.md"), Duration::from_secs(10));

    let (mut appear, mut applied) = (Vec::new(), Vec::new());
    for i in 0..answers {
        let asked = Instant::now();
        let question = service.ask(agent, &format!("Question {i}?"), &[], None).unwrap();
        let file = inbox.join(format!("{}.md", question.id));
        wait(&file, Duration::from_secs(10));
        appear.push(asked.elapsed());
        let text = fs_err::read_to_string(&file).unwrap();
        let saved = Instant::now();
        fs_err::write(&file, format!("{text}answer {i}\n")).unwrap();
        let deadline = saved + Duration::from_secs(10);
        while service.question(question.id).unwrap().status != cw::model::QuestionStatus::Answered {
            assert!(Instant::now() < deadline, "answer {i} was not applied within 10 s");
            std::thread::sleep(Duration::from_micros(500));
        }
        applied.push(saved.elapsed());
    }

    // 1,000 open questions: 1,000 files the watcher watches, then idle.
    for i in 0..1000 {
        service.ask(agent, &format!("Idle question {i}?"), &[], None).unwrap();
    }
    let last =
        service.open_questions(&cw::service::Caller::Operator(cw::service::Via::Cli)).unwrap();
    wait(&inbox.join(format!("{}.md", last.last().unwrap().id)), Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(2));
    let pid = watcher.0.id();
    let (cpu0, t0) = (cpu_ticks(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(10));
    let (cpu1, elapsed) = (cpu_ticks(pid), t0.elapsed());
    let idle_cpu = (cpu1 - cpu0) as f64 / ticks_per_second() / elapsed.as_secs_f64() * 100.0;
    drop(watcher);

    // A full resync: 1,000 tasks and 1,000 questions, every mirror file deleted first.
    for i in 0..1000 {
        service
            .add_task(
                &cw::service::Caller::CLI,
                &AddTask { title: format!("Task {i}"), ..AddTask::default() },
            )
            .unwrap();
    }
    Mirror::new(&service).sync().unwrap();
    for sub in ["inbox", "tasks", "agents", "mirror"] {
        let _ = fs_err::remove_dir_all(root.join(".cw").join(sub));
    }
    let started = Instant::now();
    let report = Mirror::new(&service).sync().unwrap();
    let resync = started.elapsed();
    let started = Instant::now();
    let again = Mirror::new(&service).sync().unwrap();
    let unchanged = started.elapsed();

    println!("| measure | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (name, samples) in [
        ("question asked → its file exists", &mut appear),
        ("answer saved → applied in the database", &mut applied),
    ] {
        samples.sort();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        println!(
            "| {name} ({} samples) | {} | {} | {} |",
            samples.len(),
            ms(at(0.5)),
            ms(at(0.99)),
            ms(at(1.0))
        );
    }
    println!();
    println!("watcher CPU while idle over 1,000 question files (10 s): {idle_cpu:.2}% of one core");
    println!(
        "full resync (1,000 tasks, 1,000 questions, files deleted): {} ({} files written)",
        ms(resync),
        report.written
    );
    println!("sync with nothing to do: {} ({} files written)", ms(unchanged), again.written);
}

/// A child process killed when dropped (also when the benchmark panics).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn wait(path: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !path.exists() {
        assert!(Instant::now() < deadline, "{} did not appear", path.display());
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs_err::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn ticks_per_second() -> f64 {
    100.0
}
