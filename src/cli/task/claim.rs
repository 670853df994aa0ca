//! `cw task claim`: the claim that MCP's `claim_task` makes, for agents driven by scripts.

use clap::Args;

use crate::cli::{CommandResult, Context, output};
use crate::wire::ClaimJson;

/// Claim the next ready task for the agent whose token is in CW_TOKEN
///
/// Atomic across processes: two agents never get the same task. Prints the task, or nothing
/// (JSON null) when no task is ready; that is not an error. Claiming again returns the task the
/// agent already holds and renews its lease.
#[derive(Debug, Args)]
pub(crate) struct ClaimArgs {
    /// The agent token (from `cw agent register --json`)
    #[arg(long, env = "CW_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the claim as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_claim(cx: &Context, args: &ClaimArgs) -> CommandResult {
    let service = cx.service()?;
    let agent = service.authenticate(args.token.as_deref())?;
    let claim = service.claim(agent.id)?;
    if args.json {
        return output::json(&claim.as_ref().map(ClaimJson::from));
    }
    match claim {
        Some(claim) => Ok(output::text(format!("{}  {}\n", claim.task.id, claim.task.title))?),
        None => {
            output::note("nothing is ready to claim");
            Ok(())
        }
    }
}
