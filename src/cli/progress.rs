//! Rendering the coordinator's progress on stderr: on a terminal, event lines scroll above a
//! status block that is redrawn in place; otherwise plain timestamped lines (logs, CI, pipes).

use std::io::IsTerminal;
use std::time::Instant;

use super::output;
use crate::coordinator::{Progress, RunReport, Snapshot};
use crate::model::{MergeState, TaskState};
use crate::service::MergeLine;

/// The `Progress` for `cw run` and `cw demo`.
pub(crate) struct TerminalProgress {
    live: bool,
    started: Instant,
    /// Lines of the status block currently on screen (erased before the next output).
    drawn: usize,
    snapshot: Option<Snapshot>,
    last_summary: String,
}

impl TerminalProgress {
    /// Redraws a status block when stderr is a terminal (and `CW_PLAIN` is not set).
    pub(crate) fn new() -> TerminalProgress {
        let live = std::io::stderr().is_terminal() && std::env::var_os("CW_PLAIN").is_none();
        TerminalProgress {
            live,
            started: Instant::now(),
            drawn: 0,
            snapshot: None,
            last_summary: String::new(),
        }
    }

    fn stamp(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        format!("[{secs:6.1}s]")
    }

    fn erase(&mut self) -> String {
        let erase =
            if self.drawn > 0 { format!("\x1b[{}A\x1b[J", self.drawn) } else { String::new() };
        self.drawn = 0;
        erase
    }

    fn block(&self) -> Vec<String> {
        let Some(snapshot) = &self.snapshot else { return Vec::new() };
        let mut lines = vec![format!("── {}", summary(snapshot))];
        for agent in &snapshot.agents {
            let task = agent.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
            lines.push(format!(
                "   {} {}  {}  · {}",
                output::column(&agent.agent.to_string(), 5),
                output::column(&task, 5),
                output::column(&agent.title, 36),
                output::column(&agent.last_action, 50).trim_end()
            ));
        }
        for merge in &snapshot.recent_merges {
            lines.push(format!("   {}", merge_line(merge)));
        }
        if let Some(paused) = &snapshot.paused {
            lines.push(format!("   {paused}"));
        }
        lines
    }

    fn draw(&mut self, text: &str) {
        let erase = self.erase();
        let mut out = text.to_owned();
        let block = self.block();
        for line in &block {
            out.push_str(line);
            out.push('\n');
        }
        self.drawn = block.len();
        // A closed stderr (the terminal went away) must not stop the coordinator.
        let _ = output::progress(&erase, &out);
    }

    /// Clears the status block and prints the final summary.
    fn done(&mut self, report: &RunReport) {
        let erase = if self.live { self.erase() } else { String::new() };
        let mut out = String::new();
        out.push_str(&format!(
            "{} done: {} of {} tasks merged\n",
            self.stamp(),
            report.merged,
            report.total
        ));
        for task in &report.unfinished {
            let state = match task.for_you {
                Some(question) => format!("waiting for you ({question})"),
                None => task.state.to_string(),
            };
            out.push_str(&format!("  {}  {state}: {}\n", task.task, task.why));
        }
        let _ = output::progress(&erase, &out);
    }
}

impl Progress for TerminalProgress {
    fn finish(&mut self, report: &RunReport) {
        self.done(report);
    }

    fn line(&mut self, text: &str) {
        let line = format!("{} {text}\n", self.stamp());
        if self.live {
            self.draw(&line);
        } else {
            let _ = output::progress("", &line);
        }
    }

    fn snapshot(&mut self, snapshot: &Snapshot) {
        self.snapshot = Some(snapshot.clone());
        if self.live {
            self.draw("");
            return;
        }
        // Plain output: a summary line whenever the counts change.
        let summary = summary(snapshot);
        if summary != self.last_summary {
            let _ = output::progress("", &format!("{} ── {summary}\n", self.stamp()));
            self.last_summary = summary;
        }
    }
}

/// "merged   t4  1a2b3c4d5e  Title", "bounced  t7  conflicts in a.rs  Title", or
/// "failed   t8  see cw task show t8  Title — why".
pub(crate) fn merge_line(merge: &MergeLine) -> String {
    let (verb, what) = match merge.state {
        MergeState::Merged => {
            ("merged", merge.commit.as_deref().map_or("", |c| &c[..c.len().min(10)]).to_owned())
        }
        MergeState::Conflict if !merge.paths.is_empty() => {
            ("bounced", format!("conflicts in {}", merge.paths.join(", ")))
        }
        MergeState::Conflict => ("bounced", format!("see cw task show {}", merge.task)),
        MergeState::Failed => ("failed", format!("see cw task show {}", merge.task)),
        MergeState::Queued => ("queued", String::new()),
    };
    let mut line = format!(
        "{} {} {}  {}",
        output::column(verb, 8),
        output::column(&merge.task.to_string(), 5),
        output::column(&what, 28),
        merge.title
    );
    // Why a merge without conflicting paths bounced or failed, in its first line.
    let reason = merge.reason.as_deref().and_then(|r| r.lines().next()).unwrap_or("");
    if merge.state != MergeState::Merged && merge.paths.is_empty() && !reason.is_empty() {
        line.push_str(" — ");
        line.push_str(output::column(reason, REASON_CHARS).trim_end());
    }
    line
}

/// How much of a bounce's reason a merge line shows (`cw task show` has all of it).
const REASON_CHARS: usize = 100;

/// "12 tasks: 3 merged, 2 claimed, … · 2 agents · 1 merge queued · 1 open question"
pub(crate) fn summary(snapshot: &Snapshot) -> String {
    let mut parts: Vec<String> = TaskState::ALL
        .iter()
        .filter_map(|state| {
            let n = snapshot.counts.iter().find(|(s, _)| s == state).map_or(0, |(_, n)| *n);
            // Tasks for the human are ready, but for a person: counted apart.
            let n = if *state == TaskState::Ready { n.saturating_sub(snapshot.for_you) } else { n };
            (n > 0).then(|| format!("{n} {state}"))
        })
        .collect();
    if snapshot.for_you > 0 {
        parts.push(format!("{} waiting for you", snapshot.for_you));
    }
    let mut text = format!("{} tasks: {}", snapshot.total, parts.join(", "));
    text.push_str(&format!(" · {} agent(s) running", snapshot.agents.len()));
    if snapshot.queued_merges > 0 {
        text.push_str(&format!(" · {} merge(s) queued", snapshot.queued_merges));
    }
    if snapshot.open_questions > 0 {
        text.push_str(&format!(" · {} open question(s) (cw inbox)", snapshot.open_questions));
    }
    text
}
