//! `cw agent stop` and `cw agent restart`.

use std::sync::Arc;

use clap::Args;

use crate::agent::{AgentRuntime, Continuation};
use crate::cli::{CommandError, CommandResult, Context, output};
use crate::model::AgentId;
use crate::service::{Caller, Continues, Via};

/// Stop an agent: SIGTERM to its process group, a grace period, then SIGKILL
///
/// An unfinished task stays with it, and its worktree and branch are kept; `cw agent restart`
/// continues it.
#[derive(Debug, Args)]
pub(crate) struct StopArgs {
    /// The agent (e.g. a2)
    #[arg(add = crate::cli::completions::agent_ids())]
    agent: String,
    /// Print the outcome as JSON
    #[arg(long)]
    json: bool,
}

/// Stop an agent if it runs, then continue its session (`--resume`) in the same worktree
#[derive(Debug, Args)]
pub(crate) struct RestartArgs {
    /// The agent (e.g. a2)
    #[arg(add = crate::cli::completions::agent_ids())]
    agent: String,
    /// Why, as told to the agent
    #[arg(long, default_value = "it was restarted by the operator")]
    reason: String,
    /// Print the outcome as JSON
    #[arg(long)]
    json: bool,
}

fn parse(agent: &str) -> Result<AgentId, CommandError> {
    agent.parse().map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))
}

pub(crate) fn cmd_stop(cx: &Context, args: &StopArgs) -> CommandResult {
    let agent = parse(&args.agent)?;
    let service = cx.service()?;
    let report = service.stop_agent(&Caller::Operator(Via::Cli), agent)?;
    let continues = service.what_agent_continues(agent)?;
    if args.json {
        let task = match &continues {
            Continues::Task(task) => Some(task.to_string()),
            Continues::Nothing(_) => None,
        };
        return output::json(&serde_json::json!({
            "agent": agent.to_string(),
            "was_running": report.is_some(),
            "killed": report.as_ref().is_some_and(|r| r.killed),
            "paused_task": task,
        }));
    }
    let mut message = match report {
        Some(r) if r.killed => {
            format!("agent {agent} stopped (killed after {:.1} s)", r.took.as_secs_f64())
        }
        Some(r) => format!("agent {agent} stopped in {:.2} s", r.took.as_secs_f64()),
        None => format!("agent {agent} was not running; marked stopped"),
    };
    match continues {
        Continues::Task(task) => message.push_str(&format!(
            "\n{task} stays with it (cw run leaves it alone); `cw agent restart {agent}` continues it"
        )),
        Continues::Nothing(why) => message.push_str(&format!("\n{why}: nothing to continue")),
    }
    output::text(format!("{message}\n"))
}

pub(crate) fn cmd_restart(cx: &Context, args: &RestartArgs) -> CommandResult {
    let agent = parse(&args.agent)?;
    let service = Arc::new(cx.service()?);
    let runtime = AgentRuntime::for_current_exe(service.clone())?;
    if service.agent(agent)?.process.is_some() {
        runtime.stop(agent, None)?;
    }
    let live = runtime
        .continue_session(agent, &Continuation::Interrupted { reason: args.reason.clone() })?;
    if args.json {
        return output::json(&serde_json::json!({ "agent": agent.to_string(), "pid": live.pid() }));
    }
    output::text(format!(
        "agent {agent} restarted (pid {}); follow it with `cw agent logs {agent} -f`\n",
        live.pid()
    ))
}
