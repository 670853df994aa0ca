//! `cw status`.

use std::time::Duration;

use clap::Args;

use super::{CommandResult, Context, output};
use crate::model::TaskState;
use crate::service::{Caller, Service};
use crate::wire::StatusJson;

/// Show where the work stands: tasks by state, what runs next, agents
///
/// With --follow, print it again whenever anything changes (from any process) until
/// interrupted; with --json --follow, one JSON object per line.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// Print the status as JSON
    #[arg(long)]
    json: bool,
    /// Keep printing the status as it changes
    #[arg(long, short)]
    follow: bool,
}

pub(crate) fn cmd_status(cx: &Context, args: &StatusArgs) -> CommandResult {
    let service = cx.service()?;
    if !args.follow {
        return print_status(&service, args.json, false);
    }
    let mut watch = service.watch_changes()?;
    loop {
        print_status(&service, args.json, true)?;
        // Wakes within a few milliseconds of a change made by any process.
        while !service.wait_for_change(&mut watch, Duration::from_secs(3600))? {}
    }
}

fn print_status(service: &Service, json: bool, following: bool) -> CommandResult {
    let report = service.status(&Caller::CLI, 5)?;
    let root = service.workspace().root().display().to_string();
    let branch = service.config().integration_branch.clone();
    if json {
        let status = StatusJson::new(&report, root, branch);
        if following {
            output::json_line(&status)?;
        } else {
            output::json(&status)?;
        }
        return Ok(());
    }
    let mut out = if following { "\n".to_owned() } else { String::new() };
    out.push_str(&format!("cw · {root} · integrating into {branch}\n"));
    if report.total == 0 {
        out.push_str("no tasks yet: cw import .planning   or   cw task add \"<title>\"\n");
        return output::text(&out);
    }
    let parts: Vec<String> = TaskState::ALL
        .iter()
        .filter_map(|state| {
            report.counts.iter().find(|(s, _)| s == state).map(|(_, n)| format!("{n} {state}"))
        })
        .collect();
    out.push_str(&format!("tasks: {} — {}\n", report.total, parts.join(", ")));
    let (merges, questions) = (report.queued_merges, report.open_questions);
    if merges > 0 || questions > 0 {
        out.push_str(&format!(
            "merge queue: {merges} · open questions: {questions}{}\n",
            if questions > 0 { " (cw inbox)" } else { "" }
        ));
    }
    if !report.recent_merges.is_empty() {
        out.push_str("recent merges:\n");
        for merge in &report.recent_merges {
            out.push_str(&format!("  {}\n", super::progress::merge_line(merge)));
        }
    }
    if report.next_ready.is_empty() {
        out.push_str("ready: none\n");
    } else {
        out.push_str("ready next:\n");
        for task in &report.next_ready {
            let human = if task.needs_human { " [for the human]" } else { "" };
            out.push_str(&format!(
                "  {}  {}{human}\n",
                output::column(&task.id.to_string(), 6),
                task.title
            ));
        }
    }
    let problems = crate::fsui::problems(service.workspace());
    if !problems.is_empty() {
        out.push_str("files not applied (fix and save; the reason is beside each):\n");
        for problem in &problems {
            out.push_str(&format!("  {problem}\n"));
        }
    }
    let live: Vec<_> = report.agents.iter().filter(|a| a.state.is_live()).collect();
    if live.is_empty() {
        out.push_str("agents: none running\n");
    } else {
        out.push_str("agents:\n");
        for agent in live {
            let task = agent.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
            out.push_str(&format!(
                "  {}  {}  {}  {task}\n",
                output::column(&agent.id.to_string(), 6),
                output::column(agent.state.as_str(), 9),
                agent.name
            ));
        }
    }
    output::text(&out)
}
