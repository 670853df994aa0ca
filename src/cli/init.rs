//! `cw init`.

use clap::Args;

use super::{CommandResult, Context, output};
use crate::service::Service;
use crate::wire::InitJson;

/// Set up cw in this git repository
///
/// Creates .cw/ (database, config, logs, operator token), adds it to .git/info/exclude and
/// creates the integration branch from HEAD if it does not exist. In a .cw/ that lost its
/// database or operator token, makes just those again (a new database's ids continue after the
/// ones cw's branches and worktrees carry). Changes nothing (and succeeds) if cw is already set
/// up; refuses a directory that is not in a git repository, or a bare repository.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Keep the state in this PostgreSQL database (postgres://user@host:port/db, one database
    /// per repository) instead of .cw/cw.db; written to [store] url
    #[arg(long, value_name = "URL")]
    store: Option<String>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_init(cx: &Context, args: &InitArgs) -> CommandResult {
    let report = Service::init_with_store(&cx.start, args.store.as_deref())?;
    if args.json {
        return output::json(&InitJson::from(&report));
    }
    if report.unchanged {
        output::note(&format!(
            "cw is already set up in {}; nothing changed",
            report.root.display()
        ));
        return Ok(());
    }
    let branch = if report.branch_created { "created" } else { "exists" };
    if !report.repaired.is_empty() {
        let made: Vec<String> = report.repaired.iter().map(|p| p.display().to_string()).collect();
        output::text(format!(
            "repaired cw in {}: made again {} (nothing else was touched)\n  integration branch: {} ({branch})\n",
            report.root.display(),
            made.join(", "),
            report.integration_branch,
        ))?;
        return Ok(());
    }
    output::text(format!(
        "initialised cw in {}\n  state:              {}\n  integration branch: {} ({branch})\nnext: cw import .planning   or   cw task add \"<title>\"\n",
        report.root.display(),
        report.cw_dir.display(),
        report.integration_branch,
    ))?;
    Ok(())
}
