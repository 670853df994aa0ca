//! `cw agent …`.

mod list;
mod logs;
mod register;
mod spawn;
mod stop;

use clap::Subcommand;

use super::{CommandResult, Context};

/// Run and manage agents
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    Spawn(spawn::SpawnArgs),
    List(list::ListArgs),
    Logs(logs::LogsArgs),
    Stop(stop::StopArgs),
    Restart(stop::RestartArgs),
    Register(register::RegisterArgs),
}

pub(crate) fn run(cx: &Context, command: &AgentCommand) -> CommandResult {
    match command {
        AgentCommand::Spawn(args) => spawn::cmd_spawn(cx, args),
        AgentCommand::List(args) => list::cmd_list(cx, args),
        AgentCommand::Logs(args) => logs::cmd_logs(cx, args),
        AgentCommand::Stop(args) => stop::cmd_stop(cx, args),
        AgentCommand::Restart(args) => stop::cmd_restart(cx, args),
        AgentCommand::Register(args) => register::cmd_register(cx, args),
    }
}
