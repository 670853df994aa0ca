//! `cw status`.

use std::time::Duration;

use clap::Args;

use super::output::{self, Doc, Style};
use super::{CommandResult, Context};
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
    let mut out = Doc::from(if following { "\n" } else { "" });
    out.paint(Style::Strong, &format!("cw · {root} · integrating into {branch}")).plain("\n");
    if report.total == 0 {
        out.plain("no tasks yet: ")
            .paint(Style::Hint, "cw import .planning")
            .plain("   or   ")
            .paint(Style::Hint, "cw task add \"<title>\"")
            .plain("\n");
        return output::text(out);
    }
    out.plain(&format!("tasks: {} — ", report.total));
    let mut first = true;
    for state in TaskState::ALL {
        if let Some((_, n)) = report.counts.iter().find(|(s, _)| *s == state) {
            if !first {
                out.plain(", ");
            }
            first = false;
            out.paint(Style::of_state(state), &format!("{n} {state}"));
        }
    }
    out.plain("\n");
    let (merges, questions) = (report.queued_merges, report.open_questions);
    if merges > 0 || questions > 0 {
        out.plain(&format!("merge queue: {merges} · "));
        if questions > 0 {
            out.paint(Style::Attention, &format!("open questions: {questions}"));
            out.plain(" (").paint(Style::Hint, "cw inbox").plain(")");
        } else {
            out.plain("open questions: 0");
        }
        out.plain("\n");
    }
    if !report.recent_merges.is_empty() {
        out.plain("recent merges:\n");
        for merge in &report.recent_merges {
            out.plain("  ").append(super::progress::merge_line(merge)).plain("\n");
        }
    }
    if report.next_ready.is_empty() {
        out.plain("ready: none\n");
    } else {
        out.plain("ready next:\n");
        for task in &report.next_ready {
            out.plain("  ").paint(Style::Id, &output::column(&task.id.to_string(), 6));
            out.plain(&format!("  {}", task.title));
            if task.needs_human {
                out.plain(" ").paint(Style::Attention, "[for the human]");
            }
            out.plain("\n");
        }
    }
    let problems = crate::fsui::problems(service.workspace());
    if !problems.is_empty() {
        out.paint(Style::Attention, "files not applied (fix and save; the reason is beside each):");
        out.plain("\n");
        for problem in &problems {
            out.plain(&format!("  {problem}\n"));
        }
    }
    if !report.hosts.is_empty() {
        out.plain("hosts:\n");
        for host in &report.hosts {
            out.plain(&format!("  {}  ", output::column(&host.host.name, 12)));
            match host.host.last_seen {
                None => out.plain("never seen"),
                Some(_) if host.lost => out.paint(Style::Attention, "lost"),
                Some(seen) => out.plain(&format!("up (heard {} ago)", seen.age_at(service.now()))),
            };
            out.plain(&format!(
                "  {} of {} agents  {} MiB free\n",
                host.running, host.host.agents, host.host.memory_mb
            ));
        }
    }
    let live: Vec<_> = report.agents.iter().filter(|a| a.state.is_live()).collect();
    if live.is_empty() {
        out.plain("agents: none running\n");
    } else {
        out.plain("agents:\n");
        for agent in live {
            let task = agent.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
            out.plain("  ").paint(Style::Id, &output::column(&agent.id.to_string(), 6));
            out.plain(&format!("  {}  {}  ", output::column(agent.state.as_str(), 9), agent.name));
            out.paint(Style::Id, &task);
            if let Some(host) = &agent.host {
                out.plain(&format!("  on {host}"));
            }
            out.plain("\n");
        }
    }
    output::text(out)
}
