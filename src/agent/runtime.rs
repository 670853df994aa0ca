//! Running agents: spawn one on a task (worktree, MCP config, session, supervised process),
//! continue its session, watch its stream, stop it, and find it again after cw restarts.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use super::AgentError;
use super::launch::{self, SessionStart};
use super::prompts::Prompt;
use super::stream::{RunSummary, StreamEvent, StreamTail};
use crate::model::{AgentId, TaskId};
use crate::process::{self, ExitOutcome, ProcessHandle, SpawnSpec, StopReport, Supervised};
use crate::service::{Continues, ExitKind, Service, ServiceError};
use crate::store::{AgentProcess, AgentRecord, AgentUsage};

/// The environment variables every agent process carries: its id and its repository.
const AGENT_ENV: &str = "CW_AGENT_ID";
const REPO_ENV: &str = "CW_REPO";

/// Why a session is continued, and what to tell the agent.
#[derive(Debug, Clone)]
pub enum Continuation {
    /// After a crash, a stop, a restart of cw.
    Interrupted { reason: String },
    /// The human answered a question.
    Answer { question: String, question_text: String, answer: String },
    /// The merge was bounced: conflicting paths, or the merge gate failed.
    Conflict { reason: String, paths: Vec<String> },
    /// Messages are waiting.
    Messages,
}

/// The process behind a live agent: one cw started (and reaps), or one found again after cw
/// restarted (watched by pid + start time).
#[derive(Debug)]
enum ProcessRef {
    Child(Supervised),
    Adopted(ProcessHandle),
}

/// An agent whose process is running, being watched.
#[derive(Debug)]
pub struct LiveAgent {
    pub agent: AgentId,
    pub task: Option<TaskId>,
    process: ProcessRef,
    tail: StreamTail,
    pub summary: RunSummary,
    recorded_session: Option<String>,
    /// The finished agent whose merged worktree this one took over, if it did.
    pub reused_worktree_of: Option<AgentId>,
}

/// Who stops an agent: the operator (it stays stopped until restarted) or `cw run`'s shutdown
/// (the next run continues it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopKind {
    Operator,
    Shutdown,
}

/// How an agent's process ended.
#[derive(Debug, Clone)]
pub struct AgentExit {
    pub agent: AgentRecord,
    pub kind: ExitKind,
    pub status: String,
    pub summary: RunSummary,
    /// True when it had been asked to stop.
    pub stopped: bool,
}

impl LiveAgent {
    /// The process's pid.
    pub fn pid(&self) -> u32 {
        self.handle().pid
    }

    fn handle(&self) -> ProcessHandle {
        match &self.process {
            ProcessRef::Child(child) => child.handle,
            ProcessRef::Adopted(handle) => *handle,
        }
    }
}

/// Spawns, continues, watches and stops agents for one repository.
pub struct AgentRuntime {
    service: Arc<Service>,
    cw_exe: PathBuf,
}

impl AgentRuntime {
    /// `cw_exe` is the cw binary agents' MCP configs start (`cw mcp --agent ID`).
    pub fn new(service: Arc<Service>, cw_exe: PathBuf) -> AgentRuntime {
        AgentRuntime { service, cw_exe }
    }

    /// The service this runtime records into.
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// The runtime for the running cw binary.
    pub fn for_current_exe(service: Arc<Service>) -> Result<AgentRuntime, AgentError> {
        let exe = std::env::current_exe()
            .map_err(|source| ServiceError::Io { path: PathBuf::from("/proc/self/exe"), source })?;
        Ok(AgentRuntime::new(service, exe))
    }

    /// Starts one agent on a ready task outside `cw run` (`cw agent spawn`), refusing first when
    /// its work could never be merged (the integration branch is missing or checked out), as
    /// `cw run` refuses when it starts.
    pub fn spawn_one(&self, task: TaskId) -> Result<LiveAgent, AgentError> {
        self.service.check_integration_branch()?;
        self.spawn_on_task(task, None)
    }

    /// Starts a new agent on a ready task: its own branch and worktree cut from the integration
    /// branch, the setup command, a new session. With `reuse`, the merged worktree of that
    /// finished agent becomes the new one when it can (`Service::prepare_worktree`); otherwise a
    /// fresh one is checked out. Nothing is left half-made on failure: the agent is recorded as
    /// crashed with the reason.
    pub fn spawn_on_task(
        &self,
        task: TaskId,
        reuse: Option<AgentId>,
    ) -> Result<LiveAgent, AgentError> {
        let registration = self.service.prepare_agent(task)?;
        let agent = registration.agent.id;
        match self.start_new(agent, task, reuse, registration.token) {
            Ok(live) => Ok(live),
            Err(err) => {
                let status = format!("did not start: {err}");
                self.service.record_agent_exit(agent, ExitKind::Crashed, &status)?;
                // Whatever it made before it failed must not block the task's next start.
                if self.service.agent(agent)?.worktree.is_none()
                    && let Err(cleanup) = self.service.remove_planned_worktree(task, false)
                {
                    warn!(agent_id = %agent, cause = %cleanup, "left a half-made worktree");
                }
                Err(err)
            }
        }
    }

    fn start_new(
        &self,
        agent: AgentId,
        task: TaskId,
        reuse: Option<AgentId>,
        token: String,
    ) -> Result<LiveAgent, AgentError> {
        let detail = self.service.task(task)?;
        let workspace = self.service.workspace();
        let dir = self.agent_dir(agent)?;
        let (created, reused_worktree_of) =
            self.service.prepare_worktree(task, &detail.task.title, reuse)?;
        let session = launch::new_session_id();
        self.service.record_agent_workspace(
            agent,
            &created.path.to_string_lossy(),
            &created.branch,
            &session,
        )?;
        self.run_setup(&dir, &created.path)?;
        let prompt = Prompt::Start.render(
            &workspace.prompts_dir(),
            &[("task", &task.to_string()), ("title", &detail.task.title)],
        );
        let mut live = self.launch(
            agent,
            Some(task),
            &prompt,
            &SessionStart::New(session),
            StreamTail::new(&dir.join("stream.jsonl")),
            Some(token),
        )?;
        live.reused_worktree_of = reused_worktree_of;
        Ok(live)
    }

    /// Cleans up after an agent cw registered but never started: a cw killed between
    /// registering it and recording its worktree leaves an unrecorded branch and worktree (holding
    /// nothing but the integration tip) that would block the task's next agent. True if it was one.
    pub fn discard_unstarted(&self, record: &AgentRecord) -> Result<bool, AgentError> {
        let unstarted = record.kind == crate::model::AgentKind::Managed
            && record.worktree.is_none()
            && record.process.is_none()
            && record.state == crate::model::AgentState::Starting;
        let Some(task) = record.bound_task.filter(|_| unstarted) else { return Ok(false) };
        self.service.remove_planned_worktree(task, true)?;
        self.service.record_agent_exit(
            record.id,
            ExitKind::Crashed,
            "never started: cw stopped while preparing it",
        )?;
        Ok(true)
    }

    /// Continues an agent that is not running: `--resume <session>` with a prompt saying why, in
    /// the same worktree. Without a session that ever started, a new one begins.
    pub fn continue_session(
        &self,
        agent: AgentId,
        how: &Continuation,
    ) -> Result<LiveAgent, AgentError> {
        if let Continues::Nothing(why) = self.service.what_agent_continues(agent)? {
            return Err(ServiceError::NothingToContinue { agent, why }.into());
        }
        let record = self.service.prepare_restart(agent)?;
        self.service.restore_agent_worktree(&record)?;
        let dir = self.agent_dir(agent)?;
        let stream = dir.join("stream.jsonl");
        let task = record.task.or(record.bound_task);
        let task_text = task.map(|t| t.to_string()).unwrap_or_default();
        let overrides = self.service.workspace().prompts_dir();
        let integration = self.service.config().integration_branch.clone();
        let branch = record.branch.clone().unwrap_or_default();
        // Claude Code killed before it saved its transcript cannot resume that session; its
        // last run said so ("No conversation found"). Then a new session starts the task over.
        let transcript_lost =
            record.exit_status.as_deref().is_some_and(|s| s.contains("No conversation found"));
        let started_before = !transcript_lost
            && record.session_id.as_deref().is_some_and(|id| session_seen(&stream, id));
        let session = match (&record.session_id, started_before) {
            (Some(id), true) => SessionStart::Resume(id.clone()),
            _ => SessionStart::New(launch::new_session_id()),
        };
        let prompt = match (how, &session) {
            (_, SessionStart::New(_)) => {
                let title = match task {
                    Some(t) => self.service.task(t)?.task.title,
                    None => String::new(),
                };
                Prompt::Start.render(&overrides, &[("task", &task_text), ("title", &title)])
            }
            (Continuation::Interrupted { reason }, _) => {
                Prompt::Resume.render(&overrides, &[("task", &task_text), ("reason", reason)])
            }
            (Continuation::Answer { question, question_text, answer }, _) => Prompt::Answer.render(
                &overrides,
                &[
                    ("task", &task_text),
                    ("question", question),
                    ("question_text", question_text),
                    ("answer", answer),
                ],
            ),
            (Continuation::Conflict { reason, paths }, _) => {
                let paths: Vec<String> = paths.iter().map(|p| format!("- {p}")).collect();
                Prompt::Conflict.render(
                    &overrides,
                    &[
                        ("task", &task_text),
                        ("branch", &branch),
                        ("integration", &integration),
                        ("reason", reason),
                        ("paths", &paths.join("\n")),
                    ],
                )
            }
            (Continuation::Messages, _) => {
                Prompt::Message.render(&overrides, &[("task", &task_text)])
            }
        };
        self.launch(agent, task, &prompt, &session, StreamTail::from_end(&stream), None)
    }

    /// Starts the agent's process for one session. `issued` is its token when it was issued a
    /// moment ago (a new agent's registration); otherwise the session gets a new one.
    fn launch(
        &self,
        agent: AgentId,
        task: Option<TaskId>,
        prompt: &str,
        session: &SessionStart,
        tail: StreamTail,
        issued: Option<String>,
    ) -> Result<LiveAgent, AgentError> {
        let record = self.service.agent(agent)?;
        let worktree =
            record.worktree.clone().map(PathBuf::from).ok_or(AgentError::NoWorktree(agent))?;
        if !worktree.is_dir() {
            let branch = record.branch.unwrap_or_default();
            return Err(AgentError::WorktreeGone { agent, worktree, branch });
        }
        let config = &self.service.config().agent;
        let workspace = self.service.workspace();
        let dir = self.agent_dir(agent)?;
        let mcp_config = dir.join("mcp.json");
        let token = match issued {
            Some(token) => token,
            None => self.service.rotate_agent_token(agent)?,
        };
        launch::write_mcp_config(&mcp_config, &self.cw_exe, workspace.root(), agent, &token)
            .map_err(|source| ServiceError::Io { path: mcp_config.clone(), source })?;
        let role = Prompt::Role.render(
            &workspace.prompts_dir(),
            &[
                ("agent", &agent.to_string()),
                ("worktree", &worktree.to_string_lossy()),
                ("branch", record.branch.as_deref().unwrap_or("")),
                ("integration", &self.service.config().integration_branch),
            ],
        );
        let (program, mut args) = launch::agent_program(config, &self.cw_exe);
        args.extend(launch::session_args(config, prompt, &mcp_config, session, &role));
        let spec = SpawnSpec {
            program,
            args,
            cwd: worktree,
            // Both name the agent's processes, so a cw that died before it recorded the pid
            // can still find them (`stop_unrecorded`).
            env: vec![
                (OsString::from(AGENT_ENV), OsString::from(agent.to_string())),
                (OsString::from(REPO_ENV), workspace.root().as_os_str().to_owned()),
            ],
            // The agent's token lives only in its MCP config; an inherited operator or agent token
            // and a parent Claude Code session must not leak into the agent.
            env_remove: ["CW_TOKEN", "CLAUDECODE", "CLAUDE_CODE_ENTRYPOINT"]
                .map(OsString::from)
                .to_vec(),
            stdout: dir.join("stream.jsonl"),
            stderr: dir.join("stderr.log"),
            stdin_pipe: false,
        };
        let child = process::spawn(&spec)?;
        let handle = child.handle;
        let process =
            AgentProcess { pid: handle.pid, pgid: handle.pgid, start_time: handle.start_time };
        self.service.record_agent_started(agent, process, session.id())?;
        info!(agent_id = %agent, pid = handle.pid, session = session.id(), "agent started");
        Ok(LiveAgent {
            agent,
            task,
            process: ProcessRef::Child(child),
            tail,
            summary: RunSummary::default(),
            recorded_session: Some(session.id().to_owned()),
            reused_worktree_of: None,
        })
    }

    fn run_setup(&self, agent_dir: &Path, worktree: &Path) -> Result<(), AgentError> {
        let setup = self.service.config().agent.setup_command.trim().to_owned();
        if setup.is_empty() {
            return Ok(());
        }
        let log = agent_dir.join("setup.log");
        let spec = SpawnSpec {
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), setup.clone().into()],
            cwd: worktree.to_owned(),
            env: Vec::new(),
            env_remove: vec!["CW_TOKEN".into()],
            stdout: log.clone(),
            stderr: log.clone(),
            stdin_pipe: false,
        };
        match process::run_to_end(&spec)? {
            ExitOutcome::Exited(0) => Ok(()),
            outcome => {
                Err(AgentError::SetupFailed { command: setup, outcome: outcome.to_string(), log })
            }
        }
    }

    fn agent_dir(&self, agent: AgentId) -> Result<PathBuf, AgentError> {
        let dir = self.service.workspace().agent_dir(agent);
        fs_err::create_dir_all(&dir)
            .map_err(|source| ServiceError::Io { path: dir.clone(), source })?;
        Ok(dir)
    }

    /// Reads what the agent wrote since the last call, records its session and usage, and
    /// returns how it ended if it has. Returns the new events too, for live rendering.
    ///
    /// With `read_output` false only an end is looked for (its output is then read whole): the
    /// output is for the human and for records a resume needs after the end, so a caller that
    /// checks often can read it less often.
    pub fn observe(
        &self,
        live: &mut LiveAgent,
        read_output: bool,
    ) -> Result<(Vec<StreamEvent>, Option<AgentExit>), AgentError> {
        let ended = match &mut live.process {
            ProcessRef::Child(child) => child.try_exit().map(Some),
            ProcessRef::Adopted(handle) => (!process::is_running(*handle)).then_some(None),
        };
        if ended.is_none() && !read_output {
            return Ok((Vec::new(), None));
        }
        let stream_path = self.service.workspace().agent_dir(live.agent).join("stream.jsonl");
        let read = |result: std::io::Result<Vec<StreamEvent>>| {
            result.map_err(|source| ServiceError::Io { path: stream_path.clone(), source })
        };
        let events =
            if ended.is_some() { read(live.tail.finish())? } else { read(live.tail.poll())? };
        let mut usage_changed = false;
        for event in &events {
            live.summary.add(event);
            usage_changed |= matches!(event, StreamEvent::Result(_));
        }
        if let Some(session) = &live.summary.session_id
            && live.recorded_session.as_ref() != Some(session)
        {
            self.service.record_agent_session(live.agent, session)?;
            live.recorded_session = Some(session.clone());
        }
        if usage_changed {
            self.service.record_agent_usage(live.agent, usage_from_log(&stream_path))?;
        }
        let Some(outcome) = ended else { return Ok((events, None)) };
        let exit = self.record_end(live.agent, outcome, &live.summary)?;
        Ok((events, Some(exit)))
    }

    fn record_end(
        &self,
        agent: AgentId,
        outcome: Option<ExitOutcome>,
        summary: &RunSummary,
    ) -> Result<AgentExit, AgentError> {
        let stopped = self.service.agent(agent)?.state == crate::model::AgentState::Stopped;
        let failure = summary.result.as_ref().and_then(|r| r.failure());
        let (kind, status) = match (outcome, &summary.result, failure) {
            _ if stopped => (ExitKind::Crashed, "stopped".to_owned()),
            (Some(ExitOutcome::Exited(0)), Some(_), None) => {
                (ExitKind::Exited, "exited 0".to_owned())
            }
            (None, Some(_), None) => {
                (ExitKind::Exited, "exited (ended while cw was not its parent)".to_owned())
            }
            (outcome, _, Some(why)) => {
                (ExitKind::Crashed, format!("{}: {why}", describe_opt(outcome)))
            }
            (outcome, None, None) => (
                ExitKind::Crashed,
                format!("{}: it ended without finishing its turn", describe_opt(outcome)),
            ),
            (Some(outcome), Some(_), None) => (ExitKind::Crashed, outcome.to_string()),
        };
        let status = match (kind, stopped) {
            (ExitKind::Crashed, false) => match self.last_stderr_line(agent) {
                Some(line) => format!("{status} (stderr: {line})"),
                None => status,
            },
            _ => status,
        };
        let record = self.service.record_agent_exit(agent, kind, &status)?;
        if !stopped {
            info!(agent_id = %agent, status, "agent ended");
        }
        Ok(AgentExit { agent: record, kind, status, summary: summary.clone(), stopped })
    }

    /// The last line the agent wrote to stderr: often the only word on why it died.
    fn last_stderr_line(&self, agent: AgentId) -> Option<String> {
        let path = self.service.workspace().agent_dir(agent).join("stderr.log");
        let text = fs_err::read_to_string(path).ok()?;
        let line = text.lines().rev().map(str::trim).find(|l| !l.is_empty())?;
        Some(line.chars().take(300).collect())
    }

    /// Stops an agent: marks it stopped, SIGTERM to its process group, the grace period, then
    /// SIGKILL; returns once nothing of the group is left. `live` is the agent if this process
    /// supervises it (so it is reaped).
    pub fn stop(
        &self,
        agent: AgentId,
        live: Option<LiveAgent>,
    ) -> Result<Option<StopReport>, AgentError> {
        self.stop_as(agent, live, StopKind::Operator)
    }

    /// Stops an agent because `cw run` shuts down: the same signals, but the agent is recorded as
    /// having exited, not as stopped on purpose, so the next `cw run` continues it.
    pub fn stop_for_shutdown(
        &self,
        agent: AgentId,
        live: Option<LiveAgent>,
    ) -> Result<Option<StopReport>, AgentError> {
        self.stop_as(agent, live, StopKind::Shutdown)
    }

    fn stop_as(
        &self,
        agent: AgentId,
        live: Option<LiveAgent>,
        kind: StopKind,
    ) -> Result<Option<StopReport>, AgentError> {
        let record = match kind {
            StopKind::Operator => self.service.record_agent_stopping(agent)?,
            StopKind::Shutdown => self.service.agent(agent)?,
        };
        let grace = Duration::from_secs(self.service.config().agent.stop_grace_seconds);
        let report = match live.map(|l| l.process) {
            Some(ProcessRef::Child(mut child)) => Some(child.stop(grace)?.0),
            Some(ProcessRef::Adopted(handle)) => Some(process::stop_group(handle, grace, || {})?),
            None => match record.process.map(handle_of) {
                Some(handle) if process::is_running(handle) => {
                    Some(process::stop_group(handle, grace, || {})?)
                }
                _ => None,
            },
        };
        let status = match kind {
            StopKind::Shutdown => "stopped when cw run shut down".to_owned(),
            StopKind::Operator => crate::service::stop_status(report.as_ref(), record.exit_status),
        };
        let exit = match kind {
            StopKind::Operator => ExitKind::Crashed,
            StopKind::Shutdown => ExitKind::Exited,
        };
        self.service.record_agent_exit(agent, exit, &status)?;
        Ok(report)
    }

    /// True while the agent's recorded process runs; once it is found gone, its end is recorded
    /// from its log (for watchers that do not supervise it, like `cw agent logs -f`).
    pub fn refresh(&self, agent: AgentId) -> Result<bool, AgentError> {
        let record = self.service.agent(agent)?;
        let Some(process) = record.process else { return Ok(false) };
        if process::is_running(handle_of(process)) {
            return Ok(true);
        }
        self.end_unsupervised(agent)?;
        Ok(false)
    }

    /// Records the end of an agent whose process ended while nobody supervised it: its usage and
    /// how its last run went, both from its log.
    fn end_unsupervised(&self, agent: AgentId) -> Result<AgentExit, AgentError> {
        let stream = self.service.workspace().agent_dir(agent).join("stream.jsonl");
        let mut summary = RunSummary::default();
        // The summary covers the last run: it resets at each init.
        for event in StreamTail::new(&stream).finish().unwrap_or_default() {
            summary.add(&event);
        }
        self.service.record_agent_usage(agent, usage_from_log(&stream))?;
        self.record_end(agent, None, &summary)
    }

    /// After cw starts: every agent with a recorded process is either still running (pid and start
    /// time match: it is adopted and watched again) or gone (its end is recorded from its log).
    pub fn adopt_all(&self) -> Result<(Vec<LiveAgent>, Vec<AgentExit>), AgentError> {
        let mut live = Vec::new();
        let mut ended = Vec::new();
        for record in self.service.own_agents()? {
            match self.adopt(&record)? {
                Some(Adoption::Running(agent)) => live.push(*agent),
                Some(Adoption::Ended(exit)) => ended.push(*exit),
                None => {}
            }
        }
        Ok((live, ended))
    }

    /// Watches an agent whose process this cw did not start (another cw started it, or this one
    /// before a restart); records its end if it is gone. `None` if no process is recorded.
    pub fn adopt(&self, record: &AgentRecord) -> Result<Option<Adoption>, AgentError> {
        let Some(process) = record.process else { return Ok(None) };
        let handle = handle_of(process);
        if !process::is_running(handle) {
            warn!(agent_id = %record.id, pid = handle.pid, "agent ended while cw was away");
            return Ok(Some(Adoption::Ended(Box::new(self.end_unsupervised(record.id)?))));
        }
        let stream = self.service.workspace().agent_dir(record.id).join("stream.jsonl");
        let mut agent = LiveAgent {
            agent: record.id,
            task: record.task.or(record.bound_task),
            process: ProcessRef::Adopted(handle),
            tail: StreamTail::new(&stream),
            summary: RunSummary::default(),
            recorded_session: record.session_id.clone(),
            reused_worktree_of: None,
        };
        // Re-read the log so the summary covers the current run (it resets at each init).
        for event in agent.tail.poll().unwrap_or_default() {
            agent.summary.add(&event);
        }
        // Results written while nobody watched count too.
        self.service.record_agent_usage(record.id, usage_from_log(&stream))?;
        info!(agent_id = %record.id, pid = handle.pid, "re-adopted a running agent");
        Ok(Some(Adoption::Running(Box::new(agent))))
    }

    /// Stops processes of this repository's agent `agent` that no record names: what a cw killed
    /// between starting an agent and recording its pid leaves behind. Returns how many groups.
    pub fn stop_unrecorded(&self, agent: AgentId) -> Result<usize, AgentError> {
        let id = agent.to_string();
        let root = self.service.workspace().root().to_string_lossy().into_owned();
        let groups = process::groups_with_env(&[(AGENT_ENV, &id), (REPO_ENV, &root)]);
        let grace = Duration::from_secs(self.service.config().agent.stop_grace_seconds);
        for group in &groups {
            warn!(agent_id = %agent, pid = group.pid, "stopping an agent process nobody recorded");
            process::stop_group(*group, grace, || {})?;
        }
        Ok(groups.len())
    }
}

/// What `AgentRuntime::adopt` found.
#[derive(Debug)]
pub enum Adoption {
    Running(Box<LiveAgent>),
    Ended(Box<AgentExit>),
}

/// An agent's usage: the sum of every turn result in its log (all its sessions' runs). Summing
/// the whole log keeps the total right however often, and by whom, it is observed.
fn usage_from_log(stream: &Path) -> AgentUsage {
    let mut usage = AgentUsage::default();
    for event in StreamTail::new(stream).poll().unwrap_or_default() {
        if let StreamEvent::Result(result) = event {
            usage.cost_usd += result.cost_usd;
            usage.input_tokens += result.input_tokens;
            usage.output_tokens += result.output_tokens;
        }
    }
    usage
}

fn handle_of(process: AgentProcess) -> ProcessHandle {
    ProcessHandle { pid: process.pid, pgid: process.pgid, start_time: process.start_time }
}

/// True when the stream log shows a session with this id started (so `--resume` can find it).
fn session_seen(stream: &Path, session: &str) -> bool {
    let mut tail = StreamTail::new(stream);
    tail.poll()
        .unwrap_or_default()
        .iter()
        .any(|e| matches!(e, StreamEvent::Init { session_id, .. } if session_id == session))
}

/// "exited 1" / "killed by signal 9".
fn describe_opt(outcome: Option<ExitOutcome>) -> String {
    outcome.map_or_else(|| "ended while cw was not its parent".to_owned(), |o| o.to_string())
}
