//! `cw agent …`.

mod register;

use clap::Subcommand;

use super::{CommandResult, Context};

/// Manage agent identities
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    Register(register::RegisterArgs),
}

pub(crate) fn run(cx: &Context, command: &AgentCommand) -> CommandResult {
    match command {
        AgentCommand::Register(args) => register::cmd_register(cx, args),
    }
}
