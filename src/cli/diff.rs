//! `cw diff`: an agent's changes against the integration branch.

use clap::Args;

use super::{CommandResult, Context, output};

/// Show what an agent changed against the integration branch
///
/// Its branch against the integration branch, then anything uncommitted in its worktree; after
/// the merge, what the merge brought in.
#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// A task (t3: its latest agent) or an agent (a2)
    #[arg(add = crate::cli::completions::task_or_agent_ids())]
    target: String,
    /// Print the agent, its branch and the patch as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_diff(cx: &Context, args: &DiffArgs) -> CommandResult {
    let service = cx.service()?;
    let agent = service.agent_for_target(&args.target)?;
    let patch = service.agent_diff(&agent)?;
    if args.json {
        return output::json(&serde_json::json!({
            "agent": agent.id.to_string(),
            "branch": agent.branch,
            "base": service.config().integration_branch,
            "patch": patch,
        }));
    }
    if patch.is_empty() {
        output::note(&format!(
            "{} has no changes against {}",
            agent.branch.unwrap_or_default(),
            service.config().integration_branch
        ));
        return Ok(());
    }
    output::text(&patch)
}
