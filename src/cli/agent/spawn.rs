//! `cw agent spawn`: run one agent on one task (mainly for debugging before `cw run`).

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use crate::agent::{AgentRuntime, stream};
use crate::cli::{CommandError, CommandResult, Context, output};
use crate::model::TaskId;
use crate::service::ExitKind;
use crate::wire::AgentJson;

/// Start an agent on a ready task in its own worktree and follow it until it ends
///
/// The agent command comes from [agent] in .cw/config.toml ("sim" = the built-in scripted agent).
/// Ctrl-C stops the agent (its whole process group). With --detach, cw returns at once and the
/// agent keeps running; `cw agent list`, `logs -f` and `stop` find it again.
#[derive(Debug, Args)]
pub(crate) struct SpawnArgs {
    /// The task (e.g. t3)
    #[arg(add = crate::cli::completions::task_ids())]
    task: String,
    /// Return once the agent runs instead of following it
    #[arg(long)]
    detach: bool,
    /// Print the agent as JSON (at the end, or at once with --detach)
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_spawn(cx: &Context, args: &SpawnArgs) -> CommandResult {
    let task: TaskId = args
        .task
        .parse()
        .map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))?;
    let service = Arc::new(cx.service()?);
    let runtime = AgentRuntime::for_current_exe(service.clone())?;
    let mut live = runtime.spawn_one(task)?;
    let agent = live.agent;
    if args.detach {
        let record = service.agent(agent)?;
        if args.json {
            return output::json(&AgentJson::from(&record));
        }
        return output::text(format!(
            "agent {agent} runs task {task} (pid {}) in {}\nfollow it with `cw agent logs {agent} -f`\n",
            live.pid(),
            record.worktree.unwrap_or_default()
        ));
    }
    if !args.json {
        output::note(&format!(
            "cw: agent {agent} started on {task} (pid {}); Ctrl-C stops it",
            live.pid()
        ));
    }
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Io)?;
    let exit = tokio.block_on(async {
        let signal = crate::shutdown::first_signal();
        tokio::pin!(signal);
        loop {
            let (events, exit) = runtime.observe(&mut live, true)?;
            if !args.json {
                let lines: String =
                    events.iter().filter_map(stream::render).map(|l| l + "\n").collect();
                output::text(&lines)?;
            }
            if let Some(exit) = exit {
                return Ok::<_, CommandError>(exit);
            }
            tokio::select! {
                _ = &mut signal => {
                    output::note(&format!("cw: stopping agent {agent}"));
                    runtime.stop(agent, Some(live))?;
                    let record = service.agent(agent)?;
                    return Ok(crate::agent::AgentExit {
                        kind: ExitKind::Crashed,
                        status: record.exit_status.clone().unwrap_or_default(),
                        agent: record,
                        summary: stream::RunSummary::default(),
                        stopped: true,
                    });
                }
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    })?;
    if args.json {
        output::json(&AgentJson::from(&exit.agent))?;
    } else {
        let task_state = service.task(task)?.task.state;
        output::note(&format!(
            "cw: agent {agent} {}; task {task} is {task_state}; cost ${:.4}",
            exit.status, exit.agent.usage.cost_usd
        ));
    }
    match exit.kind {
        ExitKind::Exited => Ok(()),
        ExitKind::Crashed if exit.stopped => Ok(()),
        ExitKind::Crashed => Err(CommandError::Failed(format!("agent {agent} {}", exit.status))),
    }
}
