//! Import benchmarks (issue 19): `cw import` of the largest real folders of the corpus and of a
//! synthetic folder of 5,000 plans, first import and re-import, in process on a release build.
//!
//! Run: `cargo bench --bench import` (CW_BENCH_PLANS=5000 sets the synthetic size). Prints a
//! markdown table; BENCHMARKS.md keeps the results.
#![expect(clippy::print_stdout, reason = "a benchmark reports on stdout")]
#![expect(clippy::unwrap_used, reason = "a benchmark fails loudly")]

#[path = "common/mod.rs"]
mod common;
use common::git;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cw::service::{ImportOptions, ImportReport, Service};
use cw::workspace::Workspace;

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planning-corpus");
    println!("| folder | plans | tasks | first import (median of 5) | re-import (median of 5) |");
    println!("|---|---|---|---|---|");
    for name in ["FablrWill__Camping-Manager", "FelipeOFF__CairnGo", "FReptar0__centik"] {
        row(name, &corpus.join(name).join(".planning"), 5);
    }
    let plans: usize =
        std::env::var("CW_BENCH_PLANS").ok().and_then(|n| n.parse().ok()).unwrap_or(5_000);
    let synthetic = tempfile::tempdir().unwrap();
    let root = synthetic.path().join(".planning");
    write_synthetic(&root, plans);
    row(&format!("synthetic, {plans} plans"), &root, 3);
}

/// One table row: the first import into a fresh repository and a re-import, each the median.
fn row(name: &str, dir: &Path, runs: usize) {
    let mut first = Vec::new();
    let mut again = Vec::new();
    let mut last: Option<ImportReport> = None;
    for _ in 0..runs {
        let repo = tempfile::tempdir().unwrap();
        let service = fresh(repo.path());
        let (took, report) = timed(|| service.import(dir, &ImportOptions::default()).unwrap());
        first.push(took);
        let (took, repeat) = timed(|| service.import(dir, &ImportOptions::default()).unwrap());
        assert_eq!(
            repeat.tasks_created + repeat.tasks_updated,
            0,
            "{name}: re-import changed things"
        );
        again.push(took);
        last = Some(report);
    }
    let report = last.unwrap();
    println!(
        "| {name} | {} | {} | {} | {} |",
        report.plans,
        report.tasks_created,
        ms(median(first)),
        ms(median(again))
    );
}

fn fresh(dir: &Path) -> Service {
    let root: PathBuf = dir.canonicalize().unwrap();
    git(&root, &["init", "-q"]);
    git(&root, &["commit", "-q", "--allow-empty", "-m", "init"]);
    Service::init(&root).unwrap();
    Service::open(Workspace::locate(&root).unwrap()).unwrap()
}

/// `plans` plans in phases of 50, three tasks each, each plan after the one before it, every
/// tenth with a SUMMARY.
fn write_synthetic(root: &Path, plans: usize) {
    let phases = plans.div_ceil(50);
    let mut roadmap = String::from("# Roadmap: Synthetic\n\n## Phases\n\n");
    for phase in 1..=phases {
        roadmap.push_str(&format!("- [ ] **Phase {phase}: Part {phase}** - work\n"));
    }
    fs_err::create_dir_all(root).unwrap();
    fs_err::write(root.join("ROADMAP.md"), roadmap).unwrap();
    for index in 0..plans {
        let (phase, plan) = (index / 50 + 1, index % 50 + 1);
        let dir = root.join(format!("phases/{phase:02}-part-{phase}"));
        fs_err::create_dir_all(&dir).unwrap();
        let depends =
            if plan > 1 { format!("[\"{phase:02}-{:02}\"]", plan - 1) } else { "[]".to_owned() };
        let mut text = format!(
            "---\nphase: {phase:02}-part-{phase}\nplan: {plan:02}\nwave: {plan}\ndepends_on: {depends}\nfiles_modified: [src/p{index}.rs]\n---\n\n<objective>\nPlan {index}: make part {index} work.\n</objective>\n\n<tasks>\n"
        );
        for task in 1..=3 {
            text.push_str(&format!("<task type=\"auto\">\n  <name>Task {task} of plan {index}</name>\n  <files>src/p{index}.rs</files>\n  <action>\nWrite `step_{task}()` in src/p{index}.rs:\n```rust\nfn step_{task}() {{}}\n```\n  </action>\n  <verify>cargo test p{index}</verify>\n  <done>step {task} passes</done>\n</task>\n"));
        }
        text.push_str("</tasks>\n");
        fs_err::write(dir.join(format!("{phase:02}-{plan:02}-PLAN.md")), text).unwrap();
        if index % 10 == 0 {
            fs_err::write(
                dir.join(format!("{phase:02}-{plan:02}-SUMMARY.md")),
                "# Done\n\n**Shipped**\n",
            )
            .unwrap();
        }
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let value = f();
    (started.elapsed(), value)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(duration: Duration) -> String {
    format!("{:.0} ms", duration.as_secs_f64() * 1000.0)
}
