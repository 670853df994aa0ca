//! Agents on several hosts: `cw worker` processes, each in a clone of its own with a home of its
//! own, share one PostgreSQL state with `cw run --agents 0`, which only merges. Every task is
//! merged exactly once; a worker killed mid-run loses nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::postgres;
use crate::support::{TestEnv, command, cw_binary, wait_for_exit};

/// `cw run` serving, with what it printed so far (killed if the test ends first).
struct Coordinator {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A worker process, killed if the test ends first (a failed test must not leave it running).
struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_coordinator(env: &TestEnv, args: &[&str]) -> Coordinator {
    let mut child = env
        .cw_command(&env.root(), args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "cw run exited before serving");
        if let Some(rest) = line.split("serving MCP on ").nth(1) {
            let url = rest.split_whitespace().next().unwrap();
            break url.trim_end_matches("/mcp").to_owned();
        }
    };
    let log = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            sink.lock().unwrap().push_str(&format!("{line}\n"));
        }
    });
    Coordinator { child, base, log }
}

/// A clone of `main`'s repository for a worker host, at `<temp>/<name>`.
fn clone_for(main: &TestEnv, name: &str) -> PathBuf {
    let dir = main.outer().join(name);
    let source = main.root();
    main.git_in(&main.outer(), &["clone", "-q", source.to_str().unwrap(), dir.to_str().unwrap()]);
    dir
}

/// Starts `cw worker` as host `name` in `clone`, with a home of its own; its stderr goes to
/// `<temp>/<name>.log`.
fn start_worker(main: &TestEnv, clone: &Path, base: &str, token: &str, name: &str) -> Worker {
    let home = main.outer().join(format!("home-{name}"));
    fs_err::create_dir_all(&home).unwrap();
    let log = main.outer().join(format!("{name}.log"));
    command(cw_binary())
        .args(["worker", "--server", base, "--agents", "2", "--agent-command", "sim"])
        .arg("--exit-when-done")
        .env("CW_WORKER_TOKEN", token)
        .env("HOME", home)
        .current_dir(clone)
        .stdout(Stdio::null())
        .stderr(fs_err::File::create(log).unwrap().into_parts().0)
        .spawn()
        .map(Worker)
        .unwrap()
}

/// A plan of `total` tasks in chains of three, each writing its own file.
fn add_plan(env: &TestEnv, total: usize) {
    let mut previous: Option<String> = None;
    for i in 0..total {
        let description = format!("write f{i}.txt {i}");
        let mut args = vec!["task", "add", "step", "--description", &description, "--json"];
        let after = previous.clone().filter(|_| i % 3 != 0);
        if let Some(after) = &after {
            args.extend(["--after", after]);
        }
        previous = Some(env.cw(&args).json()["id"].as_str().unwrap().to_owned());
    }
}

#[test]
fn two_workers_run_a_plan_that_cw_run_only_merges() {
    let url = postgres::fresh_database();
    let main = TestEnv::repo_with_database(Some(url.clone()));
    main.cw(&["init"]).ok();
    crate::coordinator::configure_sim(&main, "");
    crate::coordinator::edit_config(&main, "heartbeat_seconds = 5", "heartbeat_seconds = 1");
    add_plan(&main, 12);
    let mut coordinator = start_coordinator(&main, &["run", "--agents", "0", "--exit-when-done"]);
    let mut workers = Vec::new();
    for name in ["w1", "w2"] {
        let token = main.cw(&["worker", "add", name, "--json"]).json()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let clone = clone_for(&main, name);
        let log = main.outer().join(format!("{name}.log"));
        workers.push((start_worker(&main, &clone, &coordinator.base, &token, name), log));
    }
    let why = || {
        let logs: Vec<String> = workers_logs(&main);
        format!(
            "{:?}\ncw run:\n{}\n{}",
            postgres::try_run(&url, "SELECT id || ' ' || state FROM tasks ORDER BY id"),
            coordinator.log.lock().unwrap(),
            logs.join("\n")
        )
    };
    let code = wait_for_exit(&mut coordinator.child, Duration::from_secs(120), "cw run", why);
    assert_eq!(code, 0, "cw run: {}", why());
    for (worker, log) in &mut workers {
        let code = wait_for_exit(&mut worker.0, Duration::from_secs(30), "a worker to end", || {
            fs_err::read_to_string(&*log).unwrap_or_default()
        });
        assert_eq!(code, 0, "{}", fs_err::read_to_string(&*log).unwrap_or_default());
    }
    let merged = postgres::run(&url, "SELECT count(*) FROM tasks WHERE state = 'merged'");
    assert_eq!(merged, ["12"], "{}", why());
    let twice = postgres::run(
        &url,
        "SELECT task_id FROM merges WHERE state = 'merged' GROUP BY task_id HAVING count(*) > 1",
    );
    assert!(twice.is_empty(), "merged twice: {twice:?}");
    let hosts = postgres::run(&url, "SELECT DISTINCT coalesce(host, '-') FROM agents ORDER BY 1");
    assert_eq!(hosts, ["w1", "w2"], "every agent ran on a worker, and both worked");
    // The work is on the coordinator's integration branch.
    let files = main.git(&["ls-tree", "-r", "--name-only", "cw/integration"]);
    let files = String::from_utf8_lossy(&files.stdout);
    for i in 1..=12 {
        let name = format!("cw-sim/t{i}.txt");
        assert!(files.lines().any(|f| f == name), "{name} missing: {files}");
    }
    let listed = main.cw(&["worker", "list", "--json"]).json();
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    assert_eq!(listed[0]["name"], "w1");
    assert_eq!(listed[0]["agents"], 2, "the capacity it reported");
    assert!(listed[0]["last_seen"].is_string(), "{listed}");
    // Where each agent ran, in status and in the agent list.
    let status = main.cw(&["status", "--json"]).json();
    assert_eq!(status["hosts"].as_array().unwrap().len(), 2, "{status}");
    let agents = main.cw(&["agent", "list", "--json"]).json();
    assert!(
        agents.as_array().unwrap().iter().all(|a| a["host"] == "w1" || a["host"] == "w2"),
        "{agents}"
    );
    assert!(main.cw(&["status"]).ok().contains("hosts:\n  w1"), "the text status names the hosts");
}

fn workers_logs(main: &TestEnv) -> Vec<String> {
    ["w1", "w2", "w3"]
        .iter()
        .map(|name| {
            let log = main.outer().join(format!("{name}.log"));
            format!("{name}:\n{}", fs_err::read_to_string(log).unwrap_or_default())
        })
        .collect()
}

/// The pids of every process `cw worker` started in `clone` (its agents and their `cw mcp`):
/// those whose environment names `clone` as their repository.
fn processes_of(clone: &Path) -> Vec<nix::unistd::Pid> {
    let marker = format!("CW_REPO={}", clone.display());
    let mut found = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|var| var == marker.as_bytes()) {
            found.push(nix::unistd::Pid::from_raw(pid));
        }
    }
    found
}

/// Sends `signal` to a worker and every process it started.
fn signal_host(worker: &Child, clone: &Path, signal: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(worker.id()).unwrap());
    let mut all = vec![pid];
    all.extend(processes_of(clone));
    for pid in all {
        let _ = nix::sys::signal::kill(pid, signal);
    }
}

/// Three hosts, 60 tasks. One host is killed with its agents (a power cut); one is frozen, all
/// its processes stopped (cut off: it neither beats nor writes), and thawed once its tasks went
/// to others. Every task is merged exactly once, and nothing the frozen host's agents did after
/// losing their tasks lands.
#[test]
fn a_worker_killed_and_one_cut_off_mid_run_lose_nothing_and_no_stale_work_lands() {
    use nix::sys::signal::Signal;
    let url = postgres::fresh_database();
    let main = TestEnv::repo_with_database(Some(url.clone()));
    main.cw(&["init"]).ok();
    crate::coordinator::configure_sim(&main, "");
    crate::coordinator::edit_config(&main, "lease_seconds = 1800", "lease_seconds = 3");
    crate::coordinator::edit_config(&main, "heartbeat_seconds = 5", "heartbeat_seconds = 1");
    crate::coordinator::edit_config(&main, "lost_after_seconds = 30", "lost_after_seconds = 3");
    let total = 60;
    for i in 0..total {
        main.cw(&["task", "add", &format!("step {i}"), "--description", "sim: sleep 300"]).ok();
    }
    let mut coordinator = start_coordinator(&main, &["run", "--agents", "0", "--exit-when-done"]);
    let log = Arc::clone(&coordinator.log);
    let mut clones = Vec::new();
    let mut workers = Vec::new();
    for name in ["w1", "w2", "w3"] {
        let token = main.cw(&["worker", "add", name, "--json"]).json()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let clone = clone_for(&main, name);
        workers.push(start_worker(&main, &clone, &coordinator.base, &token, name));
        clones.push(clone);
    }
    let count = |sql: &str| -> u32 {
        let rows = postgres::try_run(&url, sql).unwrap_or_default();
        rows.first().and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    let held_by = |host: &str| {
        count(&format!(
            "SELECT count(*) FROM tasks t JOIN agents a ON a.id = t.agent_id
             WHERE a.host = '{host}' AND t.state = 'claimed'"
        ))
    };
    let why = || {
        format!(
            "{:?}\ncw run:\n{}\n{}",
            postgres::try_run(
                &url,
                "SELECT id || ' ' || state || ' ' || attempts FROM tasks ORDER BY id"
            ),
            log.lock().unwrap(),
            workers_logs(&main).join("\n")
        )
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while held_by("w1") == 0
        || held_by("w2") == 0
        || count("SELECT count(*) FROM tasks WHERE state = 'merged'") < 6
    {
        assert!(Instant::now() < deadline, "the hosts never all worked: {}", why());
        std::thread::sleep(Duration::from_millis(20));
    }
    signal_host(&workers[0].0, &clones[0], Signal::SIGKILL);
    let _ = workers[0].0.wait();
    signal_host(&workers[1].0, &clones[1], Signal::SIGSTOP);
    // What w2's agents were working on when it was cut off: (task, its agent then).
    let stale: Vec<(String, String)> = postgres::run(
        &url,
        "SELECT t.id || ' ' || a.id FROM tasks t JOIN agents a ON a.id = t.agent_id
         WHERE a.host = 'w2' AND t.state = 'claimed'",
    )
    .iter()
    .map(|row| {
        let (task, agent) = row.split_once(' ').unwrap();
        (task.to_owned(), agent.to_owned())
    })
    .collect();
    // Thawed once every task it held has gone to another agent.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let retaken = stale.iter().all(|(task, agent)| {
            count(&format!(
                "SELECT count(*) FROM tasks WHERE id = {task} AND coalesce(agent_id, 0) <> {agent}"
            )) == 1
        });
        if retaken {
            break;
        }
        assert!(Instant::now() < deadline, "w2's tasks were never taken over: {}", why());
        std::thread::sleep(Duration::from_millis(50));
    }
    signal_host(&workers[1].0, &clones[1], Signal::SIGCONT);

    let code = wait_for_exit(&mut coordinator.child, Duration::from_secs(180), "cw run", why);
    assert_eq!(code, 0, "cw run: {}", why());
    assert_eq!(count("SELECT count(*) FROM tasks WHERE state = 'merged'"), total, "{}", why());
    let twice = count(
        "SELECT count(*) FROM (SELECT task_id FROM merges WHERE state = 'merged'
         GROUP BY task_id HAVING count(*) > 1) AS twice",
    );
    assert_eq!(twice, 0, "a task merged twice: {}", why());
    // Thawed, each agent of the cut-off host went on where it was: its report on the task it had
    // lost meanwhile was refused (the holder is checked in the database; its branch was pushed
    // nowhere). A task it then got back through a new claim is its own again, legitimately.
    for (task, agent) in &stale {
        let stream = clones[1].join(format!(".cw/agents/a{agent}/stream.jsonl"));
        let text = fs_err::read_to_string(&stream).unwrap_or_default();
        assert!(
            text.contains(&format!("task t{task} is not held by agent a{agent}")),
            "a{agent} was not refused on t{task}: {text}\n{}",
            why()
        );
    }
    let retried = count("SELECT count(*) FROM tasks WHERE attempts > 0");
    assert!(retried > 0, "{}", why());
}

#[test]
fn a_worker_is_refused_with_the_reason_and_sets_nothing_up() {
    let main = TestEnv::repo_with_database(None);
    main.cw(&["init"]).ok();
    let run = main.cw(&["worker", "add", "no spaces"]);
    assert!(run.error(1).contains("a host name is 1 to 64 letters"), "{run:?}");
    let token =
        main.cw(&["worker", "add", "w1", "--json"]).json()["token"].as_str().unwrap().to_owned();
    assert!(main.cw(&["worker", "add", "w1"]).error(1).contains("a host named w1 exists"));
    let coordinator = start_coordinator(&main, &["run", "--no-dispatch"]);
    let clone = clone_for(&main, "w1");
    let worker = |args: &[&str], token: &str| {
        let output = command(cw_binary())
            .args(args)
            .env("CW_WORKER_TOKEN", token)
            .current_dir(&clone)
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = worker(&["worker"], &token);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("needs --server"), "{stderr}");
    let (code, stderr) = worker(&["worker", "--server", &coordinator.base], "cwk_forged");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("not a host token of this repository"), "{stderr}");
    // This coordinator's state is in .cw/cw.db: nothing a worker elsewhere could share.
    let (code, stderr) = worker(&["worker", "--server", &coordinator.base], &token);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("cw store migrate"), "{stderr}");
    assert!(!clone.join(".cw").exists(), "a refused worker sets nothing up");
    let (code, stderr) = worker(&["worker", "--server", "https://example.invalid"], &token);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("SSH tunnel"), "{stderr}");
    drop(coordinator);
    main.cw(&["worker", "remove", "w1"]).ok();
    assert_eq!(main.cw(&["worker", "list", "--json"]).json(), serde_json::json!([]));
}

/// A task whose earlier agent left work on the task's branch and is gone (its host lost after a
/// bounce, its worktree removed) is continued from that branch by the next agent, on a branch of
/// its own; a branch of the same name that no agent of the task recorded is never built on.
#[test]
fn the_next_agent_continues_from_the_branch_an_earlier_one_left() {
    let env = crate::coordinator::sim_env("");
    let task = crate::agents::add_task(&env, "Resumed", "");
    let service = env.service();
    let id: cw::model::TaskId = task.parse().unwrap();
    let earlier = service.prepare_agent(id).unwrap().agent.id;
    let gone = env.outer().join("gone-worktree");
    service.record_agent_workspace(earlier, gone.to_str().unwrap(), "cw/resumed-t1", "s").unwrap();
    service
        .record_agent_exit(earlier, cw::service::ExitKind::Crashed, "its host was lost")
        .unwrap();
    // The work it pushed: one commit on the task's branch.
    env.git(&[
        "worktree",
        "add",
        "-q",
        "-b",
        "cw/resumed-t1",
        gone.to_str().unwrap(),
        "cw/integration",
    ]);
    fs_err::write(gone.join("earlier.txt"), "done before the host was lost\n").unwrap();
    env.git_in(&gone, &["add", "earlier.txt"]);
    env.git_in(&gone, &["commit", "-q", "-m", "t1: earlier work"]);
    env.git(&["worktree", "remove", "--force", gone.to_str().unwrap()]);

    env.cw(&["run", "--agent-command", "sim", "--exit-when-done"]).ok();
    let files = env.git(&["ls-tree", "-r", "--name-only", "cw/integration"]);
    let files = String::from_utf8_lossy(&files.stdout);
    assert!(files.lines().any(|f| f == "earlier.txt"), "the earlier work was merged: {files}");
    assert!(files.lines().any(|f| f == "cw-sim/t1.txt"), "{files}");
    let agents = env.cw(&["agent", "list", "--json"]).json();
    let branches: Vec<&str> =
        agents.as_array().unwrap().iter().filter_map(|a| a["branch"].as_str()).collect();
    assert!(branches.contains(&"cw/resumed-t1-again0"), "{branches:?}");
}
