//! `cw agent list`.

use clap::Args;

use crate::cli::output::{self, Doc, Style};
use crate::cli::{CommandResult, Context};
use crate::model::AgentState;
use crate::service::Caller;
use crate::wire::AgentJson;

/// List agents with their state and task
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print the agents as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_list(cx: &Context, args: &ListArgs) -> CommandResult {
    let service = std::sync::Arc::new(cx.service()?);
    // Agents whose process ended while nobody watched get their end recorded now.
    crate::agent::AgentRuntime::for_current_exe(service.clone())?.adopt_all()?;
    let agents = service.list_agents(&Caller::CLI)?;
    if args.json {
        return output::json(&agents.iter().map(AgentJson::from).collect::<Vec<_>>());
    }
    if agents.is_empty() {
        return output::text("no agents (`cw agent spawn <task>` starts one)\n");
    }
    let mut out = Doc::new();
    for agent in &agents {
        let task = agent
            .task
            .or(agent.bound_task)
            .map(|t| t.to_string())
            .unwrap_or_else(|| "-".to_owned());
        let process = match (&agent.process, &agent.exit_status) {
            (Some(p), _) => format!("pid {}", p.pid),
            (None, Some(status)) => status.clone(),
            (None, None) => String::new(),
        };
        out.paint(Style::Id, &output::column(&agent.id.to_string(), 6)).plain(" ");
        out.paint(agent_style(agent.state), &output::column(agent.state.as_str(), 9)).plain(" ");
        out.paint(Style::Id, &output::column(&task, 6));
        out.plain(&format!(
            " {} ${:.4}  {}\n",
            output::column(agent.branch.as_deref().unwrap_or(&agent.name), 32),
            agent.usage.cost_usd,
            process
        ));
    }
    output::text(out)
}

/// Live agents in the colour of work, stopped ones dim, failed ones red.
fn agent_style(state: AgentState) -> Style {
    match state {
        AgentState::Crashed => Style::Bad,
        AgentState::Waiting => Style::Attention,
        state if state.is_live() => Style::Busy,
        _ => Style::Dim,
    }
}
