//! `cw init`.

use clap::Args;

use super::{CommandResult, Context, output};
use crate::service::Service;
use crate::wire::InitJson;

/// Set up cw in this git repository
///
/// Creates .cw/ (database, config, logs, operator token), adds it to .git/info/exclude and
/// creates the integration branch from HEAD if it does not exist. Changes nothing if cw is
/// already set up, the directory is not in a git repository, or the repository is bare.
#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_init(cx: &Context, args: &InitArgs) -> CommandResult {
    let report = Service::init(&cx.start)?;
    if args.json {
        return Ok(output::json(&InitJson::from(&report))?);
    }
    let branch = if report.branch_created { "created" } else { "exists" };
    output::text(&format!(
        "initialised cw in {}\n  state:              {}\n  integration branch: {} ({branch})\nnext: cw import .planning   or   cw task add \"<title>\"\n",
        report.root.display(),
        report.cw_dir.display(),
        report.integration_branch,
    ))?;
    Ok(())
}
