//! `cw task show`.

use clap::Args;

use super::task_id;
use crate::cli::output::{self, Doc, Style};
use crate::cli::{CommandResult, Context};
use crate::wire::TaskDetailJson;

/// Show one task: its text, state, dependencies and dependents
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The task id (t12 or 12)
    #[arg(add = crate::cli::completions::task_ids())]
    task: String,
    /// Print the task as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_show(cx: &Context, args: &ShowArgs) -> CommandResult {
    let id = task_id(&args.task)?;
    let detail = cx.service()?.task(id)?;
    if args.json {
        return output::json(&TaskDetailJson::from(&detail));
    }
    let task = &detail.task;
    let mut out = Doc::new();
    out.paint(Style::Id, &task.id.to_string()).plain("  ").paint(Style::Strong, &task.title);
    out.plain("\nstate:     ").paint(Style::of_state(task.state), task.state.as_str());
    if task.needs_human {
        out.plain("  ").paint(Style::Attention, "(for the human)");
    }
    out.plain("\n");
    if let Some(plan) = &detail.plan {
        let key = plan.key.as_deref().map(|k| format!("{k} ")).unwrap_or_default();
        out.plain(&format!("plan:      {key}{} ({})\n", plan.title, plan.id));
    }
    if let Some(phase) = &detail.phase {
        out.plain(&format!("phase:     {}: {} ({})\n", phase.number, phase.title, phase.id));
    }
    out.plain(&format!("priority:  {}   attempts: {}\n", task.priority, task.attempts));
    if let Some(agent) = task.agent {
        out.plain(&format!("agent:     {agent}\n"));
    }
    if let Some(reason) = &task.failure_reason {
        out.paint(Style::Bad, "failed:").plain(&format!("    {reason}\n"));
    }
    if let Some(merge) = &detail.last_merge {
        out.plain(&format!("merge:     {}", merge.state));
        if let Some(commit) = &merge.commit {
            out.plain(&format!(" as {}", &commit[..commit.len().min(10)]));
        }
        match &merge.detail {
            Some(reason) => out.plain(&format!(": {reason}\n")),
            None => out.plain("\n"),
        };
    }
    if let Some(summary) = &task.result_summary {
        out.plain(&format!("result:    {summary}\n"));
    }
    let list = |tasks: &[crate::store::TaskRecord]| {
        tasks.iter().map(|t| format!("{} ({})", t.id, t.state)).collect::<Vec<_>>().join(", ")
    };
    if !detail.dependencies.is_empty() {
        out.plain(&format!("after:     {}\n", list(&detail.dependencies)));
    }
    if !detail.dependents.is_empty() {
        out.plain(&format!("before:    {}\n", list(&detail.dependents)));
    }
    if !task.files.is_empty() {
        out.plain(&format!("files:     {}\n", task.files.join(", ")));
    }
    for (heading, text) in [
        ("description", &task.description),
        ("verify", &task.verify),
        ("done when", &task.done_criteria),
    ] {
        if !text.is_empty() {
            out.plain(&format!("\n{heading}:\n{text}\n"));
        }
    }
    output::text(out)
}
