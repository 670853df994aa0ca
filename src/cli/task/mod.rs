//! `cw task …`: the task verbs, one file each.

mod add;
mod cancel;
mod claim;
mod dep;
mod list;
mod retry;
mod show;

use clap::Subcommand;

use super::{CommandError, CommandResult, Context};
use crate::model::TaskId;

/// Add, list, show and change tasks
#[derive(Debug, Subcommand)]
pub(crate) enum TaskCommand {
    Add(add::AddArgs),
    List(list::ListArgs),
    Show(show::ShowArgs),
    #[command(subcommand)]
    Dep(dep::DepCommand),
    Cancel(cancel::CancelArgs),
    Retry(retry::RetryArgs),
    Claim(claim::ClaimArgs),
}

pub(crate) fn run(cx: &Context, command: &TaskCommand) -> CommandResult {
    match command {
        TaskCommand::Add(args) => add::cmd_add(cx, args),
        TaskCommand::List(args) => list::cmd_list(cx, args),
        TaskCommand::Show(args) => show::cmd_show(cx, args),
        TaskCommand::Dep(command) => dep::run(cx, command),
        TaskCommand::Cancel(args) => cancel::cmd_cancel(cx, args),
        TaskCommand::Retry(args) => retry::cmd_retry(cx, args),
        TaskCommand::Claim(args) => claim::cmd_claim(cx, args),
    }
}

/// Parses a task id argument (`t12` or `12`); a bad id is a usage error.
pub(crate) fn task_id(text: &str) -> Result<TaskId, CommandError> {
    text.parse().map_err(|err: crate::model::IdParseError| CommandError::Usage(err.to_string()))
}
