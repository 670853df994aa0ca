//! `cw run`: the long-running process of a repository — the coordinator plus the MCP server.

use std::sync::Arc;

use clap::Args;

use super::progress::TerminalProgress;
use super::{CommandError, CommandResult, Context, output};
use crate::agent::AgentRuntime;
use crate::coordinator::{Coordinator, Progress, RunOptions, RunReport};
use crate::mcp;
use crate::service::{Endpoints, Service};
use crate::shutdown::{self, Shutdown};
use tokio_util::sync::CancellationToken;

/// Run the plan: dispatch agents, merge their work, serve MCP on 127.0.0.1
///
/// Starts up to --agents agents on ready tasks (dependency order first), resumes agents when an
/// answer or a merge bounce is waiting for them, merges finished branches into the integration
/// branch and serves MCP over HTTP (the URL is in .cw/server.json). Only one `cw run` may serve
/// a repository. SIGINT or SIGTERM stops it gracefully (agents are stopped and their tasks kept
/// for the next run); a second signal stops it at once.
#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    /// How many agents work at once on this machine (default from .cw/config.toml, [run]
    /// agents); 0 runs agents on `cw worker` hosts only
    #[arg(long, value_name = "N")]
    agents: Option<u16>,
    /// The agent program: "claude", a path, or "sim" for the built-in scripted agent
    #[arg(long, value_name = "CMD")]
    agent_command: Option<String>,
    /// Exit when every task is merged (0), or when nothing more can happen (1, with a summary)
    #[arg(long)]
    exit_when_done: bool,
    /// Serve MCP and merge the queue without starting agents (bring your own agents)
    #[arg(long)]
    no_dispatch: bool,
    /// Leave agents running on shutdown; the next `cw run` adopts them
    #[arg(long)]
    keep_agents: bool,
    /// The port on 127.0.0.1 (0 = any free port; default: [server] port, else this
    /// repository's own port, the same on every run)
    #[arg(long)]
    port: Option<u16>,
}

/// `service` with `--agent-command` in force for this process, if it was given.
pub(crate) fn with_agent_command(
    service: Service,
    command: Option<&str>,
) -> Result<Service, CommandError> {
    let Some(command) = command else { return Ok(service) };
    let command = command.trim().to_owned();
    if command.is_empty() {
        return Err(CommandError::Usage("--agent-command needs a program (or \"sim\")".to_owned()));
    }
    Ok(service.with_settings(|config| config.agent.command = command))
}

pub(crate) fn cmd_run(cx: &Context, args: &RunArgs) -> CommandResult {
    let service = with_agent_command(cx.service()?, args.agent_command.as_deref())?;
    if args.agents == Some(0) && !service.state_is_shared() {
        return Err(CommandError::Usage(
            "--agents 0 leaves every agent to `cw worker` hosts, and they need the state in PostgreSQL: `cw store migrate <url>` first (or give --agents 1 or more)".to_owned(),
        ));
    }
    let options = RunOptions {
        agents: args.agents.map_or(service.config().run.agents, usize::from),
        dispatch: !args.no_dispatch,
        exit_when_done: args.exit_when_done,
        keep_agents: args.keep_agents,
        ..RunOptions::default()
    };
    let port = args.port.or(service.config().server.port);
    let report =
        serve_and_coordinate(Arc::new(service), options, port, Box::new(TerminalProgress::new()))?;
    if args.exit_when_done && report.interrupted {
        return Err(CommandError::Failed(format!(
            "stopped before the end: {} of {} tasks merged; `cw run` again goes on from here",
            report.merged, report.total
        )));
    }
    if args.exit_when_done && !report.all_merged() {
        return Err(CommandError::Failed(format!(
            "{} of {} tasks merged; {} not (see above, or `cw status`)",
            report.merged,
            report.total,
            report.unfinished.len()
        )));
    }
    Ok(())
}

/// Serves MCP over HTTP while the coordinator runs; returns the coordinator's report once it
/// ends (a signal, or `exit_when_done`) and the server has drained.
pub(crate) fn serve_and_coordinate(
    service: Arc<Service>,
    options: RunOptions,
    port: Option<u16>,
    mut progress: Box<dyn Progress + Send>,
) -> Result<RunReport, CommandError> {
    let lock = service.lock_server()?;
    let settings = super::mcp::settings(&service);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Io)?;
    runtime.block_on(async move {
        let failed = |err: mcp::McpError| CommandError::Failed(err.to_string());
        let server = match port {
            Some(port) => mcp::bind(port).await.map_err(failed)?,
            None => {
                let own = crate::config::stable_port(service.workspace().root());
                match mcp::bind(own).await {
                    Ok(server) => server,
                    Err(err) => {
                        output::note(&format!(
                            "cw: this repository's own port is taken ({err}); serving on a free port (set [server] port to choose one)"
                        ));
                        mcp::bind(0).await.map_err(failed)?
                    }
                }
            }
        };
        let url = server.url();
        let stop = Shutdown::default();
        let port = server.address().port();
        let (dashboard, dashboard_url) =
            crate::dashboard::routes(Arc::clone(&service), port, stop.app.clone())?;
        let dashboard = dashboard.merge(mcp::host_routes(Arc::clone(&service), port));
        let endpoints = Endpoints { mcp: url.clone(), sse: server.sse_url(), dashboard: dashboard_url };
        lock.publish(&endpoints, service.now())?;
        let what = if options.dispatch { "running the plan" } else { "serving (no dispatch)" };
        output::note(&format!(
            "cw: serving MCP on {url} (pid {}); {what}; Ctrl-C to stop",
            std::process::id()
        ));
        output::note(&format!("dashboard: {}", endpoints.dashboard));
        let signals = tokio::spawn(shutdown::on_signals(stop.clone()));
        let serving = tokio::spawn(server.serve(
            Arc::clone(&service),
            settings,
            stop.app.clone(),
            stop.transport.clone(),
            dashboard,
        ));
        // The mirror blocks too (files, SQLite): its own thread and its own connection.
        let mirroring = service.config().mirror.enabled.then(|| {
            let cancel = stop.app.clone();
            let workspace = service.workspace().clone();
            tokio::task::spawn_blocking(move || mirror_until(&workspace, &cancel))
        });
        // The loop blocks (SQLite, git2, waiting on processes): it gets its own thread (R15).
        let cancel = stop.app.clone();
        let coordinated = tokio::task::spawn_blocking(move || {
            let runtime = AgentRuntime::for_current_exe(service)?;
            let report = Coordinator::new(runtime, options, cancel, progress.as_mut())?.run()?;
            progress.finish(&report);
            Ok::<_, CommandError>(report)
        })
        .await
        .map_err(|err| CommandError::Failed(format!("the coordinator stopped: {err}")))?;
        stop.begin();
        if let Some(mirroring) = mirroring {
            let _ = mirroring.await;
        }
        let served = serving.await;
        signals.abort();
        drop(lock);
        let report = coordinated?;
        match served {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(CommandError::Failed(err.to_string())),
            Err(err) => return Err(CommandError::Failed(format!("the MCP server stopped: {err}"))),
        }
        output::note("cw: stopped");
        Ok(report)
    })
}

/// Keeps the file mirror in sync until `cancel`; a failure is reported and ends only the mirror,
/// except a database out of reach, which it waits out.
fn mirror_until(workspace: &crate::workspace::Workspace, cancel: &CancellationToken) {
    loop {
        let synced = Service::open(workspace.clone()).and_then(|service| {
            crate::fsui::watch::run(&service, cancel, &mut |report| {
                output::note(super::mirror::describe(report).trim_end());
            })
        });
        match synced {
            Err(err) if err.is_transient() && !cancel.is_cancelled() => {
                tracing::warn!(%err, "the file mirror waits for the database");
                std::thread::sleep(std::time::Duration::from_millis(500));
            }
            Err(err) => {
                output::error_line(&format!("the file mirror stopped: {err}"), None);
                return;
            }
            Ok(()) => return,
        }
    }
}
