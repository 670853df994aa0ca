//! `cw agent …`.

mod list;
mod register;

use clap::Subcommand;

use super::{CommandResult, Context};

/// Manage agent identities
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    Register(register::RegisterArgs),
    List(list::ListArgs),
}

pub(crate) fn run(cx: &Context, command: &AgentCommand) -> CommandResult {
    match command {
        AgentCommand::Register(args) => register::cmd_register(cx, args),
        AgentCommand::List(args) => list::cmd_list(cx, args),
    }
}
