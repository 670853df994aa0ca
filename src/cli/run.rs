//! `cw run`: the long-running process of a repository (for now: the MCP server over HTTP).

use std::sync::Arc;

use clap::Args;

use super::{CommandError, CommandResult, Context, output};
use crate::mcp;
use crate::shutdown::{self, Shutdown};

/// Run the coordinator: serve MCP over HTTP on 127.0.0.1 and (soon) dispatch agents
///
/// Writes the endpoint to .cw/server.json. Only one `cw run` may serve a repository. SIGINT or
/// SIGTERM stops it gracefully (blocked calls are answered "shutting down"); a second signal
/// stops it at once.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// Serve MCP without starting agents (bring your own agents)
    #[arg(long)]
    no_dispatch: bool,
    /// The port on 127.0.0.1 (0 = any free port; default from .cw/config.toml)
    #[arg(long)]
    port: Option<u16>,
}

pub(crate) fn cmd_run(cx: &Context, args: &RunArgs) -> CommandResult {
    if !args.no_dispatch {
        return Err(CommandError::Usage(
            "dispatching agents is not available yet; use `cw run --no-dispatch` to serve MCP for your own agents".to_owned(),
        ));
    }
    let service = Arc::new(cx.service()?);
    let lock = service.lock_server()?;
    let settings = super::mcp::settings(&service);
    let port = args.port.unwrap_or(service.config().server.port);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Output)?;
    runtime.block_on(async move {
        let server = mcp::bind(port).await.map_err(|err| CommandError::Failed(err.to_string()))?;
        let url = server.url();
        lock.publish(&url, service.now().0)?;
        output::note(&format!(
            "cw: serving MCP on {url} (pid {}); Ctrl-C to stop",
            std::process::id()
        ));
        let stop = Shutdown::default();
        let signals = tokio::spawn(shutdown::on_signals(stop.clone()));
        let served =
            server.serve(service, settings, stop.app.clone(), stop.transport.clone()).await;
        signals.abort();
        drop(lock);
        output::note("cw: stopped");
        served.map_err(|err| CommandError::Failed(err.to_string()))
    })
}
