//! The CLI contract: help text, exit codes, `--json` fields, where cw finds its state.

use crate::support::TestEnv;

/// The whole `cw --help` tree, so any change to the CLI contract shows in review.
#[test]
fn help_tree_snapshot() {
    fn walk(command: &mut clap::Command, path: &str, out: &mut String) {
        let help = command.render_long_help().to_string();
        out.push_str(&format!("=== {path} --help\n{}\n", help.trim_end()));
        let mut children: Vec<clap::Command> =
            command.get_subcommands().filter(|c| !c.is_hide_set()).cloned().collect();
        for child in &mut children {
            let name = child.get_name().to_owned();
            walk(child, &format!("{path} {name}"), out);
        }
    }
    let mut command = cw::cli::command();
    command.build();
    let mut out = String::new();
    walk(&mut command, "cw", &mut out);
    insta::assert_snapshot!("help_tree", out);
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let env = TestEnv::initialised();
    let run = env.cw(&["task", "frobnicate"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("unrecognized subcommand"), "{run:?}");
    let run = env.cw(&["task", "show", "x7"]);
    assert_eq!(run.error(2), "error: 'x7' is not a task id (expected t<number>, e.g. t12)");
    assert_eq!(env.cw(&["task", "list", "--state", "running"]).code, 2);
    let run = env.cw(&["--help"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.contains("Usage: cw"), "{run:?}");
    assert!(run.stderr.is_empty());
}

#[test]
fn errors_are_one_line_naming_the_object() {
    let env = TestEnv::initialised();
    assert_eq!(
        env.cw(&["task", "show", "t99"]).error(1),
        "error: task t99 does not exist (see `cw task list`)"
    );
    assert_eq!(
        env.cw(&["task", "retry", "t1"]).error(1),
        "error: task t1 does not exist (see `cw task list`)"
    );
    env.cw(&["task", "add", "one"]).ok();
    assert_eq!(
        env.cw(&["task", "retry", "t1"]).error(1),
        "error: task t1: a ready task cannot be retried (only failed or cancelled tasks can be retried)"
    );
    assert_eq!(env.cw(&["task", "add", "  "]).error(1), "error: a task needs a non-empty title");
    assert_eq!(
        env.cw(&["task", "add", "x", "--plan", "p9"]).error(1),
        "error: plan 'p9' does not exist (see `cw task list` for plan ids)"
    );
}

#[test]
fn init_refuses_outside_a_repo_in_a_bare_repo_twice_and_without_commits() {
    let outside = tempfile::tempdir().unwrap();
    let env = TestEnv::repo();
    let run = env.cw_in(outside.path(), &["init"]);
    assert!(
        run.error(1).contains("is not inside a git repository (run `git init` first"),
        "{run:?}"
    );
    assert!(!outside.path().join(".cw").exists());

    let bare = tempfile::tempdir().unwrap();
    env.git_in(bare.path(), &["init", "-q", "--bare"]);
    let run = env.cw_in(bare.path(), &["init"]);
    assert!(run.error(1).contains("is a bare repository; cw needs a working tree"), "{run:?}");
    assert!(!bare.path().join(".cw").exists());

    let empty = tempfile::tempdir().unwrap();
    env.git_in(empty.path(), &["init", "-q"]);
    let run = env.cw_in(empty.path(), &["init"]);
    assert!(run.error(1).contains("has no commits yet; make a first commit"), "{run:?}");
    assert!(!empty.path().join(".cw").exists());

    env.cw(&["init"]).ok();
    let state = || match env.database() {
        Some(url) => {
            crate::support::postgres::run(url, "SELECT count(*) FROM events").concat().into_bytes()
        }
        None => fs_err::read(env.root().join(".cw/cw.db")).unwrap(),
    };
    let before = state();
    let run = env.cw(&["init"]);
    assert_eq!(run.code, 0, "a second init succeeds, changing nothing: {run:?}");
    assert!(
        run.stderr.contains("cw is already set up in") && run.stderr.contains("nothing changed"),
        "{run:?}"
    );
    assert_eq!(env.cw(&["init", "--json"]).json()["changed"], false);
    assert_eq!(state(), before, "a second init changed the database");
}

#[test]
fn init_sets_up_state_branch_exclude_and_a_private_operator_token() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::repo();
    let report = env.cw(&["init", "--json"]).json();
    assert_eq!(report["integration_branch"], "cw/integration");
    assert_eq!(report["branch_created"], true);
    let mode =
        fs_err::metadata(env.root().join(".cw/operator.token")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(env.root().join(".cw/logs").is_dir());
    let branches =
        String::from_utf8(env.git(&["branch", "--list", "cw/integration"]).stdout).unwrap();
    assert!(branches.contains("cw/integration"));
    let exclude = fs_err::read_to_string(env.root().join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.cw/"));
    let status = String::from_utf8(env.git(&["status", "--porcelain"]).stdout).unwrap();
    assert_eq!(status, "", "cw's state must not show as untracked");
    assert!(
        !env.root().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".cw.init"))
    );
}

#[test]
fn works_from_a_subdirectory_and_from_a_linked_worktree() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "from the root"]).ok();
    let sub = env.root().join("deep/er");
    fs_err::create_dir_all(&sub).unwrap();
    let tasks = env.cw_in(&sub, &["task", "list", "--json"]).json();
    assert_eq!(tasks.as_array().unwrap().len(), 1);

    let linked = env
        .root()
        .parent()
        .unwrap()
        .join(format!("{}-linked", env.root().file_name().unwrap().to_string_lossy()));
    env.git(&["worktree", "add", "-q", linked.to_str().unwrap(), "-b", "side"]);
    env.cw_in(&linked, &["task", "add", "from the worktree"]).ok();
    assert!(!linked.join(".cw").exists(), "a second .cw was created in the linked worktree");
    let tasks = env.cw(&["task", "list", "--json"]).json();
    assert_eq!(tasks.as_array().unwrap().len(), 2);
    let run = env.cw_in(&linked, &["init"]);
    assert!(run.stderr.contains("already set up"), "{run:?}");
    assert_eq!(run.code, 0);
    fs_err::remove_dir_all(&linked).unwrap();
}

#[test]
fn commands_before_init_say_to_run_init() {
    let env = TestEnv::repo();
    let run = env.cw(&["status"]);
    assert!(run.error(1).contains("cw is not initialised in"), "{run:?}");
    assert!(run.stderr.contains("run `cw init` there"));
}

#[test]
fn task_json_has_the_contract_fields() {
    let env = TestEnv::initialised();
    let first = env.cw(&["task", "add", "first", "--json"]).json();
    assert_eq!(first["id"], "t1");
    assert_eq!(first["state"], "ready");
    assert_eq!(first["plan"], serde_json::Value::Null);
    assert_eq!(first["depends_on"], serde_json::json!([]));
    let second =
        env.cw(&["task", "add", "second", "--after", "t1", "-d", "details", "--json"]).json();
    assert_eq!(second["id"], "t2");
    assert_eq!(second["state"], "pending");
    assert_eq!(second["depends_on"], serde_json::json!(["t1"]));
    assert_eq!(second["description"], "details");
    let listed = env.cw(&["task", "list", "--json"]).json();
    for task in listed.as_array().unwrap() {
        for field in ["id", "title", "state", "depends_on", "plan"] {
            assert!(task.get(field).is_some(), "missing {field} in {task}");
        }
        assert!(task["id"].is_string());
    }
    let ready = env.cw(&["task", "list", "--ready", "--json"]).json();
    assert_eq!(ready.as_array().unwrap().len(), 1);
    let status = env.cw(&["status", "--json"]).json();
    assert_eq!(status["total"], 2);
    assert_eq!(status["counts"]["ready"], 1);
    assert_eq!(status["counts"]["pending"], 1);
}

#[test]
fn dependency_verbs_and_cycle_errors() {
    let env = TestEnv::initialised();
    for title in ["a", "b", "c"] {
        env.cw(&["task", "add", title]).ok();
    }
    assert!(
        env.cw(&["task", "dep", "add", "t2", "t1"])
            .ok()
            .contains("t2 now waits for t1 (t2 is pending)")
    );
    env.cw(&["task", "dep", "add", "t3", "t2"]).ok();
    let run = env.cw(&["task", "dep", "add", "t1", "t3"]);
    assert_eq!(
        run.error(1),
        "error: adding this dependency would create a cycle: t1 → t3 → t2 → t1 (→ means \"depends on\")"
    );
    assert_eq!(
        env.cw(&["task", "dep", "add", "t1", "t1"]).error(1),
        "error: task t1 cannot depend on itself"
    );
    assert_eq!(
        env.cw(&["task", "dep", "rm", "t1", "t2"]).error(1),
        "error: task t1 does not depend on t2"
    );
    assert!(env.cw(&["task", "dep", "rm", "t2", "t1"]).ok().contains("t2 is ready"));
}

#[test]
fn tree_listing_shows_states_and_dependencies() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "write the parser"]).ok();
    env.cw(&["task", "add", "test the parser", "--after", "t1"]).ok();
    let listing = env.cw(&["task", "list"]).ok().to_owned();
    insta::assert_snapshot!(listing, @r"
    Tasks without a plan
      t1     ready     write the parser
      t2     pending   test the parser  ← t1
    ");
}

#[test]
fn cancel_names_the_dependents_it_blocks_and_retry_reopens() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "a"]).ok();
    env.cw(&["task", "add", "b", "--after", "t1"]).ok();
    let run = env.cw(&["task", "cancel", "t1"]);
    assert!(run.ok().contains("t1 cancelled (was ready)"));
    assert!(run.stderr.contains("t2 wait for t1"), "{run:?}");
    assert_eq!(
        env.cw(&["task", "cancel", "t1"]).error(1),
        "error: task t1: a cancelled task cannot be cancelled"
    );
    assert!(env.cw(&["task", "retry", "t1"]).ok().contains("t1 is ready again (was cancelled)"));
}

#[test]
fn completions_are_generated_for_each_shell() {
    let env = TestEnv::repo();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let run = env.cw(&["completions", shell]);
        // Each script calls this very binary back for the candidates.
        let exe = crate::support::cw_binary().canonicalize().unwrap();
        assert!(run.ok().contains(exe.to_str().unwrap()), "{shell}: {}", run.stdout);
    }
    assert_eq!(env.cw(&["completions", "tcsh"]).code, 2);
}

/// Tab in a real bash and fish completes the repository's own ids, titles beside them.
#[test]
fn completions_offer_the_repository_s_task_agent_and_question_ids() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "Build the parser"]).ok();
    env.cw(&["task", "add", "Write the docs"]).ok();
    let service = env.service();
    let agent = service.register_agent("helper", None).unwrap().agent.id;
    service.ask(agent, "Tabs or spaces?\nIt matters", &[], None).unwrap();
    let script = env.outer().join("cw.bash");
    fs_err::write(&script, env.cw(&["completions", "bash"]).ok()).unwrap();
    let bash = |words: &[&str]| {
        let line = format!(
            "source {}; COMP_WORDS=({}); COMP_CWORD={}; COMP_TYPE=9; _clap_complete_cw cw {} {}; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display(),
            words.iter().map(|w| format!("'{w}'")).collect::<Vec<_>>().join(" "),
            words.len() - 1,
            format_args!("'{}'", words[words.len() - 1]),
            words[words.len() - 2],
        );
        let out =
            crate::support::command("bash").args(["-c", &line]).current_dir(env.root()).output();
        String::from_utf8(out.unwrap().stdout).unwrap()
    };
    assert_eq!(bash(&["cw", "task", "show", "t"]), "t1\nt2\n");
    assert_eq!(bash(&["cw", "answer", ""]).lines().next(), Some("q1"));
    assert_eq!(bash(&["cw", "send", "a"]), "a1\n");
    assert_eq!(bash(&["cw", "diff", "a"]), "a1\n");

    let fish_script = env.outer().join("cw.fish");
    fs_err::write(&fish_script, env.cw(&["completions", "fish"]).ok()).unwrap();
    let fish = |line: &str| {
        let command = format!("source {}; complete -C '{line}'", fish_script.display());
        let mut fish = crate::support::command("fish");
        let out = fish.args(["-c", &command]).current_dir(env.root()).output();
        let out = out.expect("fish runs (tools/test-deps.sh installs it)");
        String::from_utf8(out.stdout).unwrap()
    };
    let tasks = fish("cw task cancel t");
    assert!(
        tasks.starts_with("t1\tready: Build the parser\nt2\tready: Write the docs\n"),
        "{tasks}"
    );
    let questions = fish("cw inbox show ");
    assert!(questions.starts_with("q1\tTabs or spaces? …\n"), "{questions}");
    assert!(fish("cw agent logs ").starts_with("a1\t"));

    // zsh's script asks the same protocol; outside a repository there is nothing to offer.
    let zsh = env.cw_with(
        &env.root(),
        &["--", "cw", "answer", ""],
        &[("COMPLETE", "zsh"), ("_CLAP_COMPLETE_INDEX", "2"), ("_CLAP_IFS", "\n")],
    );
    assert!(zsh.ok().starts_with("q1:Tabs or spaces? …"), "{zsh:?}");
    let elsewhere = tempfile::tempdir().unwrap();
    let none =
        env.cw_with(elsewhere.path(), &["--", "cw", "task", "show", "t"], &[("COMPLETE", "fish")]);
    assert_eq!((none.stdout.as_str(), none.stderr.as_str()), ("", ""), "{none:?}");
}

/// `cw status --follow --json` prints a new line whenever another process changes something.
#[test]
fn status_follow_wakes_on_changes_from_other_processes() {
    use std::io::BufRead;
    let env = TestEnv::initialised();
    let mut follower = env
        .cw_command(&env.root(), &["status", "--follow", "--json"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(first["total"], 0);
    env.cw(&["task", "add", "from elsewhere"]).ok();
    let second: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(second["total"], 1);
    assert_eq!(second["counts"]["ready"], 1);
    follower.kill().unwrap();
    follower.wait().unwrap();
}

/// With `--json`, an error is one JSON object on stderr with the same exit codes, and the verbs
/// that print an outcome print it as JSON.
#[test]
fn json_mode_errors_and_outcomes_are_json() {
    let env = TestEnv::initialised();
    let error = |run: &crate::support::Run| -> serde_json::Value {
        assert!(run.stdout.is_empty(), "{run:?}");
        serde_json::from_str(run.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"))
    };
    let missing = env.cw(&["task", "show", "t99", "--json"]);
    assert_eq!(missing.code, 1);
    let missing = error(&missing);
    assert_eq!(missing["error"]["kind"], "user");
    assert_eq!(missing["error"]["message"], "task t99 does not exist (see `cw task list`)");
    let usage = env.cw(&["task", "list", "--json", "--bogus"]);
    assert_eq!(usage.code, 2);
    assert_eq!(error(&usage)["error"]["kind"], "usage");
    let bad_id = env.cw(&["send", "banana", "hi", "--json"]);
    assert_eq!(bad_id.code, 2, "{bad_id:?}");
    assert_eq!(error(&bad_id)["error"]["kind"], "usage");
    // Outcomes.
    let gc = env.cw(&["gc", "--dry-run", "--json"]).json();
    assert_eq!(gc["dry_run"], true);
    assert_eq!(gc["removed"], serde_json::json!([]));
    let agent = env.cw(&["agent", "register", "--name", "x", "--json"]).json();
    let id = agent["agent"]["id"].as_str().or(agent["id"].as_str()).unwrap().to_owned();
    let sent = env.cw(&["send", &id, "hello", "--json"]).json();
    assert_eq!(sent["agent"], id.as_str());
    assert!(sent["message_id"].as_str().unwrap().starts_with('m'), "{sent}");
    let stopped = env.cw(&["agent", "stop", &id, "--json"]).json();
    assert_eq!(stopped["was_running"], false);
}

/// One task shape everywhere: `status --json` lists a ready task's dependencies as `task show`
/// does; and a reader that stops early (`| head`) ends a JSON listing quietly.
#[test]
fn one_task_shape_and_a_closed_pipe_is_not_an_error() {
    let env = TestEnv::initialised();
    let service = env.service();
    let add = |title: &str, after: Vec<cw::model::TaskId>| {
        let request = cw::service::AddTask { title: title.to_owned(), after, ..Default::default() };
        service.add_task(&cw::service::Caller::CLI, &request).unwrap();
    };
    add("first", vec![]);
    add("second", vec![]);
    for n in 0..400 {
        add(&format!("filler task number {n} with a title long enough to fill a pipe"), vec![]);
    }
    let shown = env.cw(&["task", "show", "t2", "--json"]).json();
    let status = env.cw(&["status", "--json"]).json();
    let listed = status["next_ready"].as_array().unwrap().iter().find(|t| t["id"] == "t2").cloned();
    assert_eq!(listed.map(|t| t["depends_on"].clone()), Some(shown["depends_on"].clone()));

    let mut child = env
        .cw_command(&env.root(), &["task", "list", "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first_bytes = [0u8; 64];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first_bytes).unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "", "quiet on a closed pipe");
}

/// `cw status` in a real pseudo-terminal (util-linux `script`) with `vars` set.
fn status_in_a_terminal(env: &TestEnv, args: &str, vars: &[(&str, &str)]) -> String {
    let line = format!("{} {args} status", crate::support::cw_binary().display());
    let mut script = crate::support::command("script");
    script.args(["-qefc", &line, "/dev/null"]).current_dir(env.root()).env("TERM", "xterm");
    for (name, value) in vars {
        script.env(name, value);
    }
    let output = script.stdin(std::process::Stdio::null()).output().expect("script runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn colour_on_a_terminal_only_unless_asked_and_no_color_is_respected() {
    let env = TestEnv::initialised();
    env.cw(&["task", "add", "First"]).ok();
    let failed = env.cw(&["task", "add", "Second", "--json"]).json();
    env.cw(&["task", "cancel", failed["id"].as_str().unwrap()]).ok();
    // On a terminal: ids cyan, a ready task blue, a cancelled one dim.
    let painted = status_in_a_terminal(&env, "", &[]);
    assert!(painted.contains("\x1b[34m1 ready\x1b[0m"), "{painted:?}");
    assert!(painted.contains("\x1b[2m1 cancelled\x1b[0m"), "{painted:?}");
    assert!(painted.contains("\x1b[36mt1"), "{painted:?}");
    for (args, vars) in
        [("", &[("NO_COLOR", "1")][..]), ("--color never", &[][..]), ("", &[("TERM", "dumb")][..])]
    {
        let plain = status_in_a_terminal(&env, args, vars);
        assert!(!plain.contains('\x1b') && plain.contains("1 ready"), "{args} {vars:?}: {plain:?}");
    }
    // Piped: plain unless asked; asked: painted even with NO_COLOR; JSON never.
    assert!(!env.cw(&["status"]).ok().contains('\x1b'));
    let forced = env.cw_with(&env.root(), &["--color", "always", "status"], &[("NO_COLOR", "1")]);
    assert!(forced.ok().contains("\x1b[34m1 ready"), "{forced:?}");
    assert!(!env.cw(&["--color", "always", "status", "--json"]).ok().contains('\x1b'));
    let error = env.cw(&["--color", "always", "task", "show", "t9"]);
    assert_eq!(error.code, 1, "{error:?}");
    assert!(error.stderr.starts_with("\x1b[1;31merror:\x1b[0m task t9"), "{error:?}");
    assert!(!env.cw(&["task", "show", "t9"]).error(1).contains('\x1b'));
    let bad = env.cw(&["--color", "sometimes", "status"]);
    assert!(bad.error(2).contains("sometimes"), "{bad:?}");
}

/// A JSON value's shape: each string a type name (`id`, `rfc3339`, `path`, `string`), each
/// number `number`, an array the shape of its first element; keys kept.
fn shape(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let rfc3339 = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$").unwrap();
    let id = regex::Regex::new(r"^[tapqi]\d+$").unwrap();
    match value {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().take(1).map(shape).collect()),
        Value::String(s) if rfc3339.is_match(s) => "rfc3339".into(),
        Value::String(s) if id.is_match(s) => "id".into(),
        Value::String(s) if s.starts_with('/') => "path".into(),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Null => Value::Null,
    }
}

/// The `--json` contract of every verb, as shapes: a field added, renamed or retyped shows in
/// review. Times are RFC 3339, paths on disk absolute (a relative one would show as `string`).
#[test]
fn json_shapes_snapshot() {
    let env = crate::coordinator::sim_env("");
    let mut shapes = String::new();
    let mut record = |name: &str, args: &[&str], vars: &[(&str, &str)]| {
        let run = env.cw_with(&env.root(), args, vars);
        let value: serde_json::Value = if run.code == 0 {
            run.json()
        } else {
            serde_json::from_str(run.stderr.trim()).unwrap_or_else(|e| panic!("{e}: {run:?}"))
        };
        let pretty = serde_json::to_string_pretty(&shape(&value)).unwrap();
        let line = args.join(" ").replace('\n', "\\n");
        shapes.push_str(&format!("=== {name}: cw {line}\n{pretty}\n"));
        value
    };
    record("init", &["init", "--json"], &[]);
    record(
        "task add",
        &["task", "add", "First", "--description", "sim: write a.txt one\n", "--json"],
        &[],
    );
    record("task add --after", &["task", "add", "Second", "--after", "t1", "--json"], &[]);
    record("task dep add", &["task", "dep", "add", "t2", "t1", "--json"], &[]);
    record("task cancel", &["task", "cancel", "t2", "--json"], &[]);
    record("task retry", &["task", "retry", "t2", "--json"], &[]);
    let run = env.cw(&["run", "--agent-command", "sim", "--exit-when-done", "--agents", "1"]);
    assert_eq!(run.code, 0, "{run:?}");
    record("task show", &["task", "show", "t1", "--json"], &[]);
    record("task list", &["task", "list", "--json"], &[]);
    record("status", &["status", "--json"], &[]);
    record("agent list", &["agent", "list", "--json"], &[]);
    record("diff", &["diff", "t1", "--json"], &[]);
    let registered =
        record("agent register", &["agent", "register", "--name", "me", "--json"], &[]);
    let token = registered["token"].as_str().unwrap().to_owned();
    env.cw(&["task", "add", "Third"]).ok();
    record("task claim", &["task", "claim", "--json"], &[("CW_TOKEN", &token)]);
    let service = env.service();
    let me: cw::model::AgentId = registered["id"].as_str().unwrap().parse().unwrap();
    service.ask(me, "Which?", &["A".to_owned(), "B".to_owned()], None).unwrap();
    record("inbox", &["inbox", "--json"], &[]);
    record("inbox show", &["inbox", "show", "q1", "--json"], &[]);
    record("answer", &["answer", "q1", "A", "--json"], &[]);
    record("send", &["send", registered["id"].as_str().unwrap(), "hello", "--json"], &[]);
    record("gc", &["gc", "--json"], &[]);
    record("error", &["task", "show", "t99", "--json"], &[]);
    insta::assert_snapshot!("json_shapes", shapes);
}
