//! The file mirror (issue 18): questions answered, messages sent and broken files handled by
//! editing real files under `.cw/`, with the real watcher (`cw mirror --watch`) and the real
//! Python MCP client as the agent waiting in `ask_user`.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use cw::model::AgentKind;
use cw::service::{Caller, Via};
use cw::store::QuestionRecord;

use crate::agents::wait_until;
use crate::support::TestEnv;

const WAIT: Duration = Duration::from_secs(30);

/// A repository with one ready task and ask_user waiting up to a minute.
fn env_with_task() -> TestEnv {
    let env = TestEnv::initialised();
    let config = env.root().join(".cw/config.toml");
    let text = fs_err::read_to_string(&config).unwrap();
    fs_err::write(&config, text.replace("ask_wait_seconds = 300", "ask_wait_seconds = 60"))
        .unwrap();
    env.cw(&["task", "add", "Paint the button"]).ok();
    env
}

fn inbox(env: &TestEnv) -> PathBuf {
    env.root().join(".cw/inbox")
}

/// A bare agent asks `text`; after one `cw mirror`, its question and the question's file.
fn asked(env: &TestEnv, text: &str, options: &[&str]) -> (QuestionRecord, PathBuf) {
    let service = env.service();
    let agent = service.register_agent_of("asker", None, AgentKind::Bare).unwrap().agent.id;
    let options: Vec<String> = options.iter().map(|&o| o.to_owned()).collect();
    let question = service.ask(agent, text, &options, None).unwrap();
    env.cw(&["mirror"]).ok();
    let file = inbox(env).join(format!("{}.md", question.id));
    (question, file)
}

/// A running `cw` command (`mirror --watch`, `run`), killed when dropped.
struct Watching(std::process::Child);

impl Watching {
    fn start(env: &TestEnv) -> Watching {
        Watching::cw(env, &["mirror", "--watch"])
    }

    fn cw(env: &TestEnv, args: &[&str]) -> Watching {
        let child = env
            .cw_command(&env.root(), args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Watching(child)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How editors save: each ends with `path` holding `text`.
#[derive(Debug, Clone, Copy)]
enum Save {
    /// Overwrite the bytes in place, then cut the rest (no new inode).
    InPlace,
    /// Truncate, then write (most simple editors).
    TruncateAndWrite,
    /// Write a temp file beside it and rename it over (VS Code, JetBrains, `sed -i`).
    TempAndRename,
    /// Move the original to a backup, write a new file (vim's default), a swap file around.
    BackupAndRename,
}

fn save(path: &Path, text: &str, how: Save) {
    match how {
        Save::InPlace => {
            let mut file = fs_err::OpenOptions::new().write(true).open(path).unwrap();
            file.rewind().unwrap();
            file.write_all(text.as_bytes()).unwrap();
            file.set_len(text.len() as u64).unwrap();
        }
        Save::TruncateAndWrite => fs_err::write(path, text).unwrap(),
        Save::TempAndRename => {
            let temp = path.with_file_name(".q-save.tmp");
            fs_err::write(&temp, text).unwrap();
            fs_err::rename(&temp, path).unwrap();
        }
        Save::BackupAndRename => {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let swap = path.with_file_name(format!(".{name}.swp"));
            fs_err::write(&swap, "vim swap").unwrap();
            let backup = path.with_file_name(format!("{name}~"));
            fs_err::rename(path, &backup).unwrap();
            fs_err::write(path, text).unwrap();
            fs_err::remove_file(&backup).unwrap();
            fs_err::remove_file(&swap).unwrap();
        }
    }
}

/// The question file with `answer` written under its heading.
fn answered(text: &str, answer: &str) -> String {
    format!("{}\n{answer}\n", text.trim_end())
}

#[test]
fn an_answer_saved_in_the_file_returns_from_ask_user_with_every_save_pattern() {
    for how in [Save::InPlace, Save::TruncateAndWrite, Save::TempAndRename, Save::BackupAndRename] {
        let env = env_with_task();
        let token =
            env.cw(&["agent", "register", "--json"]).json()["token"].as_str().unwrap().to_owned();
        let _mirror = Watching::start(&env);
        let waiting = {
            let env = &env;
            std::thread::scope(|scope| {
                let agent = scope.spawn(|| crate::mcp::python(env, &["wait", "--token", &token]));
                let file = inbox(env).join("q1.md");
                wait_until(WAIT, "the question's file appears", || file.is_file());
                let text = fs_err::read_to_string(&file).unwrap();
                assert!(text.contains("Still there?") && text.contains("## Answer"), "{text}");
                let answer = format!("Yes — saved {how:?}.\n\nA second *markdown* paragraph.");
                save(&file, &answered(&text, &answer), how);
                (agent.join().unwrap(), answer)
            })
        };
        let (result, answer) = waiting;
        assert_eq!(result["data"]["status"], "answered", "{how:?}: {result}");
        assert_eq!(result["data"]["answer"], answer.as_str(), "{how:?}");
        let all = env.cw(&["inbox", "--all", "--json"]).json();
        assert_eq!(all[0]["answered_by"], "file", "{how:?}: {all}");
        let moved = inbox(&env).join("answered/q1.md");
        wait_until(WAIT, "the file moves to answered/", || {
            !inbox(&env).join("q1.md").exists() && moved.is_file()
        });
        let archived = fs_err::read_to_string(&moved).unwrap();
        assert!(archived.contains(&answer) && archived.contains("answered_by: file"), "{archived}");
    }
}

#[test]
fn an_option_is_answered_by_its_number_and_an_edit_made_while_cw_was_away_is_applied() {
    let env = env_with_task();
    let service = env.service();
    let (question, file) = asked(&env, "Which colour?", &["red", "blue"]);
    let text = fs_err::read_to_string(&file).unwrap();
    assert!(text.contains("1. red\n2. blue"), "{text}");
    // cw is not running: the edit waits in the file.
    fs_err::write(&file, answered(&text, "2")).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(
        synced.contains(&format!("answered {} from .cw/inbox/{}.md", question.id, question.id)),
        "{synced}"
    );
    let after = service.question(question.id).unwrap();
    assert_eq!(
        (after.answer.as_deref(), after.answered_by.as_deref()),
        (Some("blue"), Some("file"))
    );
}

#[test]
fn broken_files_are_left_byte_for_byte_with_the_reason_beside_them() {
    let env = env_with_task();
    let service = env.service();
    let (question, file) = asked(&env, "Proceed?", &[]);
    let good = fs_err::read_to_string(&file).unwrap();
    let broken = [
        good.replacen("---\n", "--\n", 1),
        answered(&good, "<<<<<<< mine\nyes\n=======\nno\n>>>>>>> theirs"),
        answered(&good.replace(&format!("id: {}", question.id), "id: q999"), "yes"),
    ];
    for text in &broken {
        fs_err::write(&file, text).unwrap();
        let synced = env.cw(&["mirror"]).ok().to_owned();
        assert!(synced.contains("not applied: .cw/inbox/"), "{synced}");
        assert_eq!(&fs_err::read_to_string(&file).unwrap(), text, "left as written");
        let note = fs_err::read_to_string(file.with_file_name(format!("{}.error.md", question.id)))
            .unwrap();
        assert!(note.contains("was not applied"), "{note}");
        assert_eq!(service.question(question.id).unwrap().status.as_str(), "open");
        let status = env.cw(&["status"]).ok().to_owned();
        assert!(status.contains(&format!("  .cw/inbox/{}.md: ", question.id)), "{status}");
    }
    // A file for a question that does not exist.
    let stray = inbox(&env).join("q77.md");
    fs_err::write(&stray, "my notes").unwrap();
    assert!(env.cw(&["mirror"]).ok().contains("there is no question q77"));
    assert_eq!(fs_err::read_to_string(&stray).unwrap(), "my notes");
    // Fixed: applied, and the note is gone.
    fs_err::write(&file, answered(&good, "yes")).unwrap();
    env.cw(&["mirror"]).ok();
    assert_eq!(service.question(question.id).unwrap().answer.as_deref(), Some("yes"));
    assert!(!file.with_file_name(format!("{}.error.md", question.id)).exists());
}

#[test]
fn a_link_out_of_cw_is_refused_and_its_target_untouched() {
    let env = env_with_task();
    let service = env.service();
    let (question, file) = asked(&env, "Proceed?", &[]);
    let outside = env.outer().join("secret.md");
    let text = answered(&fs_err::read_to_string(&file).unwrap(), "leaked");
    fs_err::write(&outside, &text).unwrap();
    fs_err::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&outside, &file).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains("symbolic link"), "{synced}");
    assert_eq!(service.question(question.id).unwrap().status.as_str(), "open");
    assert_eq!(fs_err::read_to_string(&outside).unwrap(), text);
    assert!(fs_err::symlink_metadata(&file).unwrap().file_type().is_symlink(), "left as it was");
}

#[test]
fn an_answer_given_elsewhere_meanwhile_keeps_the_files_answer_as_a_conflict_copy() {
    let env = env_with_task();
    let service = env.service();
    let (question, file) = asked(&env, "Which port?", &[]);
    let mine = answered(&fs_err::read_to_string(&file).unwrap(), "8080, because of the proxy");
    fs_err::write(&file, &mine).unwrap();
    env.cw(&["answer", &question.id.to_string(), "9090"]).ok();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains("was already answered from the command line"), "{synced}");
    let copy = inbox(&env).join(format!("answered/{}.conflict.md", question.id));
    assert_eq!(fs_err::read_to_string(&copy).unwrap(), mine, "the human's words are kept");
    let archived =
        fs_err::read_to_string(inbox(&env).join(format!("answered/{}.md", question.id))).unwrap();
    assert!(archived.contains("9090"), "{archived}");
    assert_eq!(service.question(question.id).unwrap().answer.as_deref(), Some("9090"));
}

#[test]
fn a_message_written_in_an_agents_inbox_reaches_it_once() {
    let env = env_with_task();
    let service = env.service();
    let agent = service.register_agent_of("reader", None, AgentKind::Bare).unwrap().agent.id;
    env.cw(&["mirror"]).ok();
    let page = env.root().join(format!(".cw/agents/{agent}/inbox.md"));
    let status = env.root().join(format!(".cw/agents/{agent}/status.md"));
    assert!(fs_err::read_to_string(&status).unwrap().contains("- state: starting"));
    let text = fs_err::read_to_string(&page).unwrap();
    let line = "----- write below this line, then save -----";
    let written = text.replace(
        line,
        &format!("{line}\n\nPlease also update the docs.\n\nAnd the changelog,\nin two lines."),
    );
    fs_err::write(&page, &written).unwrap();
    assert!(env.cw(&["mirror"]).ok().contains(&format!("sent a message to {agent}")));
    // cw killed before it rewrote the page: the same paragraphs are read again, sent once.
    fs_err::write(&page, &written).unwrap();
    env.cw(&["mirror"]).ok();
    env.cw(&["mirror"]).ok();
    let messages = service.take_messages(agent).unwrap();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    assert_eq!(bodies, ["Please also update the docs.", "And the changelog,\nin two lines."]);
    let after = fs_err::read_to_string(&page).unwrap();
    assert!(after.contains("(file): Please also update the docs."), "{after}");
    let (_, below) = after.split_once(line).unwrap();
    assert!(below.trim_start().starts_with("## Sent"), "emptied once sent: {after}");
    assert_eq!(service.agent_messages(&Caller::Operator(Via::Cli), agent).unwrap().len(), 2);
}

#[test]
fn cw_run_answered_only_through_the_inbox_files_merges_every_task() {
    let env = crate::coordinator::sim_env("");
    for i in 1..=3 {
        crate::agents::add_task(
            &env,
            &format!("Asks {i}"),
            &format!("sim: ask Question {i}?\nsim: write f{i}.txt {i}"),
        );
    }
    let mut run = Watching::cw(&env, &["run", "--agent-command", "sim", "--exit-when-done"]);
    let mut answered = std::collections::HashSet::new();
    wait_until(Duration::from_secs(60), "three questions are answered through their files", || {
        for entry in fs_err::read_dir(inbox(&env)).into_iter().flatten().flatten() {
            let path = entry.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with('q')
                && name.ends_with(".md")
                && !name.contains(".error")
                && answered.insert(name)
            {
                let text = fs_err::read_to_string(&path).unwrap();
                fs_err::write(&path, answered_text(&text)).unwrap();
            }
        }
        answered.len() == 3
    });
    let status = run.0.wait().unwrap();
    assert!(status.success(), "cw run ended {status}");
    let tasks = env.cw(&["task", "list", "--json"]).json();
    assert!(tasks.as_array().unwrap().iter().all(|t| t["state"] == "merged"), "{tasks}");
    let all = env.cw(&["inbox", "--all", "--json"]).json();
    assert!(all.as_array().unwrap().iter().all(|q| q["answered_by"] == "file"), "{all}");
}

fn answered_text(text: &str) -> String {
    answered(text, "Go ahead.")
}

#[test]
fn tasks_are_added_retitled_reordered_and_cancelled_through_their_files() {
    let env = env_with_task();
    env.cw(&["task", "add", "Second"]).ok();
    env.cw(&["mirror"]).ok();
    let plan = env.root().join(".cw/tasks/unplanned.md");
    let text = fs_err::read_to_string(&plan).unwrap();
    assert!(text.contains("- t1 [ready] Paint the button\n- t2 [ready] Second\n"), "{text}");
    let edited = text
        .replace("- t1 [ready] Paint the button", "- t1 [ready] Paint the button blue")
        .replace("- t2 [ready] Second", "- t2 [cancel] Second\n- Third (after t1)");
    fs_err::write(&plan, &edited).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(
        synced.contains("retitled t1")
            && synced.contains("cancelled t2")
            && synced.contains("added t3"),
        "{synced}"
    );
    let after = fs_err::read_to_string(&plan).unwrap();
    assert!(after.contains("- t1 [ready] Paint the button blue\n- t2 [cancelled] Second\n- t3 [pending] Third (after t1)\n"), "{after}");
    env.cw(&["mirror"]).ok();
    assert_eq!(
        env.cw(&["task", "list", "--json"]).json().as_array().unwrap().len(),
        3,
        "applied once"
    );

    // A state the file cannot set: refused, the file kept as written, the reason beside it.
    let refused = after.replace("- t1 [ready]", "- t1 [merged]");
    fs_err::write(&plan, &refused).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains("cannot be set to `merged`"), "{synced}");
    assert_eq!(fs_err::read_to_string(&plan).unwrap(), refused);
    assert!(env.root().join(".cw/tasks/unplanned.error.md").is_file());

    // new.md: each line below its line is a task, then the page is emptied.
    let new = env.root().join(".cw/tasks/new.md");
    let page = fs_err::read_to_string(&new).unwrap();
    fs_err::write(&new, format!("{page}- Fourth (after t3)\n- Fifth\n")).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains("added t4") && synced.contains("added t5"), "{synced}");
    let emptied = fs_err::read_to_string(&new).unwrap();
    assert!(!emptied.contains("Fourth") && emptied.ends_with("then save -----\n\n"), "{emptied}");
    let shown = env.cw(&["task", "show", "t4", "--json"]).json();
    assert_eq!(shown["depends_on"], serde_json::json!(["t3"]));
}

#[test]
fn descriptions_are_edited_in_the_files_and_a_sync_repeated_after_a_crash_adds_nothing_twice() {
    let env = env_with_task();
    env.cw(&["task", "add", "Second", "--description", "Line one\r\n\n    code()"]).ok();
    env.cw(&["mirror"]).ok();
    let plan = env.root().join(".cw/tasks/unplanned.md");
    let baseline = env.root().join(".cw/mirror/tasks/unplanned.md");
    let text = fs_err::read_to_string(&plan).unwrap();
    assert!(text.contains("- t2 [ready] Second\n  Line one\n\n      code()\n"), "{text}");
    let edited = format!(
        "{}- Third (after t2)\n  Why: the button.\n\n  - not a task, a list in the description\n",
        text.replace("  Line one\n", "  Line one, edited\n")
    );
    let before = fs_err::read_to_string(&baseline).unwrap();
    fs_err::write(&plan, &edited).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains("redescribed t2") && synced.contains("added t3"), "{synced}");
    let description =
        |id: &str| env.cw(&["task", "show", id, "--json"]).json()["description"].clone();
    assert_eq!(description("t2"), "Line one, edited\n\n    code()");
    assert_eq!(description("t3"), "Why: the button.\n\n- not a task, a list in the description");

    // cw killed after applying but before rewriting: the files are as the human left them.
    fs_err::write(&plan, &edited).unwrap();
    fs_err::write(&baseline, &before).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(!synced.contains("added") && !synced.contains("not applied"), "{synced}");
    let count = || env.cw(&["task", "list", "--json"]).json().as_array().unwrap().len();
    assert_eq!(count(), 3, "the added line was added once");
    assert!(!env.root().join(".cw/tasks/unplanned.error.md").exists());

    let new = env.root().join(".cw/tasks/new.md");
    let page = fs_err::read_to_string(&new).unwrap();
    fs_err::write(&new, format!("{page}- Fourth\n")).unwrap();
    assert!(env.cw(&["mirror"]).ok().contains("added t4"));
    fs_err::write(&new, format!("{page}- Fourth\n")).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(!synced.contains("added"), "{synced}");
    assert_eq!(count(), 4, "a line of new.md read twice is one task");
    // The same line written on the fresh page is meant: a second task.
    let fresh = fs_err::read_to_string(&new).unwrap();
    assert_ne!(fresh, page, "each emptied page has its own version");
    fs_err::write(&new, format!("{fresh}- Fourth\n")).unwrap();
    env.cw(&["mirror"]).ok();
    assert_eq!(count(), 5);
}

/// A task for the human, deferred in its file: it stays open and its file is as it was asked;
/// approved by the option's number, it is done.
#[test]
fn a_task_for_the_human_is_deferred_and_approved_in_its_file() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &crate::import::roadmap("### Phase 1: Ship\n"));
    let action = "<task type=\"checkpoint:human-action\">\n<action>\n- Create the OAuth app\n</action>\n</task>";
    env.write(
        ".planning/phases/01-ship/01-01-PLAN.md",
        &crate::import::plan_file("01", "01", "wave: 1", action),
    );
    env.cw(&["import", "."]).ok();
    let asked = env.service().ask_human_for_checkpoints().unwrap();
    let (question, task) = (asked[0].id.to_string(), asked[0].task.unwrap().to_string());
    env.cw(&["mirror"]).ok();
    let file = inbox(&env).join(format!("{question}.md"));
    let text = fs_err::read_to_string(&file).unwrap();
    fs_err::write(&file, answered(&text, "defer")).unwrap();
    let synced = env.cw(&["mirror"]).ok().to_owned();
    assert!(synced.contains(&format!("deferred {question}")), "{synced}");
    assert_eq!(fs_err::read_to_string(&file).unwrap(), text, "the file is as it was asked");
    assert_eq!(env.cw(&["task", "show", &task, "--json"]).json()["state"], "ready");
    fs_err::write(&file, answered(&text, "1")).unwrap();
    env.cw(&["mirror"]).ok();
    assert_eq!(env.cw(&["task", "show", &task, "--json"]).json()["state"], "merged");
    assert!(!file.exists(), "moved to answered/");
}
