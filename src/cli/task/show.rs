//! `cw task show`.

use clap::Args;

use super::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::wire::TaskDetailJson;

/// Show one task: its text, state, dependencies and dependents
#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    /// The task id (t12 or 12)
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
    let mut out = format!("{}  {}\n", task.id, task.title);
    out.push_str(&format!("state:     {}", task.state));
    if task.needs_human {
        out.push_str("  (for the human)");
    }
    out.push('\n');
    if let Some(plan) = &detail.plan {
        let key = plan.key.as_deref().map(|k| format!("{k} ")).unwrap_or_default();
        out.push_str(&format!("plan:      {key}{} ({})\n", plan.title, plan.id));
    }
    if let Some(phase) = &detail.phase {
        out.push_str(&format!("phase:     {}: {} ({})\n", phase.number, phase.title, phase.id));
    }
    out.push_str(&format!("priority:  {}   attempts: {}\n", task.priority, task.attempts));
    if let Some(agent) = task.agent {
        out.push_str(&format!("agent:     {agent}\n"));
    }
    if let Some(reason) = &task.failure_reason {
        out.push_str(&format!("failed:    {reason}\n"));
    }
    if let Some(merge) = &detail.last_merge {
        out.push_str(&format!("merge:     {}", merge.state));
        if let Some(commit) = &merge.commit {
            out.push_str(&format!(" as {}", &commit[..commit.len().min(10)]));
        }
        match &merge.detail {
            Some(reason) => out.push_str(&format!(": {reason}\n")),
            None => out.push('\n'),
        }
    }
    if let Some(summary) = &task.result_summary {
        out.push_str(&format!("result:    {summary}\n"));
    }
    let list = |tasks: &[crate::store::TaskRecord]| {
        tasks.iter().map(|t| format!("{} ({})", t.id, t.state)).collect::<Vec<_>>().join(", ")
    };
    if !detail.dependencies.is_empty() {
        out.push_str(&format!("after:     {}\n", list(&detail.dependencies)));
    }
    if !detail.dependents.is_empty() {
        out.push_str(&format!("before:    {}\n", list(&detail.dependents)));
    }
    if !task.files.is_empty() {
        out.push_str(&format!("files:     {}\n", task.files.join(", ")));
    }
    for (heading, text) in [
        ("description", &task.description),
        ("verify", &task.verify),
        ("done when", &task.done_criteria),
    ] {
        if !text.is_empty() {
            out.push_str(&format!("\n{heading}:\n{text}\n"));
        }
    }
    output::text(&out)
}
