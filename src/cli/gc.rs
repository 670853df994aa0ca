//! `cw gc`: clean up merged worktrees without ever losing unmerged work.

use clap::Args;

use super::{CommandResult, Context, output};

/// Remove merged worktrees and branches; archive unmerged work of failed tasks
///
/// Removes merged agent worktrees and their branches, archives the unmerged work of cancelled
/// or failed tasks under refs/cw/archive/, and forgets worktrees whose directories are gone.
#[derive(Debug, Args)]
pub(crate) struct GcArgs {
    /// Say what would be done without doing it
    #[arg(long)]
    dry_run: bool,
    /// Print what was (or would be) done as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_gc(cx: &Context, args: &GcArgs) -> CommandResult {
    let report = cx.service()?.gc(args.dry_run)?;
    if args.json {
        let path = |p: &std::path::PathBuf| p.display().to_string();
        return output::json(&serde_json::json!({
            "dry_run": args.dry_run,
            "archived": report.archived.iter().map(|(branch, archive)| serde_json::json!({ "branch": branch, "archive": archive })).collect::<Vec<_>>(),
            "removed": report.removed.iter().map(|(agent, p, branch)| serde_json::json!({ "agent": agent.to_string(), "worktree": path(p), "branch": branch })).collect::<Vec<_>>(),
            "kept": report.kept.iter().map(|(agent, p, why)| serde_json::json!({ "agent": agent.to_string(), "worktree": path(p), "why": why })).collect::<Vec<_>>(),
            "forgotten": report.pruned.iter().map(path).collect::<Vec<_>>(),
        }));
    }
    let verb = if args.dry_run { "would remove" } else { "removed" };
    let mut out = String::new();
    for (branch, archive) in &report.archived {
        let verb = if args.dry_run { "would archive" } else { "archived" };
        out.push_str(&format!("{verb} {branch} as {archive}\n"));
    }
    for (agent, path, branch) in &report.removed {
        out.push_str(&format!("{verb} {} ({branch}, agent {agent})\n", path.display()));
    }
    for (agent, path, why) in &report.kept {
        out.push_str(&format!("kept {} (agent {agent}): {why}\n", path.display()));
    }
    let verb = if args.dry_run { "would forget" } else { "forgot" };
    for path in &report.pruned {
        out.push_str(&format!("{verb} {} (its directory is gone)\n", path.display()));
    }
    if out.is_empty() {
        out.push_str("nothing to clean up\n");
    }
    output::text(&out)
}
