//! `cw mcp`: the MCP server on stdio.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CommandError, CommandResult, Context};
use crate::mcp::{self, Identity, McpSettings};
use crate::model::AgentId;
use crate::service::Service;
use crate::shutdown::{self, Shutdown};

/// Serve cw's MCP tools on stdin/stdout (what Claude Code and editors launch)
///
/// The caller is identified by CW_TOKEN: an agent token (agent tools) or the operator token
/// (operator tools). Without CW_TOKEN, the repository's owner is the operator. Logs go to stderr
/// and .cw/logs/mcp.log, never to stdout.
#[derive(Debug, Args)]
pub(crate) struct McpArgs {
    /// The agent this server is for; CW_TOKEN must belong to it
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
}

pub(crate) fn cmd_mcp(cx: &Context, args: &McpArgs) -> CommandResult {
    let expected = args
        .agent
        .as_deref()
        .map(str::parse::<AgentId>)
        .transpose()
        .map_err(|e| CommandError::Usage(e.to_string()))?;
    let service = Arc::new(cx.service()?);
    let token = std::env::var("CW_TOKEN").ok();
    let identity = match service.caller_for_stdio(token.as_deref(), expected) {
        Ok(caller) => Identity::Fixed(caller),
        Err(err) => Identity::Refused(err.to_string()),
    };
    let settings = settings(&service);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Io)?;
    runtime.block_on(async move {
        let stop = Shutdown::default();
        let signals = tokio::spawn(shutdown::on_signals(stop.clone()));
        let served = mcp::serve_stdio(service, identity, settings, stop.app.clone()).await;
        signals.abort();
        served.map_err(|err| CommandError::Failed(err.to_string()))
    })
}

/// The MCP timing settings from the config.
pub(crate) fn settings(service: &Service) -> McpSettings {
    let config = &service.config().mcp;
    McpSettings {
        ask_wait: Duration::from_secs(config.ask_wait_seconds),
        progress_every: Duration::from_secs(config.progress_seconds),
    }
}
