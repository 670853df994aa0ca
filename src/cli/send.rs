//! `cw send`.

use clap::Args;

use super::answer::read_text_argument;
use super::{CommandError, CommandResult, Context, output};
use crate::model::AgentId;
use crate::service::{Caller, Via};

/// Send a message to an agent (it reads it with get_messages)
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// The agent id (a3 or 3)
    #[arg(add = crate::cli::completions::agent_ids())]
    agent: String,
    /// The message, or - to read it from stdin
    text: String,
    /// Print the sent message's id as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_send(cx: &Context, args: &SendArgs) -> CommandResult {
    let agent: AgentId = args
        .agent
        .parse()
        .map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))?;
    let text = read_text_argument(&args.text)?;
    let id = cx.service()?.send_message(&Caller::Operator(Via::Cli), agent, &text)?;
    if args.json {
        let sent = serde_json::json!({ "message_id": id.to_string(), "agent": agent.to_string() });
        return output::json(&sent);
    }
    output::text(format!("{id} sent to {agent}\n"))
}
