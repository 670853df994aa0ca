//! `cw task cancel`.

use clap::Args;

use super::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::service::Caller;
use crate::wire::TaskDetailJson;

/// Cancel a task; tasks that wait for it stay pending until it is retried and merged
#[derive(Debug, Args)]
pub(crate) struct CancelArgs {
    /// The task id (t12 or 12)
    #[arg(add = crate::cli::completions::task_ids())]
    task: String,
    /// Print the task as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_cancel(cx: &Context, args: &CancelArgs) -> CommandResult {
    let id = task_id(&args.task)?;
    let service = cx.service()?;
    let change = service.cancel_task(&Caller::CLI, id)?;
    if args.json {
        // The task as `task show --json` shows it, after the change.
        return output::json(&TaskDetailJson::from(&service.task(id)?));
    }
    output::text(format!("{id} cancelled (was {})\n", change.previous))?;
    if !change.blocked_dependents.is_empty() {
        let ids: Vec<String> = change.blocked_dependents.iter().map(ToString::to_string).collect();
        output::note(&format!(
            "note: {} wait for {id} and will not start until it is retried and merged",
            ids.join(", ")
        ));
    }
    Ok(())
}
