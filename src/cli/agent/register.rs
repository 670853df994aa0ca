//! `cw agent register`.

use clap::Args;

use crate::cli::task::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::model::AgentKind;
use crate::wire::RegistrationJson;

/// Create an identity for an agent you start yourself; prints its id and secret token
///
/// Give the token to the agent as CW_TOKEN. It is shown only once; cw stores only its hash. On its
/// first claim cw gives it a worktree and branch of its own (their paths are in the claim's
/// answer): its work must be committed there to be merged.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// A name to recognise the agent by
    #[arg(long, default_value = "agent")]
    name: String,
    /// Bind the agent to one task: it can only claim that task
    #[arg(long)]
    task: Option<String>,
    /// No worktree or branch: the agent claims and reports, and cannot request merges
    #[arg(long)]
    no_worktree: bool,
    /// Print {id, token} as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_register(cx: &Context, args: &RegisterArgs) -> CommandResult {
    let task = args.task.as_deref().map(task_id).transpose()?;
    let kind = if args.no_worktree { AgentKind::Bare } else { AgentKind::Registered };
    let registration = cx.service()?.register_agent_of(&args.name, task, kind)?;
    if args.json {
        return output::json(&RegistrationJson::from(&registration));
    }
    output::note(&format!(
        "registered agent {} ({}); its token is shown only once:",
        registration.agent.id, registration.agent.name
    ));
    output::text(format!("{}\n", registration.token))
}
