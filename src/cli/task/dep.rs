//! `cw task dep add|rm`.

use clap::{Args, Subcommand};

use super::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::wire::TaskDetailJson;

/// Add or remove a dependency between two tasks
#[derive(Debug, Subcommand)]
pub(crate) enum DepCommand {
    /// Make TASK wait until DEPENDENCY is merged (refuses cycles, naming them)
    Add(DepArgs),
    /// Remove the dependency of TASK on DEPENDENCY
    Rm(DepArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DepArgs {
    /// The task that waits
    #[arg(add = crate::cli::completions::task_ids())]
    task: String,
    /// The task it waits for
    #[arg(add = crate::cli::completions::task_ids())]
    dependency: String,
    /// Print the changed task as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(cx: &Context, command: &DepCommand) -> CommandResult {
    let (args, adding) = match command {
        DepCommand::Add(args) => (args, true),
        DepCommand::Rm(args) => (args, false),
    };
    let task = task_id(&args.task)?;
    let dependency = task_id(&args.dependency)?;
    let service = cx.service()?;
    let change = if adding {
        service.add_dependency(task, dependency)?
    } else {
        service.remove_dependency(task, dependency)?
    };
    if args.json {
        // The task as `task show --json` shows it, after the change.
        return output::json(&TaskDetailJson::from(&service.task(task)?));
    }
    let message = match (adding, change.changed) {
        (true, true) => {
            format!("{task} now waits for {dependency} ({task} is {})\n", change.task.state)
        }
        (true, false) => format!("{task} already waits for {dependency}\n"),
        (false, _) => {
            format!("{task} no longer waits for {dependency} ({task} is {})\n", change.task.state)
        }
    };
    output::text(&message)
}
