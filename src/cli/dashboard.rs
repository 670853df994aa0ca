//! `cw dashboard`.

use clap::Args;

use super::{CommandError, CommandResult, Context, output};

/// Print the web dashboard's sign-in link of the running `cw run`
///
/// The link signs a browser in (a session cookie) and then drops its token from the address
/// bar. It changes with every run of cw run; a signed-in browser stays signed in.
#[derive(Debug, Args)]
pub(crate) struct DashboardArgs {
    /// Also open it with the desktop's opener (xdg-open), through a page only you can read
    /// (.cw/dashboard.html), so the link never shows in the process list
    #[arg(long)]
    open: bool,
    /// Print it as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_dashboard(cx: &Context, args: &DashboardArgs) -> CommandResult {
    let service = cx.service()?;
    let url = service.dashboard_url()?;
    if args.open {
        let root = service.workspace().root();
        let page = service.dashboard_opener()?;
        let page = page.to_string_lossy();
        let opened = crate::process::capture("xdg-open".as_ref(), &[&page], root, &[]);
        match opened {
            Ok((crate::process::ExitOutcome::Exited(0), _)) => {}
            Ok((exit, text)) => {
                return Err(CommandError::Failed(format!(
                    "xdg-open could not open the dashboard ({exit}): {}; open the link yourself",
                    text.trim()
                )));
            }
            Err(err) => {
                return Err(CommandError::Failed(format!(
                    "cannot open a browser here ({err}); open the link yourself"
                )));
            }
        }
    }
    if args.json {
        return output::json(&serde_json::json!({ "url": url }));
    }
    output::text(format!("{url}\n"))
}
