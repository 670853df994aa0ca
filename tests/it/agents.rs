//! The agent runtime on real processes, real worktrees and the built-in scripted agent: spawn,
//! logs, diff, stop (no process left), crash and resume, a killed cw and re-adoption, gc, and
//! every bad input the issue lists.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::TestEnv;

/// An initialised repository whose agent command is `command`.
pub(crate) fn with_agent(agent_command: &str) -> TestEnv {
    let env = TestEnv::initialised();
    let config = env.root().join(".cw/config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    let text = text.replace("command = \"claude\"", &format!("command = {agent_command:?}"));
    let text = text.replace("stop_grace_seconds = 5", "stop_grace_seconds = 2");
    fs_err::write(&config, text).unwrap();
    env
}

/// Adds a task with `title` and `action`; returns its id.
pub(crate) fn add_task(env: &TestEnv, title: &str, action: &str) -> String {
    let run = env.cw(&["task", "add", title, "--description", action, "--json"]);
    run.json()["id"].as_str().unwrap().to_owned()
}

pub(crate) fn agent_json(env: &TestEnv, agent: &str) -> Value {
    let list = env.cw(&["agent", "list", "--json"]).json();
    list.as_array().unwrap().iter().find(|a| a["id"] == agent).cloned().unwrap()
}

fn task_state(env: &TestEnv, task: &str) -> String {
    env.cw(&["task", "show", task, "--json"]).json()["state"].as_str().unwrap().to_owned()
}

/// Polls `check` every 10 ms until it holds, failing after `limit`.
pub(crate) fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn pgid_of(env: &TestEnv, agent: &str) -> u32 {
    let service = env.service();
    let record = service.agent(agent.parse().unwrap()).unwrap();
    record.process.expect("the agent runs").pgid
}

#[test]
fn the_scripted_agent_does_its_task_in_its_own_worktree() {
    let env = with_agent("sim");
    let task = add_task(&env, "Write the greeting", "Write a file.");
    let agent = env.cw(&["agent", "spawn", &task, "--json"]).json();
    assert_eq!(agent["state"], "exited", "{agent}");
    assert_eq!(agent["exit_status"], "exited 0");
    assert_eq!(agent["pid"], Value::Null, "the process is recorded as gone");
    assert!(agent["cost_usd"].as_f64().unwrap() > 0.0, "cost is recorded: {agent}");
    assert!(agent["input_tokens"].as_i64().unwrap() > 0);
    let session = agent["session_id"].as_str().unwrap();
    assert_eq!(session.len(), 36, "a UUID session id: {session}");
    assert_eq!(task_state(&env, &task), "merging");

    // Its own branch and worktree, outside the user's tree, holding one commit with the work.
    let worktree = PathBuf::from(agent["worktree"].as_str().unwrap());
    assert_eq!(agent["branch"], "cw/write-the-greeting-t1");
    assert!(
        !worktree.starts_with(env.root()),
        "worktree {} is outside the repo",
        worktree.display()
    );
    assert!(worktree.starts_with(env.outer()));
    let log = env.git_in(&worktree, &["log", "--format=%s", "-1"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "t1: Write the greeting");
    assert!(worktree.join("cw-sim/t1.txt").is_file());
    let status = env.git_in(&worktree, &["status", "--porcelain"]);
    assert!(status.stdout.is_empty(), "everything is committed");
    // The user's checkout and the integration branch are untouched.
    assert!(!env.root().join("cw-sim").exists());
    let integration = env.git(&["log", "--format=%s", "cw/integration"]);
    assert_eq!(String::from_utf8_lossy(&integration.stdout).trim(), "initial");

    // The per-agent MCP config is private and runs `cw mcp --agent a1` with a token.
    let mcp_config = env.root().join(".cw/agents/a1/mcp.json");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &fs_err::metadata(&mcp_config).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let config: Value =
        serde_json::from_str(&fs_err::read_to_string(&mcp_config).unwrap()).unwrap();
    let server = &config["mcpServers"]["cw"];
    assert_eq!(
        server["args"].as_array().unwrap()[2..],
        [Value::from("mcp"), "--agent".into(), "a1".into()]
    );
    assert!(server["env"]["CW_TOKEN"].as_str().unwrap().starts_with("cwa_"));

    // logs: readable, with tool calls, arguments and the cost; diff: the change.
    let logs = env.cw(&["agent", "logs", "a1"]);
    let logs = logs.ok();
    assert!(logs.contains(&format!("── session {session}")), "{logs}");
    assert!(logs.contains("→ claim_task({})"), "{logs}");
    assert!(logs.contains("→ report_done({\"task_id\":\"t1\",\"outcome\":\"done\""), "{logs}");
    assert!(logs.contains("══ turn done"), "{logs}");
    let diff = env.cw(&["diff", &task]);
    assert!(diff.ok().contains("+t1 done by the scripted agent"), "{diff:?}");
    assert_eq!(env.cw(&["diff", "a1"]).ok(), diff.stdout);

    // gc keeps work that is not merged yet.
    let gc = env.cw(&["gc"]);
    assert!(gc.ok().contains("kept"), "{gc:?}");
    assert!(worktree.is_dir());
}

#[test]
fn stop_leaves_no_process_of_the_group_behind() {
    let env = with_agent("sim");
    let task = add_task(&env, "Busy", "sim: children 5\nsim: hang");
    let spawned = env.cw(&["agent", "spawn", &task, "--detach", "--json"]).json();
    assert_eq!(spawned["state"], "running");
    let pgid = pgid_of(&env, "a1");
    // The agent, its `cw mcp` and five children.
    wait_until(Duration::from_secs(20), "the agent started its children", || {
        cw::process::group_members(pgid).len() >= 7
    });
    let stop = env.cw(&["agent", "stop", "a1"]);
    assert!(stop.ok().contains("agent a1 stopped"), "{stop:?}");
    assert_eq!(cw::process::group_members(pgid), Vec::<u32>::new(), "nothing of the group is left");
    let agent = agent_json(&env, "a1");
    assert_eq!(agent["state"], "stopped");
    assert_eq!(agent["pid"], Value::Null);
    // The task stays with its agent, to be continued.
    assert_eq!(task_state(&env, &task), "claimed");
}

#[test]
fn a_crashed_agent_is_recorded_and_resumes_its_session() {
    let env = with_agent("sim");
    let task = add_task(&env, "Fragile", "sim: crash");
    let run = env.cw(&["agent", "spawn", &task]);
    let error = run.error(1);
    assert!(error.contains("agent a1 exited 3"), "{error}");
    let agent = agent_json(&env, "a1");
    assert_eq!(agent["state"], "crashed");
    let session = agent["session_id"].as_str().unwrap().to_owned();
    assert_eq!(task_state(&env, &task), "claimed", "the claim survives the crash");

    let restart = env.cw(&["agent", "restart", "a1"]);
    assert!(restart.ok().contains("agent a1 restarted"), "{restart:?}");
    wait_until(Duration::from_secs(30), "the resumed agent finished", || {
        agent_json(&env, "a1")["pid"].is_null()
    });
    let agent = agent_json(&env, "a1");
    assert_eq!(agent["session_id"], session.as_str(), "the same session continued");
    assert_eq!(task_state(&env, &task), "merging");
    let stream = fs_err::read_to_string(env.root().join(".cw/agents/a1/stream.jsonl")).unwrap();
    assert_eq!(stream.matches("\"subtype\":\"init\"").count(), 2, "two runs in one log");
    let worktree = PathBuf::from(agent["worktree"].as_str().unwrap());
    assert!(!worktree.join("cw-sim/t1.partial").exists(), "the half-done file was finished");
    assert!(worktree.join("cw-sim/t1.txt").is_file());
}

#[test]
fn agents_outlive_a_killed_cw_and_are_re_adopted() {
    let env = with_agent("sim");
    let task = add_task(&env, "Slow", "sim: sleep 1500");
    let mut cw = env.cw_command(&env.root(), &["agent", "spawn", &task]).spawn().unwrap();
    wait_until(Duration::from_secs(20), "the agent runs", || {
        env.service().agent("a1".parse().unwrap()).is_ok_and(|a| a.process.is_some())
    });
    cw.kill().unwrap();
    cw.wait().unwrap();
    let pgid = pgid_of(&env, "a1");
    assert!(!cw::process::group_members(pgid).is_empty(), "the agent keeps running without cw");
    let listed = agent_json(&env, "a1");
    assert_eq!(listed["state"], "running", "re-adopted, not declared dead: {listed}");
    wait_until(Duration::from_secs(30), "the agent finished", || {
        cw::process::group_members(pgid).is_empty()
    });
    // The next cw that looks records how it ended, from its log.
    let agent = agent_json(&env, "a1");
    assert_eq!(agent["state"], "exited", "{agent}");
    assert!(agent["exit_status"].as_str().unwrap().contains("not its parent"), "{agent}");
    assert_eq!(task_state(&env, &task), "merging");
}

#[test]
fn an_agent_that_ends_at_once_or_never_writes_is_a_crash_with_its_reason() {
    for (program, expected) in
        [("/bin/true", "exited 0: it ended without finishing its turn"), ("/bin/false", "exited 1")]
    {
        let env = with_agent(program);
        let task = add_task(&env, "Nothing", "");
        let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
        assert!(error.contains(expected), "{program}: {error}");
        let agent = agent_json(&env, "a1");
        assert_eq!(agent["state"], "crashed");
        assert_eq!(task_state(&env, &task), "ready", "{program}: the task was never claimed");
    }
}

#[test]
fn a_missing_or_non_executable_agent_command_is_a_clear_error() {
    let env = with_agent("/nonexistent/claude");
    let task = add_task(&env, "Anything", "");
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("cannot run /nonexistent/claude: no such program"), "{error}");
    assert_eq!(agent_json(&env, "a1")["state"], "crashed");
    assert_eq!(task_state(&env, &task), "ready");

    let script = env.outer().join("not-executable.sh");
    fs_err::write(&script, "#!/bin/sh\n").unwrap();
    let env = with_agent(script.to_str().unwrap());
    let task = add_task(&env, "Anything", "");
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("permission denied (is it executable?)"), "{error}");
}

#[test]
fn worktree_and_branch_collisions_and_a_checked_out_integration_branch_are_refused() {
    let env = with_agent("sim");
    let task = add_task(&env, "Collide", "");
    let taken = env.outer().join("repo.cw-worktrees/collide-t1");
    fs_err::create_dir_all(&taken).unwrap();
    fs_err::write(taken.join("mine.txt"), "the user's file\n").unwrap();
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("already exists"), "{error}");
    assert_eq!(fs_err::read_to_string(taken.join("mine.txt")).unwrap(), "the user's file\n");
    fs_err::remove_dir_all(&taken).unwrap();

    env.git(&["branch", "cw/collide-t1"]);
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("the branch cw/collide-t1 already exists"), "{error}");
    env.git(&["branch", "-D", "cw/collide-t1"]);

    env.git(&["checkout", "-q", "cw/integration"]);
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("the integration branch cw/integration is checked out in"), "{error}");
    env.git(&["checkout", "-q", "--detach"]);
    env.git(&["branch", "-D", "cw/integration"]);
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("the branch cw/integration does not exist"), "{error}");
    assert_eq!(task_state(&env, &task), "ready", "nothing was claimed on the way");
}

#[test]
fn a_task_that_is_not_ready_is_not_spawned() {
    let env = with_agent("sim");
    let first = add_task(&env, "First", "");
    let run = env.cw(&["task", "add", "Second", "--after", &first, "--json"]);
    let second = run.json()["id"].as_str().unwrap().to_owned();
    let error = env.cw(&["agent", "spawn", &second]).error(1).to_owned();
    assert!(error.contains("its dependencies are not merged yet"), "{error}");
    let error = env.cw(&["agent", "spawn", "t99"]).error(1).to_owned();
    assert!(error.contains("task t99 does not exist"), "{error}");
    assert!(env.cw(&["agent", "list", "--json"]).json().as_array().unwrap().is_empty());
}

#[test]
fn a_full_disk_under_the_agent_log_is_a_clear_error_and_corrupts_nothing() {
    let env = with_agent("sim");
    let task = add_task(&env, "Log it", "");
    let dir = env.root().join(".cw/agents/a1");
    fs_err::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.join("stream.jsonl")).unwrap();
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(error.contains("No space left on device"), "{error}");
    assert_eq!(task_state(&env, &task), "ready");
    assert_eq!(agent_json(&env, "a1")["state"], "crashed");
    assert_eq!(
        env.cw(&["status", "--json"]).json()["counts"]["ready"],
        1,
        "the database reads fine"
    );
}

#[test]
fn gc_archives_the_unmerged_work_of_a_failed_task_before_removing_it() {
    let env = with_agent("sim");
    let task = add_task(&env, "Doomed", "sim: fail it cannot be done");
    let agent = env.cw(&["agent", "spawn", &task, "--json"]).json();
    assert_eq!(task_state(&env, &task), "failed");
    let worktree = PathBuf::from(agent["worktree"].as_str().unwrap());
    let branch = agent["branch"].as_str().unwrap().to_owned();
    // Work committed on the branch that never merged.
    fs_err::write(worktree.join("attempt.txt"), "partial work\n").unwrap();
    env.git_in(&worktree, &["add", "attempt.txt"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "partial attempt"]);

    let dry = env.cw(&["gc", "--dry-run"]);
    assert!(dry.ok().contains(&format!("would archive {branch}")), "{dry:?}");
    assert!(worktree.is_dir(), "a dry run changes nothing");
    let gc = env.cw(&["gc"]);
    assert!(gc.ok().contains(&format!("archived {branch} as refs/cw/archive/doomed-t1")), "{gc:?}");
    assert!(!worktree.exists());
    let archived = env.git(&["log", "--format=%s", "-1", "refs/cw/archive/doomed-t1"]);
    assert_eq!(String::from_utf8_lossy(&archived.stdout).trim(), "partial attempt");
    assert!(env.cw(&["gc"]).ok().contains("nothing to clean up"));
}

#[test]
fn report_done_names_uncommitted_files() {
    let env = with_agent("sim");
    let task = add_task(&env, "Dirty", "sim: hang");
    let spawned = env.cw(&["agent", "spawn", &task, "--detach", "--json"]).json();
    wait_until(Duration::from_secs(20), "the task is claimed", || {
        task_state(&env, &task) == "claimed"
    });
    let worktree = PathBuf::from(spawned["worktree"].as_str().unwrap());
    fs_err::write(worktree.join("loose.txt"), "uncommitted\n").unwrap();
    let service = env.service();
    let err = service
        .report_done(
            "a1".parse().unwrap(),
            task.parse().unwrap(),
            cw::model::ReportOutcome::Done,
            "done",
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("uncommitted changes in its worktree: loose.txt"), "{err}");
    assert_eq!(task_state(&env, &task), "claimed", "nothing changed");
    // Staged but not committed is not done either (the check then compares the index too).
    env.git_in(&worktree, &["add", "loose.txt"]);
    let report = || {
        service.report_done(
            "a1".parse().unwrap(),
            task.parse().unwrap(),
            cw::model::ReportOutcome::Done,
            "done",
        )
    };
    let err = report().unwrap_err().to_string();
    assert!(err.contains("uncommitted changes in its worktree: loose.txt"), "{err}");
    // Committed, then a tracked file changed in place: named too.
    env.git_in(&worktree, &["commit", "-q", "-m", "loose"]);
    fs_err::write(worktree.join("loose.txt"), "changed\n").unwrap();
    let err = report().unwrap_err().to_string();
    assert!(err.contains("uncommitted changes in its worktree: loose.txt"), "{err}");
    assert_eq!(task_state(&env, &task), "claimed", "nothing changed");
    env.cw(&["agent", "stop", "a1"]).ok();
}

#[test]
fn the_setup_command_runs_in_the_worktree_and_its_failure_is_reported() {
    let env = with_agent("sim");
    let config = env.root().join(".cw/config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(
        &config,
        text.replace("setup_command = \"\"", "setup_command = \"echo preparing; exit 3\""),
    )
    .unwrap();
    let task = add_task(&env, "Needs setup", "");
    let error = env.cw(&["agent", "spawn", &task]).error(1).to_owned();
    assert!(
        error.contains("the setup command `echo preparing; exit 3` failed (exited 3)"),
        "{error}"
    );
    let log = fs_err::read_to_string(env.root().join(".cw/agents/a1/setup.log")).unwrap();
    assert_eq!(log, "preparing\n", "its output is kept");
    assert_eq!(agent_json(&env, "a1")["state"], "crashed");
    assert_eq!(task_state(&env, &task), "ready", "the task waits for a working setup");

    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(&config, text.replace("echo preparing; exit 3", "echo ready > .setup-done"))
        .unwrap();
    let task = add_task(&env, "Set up", "");
    let agent = env.cw(&["agent", "spawn", &task, "--json"]).json();
    let worktree = PathBuf::from(agent["worktree"].as_str().unwrap());
    assert!(worktree.join(".setup-done").is_file(), "setup ran in the worktree");
    assert_eq!(agent["exit_status"], "exited 0");
}

#[test]
fn logs_follow_an_agent_until_it_ends() {
    let env = with_agent("sim");
    let task = add_task(&env, "Follow me", "sim: sleep 300");
    env.cw(&["agent", "spawn", &task, "--detach"]).ok();
    let logs = env.cw(&["agent", "logs", "a1", "-f"]);
    let logs = logs.ok();
    assert!(logs.contains("→ claim_task({})"), "{logs}");
    assert!(logs.ends_with("out tokens)\n"), "it followed to the end of the turn: {logs}");
    assert_eq!(agent_json(&env, "a1")["state"], "exited");
    let raw = env.cw(&["agent", "logs", "a1", "--raw"]);
    assert!(
        raw.ok().lines().all(|l| serde_json::from_str::<Value>(l).is_ok()),
        "raw is stream-json"
    );
}
