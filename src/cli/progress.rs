//! Rendering the coordinator's progress on stderr: on a terminal, event lines scroll above a
//! status block that is redrawn in place; otherwise plain timestamped lines (logs, CI, pipes).

use std::io::IsTerminal;
use std::time::Instant;

use super::output::{self, Doc, Style};
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

    fn block(&self) -> Vec<Doc> {
        let Some(snapshot) = &self.snapshot else { return Vec::new() };
        let mut head = Doc::new();
        head.paint(Style::Strong, &format!("── {}", summary(snapshot)));
        let mut lines = vec![head];
        for agent in &snapshot.agents {
            let task = agent.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
            let mut line = Doc::new();
            line.plain("   ")
                .paint(Style::Id, &output::column(&agent.agent.to_string(), 5))
                .plain(" ")
                .paint(Style::Id, &output::column(&task, 5))
                .plain(&format!("  {}  · ", output::column(&agent.title, 36)))
                .paint(Style::Dim, output::column(&agent.last_action, 50).trim_end());
            lines.push(line);
        }
        for merge in &snapshot.recent_merges {
            let mut line = Doc::from("   ");
            line.append(merge_line(merge));
            lines.push(line);
        }
        for host in &snapshot.hosts {
            let mut line = Doc::from("   ");
            line.plain(&format!(
                "host {}: {} of {} agents",
                host.name, host.running, host.capacity
            ));
            if host.lost {
                line.plain(" · ").paint(Style::Attention, "lost");
            }
            lines.push(line);
        }
        if let Some(paused) = &snapshot.paused {
            let mut line = Doc::from("   ");
            line.paint(Style::Attention, paused);
            lines.push(line);
        }
        lines
    }

    fn draw(&mut self, text: Doc) {
        let erase = self.erase();
        let mut out = text;
        let block = self.block();
        self.drawn = block.len();
        for line in block {
            out.append(line).plain("\n");
        }
        // A closed stderr (the terminal went away) must not stop the coordinator.
        let _ = output::progress(&erase, &out);
    }

    /// Clears the status block and prints the final summary.
    fn done(&mut self, report: &RunReport) {
        let erase = if self.live { self.erase() } else { String::new() };
        let mut out = self.stamped();
        let merged = format!("done: {} of {} tasks merged", report.merged, report.total);
        let style = if report.merged == report.total { Style::Good } else { Style::Strong };
        out.paint(style, &merged).plain("\n");
        for task in &report.unfinished {
            let (state, style) = match task.for_you {
                Some(question) => (format!("waiting for you ({question})"), Style::Attention),
                None => (task.state.to_string(), Style::of_state(task.state)),
            };
            out.plain("  ").paint(Style::Id, &task.task.to_string()).plain("  ");
            out.paint(style, &state).plain(&format!(": {}\n", task.why));
        }
        let _ = output::progress(&erase, &out);
    }

    /// A new line's "[  12.3s] " stamp.
    fn stamped(&self) -> Doc {
        let mut doc = Doc::new();
        doc.paint(Style::Dim, &self.stamp()).plain(" ");
        doc
    }
}

impl Progress for TerminalProgress {
    fn finish(&mut self, report: &RunReport) {
        self.done(report);
    }

    fn line(&mut self, text: &str) {
        let mut line = self.stamped();
        line.plain(text).plain("\n");
        if self.live {
            self.draw(line);
        } else {
            let _ = output::progress("", &line);
        }
    }

    fn snapshot(&mut self, snapshot: &Snapshot) {
        self.snapshot = Some(snapshot.clone());
        if self.live {
            self.draw(Doc::new());
            return;
        }
        // Plain output: a summary line whenever the counts change.
        let summary = summary(snapshot);
        if summary != self.last_summary {
            let mut line = self.stamped();
            line.paint(Style::Strong, &format!("── {summary}")).plain("\n");
            let _ = output::progress("", &line);
            self.last_summary = summary;
        }
    }
}

/// "merged   t4  1a2b3c4d5e  Title", "bounced  t7  conflicts in a.rs  Title", or
/// "failed   t8  see cw task show t8  Title — why".
pub(crate) fn merge_line(merge: &MergeLine) -> Doc {
    let (verb, style, what) = match merge.state {
        MergeState::Merged => (
            "merged",
            Style::Good,
            merge.commit.as_deref().map_or("", |c| &c[..c.len().min(10)]).to_owned(),
        ),
        MergeState::Conflict if !merge.paths.is_empty() => {
            ("bounced", Style::Attention, format!("conflicts in {}", merge.paths.join(", ")))
        }
        MergeState::Conflict => {
            ("bounced", Style::Attention, format!("see cw task show {}", merge.task))
        }
        MergeState::Failed => ("failed", Style::Bad, format!("see cw task show {}", merge.task)),
        MergeState::Queued => ("queued", Style::Busy, String::new()),
    };
    let mut line = Doc::new();
    line.paint(style, &output::column(verb, 8))
        .plain(" ")
        .paint(Style::Id, &output::column(&merge.task.to_string(), 5))
        .plain(&format!(" {}  {}", output::column(&what, 28), merge.title));
    // Why a merge without conflicting paths bounced or failed, in its first line.
    let reason = merge.reason.as_deref().and_then(|r| r.lines().next()).unwrap_or("");
    if merge.state != MergeState::Merged && merge.paths.is_empty() && !reason.is_empty() {
        line.plain(" — ").plain(output::column(reason, REASON_CHARS).trim_end());
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
