//! The MCP server driven by clients we did not write: the Python `mcp` SDK (default and legacy
//! protocol modes) and the MCP Inspector CLI, over stdio and HTTP.

use std::io::{BufRead, Read, Write};
use std::process::Stdio;

use serde_json::Value;

use crate::support::{RunningServer, TestEnv, command, cw_binary, test_dep};

/// A repository with two ready tasks, fast ask_user progress, and one agent.
fn setup() -> (TestEnv, String) {
    let env = TestEnv::initialised();
    env.write(".cw/config.toml", "[mcp]\nask_wait_seconds = 60\nprogress_seconds = 1\n");
    env.cw(&["task", "add", "paint the button"]).ok();
    env.cw(&["task", "add", "another task"]).ok();
    let token = env.cw(&["agent", "register", "--name", "client", "--json"]).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (env, token)
}

fn operator_token(env: &TestEnv) -> String {
    fs_err::read_to_string(env.root().join(".cw/operator.token")).unwrap().trim().to_owned()
}

/// Runs tests/clients/mcp_client.py and returns its JSON result.
pub(crate) fn python(env: &TestEnv, args: &[&str]) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_client.py");
    let root = env.root();
    let output = command(test_dep("venv/bin/python"))
        .arg(script)
        .args(args)
        .args(["--cw", cw_binary().to_str().unwrap(), "--repo", root.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
}

fn check_flow(result: &Value) {
    let names = |v: &Value| {
        v.as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(
        names(&result["tools"]),
        [
            "ask_user",
            "claim_task",
            "get_messages",
            "report_done",
            "report_progress",
            "request_merge"
        ]
    );
    assert_eq!(result["claim"]["data"]["task"]["task_id"], "t1");
    assert_eq!(result["claim"]["data"]["task"]["title"], "paint the button");
    assert_eq!(result["again"]["data"]["task"]["already_held"], true);
    assert_eq!(result["progress"]["data"]["state"], "claimed");
    let error = |key: &str| {
        assert_eq!(result[key]["is_error"], true, "{key} should be a tool error: {}", result[key]);
        result[key]["text"].as_str().unwrap().to_owned()
    };
    assert!(error("not_mine").contains("an agent may only act on its own task"));
    assert_eq!(error("unknown"), "task t999 does not exist (see `cw task list`)");
    assert!(error("bad_id").contains("is not a task id"));
    assert!(error("wrong_type").contains("expected a string"));
    assert!(error("missing_field").contains("missing field `summary`"));
    assert!(error("oversized").contains("at most 2000 characters"));
    assert!(error("operator_tool").contains("this tool is for the operator"));
    assert!(
        result["unknown_tool"].as_str().unwrap().contains("tool not found"),
        "{}",
        result["unknown_tool"]
    );
    assert_eq!(result["ask"]["data"]["status"], "answered");
    assert_eq!(result["ask"]["data"]["answer"], "blue");
    assert!(
        !result["progress_messages"].as_array().unwrap().is_empty(),
        "no progress while waiting"
    );
    assert_eq!(result["answer_cli"][1]["code"], 0);
    assert_eq!(result["answer_cli"][2]["code"], 1);
    assert!(
        result["answer_cli"][2]["stderr"]
            .as_str()
            .unwrap()
            .contains("was already answered from the command line; nothing changed")
    );
    assert_eq!(result["done"]["data"]["state"], "done");
    assert_eq!(result["merge"]["data"]["state"], "queued");
    assert_eq!(result["messages"]["data"]["messages"][0]["body"], "please also update the docs");
    assert_eq!(result["messages_again"]["data"]["messages"], serde_json::json!([]));
    assert_eq!(
        names(&result["operator_tools"]),
        [
            "add_task",
            "answer_question",
            "cancel_task",
            "diff",
            "list_agents",
            "list_questions",
            "list_tasks",
            "restart_agent",
            "retry_task",
            "send_message",
            "show_task",
            "status",
            "stop_agent"
        ]
    );
    // Pages in id order, with a cursor to go on from.
    let page = |key: &str| result[key]["data"]["tasks"].as_array().unwrap().clone();
    assert_eq!(page("op_page1").len(), 1);
    assert_eq!(page("op_page1")[0]["id"], "t1");
    assert_eq!(result["op_page1"]["data"]["total"], 3);
    assert_eq!(page("op_page2")[0]["id"], "t2");
    assert!(error("op_bad_state").contains("unknown task state 'banana'"));
    assert_eq!(result["op_show"]["data"]["title"], "paint the button");
    // The operator is told what to do in MCP terms; an agent keeps the CLI's words.
    assert_eq!(error("op_missing"), "task t999 does not exist (see `list_tasks`)");
    assert_eq!(result["op_cancel"]["data"]["state"], "cancelled");
    assert_eq!(result["op_retry"]["data"]["state"], "ready");
    assert_eq!(result["op_diff"]["data"]["branch"], result["claim"]["data"]["task"]["branch"]);
    assert!(error("op_restart").contains("registered by hand"), "{}", result["op_restart"]);
    assert!(error("op_unknown_arg").contains("unknown field `verbose`"));
    assert_eq!(result["op_questions"]["data"]["questions"], serde_json::json!([]));
    assert_eq!(result["op_questions_full"]["data"]["questions"], serde_json::json!([]));
    // Queued, or already merged by a `cw run` serving HTTP (the agent's branch is real).
    let counts = &result["operator_status"]["data"]["counts"];
    let count = |state: &str| counts[state].as_u64().unwrap_or(0);
    assert_eq!(count("merging") + count("merged"), 1, "{counts}");
    // After its dependency: pending until that merges (a `cw run` may merge it meanwhile).
    let added = &result["operator_add"]["data"]["state"];
    assert!(added == "pending" || added == "ready", "{added}");
    assert!(
        result["operator_agent_tool"]["text"].as_str().unwrap().contains("this tool is for agents")
    );
}

fn python_flow(transport: &str, mode: &str) {
    let (env, token) = setup();
    let operator = operator_token(&env);
    let server = (transport != "stdio").then(|| env.start_server());
    let mut args = vec![
        "flow",
        "--transport",
        transport,
        "--mode",
        mode,
        "--token",
        &token,
        "--operator-token",
        &operator,
    ];
    let url;
    if let Some(server) = &server {
        url = if transport == "sse" {
            server.url.replace("/mcp", "/sse")
        } else {
            server.url.clone()
        };
        args.extend(["--url", &url]);
    }
    check_flow(&python(&env, &args));
    // The merge request is durable: it is in the database, not in the server's memory.
    let status = env.cw(&["status", "--json"]).json();
    let count = |state: &str| status["counts"][state].as_u64().unwrap_or(0);
    assert_eq!(count("merging") + count("merged"), 1, "{status}");
}

#[test]
fn python_sdk_stdio_default_mode() {
    python_flow("stdio", "auto");
}

#[test]
fn python_sdk_stdio_legacy_mode() {
    python_flow("stdio", "legacy");
}

#[test]
fn python_sdk_http_default_mode() {
    python_flow("http", "auto");
}

#[test]
fn python_sdk_http_legacy_mode() {
    python_flow("http", "legacy");
}

#[test]
fn python_sdk_sse_default_mode() {
    python_flow("sse", "auto");
}

#[test]
fn python_sdk_sse_legacy_mode() {
    python_flow("sse", "legacy");
}

/// Runs the MCP Inspector CLI; returns its exit code and parsed stdout.
fn inspector(env: &TestEnv, target: &[&str], method: &[&str]) -> (i32, Value) {
    let root = env.root();
    let output = command(test_dep("node/node_modules/.bin/mcp-inspector"))
        .arg("--cli")
        .args(target)
        .args(method)
        .current_dir(&root)
        .output()
        .unwrap();
    let mut stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if !stdout.contains('{') {
        // A connection that failed is reported on stderr.
        stdout = String::from_utf8_lossy(&output.stderr).into_owned();
    }
    let json_start = stdout.find('{').unwrap_or(0);
    let mut stream = serde_json::Deserializer::from_str(&stdout[json_start..]).into_iter::<Value>();
    let value = stream.next().and_then(Result::ok).unwrap_or(Value::Null);
    (output.status.code().unwrap_or(-1), value)
}

fn inspector_flow(env: &TestEnv, token: &str, target: &[&str]) {
    let call = |tool: &str, args: &[&str]| {
        let mut method = vec!["--method", "tools/call", "--tool-name", tool];
        for arg in args {
            method.extend(["--tool-arg", arg]);
        }
        inspector(env, target, &method)
    };
    let (code, tools) = inspector(env, target, &["--method", "tools/list"]);
    assert_eq!(code, 0, "{tools}");
    assert_eq!(tools["tools"].as_array().unwrap().len(), 6);
    let (code, claim) = call("claim_task", &[]);
    assert_eq!(
        (code, claim["structuredContent"]["task"]["task_id"].as_str()),
        (0, Some("t1")),
        "{claim}"
    );
    let (code, _) = call("report_progress", &["task_id=t1", "message=from the inspector"]);
    assert_eq!(code, 0);
    let (code, refused) = call("report_progress", &["task_id=t2", "message=not mine"]);
    assert_eq!(code, 5, "a tool error exits 5: {refused}");
    assert!(refused["content"][0]["text"].as_str().unwrap().contains("only act on its own task"));
    // ask_user, answered from another process while the Inspector waits.
    let root = env.root();
    let answerer = std::thread::spawn({
        let cw = cw_binary();
        move || {
            let mut id = None;
            crate::agents::wait_until(
                std::time::Duration::from_secs(60),
                "ask_user's question is in cw inbox",
                || {
                    let inbox =
                        command(&cw).args(["inbox", "--json"]).current_dir(&root).output().unwrap();
                    let questions: Value = serde_json::from_slice(&inbox.stdout).unwrap();
                    id = questions[0]["id"].as_str().map(str::to_owned);
                    id.is_some()
                },
            );
            let id = id.expect("invariant: waited for");
            let status = command(&cw)
                .args(["answer", &id, "yes, go ahead"])
                .current_dir(&root)
                .status()
                .unwrap();
            assert!(status.success());
        }
    });
    let (code, asked) = call("ask_user", &["question=May I delete the old API?"]);
    answerer.join().unwrap();
    assert_eq!(
        (code, asked["structuredContent"]["answer"].as_str()),
        (0, Some("yes, go ahead")),
        "{asked}"
    );
    let (code, done) = call("report_done", &["task_id=t1", "summary=done", "outcome=done"]);
    assert_eq!(code, 0, "{done}");
    let (code, merge) = call("request_merge", &["task_id=t1"]);
    assert_eq!((code, merge["structuredContent"]["state"].as_str()), (0, Some("queued")));
    let _ = token;
}

#[test]
fn inspector_cli_over_stdio() {
    let (env, token) = setup();
    let cw = cw_binary();
    let env_arg = format!("CW_TOKEN={token}");
    inspector_flow(&env, &token, &["-e", &env_arg, cw.to_str().unwrap(), "mcp"]);
}

#[test]
fn inspector_cli_over_http() {
    let (env, token) = setup();
    let server = env.start_server();
    let header = format!("Authorization: Bearer {token}");
    inspector_flow(&env, &token, &[&server.url, "--header", &header]);
}

#[test]
fn inspector_cli_over_legacy_sse() {
    let (env, token) = setup();
    let server = env.start_server();
    let header = format!("Authorization: Bearer {token}");
    let url = server.url.replace("/mcp", "/sse");
    inspector_flow(&env, &token, &[&url, "--transport", "sse", "--header", &header]);
}

/// An SSE response read as it arrives.
struct EventStream {
    stream: std::net::TcpStream,
    seen: String,
}

impl EventStream {
    /// Reads until `needle` has arrived since `from` (each read waits at most the stream's 20 s
    /// read timeout); everything read so far.
    fn until(&mut self, from: usize, needle: &str) -> &str {
        use std::io::Read;
        let mut buffer = [0u8; 4096];
        while !self.seen[from.min(self.seen.len())..].contains(needle) {
            match self.stream.read(&mut buffer) {
                Ok(0) => panic!("the stream ended before {needle:?}: {}", self.seen),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buffer[..n])),
                Err(err) => panic!("no {needle:?} within 20 s ({err}): {}", self.seen),
            }
        }
        &self.seen
    }
}

#[test]
fn legacy_sse_sessions_have_the_same_tokens_and_checks_and_belong_to_their_opener() {
    let (env, token) = setup();
    let operator = operator_token(&env);
    let server = env.start_server();
    let bearer = format!("Authorization: Bearer {token}");
    let (status, body) = server.request("GET", "/sse", &[], "");
    assert!(status.contains("401") && body.contains("cw agent register"), "{status} {body}");
    let (status, _) = server.request("GET", "/sse", &["Authorization: Bearer cwa_forged"], "");
    assert!(status.contains("401"), "{status}");
    let (status, body) = server.request("GET", "/sse", &[&bearer, "Host: evil.example.com"], "");
    assert!(status.contains("403") && body.contains("Host"), "DNS rebinding: {status} {body}");
    let (status, _) =
        server.request("GET", "/sse", &[&bearer, "Origin: http://evil.example.com"], "");
    assert!(status.contains("403"), "a foreign Origin must be refused ({status})");
    // A session: the endpoint event first, then answers to what is POSTed.
    let mut stream =
        EventStream { stream: server.send("GET", "/sse", &[&bearer], ""), seen: String::new() };
    let opened = stream.until(0, "event: endpoint").to_owned();
    assert!(opened.starts_with("HTTP/1.1 200"), "{opened}");
    assert!(opened.contains("text/event-stream"), "{opened}");
    let at = opened.find("event: endpoint").expect("invariant: read until it");
    let opened = stream.until(at, "\n\n").to_owned();
    let endpoint = opened[at..]
        .lines()
        .find_map(|line| line.strip_prefix("data: "))
        .filter(|data| data.starts_with("/messages?sessionId="))
        .unwrap_or_else(|| panic!("no endpoint event: {opened}"))
        .to_owned();
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let theirs = format!("Authorization: Bearer {operator}");
    let (status, body) = server.request("POST", &endpoint, &[&theirs], initialize);
    assert!(status.contains("403") && body.contains("another token"), "{status} {body}");
    let (status, body) =
        server.request("POST", "/messages?sessionId=0123abcd", &[&bearer], initialize);
    assert!(status.contains("404") && body.contains("GET /sse"), "{status} {body}");
    let (status, body) = server.request("POST", "/messages", &[&bearer], initialize);
    assert!(status.contains("400") && body.contains("sessionId"), "{status} {body}");
    let (status, _) = server.request("POST", &endpoint, &[&bearer], "{not json");
    assert!(status.contains("400"), "{status}");
    let (status, _) = server.request("POST", &endpoint, &[&bearer], initialize);
    assert!(status.contains("202"), "{status}");
    let answered = stream.until(0, "serverInfo");
    assert!(answered.contains("event: message"), "{answered}");
    // Hanging up ends the session: its endpoint is gone.
    drop(stream);
    crate::agents::wait_until(
        std::time::Duration::from_secs(20),
        "the closed SSE session's endpoint answers 404",
        || server.request("POST", &endpoint, &[&bearer], initialize).0.contains("404"),
    );
}

/// Sends the initialize request with `headers` as raw HTTP; the status line and body.
fn raw_http(server: &RunningServer, headers: &[&str]) -> (String, String) {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    server.post(headers, body)
}

#[test]
fn http_refuses_missing_and_bad_tokens_and_foreign_hosts_and_origins() {
    let (env, token) = setup();
    let server = env.start_server();
    assert!(server.url.starts_with("http://127.0.0.1:"), "{}", server.url);
    let bearer = format!("Authorization: Bearer {token}");
    let (status, body) = raw_http(&server, &[]);
    assert!(status.contains("401"), "{status}");
    assert!(body.contains("missing `Authorization: Bearer <token>`"), "{body}");
    let (status, body) = raw_http(&server, &["Authorization: Bearer cwa_forged"]);
    assert!(status.contains("401"), "a bad token is unauthorised, not forbidden: {status}");
    let error: Value = serde_json::from_str(&body).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("the token is not valid for this repository"), "{body}");
    assert!(message.contains(".cw/operator.token"), "says which tokens work: {body}");
    let (status, _) = raw_http(&server, &[&bearer, "Host: evil.example.com"]);
    assert!(status.contains("403"), "DNS rebinding: a foreign Host must be refused ({status})");
    let (status, _) = raw_http(&server, &[&bearer, "Origin: http://evil.example.com"]);
    assert!(status.contains("403"), "a foreign Origin must be refused ({status})");
    let (status, _) = raw_http(&server, &[&bearer]);
    assert!(status.contains("200"), "{status}");
    // The challenge names no authorization server: nothing for a client to start OAuth with.
    let mut answer = String::new();
    std::io::Read::read_to_string(
        &mut server.send("POST", "/mcp", &["Authorization: Bearer cwa_forged"], "{}"),
        &mut answer,
    )
    .unwrap();
    let challenge = answer.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate"));
    assert_eq!(challenge, Some(r#"www-authenticate: Bearer realm="cw", error="invalid_token""#));
    let log = fs_err::read_to_string(env.root().join(".cw/logs/run.log")).unwrap_or_default();
    assert!(!log.contains(&token), "a token leaked into the log");
}

#[test]
fn ending_a_session_answers_204_and_a_second_time_404() {
    let (env, token) = setup();
    let server = env.start_server();
    let bearer = format!("Authorization: Bearer {token}");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#;
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut server.send("POST", "/mcp", &[&bearer], body), &mut answer)
        .unwrap();
    let session = answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("mcp-session-id: ").map(str::to_owned))
        .unwrap_or_else(|| panic!("no session id: {answer}"));
    let header = format!("Mcp-Session-Id: {}", session.trim());
    let version = "MCP-Protocol-Version: 2025-11-25";
    let (status, _) = server.request("DELETE", "/mcp", &[&bearer, &header, version], "");
    assert!(status.contains("204"), "{status}");
    let (status, body) = server.request("DELETE", "/mcp", &[&bearer, &header, version], "");
    assert!(status.contains("404") && body.contains("has ended"), "{status} {body}");
}

/// Without a port set, a repository is served on a port of its own, the same on every run (a
/// `claude mcp add --transport http` entry keeps working); `port = 0` still takes any free one.
#[test]
fn a_repository_keeps_its_port_across_runs_unless_told_otherwise() {
    let (env, _) = setup();
    let first = env.start_server().url.clone();
    let second = env.start_server().url.clone();
    assert_eq!(first, second, "the same port on every run");
    let port: u16 = first.rsplit(':').next().unwrap().trim_end_matches("/mcp").parse().unwrap();
    assert!((24_000..32_000).contains(&port), "{first}");
    env.write(".cw/config.toml", "[server]\nport = 0\n");
    let any = env.start_server().url.clone();
    assert_ne!(any, first, "port = 0: any free port");
}

#[test]
fn a_second_server_for_the_same_repository_is_refused() {
    let (env, _) = setup();
    let mut first = env.start_server();
    let info: Value =
        serde_json::from_str(&fs_err::read_to_string(env.root().join(".cw/server.json")).unwrap())
            .unwrap();
    assert_eq!(info["url"], first.url);
    assert_eq!(info["pid"], first.child.id());
    let run = env.cw(&["run", "--no-dispatch"]);
    assert_eq!(
        run.error(1),
        format!(
            "error: cw run is already serving this repository (pid {}); stop it first, or use its server (see .cw/server.json)",
            first.child.id()
        )
    );
    assert_eq!(first.terminate(), Some(0));
    assert!(!env.root().join(".cw/server.json").exists(), "server.json is removed on a clean stop");
    // The lock dies with its owner: a new server starts at once.
    let second = env.start_server();
    assert_ne!(second.url, "");
}

#[test]
fn bad_run_options_are_usage_errors() {
    let env = TestEnv::initialised();
    assert!(env.cw(&["run", "--agent-command", " "]).error(2).contains("--agent-command needs"));
    if crate::support::on_postgres() {
        // Agents on workers only: with nothing to do, the run ends at once.
        env.cw(&["run", "--agents", "0", "--exit-when-done"]).ok();
    } else {
        let run = env.cw(&["run", "--agents", "0"]);
        assert!(
            run.error(2).contains("--agents 0 leaves every agent to `cw worker` hosts"),
            "{run:?}"
        );
    }
}

/// SIGTERM while an agent waits in ask_user: the call returns "shutting down" promptly, the
/// server exits 0, and the question survives for the next run.
#[test]
fn graceful_shutdown_answers_blocked_calls() {
    use std::io::BufRead;
    let (env, token) = setup();
    let mut server = env.start_server();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/mcp_client.py");
    let root = env.root();
    let mut client = command(test_dep("venv/bin/python"))
        .arg(script)
        .args([
            "wait",
            "--transport",
            "http",
            "--mode",
            "legacy",
            "--url",
            &server.url,
            "--token",
            &token,
        ])
        .args(["--cw", cw_binary().to_str().unwrap(), "--repo", root.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(client.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), r#"{"asking": true}"#);
    // Wait until the question is stored, then stop the server.
    crate::agents::wait_until(
        std::time::Duration::from_secs(60),
        "the question is in cw inbox",
        || !env.cw(&["inbox", "--json"]).json().as_array().unwrap().is_empty(),
    );
    let started = std::time::Instant::now();
    assert_eq!(server.terminate(), Some(0));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let result: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert!(client.wait().unwrap().success());
    assert_eq!(result["is_error"], true, "{result}");
    assert!(result["text"].as_str().unwrap().contains("shutting down"), "{result}");
    let inbox = env.cw(&["inbox", "--json"]).json();
    assert_eq!(inbox[0]["question"], "Still there?", "the question survives the shutdown");
}

#[test]
fn cancellation_returns_promptly_and_keeps_the_question() {
    for transport in ["stdio", "http"] {
        let (env, token) = setup();
        let server = (transport != "stdio").then(|| env.start_server());
        let mut args = vec![
            "cancel",
            "--transport",
            transport,
            "--mode",
            "legacy",
            "--token",
            &token,
            "--after",
            "1",
        ];
        let url = server.as_ref().map(|s| s.url.clone()).unwrap_or_default();
        if server.is_some() {
            args.extend(["--url", &url]);
        }
        let result = python(&env, &args);
        assert!(result["gave_up_after"].as_f64().unwrap() < 3.0, "{transport}: {result}");
        assert_eq!(result["still_works"], true, "{transport}");
        assert_eq!(env.cw(&["inbox", "--json"]).json().as_array().unwrap().len(), 1, "{transport}");
    }
}

#[test]
fn ask_user_without_an_answer_returns_pending() {
    let env = TestEnv::initialised();
    env.write(".cw/config.toml", "[mcp]\nask_wait_seconds = 1\nprogress_seconds = 1\n");
    env.cw(&["task", "add", "x"]).ok();
    let token =
        env.cw(&["agent", "register", "--json"]).json()["token"].as_str().unwrap().to_owned();
    let result =
        python(&env, &["wait", "--transport", "stdio", "--mode", "legacy", "--token", &token]);
    assert_eq!(result["data"]["status"], "pending", "{result}");
    assert_eq!(result["data"]["question_id"], "q1");
    assert!(result["data"]["next"].as_str().unwrap().contains("end your turn"));
    let task = env.cw(&["task", "show", "t1", "--json"]).json();
    assert_eq!(task["state"], "waiting");
}

#[test]
fn several_waiting_agents_each_get_their_own_answer() {
    let env = TestEnv::initialised();
    for i in 0..5 {
        env.cw(&["task", "add", &format!("task {i}")]).ok();
    }
    let tokens: Vec<String> = (0..5)
        .map(|_| {
            env.cw(&["agent", "register", "--json"]).json()["token"].as_str().unwrap().to_owned()
        })
        .collect();
    let file = env.root().join(".cw/tokens.json");
    fs_err::write(&file, serde_json::json!({ "http": tokens, "stdio": [] }).to_string()).unwrap();
    let server = env.start_server();
    let result = python(
        &env,
        &[
            "multi",
            "--transport",
            "http",
            "--mode",
            "auto",
            "--url",
            &server.url,
            "--tokens",
            file.to_str().unwrap(),
        ],
    );
    for i in 0..5 {
        assert_eq!(result[i.to_string()]["answer"], format!("code-{i}"), "{result}");
    }
}

#[test]
fn stdio_refuses_a_bad_token_and_a_token_for_another_agent() {
    let (env, token) = setup();
    let cw = cw_binary();
    // Refused at the handshake: the client fails to connect and shows why.
    let (code, refused) = inspector(
        &env,
        &["-e", "CW_TOKEN=cwa_nonsense", cw.to_str().unwrap(), "mcp"],
        &["--method", "tools/call", "--tool-name", "claim_task"],
    );
    assert_eq!(code, 1, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("the token is not valid for this repository"), "{refused}");
    let env_arg = format!("CW_TOKEN={token}");
    let (code, refused) = inspector(
        &env,
        &["-e", &env_arg, cw.to_str().unwrap(), "mcp", "--agent", "a9"],
        &["--method", "tools/call", "--tool-name", "claim_task"],
    );
    assert_eq!(code, 1, "{refused}");
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("CW_TOKEN belongs to agent a1, not a9"), "{refused}");
}

/// 32 HTTP clients and 8 stdio servers drain 2,000 tasks: each claimed exactly once.
#[test]
fn forty_clients_drain_two_thousand_tasks() {
    let env = TestEnv::initialised();
    let service = env.service();
    for i in 0..2_000 {
        service
            .add_task(
                &cw::service::Caller::CLI,
                &cw::service::AddTask { title: format!("task {i}"), ..Default::default() },
            )
            .unwrap();
    }
    let register = |n| {
        (0..n)
            .map(|_| {
                service
                    .register_agent_of("drainer", None, cw::model::AgentKind::Bare)
                    .unwrap()
                    .token
            })
            .collect::<Vec<_>>()
    };
    let tokens = serde_json::json!({ "http": register(32), "stdio": register(8) });
    let file = env.root().join(".cw/tokens.json");
    fs_err::write(&file, tokens.to_string()).unwrap();
    let server = env.start_server();
    let result = python(
        &env,
        &["drain", "--mode", "legacy", "--url", &server.url, "--tokens", file.to_str().unwrap()],
    );
    let claimed: Vec<&str> =
        result["claimed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let unique: std::collections::HashSet<&str> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), 2_000, "every task claimed once");
    assert_eq!(unique.len(), 2_000, "no task claimed twice");
    assert_eq!(env.cw(&["status", "--json"]).json()["counts"]["done"], 2_000);
}

/// The agent and operator tool lists are the MCP contract: any change shows in review.
#[test]
fn tools_list_snapshot_and_token_budget() {
    let (agent, operator) = cw::mcp::CwServer::tool_lists();
    let agent_json = serde_json::to_string_pretty(&agent).unwrap();
    let operator_json = serde_json::to_string_pretty(&operator).unwrap();
    insta::assert_snapshot!("agent_tools", agent_json);
    insta::assert_snapshot!("operator_tools", operator_json);
    // What a model is given of each tool (Claude Code passes name, description and input
    // schema; annotations and the output schema are for the client).
    let tokens = |tools: &[rmcp::model::Tool]| {
        let seen: Vec<Value> = tools
            .iter()
            .map(|t| serde_json::json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
            .collect();
        serde_json::to_string(&seen).unwrap().len() / 4
    };
    let (agent_tokens, operator_tokens) = (tokens(&agent), tokens(&operator));
    assert!(
        agent_tokens < 2_000,
        "the agent tool list costs ~{agent_tokens} tokens; keep it under 2,000"
    );
    assert!(
        operator_tokens < 1_500,
        "the operator tool list costs ~{operator_tokens} tokens; keep it under 1,500"
    );
    // Every tool refuses arguments it does not know, and says so in its schema.
    for tool in agent.iter().chain(&operator) {
        assert_eq!(
            tool.input_schema.get("additionalProperties"),
            Some(&Value::Bool(false)),
            "{}",
            tool.name
        );
        let annotations =
            tool.annotations.as_ref().unwrap_or_else(|| panic!("{} has no annotations", tool.name));
        assert!(annotations.read_only_hint.is_some(), "{}", tool.name);
        // Every result is structured, and says its shape.
        let output = tool
            .output_schema
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no output schema", tool.name));
        assert!(!output.contains_key("$schema"), "{}", tool.name);
    }
}

#[test]
fn the_repository_registers_cw_mcp_for_claude_code() {
    let config: Value = serde_json::from_str(
        &fs_err::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".mcp.json"))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(config["mcpServers"]["cw"]["command"], "cw");
    assert_eq!(config["mcpServers"]["cw"]["args"], serde_json::json!(["mcp"]));
}

/// One `cw mcp` session over the given streams: initialize and `status`, then stdin closes.
/// Returns the `status` reply and how many threads the server ran while it served.
fn stdio_session(
    env: &TestEnv,
    stdin: Stdio,
    stdout: Stdio,
    mut send: impl Write,
    receive: impl Read,
) -> (Value, usize) {
    let mut child = command(cw_binary())
        .args(["-C", env.root().to_str().unwrap(), "mcp"])
        .env("CW_TOKEN", operator_token(env))
        .stdin(stdin)
        .stdout(stdout)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(receive).lines();
    let mut call = |line: &str| {
        writeln!(send, "{line}").unwrap();
        send.flush().unwrap();
    };
    call(
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#,
    );
    assert!(lines.next().unwrap().unwrap().contains(r#""id":1"#));
    call(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    call(
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"status","arguments":{}}}"#,
    );
    let reply: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let threads = fs_err::read_dir(format!("/proc/{}/task", child.id())).unwrap().count();
    drop(send);
    assert!(child.wait().unwrap().success(), "cw mcp ends 0 when its client closes stdin");
    (reply, threads)
}

/// How Python's SDK and tokio start a stdio server (pipes), and how Node does, so Claude Code
/// and the Inspector (Unix sockets): served on the server's one thread, no blocking-pool thread
/// handing each message over.
#[test]
fn stdio_on_pipes_and_on_sockets_is_served_without_blocking_threads() {
    use std::os::unix::net::UnixStream;
    let (env, _) = setup();
    let tasks = |reply: &Value| reply["result"]["structuredContent"]["counts"]["ready"].clone();
    // On PostgreSQL the connection has a thread of its own (store/pg.rs); none hands messages on.
    let one = if crate::support::on_postgres() { 2 } else { 1 };

    let (ours_in, theirs_in) = UnixStream::pair().unwrap();
    let (ours_out, theirs_out) = UnixStream::pair().unwrap();
    let (reply, threads) = stdio_session(
        &env,
        Stdio::from(std::os::fd::OwnedFd::from(theirs_in)),
        Stdio::from(std::os::fd::OwnedFd::from(theirs_out)),
        ours_in,
        ours_out,
    );
    assert_eq!(tasks(&reply), 2, "{reply}");
    assert_eq!(threads, one, "sockets");

    let (read_in, write_in) = std::io::pipe().unwrap();
    let (read_out, write_out) = std::io::pipe().unwrap();
    let (reply, threads) =
        stdio_session(&env, Stdio::from(read_in), Stdio::from(write_out), write_in, read_out);
    assert_eq!(tasks(&reply), 2, "{reply}");
    assert_eq!(threads, one, "pipes");
}

/// `stop_agent` over MCP is the same use case as `cw agent stop`: the operator's call ends the
/// agent's process group and leaves its task with it; an agent's token is refused.
#[test]
fn the_operator_stops_an_agent_over_mcp_and_an_agent_may_not() {
    let env = crate::agents::with_agent("sim");
    let task = crate::agents::add_task(&env, "Busy", "sim: hang");
    let spawned = env.cw(&["agent", "spawn", &task, "--detach", "--json"]).json();
    assert_eq!(spawned["state"], "running");
    let cw = cw_binary();
    let stop = |token: &str| {
        let token = format!("CW_TOKEN={token}");
        let target = ["-e", token.as_str(), cw.to_str().unwrap(), "mcp"];
        let method =
            ["--method", "tools/call", "--tool-name", "stop_agent", "--tool-arg", "agent_id=a1"];
        inspector(&env, &target, &method)
    };
    let agent_token = env.cw(&["agent", "register", "--name", "other", "--json"]).json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // An agent is not even shown the operator's tools.
    let (_, refused) = stop(&agent_token);
    assert!(refused.to_string().contains("Tool 'stop_agent' not found"), "{refused}");
    assert_eq!(crate::agents::agent_json(&env, "a1")["state"], "running");

    let (code, stopped) = stop(&operator_token(&env));
    assert_eq!(code, 0, "{stopped}");
    assert_eq!(stopped["structuredContent"]["stopped"], true, "{stopped}");
    let agent = crate::agents::agent_json(&env, "a1");
    assert_eq!((agent["state"].as_str(), agent["pid"].is_null()), (Some("stopped"), true));
    let state = env.cw(&["task", "show", &task, "--json"]).json()["state"].clone();
    assert_eq!(state, "claimed", "the task stays with its agent");
}
