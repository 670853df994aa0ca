//! The command line: clap types, one file per verb, human or `--json` rendering, exit codes.
//!
//! Owns: argument parsing, rendering, mapping errors to exit codes 0/1/2.
//! Must not: write SQL, touch git2 or signals, or branch on domain state — every verb decodes its
//! arguments, makes one `Service` call and renders the result.

mod agent;
mod answer;
pub(crate) mod completions;
mod dashboard;
mod demo;
mod diff;
mod gc;
mod import;
mod inbox;
mod init;
mod mcp;
mod mirror;
mod output;
mod progress;
mod run;
mod send;
mod status;
mod store;
pub(crate) mod task;
mod worker;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::agent::AgentError;
use crate::coordinator::CoordinatorError;
use crate::error::{ErrorKind, classify, classify_agent, classify_run, hint};
use crate::service::{Service, ServiceError};
use crate::workspace::Workspace;

/// Run a team of Claude Code agents on one git repository
#[derive(Debug, Parser)]
#[command(name = "cw", version, max_term_width = 100)]
pub struct Cli {
    /// Run as if cw was started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR", help_heading = "Global options")]
    directory: Option<PathBuf>,
    /// More log output on stderr (-v info, -vv debug, -vvv trace); CW_LOG overrides
    #[arg(
        short,
        long,
        global = true,
        action = clap::ArgAction::Count,
        help_heading = "Global options"
    )]
    verbose: u8,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never
    #[arg(
        long,
        global = true,
        value_name = "WHEN",
        default_value = "auto",
        hide_default_value = true,
        hide_possible_values = true,
        help_heading = "Global options"
    )]
    color: output::ColorChoice,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::InitArgs),
    #[command(subcommand)]
    Task(task::TaskCommand),
    Status(status::StatusArgs),
    Import(import::ImportArgs),
    Run(run::RunArgs),
    Demo(demo::DemoArgs),
    Mcp(mcp::McpArgs),
    Inbox(inbox::InboxArgs),
    Mirror(mirror::MirrorArgs),
    Answer(answer::AnswerArgs),
    Send(send::SendArgs),
    #[command(subcommand)]
    Agent(agent::AgentCommand),
    Diff(diff::DiffArgs),
    Dashboard(dashboard::DashboardArgs),
    Gc(gc::GcArgs),
    #[command(subcommand)]
    Store(store::StoreCommand),
    Worker(worker::WorkerArgs),
    Completions(completions::CompletionsArgs),
}

/// Where a command runs: the starting directory, resolved lazily to a workspace.
pub(crate) struct Context {
    start: PathBuf,
}

impl Context {
    /// Opens the service of the repository around the starting directory.
    pub(crate) fn service(&self) -> Result<Service, ServiceError> {
        Service::open(Workspace::locate(&self.start)?)
    }
}

/// Parses `args`, runs the command and returns its exit code.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    completions::answer_if_asked();
    let args: Vec<OsString> = args.into_iter().collect();
    // Errors of a `--json` command are JSON too (on stderr, with the same exit codes).
    let json = args.iter().skip(1).any(|arg| arg == "--json");
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) if json && err.use_stderr() => {
            let message = err.kind().to_string();
            let detail = err.render().to_string();
            let first = detail.lines().next().unwrap_or(&message).trim_start_matches("error: ");
            output::error_json(first, "usage", Some("see --help"));
            return ExitCode::from(2);
        }
        Err(err) => {
            // Help and version go to stdout with code 0; real usage errors to stderr with 2.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let start = match &cli.directory {
        Some(dir) if !dir.is_dir() => {
            let what = if dir.exists() { "is not a directory" } else { "does not exist" };
            output::error_line(&format!("-C {}: the directory {what}", dir.display()), None);
            return ExitCode::from(2);
        }
        Some(dir) => dir.clone(),
        None => match std::env::current_dir() {
            Ok(dir) => dir,
            Err(err) => {
                output::error_line(&format!("cannot read the current directory: {err}"), None);
                return ExitCode::from(1);
            }
        },
    };
    output::set_color(cli.color);
    init_logging(&cli, &start);
    let cx = Context { start };
    let result = match &cli.command {
        Command::Init(args) => init::cmd_init(&cx, args),
        Command::Task(command) => task::run(&cx, command),
        Command::Status(args) => status::cmd_status(&cx, args),
        Command::Import(args) => import::cmd_import(&cx, args),
        Command::Run(args) => run::cmd_run(&cx, args),
        Command::Demo(args) => demo::cmd_demo(args),
        Command::Mcp(args) => mcp::cmd_mcp(&cx, args),
        Command::Inbox(args) => inbox::cmd_inbox(&cx, args),
        Command::Mirror(args) => mirror::cmd_mirror(&cx, args),
        Command::Answer(args) => answer::cmd_answer(&cx, args),
        Command::Send(args) => send::cmd_send(&cx, args),
        Command::Agent(command) => agent::run(&cx, command),
        Command::Diff(args) => diff::cmd_diff(&cx, args),
        Command::Dashboard(args) => dashboard::cmd_dashboard(&cx, args),
        Command::Gc(args) => gc::cmd_gc(&cx, args),
        Command::Store(command) => store::cmd_store(&cx, command),
        Command::Worker(args) => worker::cmd_worker(&cx, args),
        Command::Completions(args) => completions::cmd_completions(args),
    };
    let (message, kind, hint) = match result {
        Ok(()) => return ExitCode::SUCCESS,
        Err(CommandError::Output(err)) if err.kind() == std::io::ErrorKind::BrokenPipe => {
            return ExitCode::SUCCESS;
        }
        Err(CommandError::Service(err)) => caused(&err, classify(&err), hint(&err)),
        Err(CommandError::Agent(err)) => {
            caused(&err, classify_agent(&err), err.as_service().and_then(hint))
        }
        Err(CommandError::Run(err)) => caused(&err, classify_run(&err), None),
        Err(CommandError::Failed(message)) => (message, ErrorKind::User, None),
        Err(CommandError::Usage(message)) => (message, ErrorKind::Usage, None),
        Err(CommandError::Output(err)) => {
            (format!("cannot write output: {err}"), ErrorKind::Internal, None)
        }
        Err(CommandError::Io(err)) => caused(&err, ErrorKind::Internal, None),
    };
    if json {
        let kind = match kind {
            ErrorKind::User => "user",
            ErrorKind::Usage => "usage",
            ErrorKind::Internal => "internal",
        };
        output::error_json(&message, kind, hint);
    } else {
        output::error_line(&message, hint);
    }
    ExitCode::from(if kind == ErrorKind::Usage { 2 } else { 1 })
}

/// A failed command's message and hint (cw's own failures say so, and their cause chain is
/// logged for a bug report with `-v`).
fn caused(
    err: &dyn std::error::Error,
    kind: ErrorKind,
    hint: Option<&'static str>,
) -> (String, ErrorKind, Option<&'static str>) {
    if kind == ErrorKind::Internal {
        tracing::info!(cause = ?err, "command failed");
    }
    let hint = hint.or((kind == ErrorKind::Internal).then_some(INTERNAL_HINT));
    (err.to_string(), kind, hint)
}

/// Said with every failure that is not the user's input: where to look next.
const INTERNAL_HINT: &str =
    "this failed in cw or its environment, not in what you asked for; `-v` logs its causes";

/// stderr for every command; long-running ones (`run`, `mcp`) also append to `.cw/logs/`.
fn init_logging(cli: &Cli, start: &std::path::Path) {
    let file = match cli.command {
        Command::Run(_) => Some("run.log"),
        Command::Mcp(_) => Some("mcp.log"),
        _ => None,
    };
    let logs = file.and_then(|name| Some(Workspace::locate(start).ok()?.logs_dir().join(name)));
    match logs {
        Some(path) if path.parent().is_some_and(std::path::Path::is_dir) => {
            if crate::logging::init_with_file(cli.verbose, &path).is_err() {
                crate::logging::init(cli.verbose);
            }
        }
        _ => crate::logging::init(cli.verbose),
    }
}

/// The clap command tree (for help snapshots and completions).
pub fn command() -> clap::Command {
    Cli::command()
}

/// How a verb fails.
pub(crate) enum CommandError {
    Service(ServiceError),
    /// The agent runtime's own failure (a service refusal it met is a `Service`).
    Agent(AgentError),
    /// `cw run`'s loop failed on its own (a service or agent failure is one of those).
    Run(CoordinatorError),
    Usage(String),
    /// A failure outside the service (a transport), already phrased for the user.
    Failed(String),
    /// Writing to stdout failed (a closed pipe ends the command quietly).
    Output(std::io::Error),
    /// Any other I/O failure of the command's own (a file it writes, a runtime it starts):
    /// the error names the file and operation (`fs_err`).
    Io(std::io::Error),
}

impl From<ServiceError> for CommandError {
    fn from(err: ServiceError) -> CommandError {
        CommandError::Service(err)
    }
}

impl From<AgentError> for CommandError {
    fn from(err: AgentError) -> CommandError {
        match err {
            AgentError::Service(err) => CommandError::Service(err),
            err => CommandError::Agent(err),
        }
    }
}

impl From<CoordinatorError> for CommandError {
    fn from(err: CoordinatorError) -> CommandError {
        match err {
            CoordinatorError::Service(err) => CommandError::Service(err),
            CoordinatorError::Agent(err) => CommandError::from(err),
            err => CommandError::Run(err),
        }
    }
}

impl From<std::io::Error> for CommandError {
    fn from(err: std::io::Error) -> CommandError {
        CommandError::Io(err)
    }
}

pub(crate) type CommandResult = Result<(), CommandError>;

#[cfg(test)]
mod tests {
    #[test]
    fn clap_definition_is_consistent() {
        super::command().debug_assert();
    }
}
