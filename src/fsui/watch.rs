//! Keeping the mirror in sync until cancelled: a sync at start (edits made while cw was not
//! running), then one whenever the database changes (any process) or a mirror file is saved.
//!
//! File events come from `notify` through `notify-debouncer-full`, which coalesces an editor's
//! burst (write in place, truncate and write, a temp file renamed over the original, a backup
//! renamed away) into one batch after 50 ms of quiet. Only `.md` files that are not cw's notes,
//! editors' swap or backup files, or content cw itself just wrote (compared by hash) count. If
//! the watch cannot be set up (inotify's watch limit) or reports lost events, the folders are
//! scanned every two seconds instead.

use std::path::Path;
use std::sync::mpsc::{RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use super::{Mirror, SyncReport};
use crate::service::{Service, ServiceError};

/// How long the debouncer waits for a burst of file events to end.
const QUIET: Duration = Duration::from_millis(50);
/// How often, without working file events, the folders are scanned.
const SCAN_EVERY: Duration = Duration::from_secs(2);
/// How often the database's change counter is read between file events.
const POLL: Duration = Duration::from_millis(20);

/// Syncs until `cancel`; `report` hears every sync that did something.
pub fn run(
    service: &Service,
    cancel: &CancellationToken,
    report: &mut dyn FnMut(&SyncReport),
) -> Result<(), ServiceError> {
    let mirror = Mirror::new(service);
    let mut sync = |why: &str| -> Result<(), ServiceError> {
        let done = mirror.sync()?;
        debug!(why, written = done.written, applied = done.applied.len(), "mirror synced");
        if !done.applied.is_empty() || !done.problems.is_empty() {
            report(&done);
        }
        Ok(())
    };
    // Both watches exist before the first sync: a change made while it runs is seen after it.
    let mut changes = service.watch_changes()?;
    let (send, events) = channel::<DebounceEventResult>();
    let mut watching = match new_debouncer(QUIET, None, send) {
        Ok(debouncer) => Some(debouncer),
        Err(err) => {
            warn!(cause = %err, "cannot watch the mirror files; scanning every 2 s instead");
            None
        }
    };
    // A folder that cannot be watched (none exists yet, the watch limit) is scanned instead.
    let mut scanning = watching.is_none();
    if let Some(debouncer) = watching.as_mut() {
        for dir in mirror.watched_dirs() {
            let made = fs_err::create_dir_all(&dir);
            if let Err(err) = made
                .map_err(notify::Error::io)
                .and_then(|()| debouncer.watch(&dir, RecursiveMode::Recursive))
            {
                warn!(dir = %dir.display(), cause = %err, "cannot watch; scanning every 2 s instead");
                scanning = true;
            }
        }
    }
    sync("start")?;
    let mut last_scan = Instant::now();
    while !cancel.is_cancelled() {
        let mut why = None;
        match events.recv_timeout(POLL) {
            Ok(Ok(batch)) => {
                // Reads are events too (inotify's open and close): cw's own reads of 1,000 files
                // would wake it again forever. Only writes, creations, renames and removals count.
                let saved = batch
                    .iter()
                    .filter(|e| !e.kind.is_access() && !e.kind.is_other())
                    .flat_map(|e| e.paths.iter())
                    .any(|p| mirror.is_human_edit(p));
                if saved {
                    why = Some("a file was saved");
                }
            }
            Ok(Err(errors)) => {
                warn!(errors = ?errors, "file events were lost; rescanning");
                why = Some("events were lost");
            }
            Err(RecvTimeoutError::Timeout) => {}
            // No watcher at all: the wait the channel gave is taken here instead.
            Err(RecvTimeoutError::Disconnected) => {
                scanning = true;
                std::thread::sleep(POLL);
            }
        }
        if scanning && last_scan.elapsed() >= SCAN_EVERY {
            why = Some("scan");
        }
        if changes.poll()?.is_some() {
            why = Some("the database changed");
        }
        if let Some(why) = why {
            sync(why)?;
            last_scan = Instant::now();
        }
    }
    drop(watching);
    Ok(())
}

impl Mirror<'_> {
    /// True when `path` is a mirror file whose content is not what cw last wrote there.
    fn is_human_edit(&self, path: &Path) -> bool {
        if path.extension().is_none_or(|e| e != "md") || super::is_cw_note(path) {
            return false;
        }
        let now = fs_err::read(path).ok().map(|bytes| super::content_hash(&bytes));
        self.written.borrow().get(path).copied() != now || now.is_none()
    }
}
