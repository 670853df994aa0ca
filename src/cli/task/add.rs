//! `cw task add`.

use clap::Args;

use super::task_id;
use crate::cli::{CommandResult, Context, output};
use crate::model::PlanId;
use crate::service::{AddTask, Caller, PlanRef};
use crate::wire::TaskDetailJson;

/// Add a task; it is ready at once unless it waits for tasks given with --after
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// What to do, in one line (a title with a newline or a control character is refused)
    title: String,
    /// Details for the agent: context, approach, constraints
    #[arg(long, short)]
    description: Option<String>,
    /// The plan it belongs to: a plan id (p3) or an imported plan key (01-02)
    #[arg(long)]
    plan: Option<String>,
    /// A task that must be merged first (repeatable)
    #[arg(long, value_name = "TASK")]
    after: Vec<String>,
    /// Dispatch priority: 0 is most urgent, default 2
    #[arg(long, value_parser = clap::value_parser!(i64).range(0..=crate::model::MAX_PRIORITY))]
    priority: Option<i64>,
    /// Print the new task as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_add(cx: &Context, args: &AddArgs) -> CommandResult {
    let after = args.after.iter().map(|a| task_id(a)).collect::<Result<Vec<_>, _>>()?;
    let plan = args.plan.as_deref().map(|text| match text.parse::<PlanId>() {
        Ok(id) => PlanRef::Id(id),
        Err(_) => PlanRef::Key(text.to_owned()),
    });
    let service = cx.service()?;
    let request = AddTask {
        title: args.title.clone(),
        description: args.description.clone().unwrap_or_default(),
        plan,
        after,
        priority: args.priority,
        dedupe_key: None,
    };
    let task = service.add_task(&Caller::CLI, &request)?;
    if args.json {
        let detail = service.task(task.id)?;
        return output::json(&TaskDetailJson::from(&detail));
    }
    output::text(format!("{}  {}  {}\n", task.id, task.state, task.title))
}
