//! The coordinator end to end with scripted agents: dispatch in dependency order, merges, bounces,
//! crashes, answers, shutdown and restarts. Real repositories, databases and agent processes.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cw::agent::AgentRuntime;
use cw::coordinator::{Coordinator, Progress, RunOptions, RunReport, Snapshot};
use cw::service::Caller;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::agents::{add_task, wait_until, with_agent};
use crate::support::{TestEnv, command, cw_binary, hermetic};

/// Collects what the coordinator reports.
#[derive(Default)]
pub(crate) struct Recorder {
    pub(crate) lines: Vec<String>,
}

impl Progress for Recorder {
    fn line(&mut self, text: &str) {
        self.lines.push(text.to_owned());
    }

    fn snapshot(&mut self, _snapshot: &Snapshot) {}
}

/// A repository whose agents are the scripted agent, with settings for fast tests.
pub(crate) fn sim_env(extra_config: &str) -> TestEnv {
    let env = with_agent("sim");
    configure_sim(&env, extra_config);
    env
}

/// Sets an initialised repository's agents to the scripted agent, with settings for fast tests.
pub(crate) fn configure_sim(env: &TestEnv, extra_config: &str) {
    let config = env.root().join(".cw/config.toml");
    let mut text = fs_err::read_to_string(&config).unwrap();
    // The test machine's free memory must not decide whether agents start.
    text = text.replace("memory_headroom_mb = 1024", "memory_headroom_mb = 0");
    text = text.replace("agent_memory_mb = 500", "agent_memory_mb = 0");
    text = text.replace("command = \"claude\"", "command = \"sim\"");
    text = text.replace("stop_grace_seconds = 5", "stop_grace_seconds = 2");
    text.push_str(extra_config);
    fs_err::write(&config, text).unwrap();
}

/// Replaces one setting line of `.cw/config.toml`.
pub(crate) fn edit_config(env: &TestEnv, from: &str, to: &str) {
    let config = env.root().join(".cw/config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    assert!(text.contains(from), "{from} is not in the config");
    fs_err::write(&config, text.replace(from, to)).unwrap();
}

/// Runs the coordinator in this process until every task is merged or nothing more can happen.
pub(crate) fn run_to_end(env: &TestEnv, agents: usize) -> (RunReport, Vec<String>) {
    let service = Arc::new(env.service());
    let runtime = AgentRuntime::new(service, cw_binary());
    let options = RunOptions { agents, exit_when_done: true, ..RunOptions::default() };
    let mut recorder = Recorder::default();
    let report = Coordinator::new(runtime, options, CancellationToken::new(), &mut recorder)
        .unwrap()
        .run()
        .unwrap();
    (report, recorder.lines)
}

pub(crate) fn add_after(env: &TestEnv, title: &str, action: &str, after: &[&str]) -> String {
    let mut args = vec!["task", "add", title, "--description", action, "--json"];
    for dep in after {
        args.push("--after");
        args.push(dep);
    }
    env.cw(&args).json()["id"].as_str().unwrap().to_owned()
}

pub(crate) fn tasks(env: &TestEnv) -> Vec<Value> {
    env.cw(&["task", "list", "--json"]).json().as_array().unwrap().clone()
}

/// The merge commits on the integration branch, oldest first, as task ids ("t3").
pub(crate) fn merge_order(env: &TestEnv) -> Vec<String> {
    let log = env.git(&["log", "--first-parent", "--reverse", "--format=%s", "cw/integration"]);
    String::from_utf8_lossy(&log.stdout)
        .lines()
        .filter(|l| l.starts_with("Merge cw/"))
        .map(|l| l.rsplit_once('(').unwrap().1.trim_end_matches(')').to_owned())
        .collect()
}

pub(crate) fn integration_file(env: &TestEnv, path: &str) -> Option<String> {
    let out = hermetic(command("git"))
        .current_dir(env.root())
        .args(["show", &format!("cw/integration:{path}")])
        .output()
        .unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn worktrees_left(env: &TestEnv) -> Vec<String> {
    let dir = env.outer().join("repo.cw-worktrees");
    match fs_err::read_dir(&dir) {
        Ok(entries) => {
            entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
        }
        Err(_) => Vec::new(),
    }
}

/// Processes (any pid) whose environment names this repository: agents and their MCP servers.
pub(crate) fn agent_processes(root: &Path) -> Vec<u32> {
    let wanted = format!("CW_REPO={}", root.display()).into_bytes();
    let mut pids = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap() {
        let Some(pid) = entry.unwrap().file_name().to_str().and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else { continue };
        let zombie = fs_err::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            s.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        });
        if !zombie && environ.split(|b| *b == 0).any(|v| v == wanted.as_slice()) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn a_diamond_of_30_tasks_merges_completely_in_dependency_order() {
    let env = sim_env("");
    // One root, four layers of seven (each task after one or two of the layer above), one sink.
    let root = add_after(&env, "root", "", &[]);
    let mut layer = vec![root];
    let mut edges: Vec<(String, String)> = Vec::new();
    for depth in 0..4 {
        let mut next = Vec::new();
        for i in 0..7 {
            let mut deps = vec![layer[i % layer.len()].clone()];
            if layer.len() > 1 {
                deps.push(layer[(i + 1) % layer.len()].clone());
            }
            deps.dedup();
            let refs: Vec<&str> = deps.iter().map(String::as_str).collect();
            let id = add_after(&env, &format!("layer {depth} task {i}"), "", &refs);
            for dep in &deps {
                edges.push((id.clone(), dep.clone()));
            }
            next.push(id);
        }
        layer = next;
    }
    let refs: Vec<&str> = layer.iter().map(String::as_str).collect();
    let sink = add_after(&env, "sink", "", &refs);
    for dep in &layer {
        edges.push((sink.clone(), dep.clone()));
    }

    let (report, lines) = run_to_end(&env, 4);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert_eq!(report.merged, 30);
    let all = tasks(&env);
    assert!(all.iter().all(|t| t["state"] == "merged"));

    // History: each task merged once, after every one of its dependencies.
    let order = merge_order(&env);
    assert_eq!(order.len(), 30, "{order:?}");
    let position: HashMap<&str, usize> =
        order.iter().enumerate().map(|(i, t)| (t.as_str(), i)).collect();
    assert_eq!(position.len(), 30, "a task merged twice: {order:?}");
    for (task, dep) in &edges {
        assert!(position[task.as_str()] > position[dep.as_str()], "{task} merged before {dep}");
    }
    for task in &all {
        let id = task["id"].as_str().unwrap();
        let file = integration_file(&env, &format!("cw-sim/{id}.txt")).unwrap();
        assert!(file.starts_with(&format!("{id} done")), "{file}");
    }
    assert_eq!(worktrees_left(&env), Vec::<String>::new());
    assert_eq!(agent_processes(&env.root()), Vec::<u32>::new());
    // Later agents took over merged worktrees instead of checking out new ones, and git's
    // records of them are consistent: nothing to prune, no agent branch left.
    let reused = lines.iter().filter(|l| l.contains("merged worktree, refreshed")).count();
    assert!(reused > 0, "{lines:#?}");
    let prune = env.git(&["worktree", "prune", "--dry-run", "-v"]);
    assert_eq!(String::from_utf8_lossy(&prune.stderr), "");
    let branches = env.git(&["branch", "--list", "cw/*", "--format=%(refname:short)"]);
    assert_eq!(String::from_utf8_lossy(&branches.stdout).trim(), "cw/integration");
}

#[test]
fn merged_worktrees_are_reused_unless_the_config_says_no() {
    for reuse in [true, false] {
        let env = sim_env("");
        edit_config(&env, "reuse_worktrees = true", &format!("reuse_worktrees = {reuse}"));
        // The sink starts long after the first of the four it waits on is merged and gone.
        let root = add_after(&env, "root", "", &[]);
        let middle: Vec<String> =
            (0..4).map(|i| add_after(&env, &format!("middle {i}"), "", &[&root])).collect();
        let refs: Vec<&str> = middle.iter().map(String::as_str).collect();
        add_after(&env, "sink", "", &refs);
        let (report, lines) = run_to_end(&env, 2);
        assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
        let reused = lines.iter().any(|l| l.contains("merged worktree, refreshed"));
        assert_eq!(reused, reuse, "{lines:#?}");
        assert_eq!(worktrees_left(&env), Vec::<String>::new());
    }
}

/// A dependant's agent starts only once its dependency is merged, in a worktree cut from that
/// merge (nothing is started ahead of its task); one whose dependency failed gets no agent.
#[test]
fn a_dependants_agent_starts_after_its_dependency_is_merged_and_on_top_of_it() {
    let env = sim_env("");
    let first = add_after(&env, "first", "sim: sleep 300\n", &[]);
    let second = add_after(&env, "second", "", &[&first]);
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    let at = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let merged_first = at(&format!("merged {first}")).expect("the first task merged");
    let started_second = at(&format!(" on {second}: ")).expect("an agent started on the second");
    assert!(merged_first < started_second, "{lines:#?}");
    let log = env.git(&["log", "--first-parent", "--format=%H %s", "cw/integration"]);
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    let merge = log.lines().find(|l| l.ends_with(&format!("({second})"))).unwrap();
    let work = format!("{}^2:cw-sim/{first}.txt", merge.split(' ').next().unwrap());
    assert!(env.git(&["show", &work]).status.success(), "{second} was done on top of {first}");
    assert_eq!(worktrees_left(&env), Vec::<String>::new());
    assert_eq!(agent_processes(&env.root()), Vec::<u32>::new());

    let env = sim_env("");
    let doomed = add_after(&env, "doomed", "sim: sleep 300\nsim: fail it cannot be done\n", &[]);
    let after = add_after(&env, "after it", "", &[&doomed]);
    let (report, lines) = run_to_end(&env, 1);
    let states: Vec<_> = report.unfinished.iter().map(|u| (u.task.to_string(), u.state)).collect();
    assert_eq!(
        states,
        [(doomed, cw::model::TaskState::Failed), (after.clone(), cw::model::TaskState::Pending)]
    );
    assert!(!lines.iter().any(|l| l.contains(&format!(" on {after}: "))), "{lines:#?}");
    assert_eq!(agent_processes(&env.root()), Vec::<u32>::new(), "{lines:#?}");
}

/// A worktree removal killed midway leaves a hidden tombstone; the next run deletes it first.
#[test]
fn a_half_removed_worktree_is_deleted_when_the_next_run_starts() {
    let env = sim_env("");
    let tombstone = env.outer().join("repo.cw-worktrees/.task-1-t1.cw-removing");
    fs_err::create_dir_all(tombstone.join("src")).unwrap();
    fs_err::write(tombstone.join("src/lib.rs"), "half deleted\n").unwrap();
    // Nothing to do, so no removal of this run's own sweeps it up on the way.
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert_eq!(worktrees_left(&env), Vec::<String>::new());
}

#[test]
fn a_conflict_is_bounced_to_its_agent_and_merged_once_fixed() {
    let env = sim_env("");
    let a = add_task(&env, "left", "sim: write shared.txt left side\\n");
    let b = add_task(&env, "right", "sim: write shared.txt right side\\n");

    let (report, lines) = run_to_end(&env, 2);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    let bounced: Vec<&String> = lines.iter().filter(|l| l.contains("bounced back")).collect();
    assert_eq!(bounced.len(), 1, "{lines:#?}");
    assert!(bounced[0].contains("conflicts in shared.txt"), "{}", bounced[0]);
    assert!(lines.iter().any(|l| l.contains("to fix its merge conflict")), "{lines:#?}");
    let shared = integration_file(&env, "shared.txt").unwrap();
    assert!(shared.contains("left side") && shared.contains("right side"), "{shared}");
    let order = merge_order(&env);
    assert_eq!(order.len(), 2);
    assert!(order.contains(&a) && order.contains(&b));
    // The bounce cost no attempt.
    assert!(tasks(&env).iter().all(|t| t["attempts"] == 0), "{:?}", tasks(&env));
}

#[test]
fn a_crashed_agent_is_resumed_in_its_worktree_and_finishes() {
    let env = sim_env("");
    let task = add_task(&env, "fragile", "sim: crash\n");

    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("ended: exited 3")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.starts_with("resumed a1")), "{lines:#?}");
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!(shown["attempts"], 1);
    // One agent did it all: the same session went on in the same worktree.
    let agents = env.cw(&["agent", "list", "--json"]).json();
    assert_eq!(agents.as_array().unwrap().len(), 1, "{agents}");
    assert!(integration_file(&env, &format!("cw-sim/{task}.partial")).is_none());
    assert!(integration_file(&env, &format!("cw-sim/{task}.txt")).is_some());
}

#[test]
fn a_task_out_of_attempts_fails_with_the_reason_and_the_run_says_so() {
    let env = sim_env("");
    edit_config(&env, "max_attempts = 3", "max_attempts = 1");
    let task = add_task(&env, "hopeless", "sim: exit-silently\n");
    let after = add_after(&env, "after it", "", &[&task]);

    let (report, lines) = run_to_end(&env, 1);
    assert!(!report.all_merged());
    let unfinished: HashMap<String, String> =
        report.unfinished.iter().map(|u| (u.task.to_string(), u.state.to_string())).collect();
    assert_eq!(unfinished[&task], "failed", "{lines:#?}");
    assert_eq!(unfinished[&after], "pending");
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert!(shown["failure_reason"].as_str().unwrap().contains("ended 2 times"), "{shown}");
    // Counted the same way everywhere: two sessions, the second the last (never "2 of 1").
    let store = env.store();
    let events = store.read(|tx| tx.events_after(0, 1_000)).unwrap();
    let said: Vec<&str> =
        events.iter().map(|e| e.data.as_str()).filter(|d| d.contains("attempt ")).collect();
    assert!(said.iter().any(|d| d.contains("attempt 1 of 2")), "{said:#?}");
    assert!(said.iter().any(|d| d.contains("attempt 2 of 2")), "{said:#?}");
    assert!(!said.iter().any(|d| d.contains(" of 1)")), "{said:#?}");
}

#[test]
fn an_answer_to_a_pending_question_resumes_the_agent_with_it() {
    let env = sim_env("");
    // ask_user returns "pending" at once: the agent ends its turn and must be resumed.
    edit_config(&env, "ask_wait_seconds = 300", "ask_wait_seconds = 0");
    let task = add_task(&env, "needs a choice", "sim: ask Which colour?\n");

    let answerer = {
        let service = env.service();
        std::thread::spawn(move || {
            let caller = Caller::Operator(cw::service::Via::Cli);
            // Answered only once the agent has ended its turn: an answer that comes while
            // `ask_user` still runs is returned by the call itself, and nothing is resumed.
            wait_until(Duration::from_secs(30), "the asking agent has ended its turn", || {
                service.open_questions(&caller).unwrap().first().is_some_and(|q| {
                    q.agent.is_some_and(|a| service.agent(a).unwrap().process.is_none())
                })
            });
            let question = service.open_questions(&caller).unwrap().remove(0);
            service.answer(&caller, question.id, "teal").unwrap();
        })
    };
    let (report, lines) = run_to_end(&env, 1);
    answerer.join().unwrap();
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("with the answer to q1")), "{lines:#?}");
    let file = integration_file(&env, &format!("cw-sim/{task}.txt")).unwrap();
    assert!(file.contains("Which colour? -> teal"), "{file}");
}

#[test]
fn sigterm_stops_agents_keeps_their_tasks_and_the_next_run_finishes_them() {
    let env = sim_env("");
    // Slow in its first session only, so the resumed one finishes at once.
    let task = add_task(&env, "slow", "sim: sleep-first 60000\n");
    let mut child = env
        .cw_command(&env.root(), &["run", "--agent-command", "sim"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_until(Duration::from_secs(30), "the task is claimed", || {
        env.cw(&["task", "show", &task, "--json"]).json()["state"] == "claimed"
    });
    assert!(!agent_processes(&env.root()).is_empty());
    let _ = command("kill").args(["-TERM", &child.id().to_string()]).status();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_stopped_for_shutdown(&env, &task);

    // The next run resumes the same agent.
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    let agents = env.cw(&["agent", "list", "--json"]).json();
    assert_eq!(agents.as_array().unwrap().len(), 1, "the same agent went on: {agents}");
}

/// After a graceful shutdown: no agent process is left, and the task is ready again with no
/// attempt spent.
fn assert_stopped_for_shutdown(env: &TestEnv, task: &str) {
    assert_eq!(agent_processes(&env.root()), Vec::<u32>::new(), "an agent outlived the run");
    let shown = env.cw(&["task", "show", task, "--json"]).json();
    assert_eq!(shown["state"], "ready", "{shown}");
    assert_eq!(shown["attempts"], 0, "a shutdown costs no attempt");
}

#[test]
fn a_second_run_is_refused_naming_the_first_ones_pid() {
    let env = sim_env("");
    let server = env.start_server();
    let run = env.cw(&["run", "--agent-command", "sim"]);
    let message = run.error(1);
    assert!(message.contains(&server.child.id().to_string()), "{message}");
}

/// kill -9 at random moments of a 50-task run, restarting each time: every task merged exactly
/// once, nothing left running or checked out, every question answered and its answer used.
#[test]
fn killing_cw_run_at_random_moments_loses_nothing_and_merges_nothing_twice() {
    let env = sim_env("");
    edit_config(&env, "ask_wait_seconds = 300", "ask_wait_seconds = 0");
    let mut ids: Vec<String> = Vec::new();
    let mut seed: u64 = 0x5eed_cafe;
    let mut next = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n.max(1)
    };
    let mut asking = Vec::new();
    for i in 0..50 {
        let action = match i {
            7 | 31 => format!("sim: ask Question {i}?\nsim: sleep 50\n"),
            _ => format!("sim: sleep {}\n", 20 + next(120)),
        };
        let deps: Vec<String> = if i >= 5 {
            let a = ids[usize::try_from(next(i as u64)).unwrap()].clone();
            let b = ids[usize::try_from(next(i as u64)).unwrap()].clone();
            let mut deps = vec![a, b];
            deps.dedup();
            deps
        } else {
            Vec::new()
        };
        let refs: Vec<&str> = deps.iter().map(String::as_str).collect();
        let id = add_after(&env, &format!("task {i}"), &action, &refs);
        if matches!(i, 7 | 31) {
            asking.push(id.clone());
        }
        ids.push(id);
    }

    // The human: answers every question as soon as it appears, whatever cw is doing.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answerer = {
        let service = env.service();
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let caller = Caller::Operator(cw::service::Via::Cli);
            let mut answered = HashSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for question in service.open_questions(&caller).unwrap_or_default() {
                    if answered.insert(question.id) {
                        service
                            .answer(&caller, question.id, &format!("answer {}", question.id))
                            .unwrap();
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    for _ in 0..20 {
        let mut child = env
            .cw_command(&env.root(), &["run", "--agent-command", "sim", "--agents", "4"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(100 + next(500)));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let (report, lines) = run_to_end(&env, 4);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    answerer.join().unwrap();
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));

    let order = merge_order(&env);
    let unique: HashSet<&String> = order.iter().collect();
    assert_eq!(order.len(), 50, "every task merged exactly once: {order:?}");
    assert_eq!(unique.len(), 50);
    for id in &ids {
        assert!(integration_file(&env, &format!("cw-sim/{id}.txt")).is_some(), "{id} missing");
    }
    for id in &asking {
        let file = integration_file(&env, &format!("cw-sim/{id}.txt")).unwrap();
        assert!(file.contains("-> answer q"), "the answer to {id}'s question was lost: {file}");
    }
    let service = env.service();
    assert!(service.open_questions(&Caller::Operator(cw::service::Via::Cli)).unwrap().is_empty());
    assert_eq!(agent_processes(&env.root()), Vec::<u32>::new(), "processes left behind");
    assert_eq!(worktrees_left(&env), Vec::<String>::new(), "worktrees left behind");
}

#[test]
fn cw_demo_runs_its_plan_to_the_end_showing_question_conflict_and_crash() {
    let env = TestEnv::repo();
    let run = env.cw_with(&env.outer(), &["demo", "--agents", "3"], &[("CW_PLAIN", "1")]);
    let data = run.ok();
    assert!(data.contains("9 of 9 tasks merged"), "{data}");
    // The run's progress is on stderr, the outcome on stdout.
    assert!(!data.contains("→ claim_task"), "progress on stdout: {data}");
    let out = &format!("{data}{}", run.stderr);
    assert!(out.contains("bounced back to its agent"), "no conflict shown: {out}");
    assert!(out.contains("to fix its merge conflict"), "{out}");
    assert!(out.contains("ended: exited 3"), "no crash shown: {out}");
    assert!(out.contains("with the answer to q1"), "no answered question: {out}");
    assert!(out.contains("is a task for the human"), "no checkpoint: {out}");
    // Causal order: each merged task's claim and merge request are printed before its merge.
    let lines: Vec<&str> = out.lines().collect();
    let first = |needle: &str| lines.iter().position(|l| l.contains(needle));
    let mut merged = 0;
    for n in 1..=9 {
        let Some(merge) = first(&format!("merged t{n} into")) else { continue };
        merged += 1;
        for call in ["claim_task", "request_merge"] {
            let at = first(&format!("(t{n}) → {call}"));
            assert!(at.is_some_and(|at| at < merge), "t{n}: {call} after its merge:\n{out}");
        }
    }
    assert!(merged >= 8, "the agents' merges are shown: {out}");
    // The temporary repository is gone.
    let path = out.split("planned in ").nth(1).unwrap().split(' ').next().unwrap();
    assert!(!Path::new(path).exists(), "{path} was left behind");
}

/// The scripted agent is its own binary beside `cw`: a `cw` copied alone says what is missing
/// before it makes anything.
#[test]
fn cw_demo_without_the_scripted_agent_beside_it_says_how_to_build_it() {
    let alone = tempfile::tempdir().unwrap();
    let cw = alone.path().join("cw");
    fs_err::copy(crate::support::cw_binary(), &cw).unwrap();
    let run = crate::support::command(&cw).arg("demo").env("TMPDIR", alone.path()).output();
    let run = crate::support::Run::from(&run.unwrap());
    let error = run.error(1);
    assert!(error.contains("cw-sim-agent is missing beside cw"), "{error}");
    assert!(error.contains("cargo build --locked"), "{error}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let left: Vec<_> = fs_err::read_dir(alone.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "only the copied cw: {left:?}");
}

/// A file cw cannot write is named as such, not reported as "cannot write output".
#[test]
fn a_demo_that_cannot_make_its_directory_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("a-file");
    fs_err::write(&not_a_dir, "").unwrap();
    let run = crate::support::command(crate::support::cw_binary())
        .arg("demo")
        .env("TMPDIR", &not_a_dir)
        .output();
    let run = crate::support::Run::from(&run.unwrap());
    let error = run.error(1);
    assert!(!error.contains("cannot write output"), "{error}");
    assert!(error.contains(&not_a_dir.display().to_string()), "{error}");
    assert!(run.stderr.contains("hint: this failed in cw or its environment"), "{run:?}");
}

#[test]
fn a_message_to_an_agent_waiting_for_the_human_resumes_it() {
    let env = sim_env("");
    edit_config(&env, "ask_wait_seconds = 300", "ask_wait_seconds = 0");
    add_task(&env, "asks", "sim: ask Which database?\n");
    let stream = env.root().join(".cw/agents/a1/stream.jsonl");
    let human = {
        let service = env.service();
        let stream = stream.clone();
        std::thread::spawn(move || {
            let caller = Caller::Operator(cw::service::Via::Cli);
            let agent = "a1".parse().unwrap();
            wait_until(Duration::from_secs(30), "the agent waits with its process ended", || {
                !service.open_questions(&caller).unwrap().is_empty()
                    && service.agent(agent).is_ok_and(|a| a.process.is_none())
            });
            service.send_message(&caller, agent, "Prefer SQLite.").unwrap();
            // A run has ended once its result line is written (between a spawn and the record
            // of its pid, the agent shows no process while its run has only begun).
            let ended =
                || fs_err::read_to_string(&stream).unwrap().matches("\"type\":\"result\"").count();
            wait_until(Duration::from_secs(30), "the agent's run for the message ends", || {
                ended() == 2 && service.agent(agent).is_ok_and(|a| a.process.is_none())
            });
            let question = service.open_questions(&caller).unwrap().remove(0);
            service.answer(&caller, question.id, "SQLite").unwrap();
        })
    };
    let (report, lines) = run_to_end(&env, 1);
    human.join().unwrap();
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("to read its messages")), "{lines:#?}");
    // Once for the message, once for the answer: never twice for the same message.
    let runs = fs_err::read_to_string(&stream).unwrap().matches("\"subtype\":\"init\"").count();
    assert_eq!(runs, 3, "{lines:#?}");
}

#[test]
fn an_agent_winding_down_after_its_merge_request_does_not_hold_its_slot() {
    let env = sim_env("");
    let first = add_task(&env, "first", "sim: linger 1500\n");
    let second = add_task(&env, "second", "");

    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    let position = |needle: &str| {
        lines
            .iter()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle}: {lines:#?}"))
    };
    let first_merged = position(&format!("merged {first} "));
    let second_started = position(&format!("on {second}: second"));
    let first_ended = position(&format!("({first}) ended"));
    // One slot: the second agent starts once the first one's work is merged, not when its
    // process finally exits.
    assert!(first_merged < second_started && second_started < first_ended, "{lines:#?}");
}

#[test]
fn an_agent_the_operator_stops_stays_paused_until_restarted() {
    let env = sim_env("");
    let task = add_task(&env, "long", "sim: sleep-first 60000\n");
    let (report, lines) = std::thread::scope(|scope| {
        let coordinator = scope.spawn(|| run_to_end(&env, 1));
        wait_until(Duration::from_secs(30), "the agent claimed its task", || {
            tasks(&env).iter().any(|t| t["state"] == "claimed")
        });
        let stop = env.cw(&["agent", "stop", "a1"]);
        assert!(stop.ok().contains(&format!("{task} stays with it")), "{stop:?}");
        // With its only task paused, nothing more can happen without the operator.
        coordinator.join().unwrap()
    });
    assert!(!report.all_merged());
    assert_eq!(report.unfinished.len(), 1, "{report:?}");
    assert!(report.unfinished[0].why.contains("cw agent restart a1"), "{report:?}");
    assert!(lines.iter().any(|l| l.contains("a1 (t1) was stopped by the operator")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.starts_with("resumed")), "not resumed: {lines:#?}");
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!((shown["state"].as_str(), shown["attempts"].as_u64()), (Some("claimed"), Some(0)));
    // Leases do not take a paused task away either.
    let expired = env.service().expire_leases().unwrap();
    assert!(expired.is_empty(), "{expired:?}");

    // The operator continues it; the next run adopts the agent and merges its work.
    assert!(env.cw(&["agent", "restart", "a1"]).ok().contains("agent a1 restarted"));
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    assert_eq!(merge_order(&env), vec![task]);
}

/// After the merge (and `cw gc`), `cw diff` shows what the merge brought in.
#[test]
fn diff_after_the_merge_shows_what_was_merged() {
    let env = sim_env("");
    let task = add_task(&env, "merged work", "sim: write notes.txt merged line\n");
    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    env.cw(&["gc"]).ok();
    let diff = env.cw(&["diff", &task]);
    let text = diff.ok();
    assert!(text.contains("was merged into cw/integration as"), "{text}");
    assert!(text.contains("+merged line"), "{text}");
}

/// MCP `restart_agent` (the service's restart request): the stopped agent's session is continued
/// by `cw run` with the reason, in the same worktree, without costing an attempt.
#[test]
fn a_restart_requested_by_the_operator_is_carried_out_by_the_run() {
    let env = sim_env("");
    let task = add_task(&env, "long", "sim: sleep-first 60000\n");
    let a1: cw::model::AgentId = "a1".parse().unwrap();
    let lines = std::thread::scope(|scope| {
        let coordinator = scope.spawn(|| run_to_end(&env, 1));
        wait_until(Duration::from_secs(30), "the agent claimed its task", || {
            tasks(&env).iter().any(|t| t["state"] == "claimed")
        });
        // Asked while the agent runs: it is stopped first, then continued by the same run.
        let restarted =
            env.service().request_restart(&Caller::CLI, a1, "the operator restarts you");
        assert_eq!(restarted.unwrap().to_string(), task);
        let (report, lines) = coordinator.join().unwrap();
        assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
        assert!(lines.iter().any(|l| l.contains("as the operator asked")), "{lines:#?}");
        assert!(!lines.iter().any(|l| l.contains("waits until")), "{lines:#?}");
        lines
    });
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!(shown["attempts"], 0, "a restart is not a lost attempt: {lines:#?}");
    let agent = env.service().agent(a1).unwrap();
    assert_eq!(agent.restart_reason, None, "carried out once");
    // Nothing to continue: refused, with the reason.
    let again = env.service().request_restart(&Caller::CLI, a1, "again").unwrap_err();
    assert!(again.to_string().contains("nothing to continue"), "{again}");
    let blank = env.service().request_restart(&Caller::CLI, a1, "  ").unwrap_err();
    assert!(blank.to_string().contains("restart reason"), "{blank}");
}

#[test]
fn a_slow_setup_command_holds_up_neither_merges_nor_other_agents() {
    let env = sim_env("");
    let go = env.outer().join("go");
    // The setup command of the "slow" task's worktree waits for the test; the other one's runs
    // at once.
    let setup = format!(
        "setup_command = 'case \"$(pwd)\" in *slow*) while [ ! -e {} ]; do sleep 0.02; done;; esac'",
        go.display()
    );
    edit_config(&env, "setup_command = \"\"", &setup);
    // Older, so it is dispatched first.
    let slow = add_task(&env, "slow", "");
    let quick = add_task(&env, "quick", "");
    let state_of = |task: &str| {
        tasks(&env)
            .into_iter()
            .find(|t| t["id"] == task)
            .map(|t| t["state"].as_str().unwrap_or_default().to_owned())
            .unwrap()
    };

    std::thread::scope(|scope| {
        let run = scope.spawn(|| run_to_end(&env, 2));
        wait_until(Duration::from_secs(60), "the quick task is merged", || {
            state_of(&quick) == "merged"
        });
        // Still in its setup: not even claimed.
        assert_eq!(state_of(&slow), "ready");
        fs_err::write(&go, "").unwrap();
        let (report, lines) = run.join().unwrap();
        assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
    });
    assert_eq!(merge_order(&env), [quick, slow]);
}

#[test]
fn a_shutdown_while_an_agent_is_being_started_stops_that_agent_too() {
    let env = sim_env("");
    let go = env.outer().join("go");
    let setup = format!("setup_command = 'while [ ! -e {} ]; do sleep 0.02; done'", go.display());
    edit_config(&env, "setup_command = \"\"", &setup);
    // Its agent is stopped the moment its start completes, long before this second is over.
    let task = add_task(&env, "first", "sim: sleep 1000\n");
    let shutdown = CancellationToken::new();
    let (report, lines) = std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let runtime = AgentRuntime::new(Arc::new(env.service()), cw_binary());
            let options = RunOptions { agents: 1, ..RunOptions::default() };
            let mut recorder = Recorder::default();
            let report = Coordinator::new(runtime, options, shutdown.clone(), &mut recorder)
                .unwrap()
                .run()
                .unwrap();
            (report, recorder.lines)
        });
        // The worktree is recorded just before the setup command runs: the start is in flight.
        wait_until(Duration::from_secs(30), "the agent's worktree is recorded", || {
            env.cw(&["agent", "list", "--json"]).json()[0]["worktree"].is_string()
        });
        shutdown.cancel();
        // The start finishes only now; the shutdown waits for it and stops its agent.
        fs_err::write(&go, "").unwrap();
        run.join().unwrap()
    });
    assert!(report.interrupted, "{report:?}\n{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.contains("stopping 1 agent(s)")), "{lines:#?}");
    assert_stopped_for_shutdown(&env, &task);

    let (report, lines) = run_to_end(&env, 1);
    assert!(report.all_merged(), "{report:?}\n{}", lines.join("\n"));
}

/// `cw run` in a real pseudo-terminal (util-linux `script`): the status block is redrawn in
/// place as rows change, and the run's end leaves no block behind.
fn run_in_a_terminal(env: &TestEnv) -> (std::process::Child, Arc<std::sync::Mutex<String>>) {
    let cw = cw_binary();
    let line = format!("{} run --agent-command sim --exit-when-done", cw.display());
    let mut child = command("script")
        .args(["-qefc", &line, "/dev/null"])
        .current_dir(env.root())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let screen = Arc::new(std::sync::Mutex::new(String::new()));
    let mut stdout = child.stdout.take().unwrap();
    let seen = Arc::clone(&screen);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buffer) {
            if n == 0 {
                break;
            }
            seen.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    (child, screen)
}

/// The screen without cw's colours (SGR sequences), its redraws kept.
fn without_colour(screen: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m").unwrap().replace_all(screen, "").into_owned()
}

/// What the terminal shows after the last erase of the status block.
fn after_the_last_erase(screen: &str) -> String {
    screen.rsplit("\x1b[J").next().unwrap_or_default().to_owned()
}

fn wait_for_exit(child: &mut std::process::Child, what: &str) -> std::process::ExitStatus {
    let mut status = None;
    wait_until(Duration::from_secs(60), what, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    status.expect("invariant: waited for")
}

#[test]
fn the_live_view_redraws_in_a_terminal_and_ctrl_c_leaves_a_clean_screen() {
    let env = sim_env("");
    add_task(&env, "slow", "sim: sleep 1500\n");
    let (mut child, screen) = run_in_a_terminal(&env);
    assert!(wait_for_exit(&mut child, "the run in the terminal ends").success());
    let painted = screen.lock().unwrap().clone();
    assert!(painted.contains("\x1b[32mmerged  \x1b[0m"), "a terminal gets colour: {painted:?}");
    let shown = without_colour(&painted);
    assert!(shown.contains("\x1b[2A\x1b[J"), "the block is redrawn in place: {shown:?}");
    assert!(shown.contains("· called claim_task"), "a row shows what its agent did: {shown:?}");
    let end = after_the_last_erase(&shown);
    assert!(end.contains("done: 1 of 1 tasks merged") && !end.contains("──"), "{end:?}");

    let env = sim_env("");
    add_task(&env, "endless", "sim: sleep 60000\n");
    let (mut child, screen) = run_in_a_terminal(&env);
    wait_until(Duration::from_secs(30), "the agent's claim is on the screen", || {
        screen.lock().unwrap().contains("called claim_task")
    });
    let info: Value =
        serde_json::from_str(&fs_err::read_to_string(env.root().join(".cw/server.json")).unwrap())
            .unwrap();
    let pid = info["pid"].as_u64().unwrap().to_string();
    assert!(command("kill").args(["-INT", &pid]).status().unwrap().success());
    wait_for_exit(&mut child, "cw run stops after Ctrl-C");
    let shown = without_colour(&screen.lock().unwrap());
    let end = after_the_last_erase(&shown);
    assert!(!end.contains("──") && end.contains("done: 0 of 1 tasks merged"), "{end:?}");
    assert!(end.contains("cw: stopped\r\n"), "{end:?}");
    assert!(end.contains("stopped before the end: 0 of 1 tasks merged"), "{end:?}");
    assert!(end.ends_with('\n'), "no half-drawn line is left: {end:?}");
}
