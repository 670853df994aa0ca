//! `cw mirror`: the file mirror on its own, without agents.

use clap::Args;
use tokio_util::sync::CancellationToken;

use super::{CommandResult, Context, output};
use crate::fsui::{self, Mirror, SyncReport};

/// Sync the files under .cw/ with the state, both ways
///
/// Once, or with --watch until Ctrl-C.
///
/// Open questions are .cw/inbox/<id>.md (write under "## Answer" and save), each agent has
/// .cw/agents/<id>/inbox.md (write below its line and save to send a message) and status.md,
/// and .cw/STATUS.md shows the whole run. cw run keeps these in sync itself ([mirror] enabled).
#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {
    /// Keep syncing as files are saved and the state changes, until Ctrl-C
    #[arg(long)]
    watch: bool,
}

pub(crate) fn cmd_mirror(cx: &Context, args: &MirrorArgs) -> CommandResult {
    let service = cx.service()?;
    if !args.watch {
        let report = Mirror::new(&service).sync()?;
        let mut out = describe(&report);
        out.push_str(&format!("{} file(s) written under .cw/\n", report.written));
        return output::text(&out);
    }
    output::note("cw: mirroring .cw/ (Ctrl-C to stop)");
    let cancel = CancellationToken::new();
    let on_signal = cancel.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
        if let Ok(runtime) = runtime {
            runtime.block_on(async {
                let _ = crate::shutdown::first_signal().await;
            });
        }
        on_signal.cancel();
    });
    fsui::watch::run(&service, &cancel, &mut |report| output::note(describe(report).trim_end()))?;
    Ok(())
}

/// One line per edit applied and per file not applied.
pub(crate) fn describe(report: &SyncReport) -> String {
    let mut out = String::new();
    for applied in &report.applied {
        out.push_str(&format!("{applied}\n"));
    }
    for problem in &report.problems {
        out.push_str(&format!("not applied: {problem}\n"));
    }
    out
}
