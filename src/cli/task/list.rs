//! `cw task list`: the hierarchy (initiative → phase → plan → task) with states and dependencies.

use std::collections::HashMap;

use clap::Args;

use crate::cli::output::{self, Doc, Style};
use crate::cli::{CommandResult, Context};
use crate::model::{PlanId, TaskState};
use crate::service::TaskListing;
use crate::store::{TaskFilter, TaskRecord};
use crate::wire::TaskJson;

/// List tasks grouped by initiative, phase and plan, with their states and dependencies
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only tasks in this state (pending, ready, claimed, waiting, done, merging, conflict, merged,
    /// failed, cancelled)
    #[arg(long, value_parser = parse_state)]
    state: Option<TaskState>,
    /// Only ready tasks (same as --state ready)
    #[arg(long, conflicts_with = "state")]
    ready: bool,
    /// Print a flat JSON array of tasks
    #[arg(long)]
    json: bool,
}

fn parse_state(text: &str) -> Result<TaskState, String> {
    text.parse()
}

pub(crate) fn cmd_list(cx: &Context, args: &ListArgs) -> CommandResult {
    let state = if args.ready { Some(TaskState::Ready) } else { args.state };
    let service = cx.service()?;
    let listing = service.list_tasks(&TaskFilter { state, plan: None })?;
    if args.json {
        let tasks: Vec<TaskJson> = listing
            .tasks
            .iter()
            .map(|t| {
                TaskJson::new(t, listing.dependencies.get(&t.id).map(Vec::as_slice).unwrap_or(&[]))
            })
            .collect();
        return output::json(&tasks);
    }
    if listing.tasks.is_empty() {
        let hint = if state.is_some() {
            "no tasks in that state\n"
        } else {
            "no tasks yet: cw import .planning   or   cw task add \"<title>\"\n"
        };
        return output::text(hint);
    }
    output::text(render_tree(&listing))
}

/// Renders tasks under their plan, phase and initiative headings.
fn render_tree(listing: &TaskListing) -> Doc {
    let mut by_plan: HashMap<Option<PlanId>, Vec<&TaskRecord>> = HashMap::new();
    for task in &listing.tasks {
        by_plan.entry(task.plan).or_default().push(task);
    }
    let mut out = Doc::new();
    for initiative in &listing.initiatives {
        let mut initiative_text = Doc::new();
        for phase in listing.phases.iter().filter(|p| p.initiative == initiative.id) {
            let mut phase_text = Doc::new();
            for plan in listing.plans.iter().filter(|p| p.phase == Some(phase.id)) {
                let Some(tasks) = by_plan.remove(&Some(plan.id)) else { continue };
                let wave = plan.wave.map(|w| format!(", wave {w}")).unwrap_or_default();
                let key = plan.key.as_deref().unwrap_or("");
                phase_text.plain(&format!("    {key} {}  ({}{wave})\n", plan.title, plan.id));
                render_tasks(&mut phase_text, &tasks, listing, "      ");
            }
            if !phase_text.is_empty() {
                let heading = format!("  Phase {}: {}", phase.number, phase.title);
                initiative_text.paint(Style::Strong, &heading);
                initiative_text.plain(&format!("  ({})\n", phase.id)).append(phase_text);
            }
        }
        if !initiative_text.is_empty() {
            out.paint(Style::Strong, &initiative.title);
            out.plain(&format!("  ({})\n", initiative.id)).append(initiative_text);
        }
    }
    // Plans typed in without a phase, then tasks without a plan.
    for plan in listing.plans.iter().filter(|p| p.phase.is_none()) {
        if let Some(tasks) = by_plan.remove(&Some(plan.id)) {
            out.plain(&format!("{}  ({})\n", plan.title, plan.id));
            render_tasks(&mut out, &tasks, listing, "  ");
        }
    }
    if let Some(tasks) = by_plan.remove(&None) {
        out.paint(Style::Strong, "Tasks without a plan").plain("\n");
        render_tasks(&mut out, &tasks, listing, "  ");
    }
    out
}

fn render_tasks(out: &mut Doc, tasks: &[&TaskRecord], listing: &TaskListing, indent: &str) {
    for task in tasks {
        let deps = listing.dependencies.get(&task.id).map(Vec::as_slice).unwrap_or(&[]);
        let after = match deps.len() {
            0 => String::new(),
            1..=4 => format!(
                "  ← {}",
                deps.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            n => format!(
                "  ← {} +{} more",
                deps[..3].iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                n - 3
            ),
        };
        out.plain(indent).paint(Style::Id, &output::column(&task.id.to_string(), 6)).plain(" ");
        out.paint(Style::of_state(task.state), &output::column(task.state.as_str(), 9));
        out.plain(" ").plain(output::column(&task.title, 64).trim_end());
        if task.needs_human {
            out.plain(" ").paint(Style::Attention, "[human]");
        }
        out.plain(&after).plain("\n");
    }
}
