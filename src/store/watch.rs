//! The change watch: wake when any process appends to `events`.
//!
//! Across processes, a dedicated read connection polls `PRAGMA data_version` (it changes when
//! another connection commits; reading it touches no pages) and only then reads the newest event
//! id. In-process writers also bump a `tokio::sync::watch` channel per database path, so waiters
//! in the same process wake at once instead of on the next poll.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::watch;

use super::StoreError;

/// Waits for new events in one database. Each waiter owns one (it holds its own connection).
pub struct ChangeWatch {
    conn: Connection,
    path: PathBuf,
    local: watch::Receiver<u64>,
    data_version: i64,
    last_seen: i64,
}

impl ChangeWatch {
    pub(super) fn open(path: &Path) -> Result<ChangeWatch, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .and_then(|conn| conn.busy_handler(Some(super::wait_for_the_write_lock)).map(|()| conn))
            .map_err(|err| StoreError::from_sqlite(err, path))?;
        let local = local_channel(path).subscribe();
        let mut this =
            ChangeWatch { conn, path: path.to_owned(), local, data_version: -1, last_seen: 0 };
        this.data_version = this.read_data_version()?;
        this.last_seen = this.read_latest_event_id()?;
        Ok(this)
    }

    /// The newest event id this watcher has seen.
    pub fn last_seen(&self) -> i64 {
        self.last_seen
    }

    /// Checks once, without waiting. Returns the newest event id if it moved since last time.
    pub fn poll(&mut self) -> Result<Option<i64>, StoreError> {
        let local_moved = self.local.has_changed().unwrap_or(false);
        let version = self.read_data_version()?;
        if !local_moved && version == self.data_version {
            return Ok(None);
        }
        self.local.mark_unchanged();
        self.data_version = version;
        let latest = self.read_latest_event_id()?;
        if latest > self.last_seen {
            self.last_seen = latest;
            return Ok(Some(latest));
        }
        Ok(None)
    }

    /// Waits until a new event appears (returns its id) or `timeout` passes (returns `None`).
    /// Wakes immediately for writes from this process; polls every `poll_every` for others.
    pub async fn changed(
        &mut self,
        poll_every: Duration,
        timeout: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(id) = self.poll()? {
                return Ok(Some(id));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let nap = poll_every.min(deadline - now);
            tokio::select! {
                _ = self.local.changed() => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// The blocking form of [`ChangeWatch::changed`], for threads outside a runtime.
    pub fn wait_blocking(
        &mut self,
        poll_every: Duration,
        timeout: Duration,
    ) -> Result<Option<i64>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(id) = self.poll()? {
                return Ok(Some(id));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(poll_every.min(deadline - now));
        }
    }

    fn read_data_version(&self) -> Result<i64, StoreError> {
        // Cached: this runs every few milliseconds, and preparing it costs more than running it.
        self.conn
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|err| StoreError::from_sqlite(err, &self.path))
    }

    fn read_latest_event_id(&self) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached("SELECT coalesce(max(id), 0) FROM events")
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|err| StoreError::from_sqlite(err, &self.path))
    }
}

/// Tells same-process watchers of `path` that a transaction with events just committed.
pub(super) fn notify_local(path: &Path) {
    local_channel(path).send_modify(|generation| *generation = generation.wrapping_add(1));
}

fn local_channel(path: &Path) -> watch::Sender<u64> {
    static CHANNELS: OnceLock<Mutex<HashMap<PathBuf, watch::Sender<u64>>>> = OnceLock::new();
    let channels = CHANNELS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut channels = channels.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    channels.entry(path.to_owned()).or_insert_with(|| watch::channel(0).0).clone()
}
