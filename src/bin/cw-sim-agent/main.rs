//! `cw-sim-agent`: a scripted agent that looks like Claude Code from cw's side (`[agent] command
//! = "sim"`). It is started with the same command line, starts `cw mcp` from the same per-agent
//! MCP config and talks MCP to it, edits and commits files (in process; conflicts are merged with
//! `git`), and prints stream-json. It makes the demo, the tests and the benchmarks fast and
//! deterministic.
//!
//! Its own binary, like jj's fake editor: the MCP client it speaks (rmcp's client side) is not
//! linked into `cw`, and the library has no module that is both an MCP server and its client.
//!
//! The script is read from the task's action, one `sim: <step>` line each:
//! `write <path> <text>` (`\n` for new lines), `ask <question>`, `sleep <ms>`, `sleep-first <ms>`
//! (first session only), `linger <ms>` (stays after requesting the merge), `fail <reason>`,
//! `block <reason>`, `crash` (first session only), `hang`, `children <n>` (starts n sleeping
//! children), `exit-silently`, `on-bounce <path> <text>` (written only when fixing a bounce).
//! Without `write` steps it writes `cw-sim/<task>.txt`. Then it commits, reports done and
//! requests the merge. A task in `conflict` is fixed by merging the integration branch, keeping
//! both sides of each conflict, and doing its `on-bounce` writes.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use client::{McpClient, ToolAnswer};
use cw::process::{self, ExitOutcome};

mod client;
mod commit;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match SimArgs::parse(&args) {
        Ok(parsed) => ExitCode::from(u8::try_from(run(&parsed)).unwrap_or(1)),
        Err(message) => {
            eprintln_safe(&format!("cw-sim-agent: {message}"));
            ExitCode::from(2)
        }
    }
}

/// The parts of Claude Code's command line the scripted agent uses.
#[derive(Debug, Clone, Default)]
struct SimArgs {
    prompt: String,
    mcp_config: PathBuf,
    session_id: String,
    resumed: bool,
}

impl SimArgs {
    /// Reads `-p [<prompt>] --mcp-config <file> --session-id|--resume <id>`; ignores the rest.
    fn parse(args: &[String]) -> Result<SimArgs, String> {
        let mut parsed = SimArgs::default();
        let mut it = args.iter().peekable();
        while let Some(arg) = it.next() {
            if matches!(arg.as_str(), "-p" | "--print") {
                // As for Claude Code, the prompt is optional.
                if let Some(prompt) = it.next_if(|next| !next.starts_with("--")) {
                    parsed.prompt = prompt.clone();
                }
                continue;
            }
            let mut value = || it.next().cloned().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--mcp-config" => parsed.mcp_config = PathBuf::from(value()?),
                "--session-id" => parsed.session_id = value()?,
                "--resume" => {
                    parsed.session_id = value()?;
                    parsed.resumed = true;
                }
                _ => {}
            }
        }
        if parsed.mcp_config.as_os_str().is_empty() {
            return Err("--mcp-config is required".to_owned());
        }
        Ok(parsed)
    }
}

/// One step of a task's script.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Write {
        path: String,
        text: String,
    },
    /// A write done only when the task comes back bounced (e.g. what makes a merge gate pass).
    OnBounce {
        path: String,
        text: String,
    },
    Ask(String),
    Sleep(u64),
    /// Sleeps in the first session only (a long first run to interrupt).
    SleepFirst(u64),
    /// Stays this long after requesting the merge (an agent winding down).
    Linger(u64),
    Fail(String),
    Block(String),
    Crash,
    Hang,
    Children(u32),
    ExitSilently,
}

fn script(action: &str) -> Vec<Step> {
    action
        .lines()
        .filter_map(|line| line.trim().strip_prefix("sim:"))
        .filter_map(|step| {
            let step = step.trim();
            let (verb, rest) = step.split_once(' ').unwrap_or((step, ""));
            let rest = rest.trim().to_owned();
            Some(match verb {
                "write" => {
                    let (path, text) = path_and_text(&rest);
                    Step::Write { path, text }
                }
                "on-bounce" => {
                    let (path, text) = path_and_text(&rest);
                    Step::OnBounce { path, text }
                }
                "ask" => Step::Ask(rest),
                "sleep" => Step::Sleep(rest.parse().unwrap_or(0)),
                "sleep-first" => Step::SleepFirst(rest.parse().unwrap_or(0)),
                "linger" => Step::Linger(rest.parse().unwrap_or(0)),
                "fail" => Step::Fail(rest),
                "block" => Step::Block(rest),
                "crash" => Step::Crash,
                "hang" => Step::Hang,
                "children" => Step::Children(rest.parse().unwrap_or(1)),
                "exit-silently" => Step::ExitSilently,
                _ => return None,
            })
        })
        .collect()
}

/// `<path> <text>` of a write step, with `\n` in the text made a new line.
fn path_and_text(rest: &str) -> (String, String) {
    let (path, text) = rest.split_once(' ').unwrap_or((rest, ""));
    (path.to_owned(), text.replace("\\n", "\n"))
}

/// Prints stream-json events like Claude Code does.
struct Stream {
    session: String,
    calls: u64,
    message: u64,
    /// The first failed write (a full disk, a closed pipe): the run stops with it.
    failed: Option<std::io::Error>,
}

impl Stream {
    fn emit(&mut self, value: &Value) {
        let mut out = std::io::stdout().lock();
        let written = writeln!(out, "{value}").and_then(|()| out.flush());
        if let Err(err) = written {
            self.failed.get_or_insert(err);
        }
    }

    fn init(&mut self) {
        self.emit(&json!({
            "type": "system", "subtype": "init", "session_id": self.session, "model": "cw-sim",
            "cwd": std::env::current_dir().unwrap_or_default(),
            "mcp_servers": [{"name": "cw", "status": "connected"}],
        }));
    }

    fn text(&mut self, text: &str) {
        self.message += 1;
        self.emit(&json!({
            "type": "assistant", "session_id": self.session,
            "message": {"id": format!("msg_sim_{}", self.message), "role": "assistant",
                        "content": [{"type": "text", "text": text}]},
        }));
    }

    async fn call(
        &mut self,
        client: &McpClient,
        tool: &str,
        args: Value,
    ) -> Result<ToolAnswer, String> {
        self.calls += 1;
        self.message += 1;
        let id = format!("toolu_sim_{}", self.calls);
        self.emit(&json!({
            "type": "assistant", "session_id": self.session,
            "message": {"id": format!("msg_sim_{}", self.message), "role": "assistant",
                        "content": [{"type": "tool_use", "id": id, "name": format!("mcp__cw__{tool}"), "input": args}]},
        }));
        let answer = client.call(tool, args).await.map_err(|e| e.to_string())?;
        self.emit(&json!({
            "type": "user", "session_id": self.session,
            "message": {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id,
                        "is_error": answer.is_error, "content": [{"type": "text", "text": answer.value.to_string()}]}]},
        }));
        Ok(answer)
    }

    fn result(&mut self, is_error: bool, text: &str) {
        self.emit(&json!({
            "type": "result", "subtype": "success", "is_error": is_error, "result": text,
            "session_id": self.session, "num_turns": self.calls + 1,
            "terminal_reason": if is_error { "error" } else { "completed" },
            "api_error_status": null,
            // A simulated price, so cost accounting has something to add up.
            "total_cost_usd": 0.0001 * (self.calls as f64),
            "usage": {"input_tokens": 100 * self.calls, "output_tokens": 20 * self.calls},
        }));
    }
}

/// Runs the scripted agent; returns its exit code.
fn run(args: &SimArgs) -> i32 {
    commit::trust_own_trees();
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln_safe(&format!("cw-sim-agent: {err}"));
            return 1;
        }
    };
    let mut stream =
        Stream { session: args.session_id.clone(), calls: 0, message: 0, failed: None };
    stream.init();
    if let Some(err) = &stream.failed {
        eprintln_safe(&format!("cw-sim-agent: cannot write its output: {err}"));
        return 1;
    }
    match runtime.block_on(session(args, &mut stream)) {
        Ok(Outcome::Finished(text)) => {
            stream.result(false, &text);
            0
        }
        Ok(Outcome::Crash) => 3,
        Ok(Outcome::Silent) => 0,
        Err(why) => {
            stream.result(true, &why);
            1
        }
    }
}

enum Outcome {
    Finished(String),
    Crash,
    Silent,
}

async fn session(args: &SimArgs, stream: &mut Stream) -> Result<Outcome, String> {
    let (program, server_args, env) = mcp_server(&args.mcp_config)?;
    let client = McpClient::connect_stdio(&program, &server_args, &env, "cw-sim-agent")
        .await
        .map_err(|e| e.to_string())?;
    let outcome = work(args, &args.prompt, stream, &client).await;
    client.close().await;
    outcome
}

async fn work(
    args: &SimArgs,
    prompt: &str,
    stream: &mut Stream,
    client: &McpClient,
) -> Result<Outcome, String> {
    let claim = stream.call(client, "claim_task", json!({})).await?;
    let task = &claim.value["task"];
    if claim.is_error || task.is_null() {
        return Ok(Outcome::Finished("nothing to do".to_owned()));
    }
    let task_id = task["task_id"].as_str().unwrap_or_default().to_owned();
    let worktree = PathBuf::from(task["worktree"].as_str().unwrap_or("."));
    let integration = task["integration_branch"].as_str().unwrap_or("cw/integration").to_owned();
    let steps = script(task["action"].as_str().unwrap_or(""));
    if task["state"].as_str() == Some("conflict") {
        stream.text(&format!("Merging {integration} into my branch to resolve the conflict."));
        resolve_conflict(&worktree, &integration)?;
        let fixes: Vec<(&String, &String)> = steps
            .iter()
            .filter_map(|s| match s {
                Step::OnBounce { path, text } => Some((path, text)),
                _ => None,
            })
            .collect();
        if !fixes.is_empty() {
            let mut written = Vec::new();
            for (path, text) in fixes {
                write_file(&worktree, path, text)?;
                written.push(path.clone());
            }
            commit(&worktree, &written, &format!("{task_id}: fix what bounced"))?;
        }
        stream.call(client, "request_merge", json!({"task_id": task_id})).await?;
        return Ok(Outcome::Finished(format!("{task_id}: conflict resolved, merge requested")));
    }
    let answer = prompt.lines().find_map(|l| l.strip_prefix("Answer: ")).map(str::to_owned);
    // What this session wrote or removed: all the commit needs to look at.
    let mut written: Vec<String> = Vec::new();
    let mut notes = Vec::new();
    for step in &steps {
        match step {
            Step::Write { path, text } => {
                write_file(&worktree, path, text)?;
                written.push(path.clone());
            }
            Step::Ask(question) => {
                let answer = match &answer {
                    Some(answer) => answer.clone(),
                    None => {
                        let asked = stream
                            .call(
                                client,
                                "ask_user",
                                json!({"question": question, "task_id": task_id}),
                            )
                            .await?;
                        match asked.value["status"].as_str() {
                            Some("answered") => {
                                asked.value["answer"].as_str().unwrap_or("").to_owned()
                            }
                            _ => {
                                stream.text(
                                    "The question is pending; ending my turn until it is answered.",
                                );
                                return Ok(Outcome::Finished(format!(
                                    "{task_id}: waiting for an answer"
                                )));
                            }
                        }
                    }
                };
                notes.push(format!("{question} -> {answer}"));
            }
            Step::Sleep(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
            Step::SleepFirst(ms) if !args.resumed => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
            }
            Step::SleepFirst(_) | Step::Linger(_) => {}
            Step::Fail(reason) => {
                stream
                    .call(
                        client,
                        "report_done",
                        json!({"task_id": task_id, "outcome": "failed", "summary": reason}),
                    )
                    .await?;
                return Ok(Outcome::Finished(format!("{task_id} failed: {reason}")));
            }
            Step::Block(reason) => {
                stream
                    .call(
                        client,
                        "report_done",
                        json!({"task_id": task_id, "outcome": "blocked", "summary": reason}),
                    )
                    .await?;
                return Ok(Outcome::Finished(format!("{task_id} blocked: {reason}")));
            }
            Step::Crash if !args.resumed => {
                write_file(&worktree, &format!("cw-sim/{task_id}.partial"), "half done\n")?;
                return Ok(Outcome::Crash);
            }
            Step::Crash => {}
            Step::Hang => loop {
                tokio::time::sleep(Duration::from_secs(3600)).await;
            },
            Step::Children(n) => {
                for _ in 0..*n {
                    let _ = process::piped_command(Path::new("sleep"), &["1000".into()], &[])
                        .kill_on_drop(false)
                        .spawn();
                }
            }
            Step::ExitSilently => return Ok(Outcome::Silent),
            Step::OnBounce { .. } => {}
        }
    }
    if written.is_empty() {
        let mut text = format!("{task_id} done by the scripted agent\n");
        for note in &notes {
            text.push_str(&format!("asked: {note}\n"));
        }
        let output = format!("cw-sim/{task_id}.txt");
        write_file(&worktree, &output, &text)?;
        written.push(output);
    }
    // Left by a crashed first session; never committed, so removing it leaves nothing to stage.
    let _ = fs_err::remove_file(worktree.join(format!("cw-sim/{task_id}.partial")));
    commit(&worktree, &written, &format!("{task_id}: {}", task["title"].as_str().unwrap_or("")))?;
    let summary =
        if notes.is_empty() { "done".to_owned() } else { format!("done ({})", notes.join("; ")) };
    stream
        .call(
            client,
            "report_done",
            json!({"task_id": task_id, "outcome": "done", "summary": summary}),
        )
        .await?;
    stream.call(client, "request_merge", json!({"task_id": task_id})).await?;
    for step in &steps {
        if let Step::Linger(ms) = step {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
        }
    }
    Ok(Outcome::Finished(format!("{task_id}: done, merge requested")))
}

/// Program, arguments and environment of an MCP server.
type ServerCommand = (PathBuf, Vec<OsString>, Vec<(OsString, OsString)>);

/// Reads the `cw` server from the per-agent MCP config.
fn mcp_server(path: &Path) -> Result<ServerCommand, String> {
    let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
    let config: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let server = &config["mcpServers"]["cw"];
    let program = server["command"].as_str().ok_or("the MCP config has no cw server")?;
    let args = server["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(OsString::from);
    let env = server["env"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((OsString::from(k), OsString::from(v.as_str()?))));
    Ok((PathBuf::from(program), args.collect(), env.collect()))
}

fn write_file(worktree: &Path, relative: &str, text: &str) -> Result<(), String> {
    if relative.is_empty()
        || Path::new(relative).is_absolute()
        || relative.split('/').any(|p| p == "..")
    {
        return Err(format!("the script may only write inside the worktree, not {relative:?}"));
    }
    let path = worktree.join(relative);
    if let Some(parent) = path.parent() {
        fs_err::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    fs_err::write(&path, text).map_err(|e| e.to_string())
}

const GIT_IDENTITY: [(&str, &str); 4] = [
    ("GIT_AUTHOR_NAME", "cw sim-agent"),
    ("GIT_AUTHOR_EMAIL", "sim-agent@cw.invalid"),
    ("GIT_COMMITTER_NAME", "cw sim-agent"),
    ("GIT_COMMITTER_EMAIL", "sim-agent@cw.invalid"),
];

/// `git add -- <paths> && git commit`, in process: the scripted agent stands in for an agent
/// whose own work is not what the demo, tests and benchmarks measure, so it spends as little as
/// it can (it knows what it wrote, so nothing else in the worktree is looked at).
fn commit(worktree: &Path, paths: &[String], message: &str) -> Result<(), String> {
    let author = (GIT_IDENTITY[0].1, GIT_IDENTITY[1].1);
    commit::commit_paths(worktree, paths, message, author).map(|_| ())
}

fn git(worktree: &Path, args: &[&str]) -> Result<String, String> {
    let (outcome, output) = process::capture(Path::new("git"), args, worktree, &GIT_IDENTITY)
        .map_err(|e| e.to_string())?;
    match outcome {
        ExitOutcome::Exited(0) => Ok(output),
        _ => Err(format!("git {} failed: {}", args.join(" "), output.trim())),
    }
}

/// Merges the integration branch in; every conflicted file keeps both sides.
fn resolve_conflict(worktree: &Path, integration: &str) -> Result<(), String> {
    if git(worktree, &["merge", "--no-edit", integration]).is_ok() {
        return Ok(());
    }
    let conflicted = git(worktree, &["diff", "--name-only", "--diff-filter=U"])?;
    for path in conflicted.lines().map(str::trim).filter(|p| !p.is_empty()) {
        let file = worktree.join(path);
        let text = fs_err::read_to_string(&file).map_err(|e| e.to_string())?;
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| {
                !(l.starts_with("<<<<<<<") || l.starts_with("=======") || l.starts_with(">>>>>>>"))
            })
            .collect();
        fs_err::write(&file, format!("{}\n", kept.join("\n"))).map_err(|e| e.to_string())?;
        git(worktree, &["add", path])?;
    }
    git(worktree, &["commit", "-q", "--no-edit"])?;
    Ok(())
}

fn eprintln_safe(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}
