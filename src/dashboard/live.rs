//! The live parts of the dashboard, rendered once per change for every open page.
//!
//! One thread waits on the store's change watch (any process's write wakes it) and, while at
//! least one page follows, renders the shared fragments (`run`, `needs`, `board`, `graph`,
//! `charts`); each open page's event stream gets the newest set. Ten open dashboards cost one
//! render per change, not ten; none open cost nothing (a page and a new stream render their
//! first view themselves). Renders are spaced by at least twice the last one's time, so a burst
//! of changes in a big plan never takes more than a third of a core from the agents. A page
//! showing one task or agent adds that part, rendered for it alone.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::render;
use crate::service::{Caller, Service, Via};
use crate::store::TaskFilter;

/// The shared fragments: element id → HTML, as the JSON an update event carries.
pub(super) type Parts = serde_json::Map<String, serde_json::Value>;

/// The least time between two renders: a burst of changes (an import, a merge wave) costs one
/// render per interval, and a change still shows well within the 150 ms an eye calls instant.
const MIN_INTERVAL: Duration = Duration::from_millis(40);

/// Starts the render thread; it ends with `stop`. The receiver is the pages' to clone: it is
/// not counted as a follower.
pub(super) fn start(service: Arc<Service>, stop: CancellationToken) -> watch::Receiver<Arc<Parts>> {
    let (send, receive) = watch::channel(Arc::new(Parts::new()));
    std::thread::Builder::new()
        .name("cw-dashboard".to_owned())
        .spawn(move || {
            let Ok(mut changes) = service.watch_changes() else { return };
            while !stop.is_cancelled() {
                match service.wait_for_change(&mut changes, Duration::from_millis(250)) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(err) => {
                        tracing::warn!(cause = %err, "the dashboard stopped following changes");
                        return;
                    }
                }
                if send.receiver_count() <= 1 {
                    continue;
                }
                let started = std::time::Instant::now();
                match shared_parts(&service) {
                    Ok(parts) => {
                        if send.send(Arc::new(parts)).is_err() {
                            return;
                        }
                    }
                    Err(err) => tracing::warn!(cause = %err, "cannot render the dashboard"),
                }
                std::thread::sleep(MIN_INTERVAL.max(started.elapsed() * 2));
            }
        })
        .map_or_else(
            |err| tracing::warn!(cause = %err, "the dashboard cannot follow changes"),
            drop,
        );
    receive
}

/// The header's run line, "needs you" and the board.
pub(super) fn shared_parts(service: &Service) -> Result<Parts, crate::service::ServiceError> {
    let caller = Caller::Operator(Via::Dashboard);
    let listing = service.list_tasks(&TaskFilter::default())?;
    let report = service.status(&caller, 0)?;
    let questions = service.open_questions(&caller)?;
    let now = service.now();
    let mut parts = Parts::new();
    let mut put = |id: &str, markup: maud::Markup| {
        parts.insert(id.to_owned(), markup.into_string().into());
    };
    let headroom = service.config().run.memory_headroom_mb;
    let memory = crate::process::available_memory().map(|bytes| (bytes / (1024 * 1024), headroom));
    put("run", render::run_line(&report, &listing, memory));
    // A bounce stops mattering once its task has moved on (merged, or queued again).
    let bounced: Vec<_> = report
        .recent_merges
        .iter()
        .filter(|m| m.state != crate::model::MergeState::Merged)
        .filter(|m| {
            listing
                .tasks
                .iter()
                .any(|t| t.id == m.task && t.state == crate::model::TaskState::Conflict)
        })
        .collect();
    put("needs", render::needs_you(&questions, &render::failed(&listing), &bounced));
    put("board", render::board(&listing, now));
    put("graph", super::graph::graph(&listing));
    let merges = service.merge_history()?;
    put("charts", super::charts::charts(&merges, &report.agents, report.total, now));
    Ok(parts)
}
