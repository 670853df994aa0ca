//! `cw mcp`: the MCP server on stdio.

use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::{CommandError, CommandResult, Context};
use crate::mcp::{self, Identity, McpSettings};
use crate::model::AgentId;
use crate::service::{Service, ServiceError};
use crate::shutdown::{self, Shutdown};

/// Serve cw's MCP tools on stdin/stdout (what Claude Code and editors launch)
///
/// The caller is identified by CW_TOKEN: an agent token (agent tools) or the operator token
/// (operator tools). Without CW_TOKEN, the repository's owner is the operator. Logs go to stderr
/// and .cw/logs/mcp.log, never to stdout.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct McpArgs {
    #[command(subcommand)]
    action: Option<McpAction>,
    /// The agent this server is for; CW_TOKEN must belong to it
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
enum McpAction {
    /// Add cw to this repository's .mcp.json for Claude Code (other servers are kept)
    ///
    /// The entry runs `cw mcp`, by name when the cw on PATH is this one, else by this binary's
    /// absolute path. Check it with `claude mcp list`.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
struct InstallArgs {
    /// Print what was written as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_mcp(cx: &Context, args: &McpArgs) -> CommandResult {
    if let Some(McpAction::Install(install)) = &args.action {
        return cmd_install(cx, install);
    }
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

/// `cw mcp install`: the `cw` entry of `.mcp.json` at the repository's root, merged into what
/// is there (a file that is not a JSON object is refused and left as it is).
fn cmd_install(cx: &Context, args: &InstallArgs) -> CommandResult {
    let workspace = crate::workspace::Workspace::locate(&cx.start).map_err(ServiceError::from)?;
    let path = workspace.root().join(".mcp.json");
    let mut config = match fs_err::read_to_string(&path) {
        Ok(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(value) if value.is_object() => value,
            Ok(_) | Err(_) => {
                return Err(CommandError::Failed(format!(
                    "{} is not a JSON object; fix or move it, then run `cw mcp install` again (it was not changed)",
                    path.display()
                )));
            }
        },
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(err) => return Err(CommandError::Io(err)),
    };
    let command = command_for_this_binary()?;
    let entry = serde_json::json!({ "type": "stdio", "command": command, "args": ["mcp"] });
    let servers = config
        .as_object_mut()
        .expect("invariant: checked to be an object")
        .entry("mcpServers")
        .or_insert_with(|| serde_json::json!({}));
    let Some(servers) = servers.as_object_mut() else {
        return Err(CommandError::Failed(format!(
            "mcpServers in {} is not an object; fix it, then run `cw mcp install` again (it was not changed)",
            path.display()
        )));
    };
    let changed = servers.get("cw") != Some(&entry);
    servers.insert("cw".to_owned(), entry);
    if changed {
        let text = format!("{}\n", serde_json::to_string_pretty(&config).unwrap_or_default());
        let dir = workspace.root();
        let mut temp = tempfile::Builder::new().prefix(".mcp.json.").tempfile_in(dir)?;
        std::io::Write::write_all(&mut temp, text.as_bytes())?;
        temp.persist(&path).map_err(|err| CommandError::Io(err.error))?;
    }
    if args.json {
        let shown = serde_json::json!({ "path": path, "command": command, "changed": changed });
        return super::output::json(&shown);
    }
    let what = if changed { "added cw to" } else { "cw is already in" };
    super::output::text(format!(
        "{what} {} (command: {command} mcp)\nnext: `claude mcp list` shows it; `claude` in this repository uses it\n",
        path.display()
    ))
}

/// `cw` when the `cw` found on PATH is this binary, else this binary's absolute path.
fn command_for_this_binary() -> Result<String, CommandError> {
    let exe = std::env::current_exe().and_then(fs_err::canonicalize)?;
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("cw"))
            .find(|candidate| candidate.is_file())
    });
    let same = on_path.and_then(|p| fs_err::canonicalize(p).ok()).is_some_and(|p| p == exe);
    Ok(if same { "cw".to_owned() } else { exe.display().to_string() })
}
