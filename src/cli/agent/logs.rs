//! `cw agent logs`: the agent's stream-json transcript, readable.

use std::time::Duration;

use clap::Args;

use crate::agent::stream::{self, StreamTail};
use crate::cli::{CommandError, CommandResult, Context, output};
use crate::model::AgentId;

/// Show what an agent did: its text, tool calls with arguments, results and cost
#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    /// The agent (e.g. a2)
    #[arg(add = crate::cli::completions::agent_ids())]
    agent: String,
    /// Keep following while the agent runs
    #[arg(short, long)]
    follow: bool,
    /// Print the raw stream-json log instead
    #[arg(long, conflicts_with = "follow")]
    raw: bool,
}

pub(crate) fn cmd_logs(cx: &Context, args: &LogsArgs) -> CommandResult {
    let agent: AgentId = args
        .agent
        .parse()
        .map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))?;
    let service = std::sync::Arc::new(cx.service()?);
    service.agent(agent)?;
    let runtime = crate::agent::AgentRuntime::for_current_exe(service.clone())?;
    let path = service.workspace().agent_dir(agent).join("stream.jsonl");
    if args.raw {
        let text = fs_err::read_to_string(&path).unwrap_or_default();
        return output::text(&text);
    }
    let mut tail = StreamTail::new(&path);
    let io = |source| {
        CommandError::Service(crate::service::ServiceError::Io { path: path.clone(), source })
    };
    loop {
        let running = runtime.refresh(agent)?;
        let events =
            if running || args.follow { tail.poll() } else { tail.finish() }.map_err(io)?;
        let lines: String = events.iter().filter_map(stream::render).map(|l| l + "\n").collect();
        output::text(&lines)?;
        if !args.follow || !running {
            if args.follow {
                let rest: String = tail
                    .finish()
                    .map_err(io)?
                    .iter()
                    .filter_map(stream::render)
                    .map(|l| l + "\n")
                    .collect();
                output::text(&rest)?;
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
