//! Notifications (issue 18): a real `[notify] command` records what it is given; each event once,
//! bursts summed up, a hanging command stopped without holding the run.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::agents::add_task;
use crate::coordinator::{edit_config, run_to_end, sim_env};

/// Every notice a recorded run of the command received (a summary's parts flattened), and how
/// many times the command ran.
fn received(record: &std::path::Path) -> (Vec<Value>, usize) {
    let text = fs_err::read_to_string(record).unwrap_or_default();
    let runs: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut notices = Vec::new();
    for run in &runs {
        match run["notices"].as_array() {
            Some(parts) => notices.extend(parts.iter().cloned()),
            None => notices.push(run.clone()),
        }
    }
    (notices, runs.len())
}

#[test]
fn each_event_is_notified_once_and_a_burst_is_one_summary() {
    let env = sim_env("");
    let record = env.outer().join("notified.jsonl");
    let command = format!(
        "\ncommand = \"cat >> {0}; echo >> {0}; echo \\\"$CW_EVENT\\\" >> {0}.env\"",
        record.display()
    );
    // (With its newline: `setup_command = ""` holds the same words.)
    edit_config(&env, "\ncommand = \"\"", &command);
    let tasks: Vec<String> = (1..=5)
        .map(|i| add_task(&env, &format!("Doomed {i}"), &format!("sim: fail reason {i}")))
        .collect();
    let (_, lines) = run_to_end(&env, 5);
    assert!(lines.iter().any(|l| l.starts_with("needs you: ")), "{lines:?}");
    let (notices, runs) = received(&record);
    for task in &tasks {
        let about: Vec<&Value> = notices.iter().filter(|n| n["task"] == task.as_str()).collect();
        assert_eq!(about.len(), 1, "{task} once: {notices:?}");
        assert_eq!(about[0]["event"], "failed");
        assert!(about[0]["message"].as_str().unwrap().contains("reason"), "{about:?}");
    }
    assert_eq!(notices.iter().filter(|n| n["event"] == "finished").count(), 1, "{notices:?}");
    assert!(
        runs < notices.len(),
        "a burst becomes a summary: {runs} runs for {} notices",
        notices.len()
    );
    let env_seen = fs_err::read_to_string(format!("{}.env", record.display())).unwrap();
    assert_eq!(env_seen.lines().count(), runs, "CW_EVENT is set for each run");
}

#[test]
fn a_hanging_notify_command_is_stopped_and_does_not_hold_the_run() {
    let env = sim_env("");
    edit_config(&env, "\ncommand = \"\"", "\ncommand = \"sleep 30\"");
    edit_config(&env, "timeout_seconds = 10", "timeout_seconds = 1");
    add_task(&env, "Doomed", "sim: fail no way");
    let started = Instant::now();
    let (report, _) = run_to_end(&env, 1);
    assert_eq!(report.total, 1);
    // The last notice waits for its command (at most the timeout), then the run ends.
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());
}
