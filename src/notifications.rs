//! Telling the human when they are needed: a question arrives, a task fails or waits for them, a
//! merge gate fails, or the run ends. Read from the event log (so questions asked through any
//! agent's own `cw mcp` are seen), each event once; `cw run` shows the line, rings the terminal
//! bell if asked, and runs `[notify] command` with the event as JSON on stdin and in `CW_*`
//! variables. Bursts become one summary, and the command runs at most once a second: a run of
//! forty failing tasks is one notification, not forty. A command that fails or hangs is timed out
//! and logged on its own thread; the coordinator never waits for it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::Serialize;
use tracing::{info, warn};

use crate::config::NotifyConfig;
use crate::process::{self, ExitOutcome, SpawnSpec};
use crate::service::{Service, ServiceError};
use crate::store::EventRecord;

/// One thing the human should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// `question`, `human_task`, `failed`, `gate_failed`, `finished`, or `summary`.
    pub event: String,
    pub task: Option<String>,
    pub agent: Option<String>,
    pub question: Option<String>,
    /// One line for a person.
    pub message: String,
    /// For a summary: what it sums up.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<Notice>,
}

impl Notice {
    /// A notice about no one task, agent or question (a summary, the run's end).
    pub fn plain(event: &str, message: String) -> Notice {
        Notice {
            event: event.to_owned(),
            task: None,
            agent: None,
            question: None,
            message,
            notices: Vec::new(),
        }
    }
}

/// What an event means to the human, if anything.
pub fn notice_for(event: &EventRecord) -> Option<Notice> {
    let data: serde_json::Value = serde_json::from_str(&event.data).unwrap_or_default();
    let task = event.task.map(|t| t.to_string());
    let agent = event.agent.map(|a| a.to_string());
    let text = |key: &str| data[key].as_str().unwrap_or_default().to_owned();
    let first_line = |s: String| s.lines().next().unwrap_or_default().to_owned();
    let (kind, message) = match event.kind.as_str() {
        "question.asked" if agent.is_none() => (
            "human_task",
            format!(
                "{} is a task for you (question {})",
                task.clone().unwrap_or_default(),
                text("question")
            ),
        ),
        "question.asked" => (
            "question",
            format!(
                "{} asks ({}): {} — answer in .cw/inbox/{}.md or with `cw answer`",
                agent.clone().unwrap_or_default(),
                text("question"),
                first_line(text("text")),
                text("question")
            ),
        ),
        "task.state" if data["to"] == "failed" => (
            "failed",
            format!("{} failed: {}", task.clone().unwrap_or_default(), first_line(text("reason"))),
        ),
        "task.state" if data["to"] == "conflict" && text("reason").contains("merge gate") => (
            "gate_failed",
            format!(
                "the merge gate failed on {}; its agent is fixing it",
                task.clone().unwrap_or_default()
            ),
        ),
        _ => return None,
    };
    let question = (kind == "question" || kind == "human_task").then(|| text("question"));
    Some(Notice {
        event: kind.to_owned(),
        task,
        agent,
        question,
        message: crate::safe_text::one_line(&message).into_owned(),
        notices: Vec::new(),
    })
}

/// How many notices at once are shown one by one; more become one summary.
const BURST: usize = 3;
/// The least time between two notifications (a burst inside it waits and is summed up).
const SPACING: Duration = Duration::from_secs(1);

/// Collects notices from the event log and hands them out, spaced and summarised.
pub struct Notifier {
    config: NotifyConfig,
    cwd: PathBuf,
    logs: PathBuf,
    after_event: i64,
    pending: Vec<Notice>,
    last_sent: Option<Instant>,
}

impl Notifier {
    /// Starts after the newest event now in the log: what happened before is not news.
    pub fn new(service: &Service) -> Result<Notifier, ServiceError> {
        Ok(Notifier {
            config: service.config().notify.clone(),
            cwd: service.workspace().root().to_owned(),
            logs: service.workspace().logs_dir(),
            after_event: service.latest_event_id()?,
            pending: Vec::new(),
            last_sent: None,
        })
    }

    /// Reads new events; returns what is due now (one notice, or a summary of a burst).
    pub fn poll(&mut self, service: &Service) -> Result<Option<Notice>, ServiceError> {
        loop {
            let events = service.events_after(self.after_event, 500)?;
            let Some(last) = events.last() else { break };
            self.after_event = last.id;
            for mut notice in events.iter().filter_map(notice_for) {
                // A failure's reason is the task's, not the transition's ("reported failed").
                if notice.event == "failed"
                    && let Some(task) = events
                        .iter()
                        .find(|e| e.task.map(|t| t.to_string()) == notice.task)
                        .and_then(|e| e.task)
                    && let Some(why) = service.task(task)?.task.failure_reason
                {
                    let first = why.lines().next().unwrap_or_default().to_owned();
                    notice.message =
                        crate::safe_text::one_line(&format!("{task} failed: {first}")).into_owned();
                }
                self.pending.push(notice);
            }
        }
        Ok(self.due())
    }

    /// Adds a notice cw itself makes (the run ended).
    pub fn push(&mut self, notice: Notice) {
        self.pending.push(notice);
    }

    /// What is due now, honouring the spacing; `force` ignores it (the run is ending).
    pub fn take(&mut self, force: bool) -> Option<Notice> {
        if force {
            self.last_sent = None;
        }
        self.due()
    }

    fn due(&mut self) -> Option<Notice> {
        if self.pending.is_empty() || self.last_sent.is_some_and(|at| at.elapsed() < SPACING) {
            return None;
        }
        self.last_sent = Some(Instant::now());
        let mut pending = std::mem::take(&mut self.pending);
        if pending.len() <= 1 {
            return pending.pop();
        }
        if pending.len() <= BURST && pending.iter().all(|n| n.event == pending[0].event) {
            // A few of one kind read better one per line than as a count.
            let message = pending.iter().map(|n| n.message.as_str()).collect::<Vec<_>>().join("; ");
            return Some(Notice { notices: pending, ..Notice::plain("summary", message) });
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for notice in &pending {
            match counts.iter_mut().find(|(kind, _)| *kind == notice.event) {
                Some((_, n)) => *n += 1,
                None => counts.push((notice.event.clone(), 1)),
            }
        }
        let parts: Vec<String> =
            counts.iter().map(|(kind, n)| format!("{n} {}", words(kind, *n))).collect();
        let message =
            format!("{} things need you: {} (see cw status)", pending.len(), parts.join(", "));
        Some(Notice { notices: pending, ..Notice::plain("summary", message) })
    }

    /// Shows `notice`: the terminal bell if configured, and the command on its own thread
    /// (`wait`: this thread, for the last notice before cw exits). Returns the line for the live
    /// view.
    pub fn deliver(&self, notice: &Notice, wait: bool) -> String {
        let mut line = format!("needs you: {}", notice.message);
        if self.config.bell {
            line.push('\u{7}');
        }
        let command = self.config.command.trim().to_owned();
        if !command.is_empty() {
            let spec = SpawnSpec {
                program: PathBuf::from("sh"),
                args: vec!["-c".into(), command.clone().into()],
                cwd: self.cwd.clone(),
                env: vec![
                    ("CW_EVENT".into(), notice.event.clone().into()),
                    ("CW_TASK".into(), notice.task.clone().unwrap_or_default().into()),
                    ("CW_AGENT".into(), notice.agent.clone().unwrap_or_default().into()),
                    ("CW_QUESTION".into(), notice.question.clone().unwrap_or_default().into()),
                    ("CW_MESSAGE".into(), notice.message.clone().into()),
                ],
                env_remove: vec!["CW_TOKEN".into()],
                stdout: self.logs.join("notify.log"),
                stderr: self.logs.join("notify.log"),
                stdin_pipe: true,
            };
            let input = serde_json::to_vec(notice).unwrap_or_default();
            let timeout = Duration::from_secs(self.config.timeout_seconds.max(1));
            let run = move || match process::run_with_input(&spec, &input, timeout) {
                Ok(Some(ExitOutcome::Exited(0))) => info!(command, "notified"),
                Ok(Some(other)) => {
                    warn!(command, outcome = %other, "the notify command failed");
                }
                Ok(None) => {
                    warn!(
                        command,
                        timeout_s = timeout.as_secs(),
                        "the notify command hung and was stopped"
                    );
                }
                Err(err) => warn!(command, cause = %err, "the notify command could not start"),
            };
            if wait {
                run();
            } else {
                std::thread::spawn(run);
            }
        }
        line
    }
}

fn words(kind: &str, n: usize) -> &'static str {
    match (kind, n) {
        ("question", 1) => "question",
        ("question", _) => "questions",
        ("human_task", 1) => "task for you",
        ("human_task", _) => "tasks for you",
        ("failed", _) => "failed",
        ("gate_failed", _) => "merge gate failures",
        ("finished", _) => "run ended",
        _ => "other",
    }
}
