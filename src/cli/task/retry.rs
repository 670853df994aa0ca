//! `cw task retry`.

use clap::Args;

use super::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::service::Caller;
use crate::wire::TaskDetailJson;

/// Give a failed or cancelled task a fresh start (its attempts are reset)
#[derive(Debug, Args)]
pub(crate) struct RetryArgs {
    /// The task id (t12 or 12)
    #[arg(add = crate::cli::completions::task_ids())]
    task: String,
    /// Print the task as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_retry(cx: &Context, args: &RetryArgs) -> CommandResult {
    let id = task_id(&args.task)?;
    let service = cx.service()?;
    let change = service.retry_task(&Caller::CLI, id)?;
    if args.json {
        // The task as `task show --json` shows it, after the change.
        return output::json(&TaskDetailJson::from(&service.task(id)?));
    }
    output::text(format!("{id} is {} again (was {})\n", change.task.state, change.previous))
}
