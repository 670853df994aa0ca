//! `cw import`.

use std::path::PathBuf;

use clap::Args;

use super::{CommandResult, Context, output};
use crate::service::ImportOptions;
use crate::wire::ImportJson;

/// Import a GSD .planning folder as an initiative with phases, plans and tasks
///
/// Reads ROADMAP.md and phases/*/*-PLAN.md (front matter and <task> blocks). Plans with a
/// SUMMARY file are imported as already merged; checkpoint tasks are marked for the human.
/// Importing again updates everything in place by stable keys and keeps each task's state.
/// A plan file that cannot be read becomes one task for the human (fix it, then import again)
/// and holds back the plans that depend on it; --strict refuses the whole import instead.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The .planning folder, or the folder that contains it
    dir: PathBuf,
    /// Show what would change without writing anything
    #[arg(long)]
    dry_run: bool,
    /// All or nothing: refuse the import if any file cannot be read or any dependency resolved
    #[arg(long)]
    strict: bool,
    /// Drop a depends_on that names nothing, instead of holding its plan for you to fix
    #[arg(long, conflicts_with = "strict")]
    ignore_unresolved: bool,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_import(cx: &Context, args: &ImportArgs) -> CommandResult {
    let service = cx.service()?;
    let dir = if args.dir.is_absolute() { args.dir.clone() } else { cx.start.join(&args.dir) };
    let report = service.import(
        &dir,
        &ImportOptions {
            dry_run: args.dry_run,
            strict: args.strict,
            ignore_unresolved: args.ignore_unresolved,
        },
    )?;
    if args.json {
        return output::json(&ImportJson::from(&report));
    }
    let mut out = String::new();
    let verb = if report.dry_run { "would import" } else { "imported" };
    out.push_str(&format!("{verb} {} ({})\n", report.initiative_title, report.initiative));
    out.push_str(&format!(
        "  {} phases, {} plans; tasks: {} new, {} updated, {} unchanged, {} removed\n",
        report.phases,
        report.plans,
        report.tasks_created,
        report.tasks_updated,
        report.tasks_unchanged,
        report.tasks_removed
    ));
    let states: Vec<String> = report.state_counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    out.push_str(&format!(
        "  states: {}; {} for the human\n",
        states.join(", "),
        report.needs_human
    ));
    if !report.problems.is_empty() {
        let files = if report.problems.len() == 1 { "file" } else { "files" };
        out.push_str(&format!(
            "  {} {files} could not be read (a plan among them is a task for the human now):\n",
            report.problems.len()
        ));
        for problem in &report.problems {
            out.push_str(&format!("    {problem}\n"));
        }
    }
    for skipped in &report.skipped {
        out.push_str(&format!("  skipped {skipped}\n"));
    }
    if !report.next_ready.is_empty() {
        out.push_str("ready next:\n");
        for task in &report.next_ready {
            out.push_str(&format!(
                "  {}  {}\n",
                output::column(&task.id.to_string(), 6),
                task.title
            ));
        }
    }
    output::text(&out)?;
    for warning in &report.warnings {
        output::note(&format!("warning: {}: {}", warning.location, warning.message));
    }
    Ok(())
}
