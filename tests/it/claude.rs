//! End to end with the real `claude` binary (installed at a pinned version by
//! tools/test-deps.sh; a failed install fails these tests) driven offline against our fake
//! Anthropic API (tools/fake_anthropic.py): cw spawns it in the task's worktree, it claims the
//! task over MCP, writes, commits, reports done and requests the merge; killed mid-run, it is
//! resumed with `--resume`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::agents::{add_task, agent_json, wait_until, with_agent};
use crate::support::{Run, TestEnv, command, test_dep};

/// The fake API server, stopped when dropped.
struct FakeApi {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeApi {
    fn start() -> FakeApi {
        let dir = tempfile::tempdir().unwrap();
        let port_file = dir.path().join("port");
        let log = dir.path().join("requests.jsonl");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fake_anthropic.py");
        let child = command("python3")
            .arg(script)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&log)
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        wait_until(Duration::from_secs(10), "the fake API listens", || port_file.is_file());
        let port = fs_err::read_to_string(&port_file).unwrap();
        FakeApi { child, url: format!("http://127.0.0.1:{}", port.trim()), log, _dir: dir }
    }

    fn requests(&self) -> Vec<Value> {
        fs_err::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A repository whose agent command is the pinned real `claude`.
fn claude_repo() -> TestEnv {
    let claude = test_dep("claude/node_modules/.bin/claude");
    let env = with_agent(claude.to_str().unwrap());
    // Claude's `git commit` needs an identity; the hermetic env gives one, the repo keeps it.
    env.git(&["config", "user.name", "Claude Test"]);
    env.git(&["config", "user.email", "claude@example.com"]);
    env
}

/// `cw` with the environment that makes `claude` hermetic and offline.
fn cw_claude(env: &TestEnv, api: &FakeApi, home: &Path, args: &[&str]) -> Command {
    let mut cw = env.cw_command(&env.root(), args);
    let scratch = home.join("t");
    fs_err::create_dir_all(&scratch).unwrap();
    cw.env("HOME", home)
        .env("ANTHROPIC_BASE_URL", &api.url)
        .env("ANTHROPIC_API_KEY", "fake-key")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_TELEMETRY", "1")
        .env("DISABLE_ERROR_REPORTING", "1")
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_MAX_RETRIES", "2")
        .env("CLAUDE_CODE_TMPDIR", &scratch)
        .env("IS_SANDBOX", "1");
    cw
}

fn run(mut command: Command) -> Run {
    Run::from(&command.output().unwrap())
}

#[test]
fn the_real_claude_claims_commits_and_reports_done() {
    let env = claude_repo();
    let api = FakeApi::start();
    let home = tempfile::tempdir().unwrap();
    let task = add_task(&env, "Write the fake file", "Write fake-t1.txt and commit it.");
    let agent =
        run(cw_claude(&env, &api, home.path(), &["agent", "spawn", &task, "--json"])).json();
    assert_eq!(agent["exit_status"], "exited 0", "{agent}");
    let session = agent["session_id"].as_str().unwrap();
    let stream = fs_err::read_to_string(env.root().join(".cw/agents/a1/stream.jsonl")).unwrap();
    assert!(
        stream.contains(&format!("\"session_id\":\"{session}\"")),
        "claude used cw's session id"
    );
    assert!(agent["cost_usd"].as_f64().unwrap() > 0.0, "claude's cost is recorded: {agent}");
    assert!(agent["output_tokens"].as_i64().unwrap() > 0);
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!(shown["state"], "merging");
    assert_eq!(shown["result_summary"], "wrote fake-t1.txt");
    let worktree = PathBuf::from(agent["worktree"].as_str().unwrap());
    let log = env.git_in(&worktree, &["log", "--format=%s", "-1"]);
    assert_eq!(String::from_utf8_lossy(&log.stdout).trim(), "t1: fake change");
    assert_eq!(
        fs_err::read_to_string(worktree.join("fake-t1.txt")).unwrap(),
        "written by claude for t1\n"
    );
    // Every request carried cw's session id.
    let steps: Vec<Value> = api.requests().into_iter().filter(|r| r["kind"] == "step").collect();
    assert_eq!(steps.len(), 7, "{steps:?}");
    assert!(steps.iter().all(|s| s["session"] == session));
    let logs = env.cw(&["agent", "logs", "a1"]);
    assert!(logs.ok().contains("→ Write("), "{logs:?}");
}

#[test]
fn a_killed_claude_is_resumed_with_its_session() {
    let env = claude_repo();
    let api = FakeApi::start();
    let home = tempfile::tempdir().unwrap();
    // `[slow]`: the fake holds its answer to step 1 until the session is resumed.
    let task = add_task(&env, "Slow work [slow]", "Write the file and commit it.");
    let spawned =
        run(cw_claude(&env, &api, home.path(), &["agent", "spawn", &task, "--detach", "--json"]))
            .json();
    let session = spawned["session_id"].as_str().unwrap().to_owned();
    wait_until(Duration::from_secs(30), "claude asked for step 1", || {
        api.requests().iter().any(|r| r["step"] == 1)
    });
    // Claude writes its transcript (what --resume reads) asynchronously: wait until it holds the
    // claim's result, as a real crash some time into a session would find it.
    let transcript = home.path().join(".claude/projects");
    wait_until(Duration::from_secs(30), "the transcript holds the claim", || {
        transcript_has(&transcript, &session, "tool_result")
    });
    // Kill it mid-run: the whole process group, without warning.
    let pgid = env.service().agent("a1".parse().unwrap()).unwrap().process.unwrap().pgid;
    let killed = command("kill").args(["-KILL", "--", &format!("-{pgid}")]).status().unwrap();
    assert!(killed.success());
    wait_until(Duration::from_secs(10), "the group is gone", || {
        cw::process::group_members(pgid).is_empty()
    });
    let crashed = agent_json(&env, "a1");
    assert_eq!(crashed["state"], "crashed", "{crashed}");
    assert_eq!(env.cw(&["task", "show", &task, "--json"]).json()["state"], "claimed");

    let restart = run(cw_claude(&env, &api, home.path(), &["agent", "restart", "a1"]));
    assert!(restart.ok().contains("restarted"), "{restart:?}");
    wait_until(Duration::from_secs(60), "the resumed claude finished", || {
        agent_json(&env, "a1")["pid"].is_null()
    });
    // `restart` returned at once, so the next cw to look (this `agent list`) records the end.
    let agent = agent_json(&env, "a1");
    let logs = env.cw(&["agent", "logs", "a1"]).stdout;
    assert_eq!(agent["state"], "exited", "{agent}\n{logs}\n{:?}", api.requests());
    assert!(agent["cost_usd"].as_f64().unwrap() > 0.0, "the resumed run's cost counts: {agent}");
    assert_eq!(agent["session_id"], session.as_str(), "--resume kept the session");
    assert_eq!(env.cw(&["task", "show", &task, "--json"]).json()["state"], "merging");
    let resumed: Vec<Value> = api
        .requests()
        .into_iter()
        .filter(|r| r["kind"] == "step" && r["resumed"] == true)
        .collect();
    assert!(!resumed.is_empty(), "the later requests continued the conversation");
    assert!(resumed.iter().all(|r| r["session"] == session.as_str()));
}

/// True when Claude's transcript of `session` (somewhere under `projects`) contains `needle`.
fn transcript_has(projects: &Path, session: &str, needle: &str) -> bool {
    let Ok(dirs) = fs_err::read_dir(projects) else { return false };
    dirs.filter_map(Result::ok).any(|dir| {
        fs_err::read_to_string(dir.path().join(format!("{session}.jsonl")))
            .is_ok_and(|text| text.contains(needle))
    })
}

/// `cw run --exit-when-done` with the real `claude`: three tasks, one waiting on another, all
/// merged, the dependency first.
#[test]
fn cw_run_drives_the_real_claude_through_a_plan_to_the_end() {
    let env = claude_repo();
    let config = env.root().join(".cw/config.toml");
    let text = fs_err::read_to_string(&config)
        .unwrap()
        .replace("memory_headroom_mb = 1024", "memory_headroom_mb = 0")
        .replace("agent_memory_mb = 500", "agent_memory_mb = 0");
    fs_err::write(&config, text).unwrap();
    let api = FakeApi::start();
    let home = tempfile::tempdir().unwrap();
    let first = add_task(&env, "First", "Write fake-t1.txt and commit it.");
    let second = add_task(&env, "Second", "Write fake-t2.txt and commit it.");
    let third = env.cw(&["task", "add", "Third", "--after", &first, "--json"]).json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run =
        run(cw_claude(&env, &api, home.path(), &["run", "--exit-when-done", "--agents", "2"]));
    // Progress is on stderr.
    assert!(run.stderr.contains("done: 3 of 3 tasks merged"), "{run:?}");
    for task in [&first, &second, &third] {
        let file = env.git(&["show", &format!("cw/integration:fake-{task}.txt")]);
        assert_eq!(
            String::from_utf8_lossy(&file.stdout),
            format!("written by claude for {task}\n")
        );
    }
    let log = env.git(&["log", "--first-parent", "--reverse", "--format=%s", "cw/integration"]);
    let merges: Vec<String> = String::from_utf8_lossy(&log.stdout)
        .lines()
        .filter(|l| l.starts_with("Merge "))
        .map(str::to_owned)
        .collect();
    assert_eq!(merges.len(), 3, "{merges:?}");
    let at = |task: &str| merges.iter().position(|m| m.ends_with(&format!("({task})"))).unwrap();
    assert!(at(&first) < at(&third), "{merges:?}");
    // The third one's claude started once the first was merged, in a worktree cut from there.
    let line_of = |needle: &str| run.stderr.lines().position(|l| l.contains(needle));
    let started_third = line_of(&format!("on {third}: Third")).expect("the third task started");
    assert!(line_of(&format!("merged {first} ")) < Some(started_third), "{run:?}");
    let log = env.git(&["log", "--first-parent", "--format=%H %s", "cw/integration"]);
    let log = String::from_utf8_lossy(&log.stdout).into_owned();
    let merge = log.lines().find(|l| l.ends_with(&format!("({third})"))).unwrap();
    let work = format!("{}^2:fake-{first}.txt", merge.split(' ').next().unwrap());
    assert!(env.git(&["show", &work]).status.success(), "{third} was done on top of {first}");
    let agents = env.cw(&["agent", "list", "--json"]).json();
    assert!(agents.as_array().unwrap().iter().all(|a| a["cost_usd"].as_f64().unwrap() > 0.0));
}

/// `claude mcp add` with cw's URLs — legacy SSE and streamable HTTP — and `claude mcp list`
/// shows both connected; a bad token is shown refused, not sent into OAuth.
#[test]
fn claude_mcp_list_connects_to_cw_over_sse_and_http() {
    let env = TestEnv::initialised();
    let server = env.start_server();
    let home = tempfile::tempdir().unwrap();
    let operator = fs_err::read_to_string(env.root().join(".cw/operator.token")).unwrap();
    let bearer = format!("Authorization: Bearer {}", operator.trim());
    let claude = |args: &[&str]| {
        let mut claude = command(test_dep("claude/node_modules/.bin/claude"));
        claude
            .args(args)
            .current_dir(env.root())
            .env("HOME", home.path())
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1");
        run(claude)
    };
    let sse = server.url.replace("/mcp", "/sse");
    claude(&["mcp", "add", "--transport", "sse", "cw-sse", &sse, "--header", &bearer]).ok();
    claude(&["mcp", "add", "--transport", "http", "cw-http", &server.url, "--header", &bearer])
        .ok();
    let forged = "Authorization: Bearer cwo_forged";
    claude(&["mcp", "add", "--transport", "sse", "cw-forged", &sse, "--header", forged]).ok();
    let listed = claude(&["mcp", "list"]).ok().to_owned();
    let line = |name: &str| {
        listed
            .lines()
            .find(|line| line.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} is not listed: {listed}"))
            .to_owned()
    };
    assert!(line("cw-sse").contains("(SSE)") && line("cw-sse").contains("Connected"), "{listed}");
    assert!(line("cw-http").contains("Connected"), "{listed}");
    assert!(line("cw-forged").contains("Failed"), "{listed}");
}

/// `cw mcp install` writes the project's `.mcp.json` (keeping what else is there) and the real
/// `claude mcp list` connects to it.
#[test]
fn cw_mcp_install_makes_an_entry_claude_connects_to() {
    let env = TestEnv::initialised();
    let other = r#"{"mcpServers": {"other": {"command": "other-server"}}, "note": "kept"}"#;
    env.write(".mcp.json", other);
    let installed = env.cw(&["mcp", "install", "--json"]).json();
    assert_eq!(installed["changed"], true);
    // cw's test binary is not the cw on PATH: the entry names it by its absolute path.
    let entry = installed["command"].as_str().unwrap().to_owned();
    assert!(Path::new(&entry).is_absolute(), "{installed}");
    let config: Value =
        serde_json::from_str(&fs_err::read_to_string(env.root().join(".mcp.json")).unwrap())
            .unwrap();
    assert_eq!(config["mcpServers"]["other"]["command"], "other-server");
    assert_eq!(config["note"], "kept");
    assert_eq!(config["mcpServers"]["cw"]["args"], serde_json::json!(["mcp"]));
    assert_eq!(env.cw(&["mcp", "install", "--json"]).json()["changed"], false);
    // The user's keys keep their order (a rewrite shows in `git diff` as the one entry added).
    let ordered =
        r#"{"zeta": 1, "mcpServers": {"other": {"command": "x", "args": []}}, "alpha": 2}"#;
    env.write(".mcp.json", ordered);
    env.cw(&["mcp", "install"]).ok();
    let text = fs_err::read_to_string(env.root().join(".mcp.json")).unwrap();
    let at = |key: &str| text.find(key).unwrap_or_else(|| panic!("{key} in {text}"));
    assert!(at("zeta") < at("mcpServers") && at("mcpServers") < at("alpha"), "{text}");
    assert!(at("\"command\": \"x\"") < at("\"args\": []") && at("other") < at("\"cw\""), "{text}");
    // A file that is not an object is refused and left byte for byte.
    env.write(".mcp.json", "[1, 2]");
    assert!(env.cw(&["mcp", "install"]).error(1).contains("is not a JSON object"));
    assert_eq!(fs_err::read_to_string(env.root().join(".mcp.json")).unwrap(), "[1, 2]");
    fs_err::remove_file(env.root().join(".mcp.json")).unwrap();
    env.cw(&["mcp", "install"]).ok();
    // Project servers need approval in an interactive claude; the setting approves them here.
    let home = tempfile::tempdir().unwrap();
    fs_err::create_dir_all(home.path().join(".claude")).unwrap();
    fs_err::write(
        home.path().join(".claude/settings.json"),
        r#"{"enableAllProjectMcpServers": true}"#,
    )
    .unwrap();
    let mut claude = command(test_dep("claude/node_modules/.bin/claude"));
    claude
        .args(["mcp", "list"])
        .current_dir(env.root())
        .env("HOME", home.path())
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
        .env("DISABLE_AUTOUPDATER", "1");
    let listed = run(claude);
    let line = listed.ok().lines().find(|l| l.starts_with("cw:")).map(str::to_owned);
    assert!(line.as_deref().is_some_and(|l| l.contains("Connected")), "{listed:?}");
}
