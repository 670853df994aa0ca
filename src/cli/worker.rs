//! `cw worker`: run agents on this host for a `cw run` elsewhere; `cw worker add|list|remove`
//! manage the hosts a coordinator accepts.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};

use super::progress::TerminalProgress;
use super::{CommandError, CommandResult, Context, output};
use crate::agent::AgentRuntime;
use crate::coordinator::{Coordinator, RunOptions};
use crate::service::{Service, WorkerHello};
use crate::shutdown::{self, Shutdown};
use crate::wire::WorkerHelloJson;

/// Run agents on this host for a coordinator elsewhere, or manage its hosts
///
/// In a clone of the coordinator's repository: `cw worker --server <URL> --token <host token>`
/// greets the `cw run` at URL (the base URL in its .cw/server.json, reached through an SSH
/// tunnel from another machine), sets this clone up against the shared PostgreSQL state, and
/// runs agents on ready tasks here, in dependency order, exactly as cw run does: worktrees in
/// this clone, branches pushed to [worker] remote (origin) before each merge request, the
/// integration branch fetched before each start. The coordinator merges. SIGINT or SIGTERM
/// stops it; its agents' tasks go back for others.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct WorkerArgs {
    #[command(subcommand)]
    command: Option<WorkerCommand>,
    #[command(flatten)]
    run: WorkerRunArgs,
}

#[derive(Debug, Subcommand)]
enum WorkerCommand {
    Add(AddArgs),
    List(ListArgs),
    Remove(RemoveArgs),
}

#[derive(Debug, Args)]
struct WorkerRunArgs {
    /// The coordinator's base URL (http://127.0.0.1:<port>, as in its .cw/server.json)
    #[arg(long, value_name = "URL")]
    server: Option<String>,
    /// The host token from `cw worker add` (better: in CW_WORKER_TOKEN, out of `ps`)
    #[arg(long, value_name = "TOKEN", env = "CW_WORKER_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// How many agents work at once on this host (default: [run] agents)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    agents: Option<u16>,
    /// The agent program: "claude", a path, or "sim" for the built-in scripted agent
    #[arg(long, value_name = "CMD")]
    agent_command: Option<String>,
    /// Exit when every task is merged, or nothing more can happen
    #[arg(long)]
    exit_when_done: bool,
}

/// Let a host run agents for this repository: prints its token once
#[derive(Debug, Args)]
struct AddArgs {
    /// The host's name (letters, digits, '-', '_', '.')
    name: String,
    /// Print it as JSON
    #[arg(long)]
    json: bool,
}

/// The hosts that may run agents: capacity, agents running, last heard from
#[derive(Debug, Args)]
struct ListArgs {
    /// Print them as JSON
    #[arg(long)]
    json: bool,
}

/// Forget a host: its token stops working
#[derive(Debug, Args)]
struct RemoveArgs {
    name: String,
}

pub(crate) fn cmd_worker(cx: &Context, args: &WorkerArgs) -> CommandResult {
    match &args.command {
        Some(WorkerCommand::Add(add)) => {
            let added = cx.service()?.add_host(&add.name)?;
            if add.json {
                return output::json(
                    &serde_json::json!({ "name": added.host.name, "token": added.token }),
                );
            }
            output::text(format!(
                "host {} may run agents; its token (shown once):\n{}\non that host, in a clone of this repository:\n  CW_WORKER_TOKEN=<token> cw worker --server <the base URL in .cw/server.json>\n",
                added.host.name, added.token
            ))
        }
        Some(WorkerCommand::List(list)) => {
            let hosts = cx.service()?.hosts()?;
            if list.json {
                let rows: Vec<crate::wire::HostJson> =
                    hosts.iter().map(crate::wire::HostJson::from).collect();
                return output::json(&rows);
            }
            if hosts.is_empty() {
                output::note("no hosts (`cw worker add <name>` lets one run agents)");
                return Ok(());
            }
            let mut text = String::new();
            for h in &hosts {
                let state = match (h.host.last_seen, h.lost) {
                    (None, _) => "never seen".to_owned(),
                    (Some(_), true) => "lost".to_owned(),
                    (Some(_), false) => "up".to_owned(),
                };
                text.push_str(&format!(
                    "{}  {state}  {} running of {}  {} MiB\n",
                    h.host.name, h.running, h.host.agents, h.host.memory_mb
                ));
            }
            output::text(text)
        }
        Some(WorkerCommand::Remove(remove)) => {
            cx.service()?.remove_host(&remove.name)?;
            output::note(&format!("host {} removed; its token no longer works", remove.name));
            Ok(())
        }
        None => run_worker(cx, &args.run),
    }
}

fn run_worker(cx: &Context, args: &WorkerRunArgs) -> CommandResult {
    let (Some(server), Some(token)) = (&args.server, &args.token) else {
        return Err(CommandError::Usage(
            "cw worker needs --server <URL> and a host token (--token, or CW_WORKER_TOKEN); see `cw worker --help`".to_owned(),
        ));
    };
    let hello: WorkerHello = greet(server, token)?.into();
    let service = super::run::with_agent_command(
        Service::join_as_worker(&cx.start, &hello)?,
        args.agent_command.as_deref(),
    )?;
    let agents = args.agents.map_or(service.config().run.agents, usize::from);
    let lock = service.lock_server()?;
    service.fetch_integration_branch()?;
    let options = RunOptions {
        agents,
        merge: false,
        exit_when_done: args.exit_when_done,
        ..RunOptions::default()
    };
    let service = Arc::new(service);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CommandError::Io)?;
    let report = runtime.block_on(async move {
        let stop = Shutdown::default();
        let signals = tokio::spawn(shutdown::on_signals(stop.clone()));
        output::note(&format!(
            "cw worker {}: running up to {agents} agents for {server} (pid {}); Ctrl-C to stop",
            hello.name,
            std::process::id()
        ));
        let beating = {
            let service = Arc::clone(&service);
            let cancel = stop.app.clone();
            let every = Duration::from_secs(hello.heartbeat_seconds);
            tokio::spawn(async move {
                loop {
                    let memory = crate::process::available_memory().unwrap_or(0) / (1024 * 1024);
                    let count = u32::try_from(agents).unwrap_or(u32::MAX);
                    let service = Arc::clone(&service);
                    let beat =
                        tokio::task::spawn_blocking(move || service.heartbeat(count, memory));
                    if let Ok(Err(err)) = beat.await {
                        tracing::warn!(%err, "heartbeat not recorded");
                    }
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(every) => {}
                    }
                }
            })
        };
        let cancel = stop.app.clone();
        let coordinated = tokio::task::spawn_blocking(move || {
            let mut progress = TerminalProgress::new();
            let runtime = AgentRuntime::for_current_exe(service)?;
            let report = Coordinator::new(runtime, options, cancel, &mut progress)?.run()?;
            crate::coordinator::Progress::finish(&mut progress, &report);
            Ok::<_, CommandError>(report)
        })
        .await
        .map_err(|err| CommandError::Failed(format!("the worker stopped: {err}")))?;
        stop.begin();
        let _ = beating.await;
        signals.abort();
        coordinated
    })?;
    drop(lock);
    output::note(&format!(
        "cw worker: stopped ({} of {} tasks merged)",
        report.merged, report.total
    ));
    Ok(())
}

/// `POST <server>/hosts/hello` with the host token: who this host is and where the state is.
/// Plain HTTP to a loopback address: another machine's coordinator is reached through an SSH
/// tunnel, which is what keeps the token and the store's URL private on the way.
fn greet(server: &str, token: &str) -> Result<WorkerHelloJson, CommandError> {
    let usage = || {
        CommandError::Usage(format!(
            "--server {server:?}: expected http://127.0.0.1:<port> (from another machine, through an SSH tunnel: see the README)"
        ))
    };
    let rest = server.strip_prefix("http://").ok_or_else(usage)?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty()).ok_or_else(usage)?;
    let unreachable = |err: std::io::Error| {
        CommandError::Failed(format!("cannot reach the coordinator at {server}: {err}"))
    };
    let address = std::net::ToSocketAddrs::to_socket_addrs(authority)
        .map_err(unreachable)?
        .next()
        .ok_or_else(usage)?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(10))
        .map_err(unreachable)?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(unreachable)?;
    let request = format!(
        "POST /hosts/hello HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        token.trim()
    );
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut response = Vec::new();
    stream.take(256 * 1024).read_to_end(&mut response).map_err(unreachable)?;
    let response = String::from_utf8_lossy(&response);
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(CommandError::Failed(format!(
            "the coordinator at {server} refused this host: {}",
            crate::safe_text::first_line(body.trim().trim_start_matches("cw: "), 300)
        )));
    }
    serde_json::from_str(body).map_err(|err| {
        CommandError::Failed(format!("the coordinator at {server} answered something else: {err}"))
    })
}
