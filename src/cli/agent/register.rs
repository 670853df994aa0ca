//! `cw agent register`.

use clap::Args;

use crate::cli::task::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::wire::RegistrationJson;

/// Create an identity for an agent you start yourself; prints its id and secret token
///
/// Give the token to the agent as CW_TOKEN. It is shown only once; cw stores only its hash.
#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// A name to recognise the agent by
    #[arg(long, default_value = "agent")]
    name: String,
    /// Bind the agent to one task: it can only claim that task
    #[arg(long)]
    task: Option<String>,
    /// Print {id, token} as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_register(cx: &Context, args: &RegisterArgs) -> CommandResult {
    let task = args.task.as_deref().map(task_id).transpose()?;
    let registration = cx.service()?.register_agent(&args.name, task)?;
    if args.json {
        return Ok(output::json(&RegistrationJson::from(&registration))?);
    }
    output::note(&format!(
        "registered agent {} ({}); its token is shown only once:",
        registration.agent.id, registration.agent.name
    ));
    Ok(output::text(&format!("{}\n", registration.token))?)
}
