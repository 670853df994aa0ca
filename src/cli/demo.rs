//! `cw demo`: a whole `cw run` on a throwaway repository with a small plan, watched live.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Args;

use super::progress::TerminalProgress;
use super::{CommandError, CommandResult, output};
use crate::coordinator::{Progress, RunOptions, RunReport, Snapshot};
use crate::process::{self, ExitOutcome};
use crate::service::{Caller, ImportOptions, Service, ServiceError, Via};
use crate::workspace::Workspace;

/// Watch cw run a small plan end to end, with scripted agents (no API key)
///
/// Scripted agents, a question, a conflict and a crash.
///
/// Builds a temporary git repository with a 9-task plan (6 plans in 2 phases, with
/// dependencies), then runs it like `cw run --exit-when-done`: agents in their own worktrees, a
/// question answered through the inbox, a human checkpoint, a merge conflict bounced back and
/// fixed, an agent crash recovered. No API key needed. The repository is removed afterwards
/// unless --keep is given.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Keep the demo repository (its path is printed) to look around afterwards
    #[arg(long)]
    keep: bool,
    /// How many agents work at once
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..))]
    agents: u16,
    /// Run the real `claude` CLI (on PATH) against cw's fake Anthropic API
    /// (tools/fake_anthropic.py) instead of the scripted agents
    #[arg(long)]
    claude: bool,
}

/// The demo plan: a `.planning/` folder compiled into cw.
const PLANNING: &[(&str, &str)] = &[
    ("ROADMAP.md", include_str!("demo/planning/ROADMAP.md")),
    (
        "phases/01-counting/01-01-PLAN.md",
        include_str!("demo/planning/phases/01-counting/01-01-PLAN.md"),
    ),
    (
        "phases/01-counting/01-02-PLAN.md",
        include_str!("demo/planning/phases/01-counting/01-02-PLAN.md"),
    ),
    (
        "phases/01-counting/01-03-PLAN.md",
        include_str!("demo/planning/phases/01-counting/01-03-PLAN.md"),
    ),
    (
        "phases/02-output/02-01-PLAN.md",
        include_str!("demo/planning/phases/02-output/02-01-PLAN.md"),
    ),
    (
        "phases/02-output/02-02-PLAN.md",
        include_str!("demo/planning/phases/02-output/02-02-PLAN.md"),
    ),
    (
        "phases/02-output/02-03-PLAN.md",
        include_str!("demo/planning/phases/02-output/02-03-PLAN.md"),
    ),
];

/// How long the demo's "human" takes to answer a question.
const HUMAN_DELAY: Duration = Duration::from_millis(800);

pub(crate) fn cmd_demo(args: &DemoArgs) -> CommandResult {
    let started = Instant::now();
    let base = std::env::temp_dir().join(format!("cw-demo-{}", std::process::id()));
    let repo = base.join("wordcount");
    let result = run_demo(args, &base, &repo, started);
    if args.keep {
        output::note(&format!("cw demo: the repository is kept at {}", repo.display()));
    } else if let Err(err) = fs_err::remove_dir_all(&base) {
        output::note(&format!("cw demo: could not remove {}: {err}", base.display()));
    }
    result
}

fn run_demo(args: &DemoArgs, base: &Path, repo: &Path, started: Instant) -> CommandResult {
    let say = |text: &str| output::text(format!("{text}\n"));
    if !args.claude {
        check_sim_agent()?;
    }
    if base.exists() {
        fs_err::remove_dir_all(base)?;
    }
    fs_err::create_dir_all(repo)?;
    say(&format!("cw demo: a word counter planned in {} (6 plans, 9 tasks)", repo.display()))?;
    make_repository(repo)?;
    Service::init(repo)?;
    let fake_api = if args.claude { Some(FakeApi::start(base)?) } else { None };

    configure(repo, fake_api.as_ref(), base)?;
    let planning = repo.join(".planning");
    for (path, text) in PLANNING {
        let path = planning.join(path);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(&path, text)?;
    }
    let service = Service::open(Workspace::locate(repo).map_err(ServiceError::from)?)?;
    let imported = service.import(&planning, &ImportOptions::default())?;
    say(&format!(
        "imported {} tasks; agents: {}; the human answers questions after {:.1} s\n",
        imported.tasks_created,
        if args.claude { "claude (fake API)" } else { "cw's scripted agent" },
        HUMAN_DELAY.as_secs_f64()
    ))?;

    let service = Arc::new(service);
    let human = Human::start(Arc::clone(&service));
    let progress = DemoProgress { inner: TerminalProgress::new(), said: Arc::clone(&human.said) };
    let options = RunOptions {
        agents: usize::from(args.agents),
        exit_when_done: true,
        ..RunOptions::default()
    };
    let report = super::run::serve_and_coordinate(
        Arc::clone(&service),
        options,
        Some(0),
        Box::new(progress),
    );
    human.stop();
    drop(fake_api);
    let report = report?;
    summarise(&service, &report, started)?;
    if !report.all_merged() {
        return Err(CommandError::Failed(format!(
            "the demo did not finish: {} of {} tasks merged",
            report.merged, report.total
        )));
    }
    Ok(())
}

fn git(repo: &Path, args: &[&str]) -> Result<String, CommandError> {
    let (outcome, text) = process::capture(Path::new("git"), args, repo, &[])
        .map_err(|err| CommandError::Failed(err.to_string()))?;
    if outcome != ExitOutcome::Exited(0) {
        return Err(CommandError::Failed(format!(
            "git {} failed: {}",
            args.join(" "),
            text.trim()
        )));
    }
    Ok(text)
}

fn make_repository(repo: &Path) -> Result<(), CommandError> {
    git(repo, &["init", "-q", "-b", "main"])?;
    // The demo's commits (and its agents', in their worktrees) need an author on any machine.
    git(repo, &["config", "user.name", "cw demo"])?;
    git(repo, &["config", "user.email", "demo@cw.invalid"])?;
    fs_err::write(
        repo.join("README.md"),
        "# wc-rs\n\nA word counter, built by cw's demo agents.\n",
    )?;
    git(repo, &["add", "README.md"])?;
    git(repo, &["commit", "-q", "-m", "Start wc-rs"])?;
    Ok(())
}

/// The demo's settings: scripted (or fake-API claude) agents, questions that end the agent's
/// turn at once so the answer comes back by resuming its session.
fn configure(repo: &Path, fake_api: Option<&FakeApi>, base: &Path) -> Result<(), CommandError> {
    let path = repo.join(".cw/config.toml");
    let mut text = fs_err::read_to_string(&path)?;
    text = text.replace("ask_wait_seconds = 300", "ask_wait_seconds = 0");
    text = text.replace("memory_headroom_mb = 1024", "memory_headroom_mb = 256");
    text = text.replace("agent_memory_mb = 500", "agent_memory_mb = 100");
    let agent = match fake_api {
        None => "command = \"sim\"".to_owned(),
        Some(api) => {
            let claude = find_claude()?;
            let home = base.join("home");
            fs_err::create_dir_all(&home)?;
            let vars = [
                format!("ANTHROPIC_BASE_URL={}", api.url),
                "ANTHROPIC_API_KEY=sk-ant-cw-demo-fake".to_owned(),
                format!("HOME={}", home.display()),
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1".to_owned(),
                "DISABLE_TELEMETRY=1".to_owned(),
                "DISABLE_ERROR_REPORTING=1".to_owned(),
                "DISABLE_AUTOUPDATER=1".to_owned(),
                "CLAUDE_CODE_MAX_RETRIES=2".to_owned(),
            ];
            let mut args: Vec<String> = vars.to_vec();
            args.push(claude.display().to_string());
            // `env VAR=… claude …`: the agent's environment without touching cw's own.
            format!("command = \"env\"\nargs = {args:?}")
        }
    };
    text = text.replace("command = \"claude\"", &agent);
    text = text.replace("\nargs = []", if fake_api.is_some() { "" } else { "\nargs = []" });
    fs_err::write(&path, text)?;
    Ok(())
}

/// The scripted agent is a binary of its own beside `cw`; without it every agent start fails.
fn check_sim_agent() -> Result<(), CommandError> {
    let cw = std::env::current_exe()?;
    let sim = crate::agent::launch::sim_agent_exe(&cw);
    if sim.is_file() {
        return Ok(());
    }
    Err(CommandError::Failed(format!(
        "the scripted agent {} is missing beside cw: `cargo build --locked` builds both, `cargo install --locked --path .` installs both",
        sim.display()
    )))
}

fn find_claude() -> Result<PathBuf, CommandError> {
    let dev =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(".test-deps/claude/node_modules/.bin/claude");
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|d| d.join("claude")).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path.into_iter().chain([dev]).find(|p| p.is_file()).ok_or_else(|| {
        CommandError::Failed(
            "`claude` is not on PATH (install it with `npm install -g @anthropic-ai/claude-code`, or run `bash tools/test-deps.sh` in a cw checkout)".to_owned(),
        )
    })
}

/// cw's fake Anthropic API (tools/fake_anthropic.py), running while the demo does.
struct FakeApi {
    child: process::Supervised,
    url: String,
}

impl FakeApi {
    fn start(base: &Path) -> Result<FakeApi, CommandError> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/fake_anthropic.py");
        if !script.is_file() {
            return Err(CommandError::Failed(format!(
                "--claude needs cw's fake API at {} (run the demo from a cw checkout)",
                script.display()
            )));
        }
        let port_file = base.join("fake-api.port");
        let spec = process::SpawnSpec {
            program: PathBuf::from("python3"),
            args: vec![
                script.into_os_string(),
                "--port-file".into(),
                port_file.clone().into_os_string(),
            ],
            cwd: base.to_owned(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdout: base.join("fake-api.log"),
            stderr: base.join("fake-api.log"),
            stdin_pipe: false,
        };
        let child = process::spawn(&spec).map_err(|err| CommandError::Failed(err.to_string()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(port) = fs_err::read_to_string(&port_file)
                && let Ok(port) = port.trim().parse::<u16>()
            {
                return Ok(FakeApi { child, url: format!("http://127.0.0.1:{port}") });
            }
            if Instant::now() > deadline {
                return Err(CommandError::Failed("the fake API did not start".to_owned()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        let _ = self.child.stop(Duration::from_secs(2));
    }
}

/// The demo's human: answers each open question (as `cw answer` would) after a moment.
struct Human {
    stop: Arc<AtomicBool>,
    said: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Human {
    fn start(service: Arc<Service>) -> Human {
        let stop = Arc::new(AtomicBool::new(false));
        let said = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (stop, said) = (Arc::clone(&stop), Arc::clone(&said));
            std::thread::spawn(move || {
                let mut watch = service.watch_changes().ok();
                while !stop.load(Ordering::SeqCst) {
                    for question in
                        service.open_questions(&Caller::Operator(Via::Cli)).unwrap_or_default()
                    {
                        let age = service.now().0.saturating_sub(question.asked_at.0);
                        if u128::try_from(age).unwrap_or(0) < HUMAN_DELAY.as_millis() {
                            continue;
                        }
                        let answer = if question.agent.is_some() {
                            "One word: a hyphenated word counts once."
                        } else {
                            "approved"
                        };
                        if service.answer(&Caller::Operator(Via::Cli), question.id, answer).is_ok()
                        {
                            let first = question.question.lines().next().unwrap_or("").to_owned();
                            let line = format!(
                                "human: answered {} ({first}) with \"{answer}\"",
                                question.id
                            );
                            said.lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .push(line);
                        }
                    }
                    match watch.as_mut() {
                        Some(watch) => {
                            let _ = service.wait_for_change(watch, Duration::from_millis(100));
                        }
                        None => std::thread::sleep(Duration::from_millis(100)),
                    }
                }
            })
        };
        Human { stop, said, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.thread.join();
    }
}

/// The terminal progress, with the demo human's words woven in.
struct DemoProgress {
    inner: TerminalProgress,
    said: Arc<Mutex<Vec<String>>>,
}

impl DemoProgress {
    fn flush_human(&mut self) {
        let lines: Vec<String> = std::mem::take(
            &mut *self.said.lock().unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for line in lines {
            self.inner.line(&line);
        }
    }
}

impl Progress for DemoProgress {
    fn line(&mut self, text: &str) {
        self.flush_human();
        self.inner.line(text);
    }

    fn snapshot(&mut self, snapshot: &Snapshot) {
        self.flush_human();
        self.inner.snapshot(snapshot);
    }

    fn finish(&mut self, report: &RunReport) {
        self.flush_human();
        self.inner.finish(report);
    }
}

fn summarise(service: &Service, report: &RunReport, started: Instant) -> CommandResult {
    let repo = service.workspace().root().to_owned();
    let integration = service.config().integration_branch.clone();
    let agents = service.agents()?;
    let cost: f64 = agents.iter().map(|a| a.usage.cost_usd).sum();
    let log = git(&repo, &["log", "--first-parent", "--format=  %h %s", &integration])?;
    let mut out = format!(
        "\n{} of {} tasks merged into {integration} in {:.1} s by {} agents (simulated cost ${cost:.4}):\n",
        report.merged,
        report.total,
        started.elapsed().as_secs_f64(),
        agents.len()
    );
    out.push_str(&log);
    let files = git(&repo, &["ls-tree", "-r", "--name-only", &integration])?;
    out.push_str(&format!(
        "files on {integration}: {}\n",
        files.lines().collect::<Vec<_>>().join(", ")
    ));
    output::text(&out)
}
