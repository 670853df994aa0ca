//! The dashboard's HTML, rendered on the server (maud escapes every value). Untrusted text
//! (titles, questions, agents' output) also passes `safe_text::visible`, so control and bidi
//! characters show as escapes instead of reordering what the page says.
//!
//! Each live part of a page is an element with a fixed id (`board`, `needs`, `run`, `task`,
//! `agent`); the server pushes the same fragments over Server-Sent Events and the script swaps
//! them in. States have a word and a symbol besides their colour.

use std::collections::HashMap;

use maud::{DOCTYPE, Markup, html};

use crate::model::MergeState;
use crate::model::{AgentState, TaskState, Timestamp};
use crate::safe_text;
use crate::service::{MergeLine, StatusReport, TaskDetail, TaskListing};
use crate::store::{AgentRecord, EventRecord, QuestionRecord, TaskRecord};

/// Text from outside cw, made inert for the page.
fn shown(text: &str) -> String {
    safe_text::visible(text).into_owned()
}

/// A board column: what a person sees a task as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    Pending,
    Ready,
    Working,
    ForYou,
    Merging,
    Merged,
    Failed,
    Cancelled,
}

impl Column {
    pub(super) const ALL: [Column; 8] = [
        Column::Pending,
        Column::Ready,
        Column::Working,
        Column::ForYou,
        Column::Merging,
        Column::Merged,
        Column::Failed,
        Column::Cancelled,
    ];

    pub(super) fn of(task: &TaskRecord) -> Column {
        match task.state {
            TaskState::Pending => Column::Pending,
            TaskState::Ready if task.needs_human => Column::ForYou,
            TaskState::Ready => Column::Ready,
            TaskState::Claimed | TaskState::Conflict => Column::Working,
            TaskState::Waiting => Column::ForYou,
            TaskState::Done | TaskState::Merging => Column::Merging,
            TaskState::Merged => Column::Merged,
            TaskState::Failed => Column::Failed,
            TaskState::Cancelled => Column::Cancelled,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Column::Pending => "pending",
            Column::Ready => "ready",
            Column::Working => "working",
            Column::ForYou => "waiting for you",
            Column::Merging => "merging",
            Column::Merged => "merged",
            Column::Failed => "failed",
            Column::Cancelled => "cancelled",
        }
    }

    /// The class that colours it, and a symbol that says it without colour.
    pub(super) fn class(self) -> &'static str {
        match self {
            Column::Pending => "s-pending",
            Column::Ready => "s-ready",
            Column::Working => "s-working",
            Column::ForYou => "s-you",
            Column::Merging => "s-merging",
            Column::Merged => "s-merged",
            Column::Failed => "s-failed",
            Column::Cancelled => "s-cancelled",
        }
    }

    pub(super) fn symbol(self) -> &'static str {
        match self {
            Column::Pending => "○",
            Column::Ready => "◇",
            Column::Working => "▶",
            Column::ForYou => "!",
            Column::Merging => "⇢",
            Column::Merged => "✓",
            Column::Failed => "✗",
            Column::Cancelled => "–",
        }
    }
}

/// A whole page: the header with the run's counts, `body`, and the script that keeps the
/// parts with ids live (`live` names the view the server pushes: `board`, `task-t3`, `agent-a1`).
pub(super) fn page(title: &str, csrf: &str, live: &str, run: &Markup, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="cw-csrf" content=(csrf);
                title { (title) " · cw" }
                link rel="stylesheet" href="/assets/dashboard.css";
                script src="/assets/dashboard.js" defer {}
            }
            body data-live=(live) {
                header {
                    a.home href="/" { "cw" }
                    div #run { (run) }
                    span #connection title="live updates" { "●" }
                }
                p #note role="status" aria-live="polite" {}
                main { (body) }
            }
        }
    }
}

/// The run in one line: counts by column, agents, merges, questions, cost.
/// `memory`: what the machine has available and the configured headroom, in MiB.
pub(super) fn run_line(
    report: &StatusReport,
    listing: &TaskListing,
    memory: Option<(u64, u64)>,
) -> Markup {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    for task in &listing.tasks {
        *counts.entry(Column::of(task).name()).or_default() += 1;
    }
    let running = report.agents.iter().filter(|a| a.state.is_live()).count();
    let cost = report.agents.iter().fold(0.0, |sum, a| sum + a.usage.cost_usd);
    html! {
        span.total { (report.total) " tasks" }
        @for column in Column::ALL {
            @if let Some(n) = counts.get(column.name()) {
                span class=(format!("count {}", column.class())) {
                    (column.symbol()) " " (n) " " (column.name())
                }
            }
        }
        span.count { (running) " agent(s) running" }
        @if report.queued_merges > 0 { span.count { (report.queued_merges) " merge(s) queued" } }
        @if report.open_questions > 0 {
            span class="count s-you" { (report.open_questions) " open question(s)" }
        }
        span.count { "$" (format!("{cost:.2}")) }
        @for host in &report.hosts {
            @let class = if host.lost { "count s-failed" } else { "count" };
            span class=(class) title="a cw worker host" {
                "host " (shown(&host.host.name)) ": " (host.running) "/" (host.host.agents) " agents"
                @if host.lost { " (lost)" }
            }
        }
        @if let Some((free, headroom)) = memory {
            @let class = if free < headroom { "count s-failed" } else { "count" };
            span class=(class) title=(format!("headroom {headroom} MiB")) {
                (format!("{:.1}", free as f64 / 1024.0)) " GiB free"
                @if free < headroom { " (below the headroom: no new agents)" }
            }
        }
    }
}

/// The board: a column per state; each card with id, title, plan, agent, attempts and age.
pub(super) fn board(listing: &TaskListing, now: Timestamp) -> Markup {
    let plans: HashMap<_, _> = listing.plans.iter().map(|p| (p.id, p)).collect();
    let phases: HashMap<_, _> = listing.phases.iter().map(|p| (p.id, p)).collect();
    let place = |task: &TaskRecord| -> String {
        let Some(plan) = task.plan.and_then(|id| plans.get(&id)) else { return String::new() };
        let phase =
            plan.phase.and_then(|id| phases.get(&id)).map(|p| format!("Phase {} · ", p.number));
        format!("{}{}", phase.unwrap_or_default(), plan.key.as_deref().unwrap_or(&plan.title))
    };
    html! {
        @if listing.tasks.is_empty() {
            p.empty { "No tasks yet: add one below, or " code { "cw import .planning" } "." }
        }
        div.columns {
            @for column in Column::ALL {
                @let tasks: Vec<&TaskRecord> =
                    listing.tasks.iter().filter(|t| Column::of(t) == column).collect();
                section class=(format!("column {}", column.class())) aria-label=(column.name()) {
                    h2 { (column.symbol()) " " (column.name()) " " span.n { (tasks.len()) } }
                    @for task in tasks {
                        a.card href=(format!("/task/{}", task.id)) data-task=(task.id.to_string()) {
                            span.id { (task.id.to_string()) }
                            " "
                            span.title { (shown(&task.title)) }
                            span.meta {
                                @let place = place(task);
                                @if !place.is_empty() { span { (shown(&place)) } }
                                @if let Some(agent) = task.agent { span { (agent.to_string()) } }
                                @if task.attempts > 1 { span { "attempt " (task.attempts) } }
                                span { (task.updated_at.age_at(now)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What needs the human: open questions with an answer box, failed tasks with their reason,
/// the latest merges that bounced or failed (a conflict, a failed merge gate) with why.
pub(super) fn needs_you(
    questions: &[QuestionRecord],
    failed: &[&TaskRecord],
    bounced: &[&MergeLine],
) -> Markup {
    html! {
        h2 { "Needs you" }
        @if questions.is_empty() && failed.is_empty() && bounced.is_empty() {
            p.empty { "Nothing: every agent can go on." }
        }
        @for q in questions {
            article.need.s-you data-question=(q.id.to_string()) {
                h3 {
                    span.id { (q.id.to_string()) }
                    @if let Some(task) = q.task { " on " a href=(format!("/task/{task}")) { (task.to_string()) } }
                    @if let Some(agent) = q.agent { " from " a href=(format!("/agent/{agent}")) { (agent.to_string()) } }
                }
                pre.question { (shown(q.question.trim_end())) }
                form data-act="answer" {
                    input type="hidden" name="question" value=(q.id.to_string());
                    @for option in &q.options {
                        button type="submit" name="answer" value=(shown(option)) { (shown(option)) }
                    }
                    label {
                        span.sr { "Answer " (q.id.to_string()) }
                        input type="text" name="answer" placeholder="Your answer" autocomplete="off";
                    }
                    button type="submit" { "Answer" }
                }
            }
        }
        @for task in failed {
            article.need.s-failed data-failed=(task.id.to_string()) {
                h3 {
                    "✗ " a href=(format!("/task/{}", task.id)) { (task.id.to_string()) } " failed: "
                    (shown(&task.title))
                }
                @if let Some(reason) = &task.failure_reason { pre { (shown(reason)) } }
                form data-act="retry" {
                    input type="hidden" name="task" value=(task.id.to_string());
                    button type="submit" { "Retry " (task.id.to_string()) }
                }
            }
        }
        @for merge in bounced {
            article.need.s-you data-bounced=(merge.task.to_string()) {
                h3 {
                    "⇠ " a href=(format!("/task/{}", merge.task)) { (merge.task.to_string()) }
                    @if merge.state == MergeState::Failed { " could not merge: " } @else { " bounced back to its agent: " }
                    (shown(&merge.title))
                }
                @if !merge.paths.is_empty() { p { "Conflicts in " (shown(&merge.paths.join(", "))) } }
                @if let Some(reason) = &merge.reason { pre { (shown(&safe_text::first_line(reason, 400))) } }
            }
        }
    }
}

/// The form that adds a task.
pub(super) fn add_task_form() -> Markup {
    html! {
        form.add data-act="add" {
            h2 { "Add a task" }
            label { "Title " input type="text" name="title" required; }
            label { "Description " textarea name="description" rows="3" {} }
            label { "After (ids, comma-separated) " input type="text" name="after" placeholder="t1, t2"; }
            button type="submit" { "Add task" }
        }
    }
}

/// The board page's body.
pub(super) fn board_page(
    board: &Markup,
    needs: &Markup,
    graph: &Markup,
    charts: &Markup,
) -> Markup {
    html! {
        section #needs { (needs) }
        section #board { (board) }
        section #charts { (charts) }
        section #graph { (graph) }
        (add_task_form())
    }
}

/// One task: its text, dependencies both ways, agent, merge, actions and diff.
pub(super) fn task(
    detail: &TaskDetail,
    events: &[EventRecord],
    diff: Option<&str>,
    now: Timestamp,
) -> Markup {
    let task = &detail.task;
    let column = Column::of(task);
    let links = |tasks: &[TaskRecord]| {
        html! {
            @for (i, t) in tasks.iter().enumerate() {
                @if i > 0 { ", " }
                a href=(format!("/task/{}", t.id)) { (t.id.to_string()) }
                " (" (t.state.as_str()) ")"
            }
        }
    };
    html! {
        h1 { span.id { (task.id.to_string()) } " " (shown(&task.title)) }
        p {
            span class=(format!("badge {}", column.class())) { (column.symbol()) " " (column.name()) }
            " · attempt " (task.attempts) " · priority " (task.priority)
            " · changed " (task.updated_at.age_at(now)) " ago"
            @if let Some(agent) = task.agent { " · agent " a href=(format!("/agent/{agent}")) { (agent.to_string()) } }
        }
        @if let Some(plan) = &detail.plan {
            p { "Plan: " (shown(plan.key.as_deref().unwrap_or(""))) " " (shown(&plan.title)) }
        }
        dl {
            @if !detail.dependencies.is_empty() { dt { "After" } dd { (links(&detail.dependencies)) } }
            @if !detail.dependents.is_empty() { dt { "Before" } dd { (links(&detail.dependents)) } }
            @if !task.files.is_empty() { dt { "Files" } dd { (shown(&task.files.join(", "))) } }
            @if let Some(reason) = &task.failure_reason { dt { "Failed" } dd { (shown(reason)) } }
            @if let Some(summary) = &task.result_summary { dt { "Result" } dd { (shown(summary)) } }
            @if let Some(merge) = &detail.last_merge {
                dt { "Merge" }
                dd {
                    (merge.state.as_str())
                    @if let Some(commit) = &merge.commit { " as " code { (&commit[..commit.len().min(10)]) } }
                    @if let Some(reason) = &merge.detail { ": " (shown(reason)) }
                }
            }
        }
        @for (heading, text) in [("Description", &task.description), ("Verify", &task.verify), ("Done when", &task.done_criteria)] {
            @if !text.is_empty() { h2 { (heading) } pre { (shown(text)) } }
        }
        div.actions {
            @if !task.state.is_terminal() {
                form data-act="cancel" {
                    input type="hidden" name="task" value=(task.id.to_string());
                    button type="submit" { "Cancel " (task.id.to_string()) }
                }
            }
            @if matches!(task.state, TaskState::Failed | TaskState::Cancelled) {
                form data-act="retry" {
                    input type="hidden" name="task" value=(task.id.to_string());
                    button type="submit" { "Retry " (task.id.to_string()) }
                }
            }
        }
        @if !events.is_empty() {
            h2 { "Timeline" }
            ol.timeline {
                @for event in events {
                    li {
                        span.when title=(event.at.rfc3339()) { (event.at.age_at(now)) " ago" } " "
                        strong { (event.kind.as_str()) }
                        @if let Some(agent) = event.agent { " " a href=(format!("/agent/{agent}")) { (agent.to_string()) } }
                        @if event.data != "{}" { " " code { (safe_text::first_line(&shown(&event.data), 160)) } }
                    }
                }
            }
        }
        @if let Some(diff) = diff { (patch(diff)) }
    }
}

/// A patch with its file list and added/removed counts, each line classed for colour.
pub(super) fn patch(diff: &str) -> Markup {
    let mut files: Vec<(String, usize, usize)> = Vec::new();
    for line in diff.lines() {
        if let Some(path) = line.strip_prefix("+++ b/") {
            files.push((path.to_owned(), 0, 0));
        } else if let Some(last) = files.last_mut() {
            if line.starts_with('+') && !line.starts_with("+++") {
                last.1 += 1;
            } else if line.starts_with('-') && !line.starts_with("---") {
                last.2 += 1;
            }
        }
    }
    html! {
        h2 { "Diff against the integration branch" }
        @if diff.trim().is_empty() {
            p.empty { "No changes." }
        } @else {
            ul.files {
                @for (path, added, removed) in &files {
                    li { code { (shown(path)) } " " span.add { "+" (added) } " " span.del { "−" (removed) } }
                }
            }
            pre.diff {
                @for line in diff.lines() {
                    @let class = match line.chars().next() {
                        Some('+') if !line.starts_with("+++") => "add",
                        Some('-') if !line.starts_with("---") => "del",
                        Some('@') => "hunk",
                        _ => "",
                    };
                    span class=(class) { (shown(line)) } "\n"
                }
            }
        }
    }
}

/// One agent: state, worktree, branch, cost and tokens, actions, and its transcript.
pub(super) fn agent(agent: &AgentRecord, transcript: &[String]) -> Markup {
    let live = agent.state.is_live();
    html! {
        h1 { span.id { (agent.id.to_string()) } " " (shown(&agent.name)) }
        p {
            span class=(format!("badge {}", agent_class(agent.state))) { (agent.state.as_str()) }
            @if agent.is_paused() { " (paused: restart to continue)" }
            @if let Some(task) = agent.task.or(agent.bound_task) {
                " · task " a href=(format!("/task/{task}")) { (task.to_string()) }
            }
            " · $" (format!("{:.4}", agent.usage.cost_usd))
            " · " (agent.usage.input_tokens) " in / " (agent.usage.output_tokens) " out tokens"
        }
        dl {
            @if let Some(host) = &agent.host { dt { "Host" } dd { (shown(host)) } }
            @if let Some(branch) = &agent.branch { dt { "Branch" } dd { code { (shown(branch)) } } }
            @if let Some(worktree) = &agent.worktree { dt { "Worktree" } dd { code { (shown(worktree)) } } }
            @if let Some(status) = &agent.exit_status { dt { "Ended" } dd { (shown(status)) } }
        }
        div.actions {
            @if live {
                form data-act="stop" {
                    input type="hidden" name="agent" value=(agent.id.to_string());
                    button type="submit" { "Stop " (agent.id.to_string()) }
                }
            }
            form data-act="restart" {
                input type="hidden" name="agent" value=(agent.id.to_string());
                button type="submit" { "Restart " (agent.id.to_string()) }
            }
            form data-act="send" {
                input type="hidden" name="agent" value=(agent.id.to_string());
                label { span.sr { "Message" } input type="text" name="text" placeholder="A message for the agent" required; }
                button type="submit" { "Send" }
            }
        }
        h2 { "Transcript" }
        @if transcript.is_empty() {
            p.empty { "Nothing yet." }
        } @else {
            pre.transcript { @for line in transcript { (shown(line)) "\n" } }
        }
    }
}

fn agent_class(state: AgentState) -> &'static str {
    match state {
        AgentState::Crashed => "s-failed",
        AgentState::Waiting => "s-you",
        state if state.is_live() => "s-working",
        _ => "s-cancelled",
    }
}

/// The tasks of `listing` that failed (for "needs you").
pub(super) fn failed(listing: &TaskListing) -> Vec<&TaskRecord> {
    listing.tasks.iter().filter(|t| t.state == TaskState::Failed).collect()
}

/// The 401 page: one line and what to do.
pub(super) fn sign_in_needed() -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "cw: sign in" } }
            body { p { "cw: open the link " code { "cw dashboard" } " prints (it signs this browser in)." } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TaskId;

    #[test]
    fn a_bounced_merge_needs_the_human_with_its_paths_and_reason_made_inert() {
        let bounce = MergeLine {
            task: TaskId(3),
            title: "Fix <b>it</b>".to_owned(),
            state: MergeState::Conflict,
            commit: None,
            paths: vec!["src/a.rs".to_owned()],
            reason: Some("the merge gate failed:\n\u{1b}[31mtest x ... FAILED".to_owned()),
            finished_at: None,
        };
        let html = needs_you(&[], &[], &[&bounce]).into_string();
        assert!(html.contains("bounced back to its agent: Fix &lt;b&gt;it&lt;/b&gt;"), "{html}");
        assert!(html.contains("Conflicts in src/a.rs"), "{html}");
        assert!(html.contains("the merge gate failed: …"), "the first line only: {html}");
        assert!(!html.contains("Nothing: every agent can go on."));
        let failed = MergeLine { state: MergeState::Failed, ..bounce.clone() };
        assert!(needs_you(&[], &[], &[&failed]).into_string().contains("could not merge"));
        let escape = MergeLine { reason: Some("\u{1b}[2J wiped".to_owned()), ..bounce };
        let html = needs_you(&[], &[], &[&escape]).into_string();
        assert!(html.contains("\\e[2J wiped") && !html.contains('\u{1b}'), "{html}");
    }
}
