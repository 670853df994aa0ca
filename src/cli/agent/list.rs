//! `cw agent list`.

use clap::Args;

use crate::cli::{CommandResult, Context, output};
use crate::wire::AgentJson;

/// List agents with their state and task
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print the agents as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_list(cx: &Context, args: &ListArgs) -> CommandResult {
    let agents = cx.service()?.agents()?;
    if args.json {
        return Ok(output::json(&agents.iter().map(AgentJson::from).collect::<Vec<_>>())?);
    }
    if agents.is_empty() {
        return Ok(output::text("no agents (cw agent register creates one)\n")?);
    }
    let mut out = String::new();
    for agent in &agents {
        let task = agent.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
        out.push_str(&format!(
            "{} {} {}  {}\n",
            output::column(&agent.id.to_string(), 6),
            output::column(agent.state.as_str(), 9),
            output::column(&task, 6),
            agent.name
        ));
    }
    Ok(output::text(&out)?)
}
