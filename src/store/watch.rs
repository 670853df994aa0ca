//! The change watch: wake when any process appends to `events`.
//!
//! SQLite: across processes, a dedicated read connection polls `PRAGMA data_version` (it changes
//! when another connection commits; reading it touches no pages) and only then reads the newest
//! event id. In-process writers also bump a `tokio::sync::watch` channel per database path, so
//! waiters in the same process wake at once instead of on the next poll.
//!
//! PostgreSQL: no polling. The process's listening connection (`pg::listen`) publishes the
//! newest event id every commit announces, and each watch compares it with what it last saw.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::watch;

use super::StoreError;

/// Waits for new events in one database. Each waiter owns one.
pub struct ChangeWatch {
    source: Source,
    last_seen: i64,
}

enum Source {
    /// Its own read connection, and this process's writers' signal.
    Sqlite { conn: Connection, path: PathBuf, local: watch::Receiver<u64>, data_version: i64 },
    /// The newest event id the process's listener heard of.
    Postgres { latest: watch::Receiver<i64> },
}

impl ChangeWatch {
    pub(super) fn sqlite(path: &Path) -> Result<ChangeWatch, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags)
            .and_then(|conn| {
                conn.busy_handler(Some(super::sqlite::wait_for_the_write_lock)).map(|()| conn)
            })
            .map_err(|err| StoreError::from_sqlite(err, path))?;
        let local = local_channel(path).subscribe();
        let source = Source::Sqlite { conn, path: path.to_owned(), local, data_version: -1 };
        let mut this = ChangeWatch { source, last_seen: 0 };
        let version = this.read_data_version()?;
        if let Source::Sqlite { data_version, .. } = &mut this.source {
            *data_version = version;
        }
        this.last_seen = this.read_latest_event_id()?;
        Ok(this)
    }

    pub(super) fn postgres(latest: watch::Receiver<i64>, seen: i64) -> ChangeWatch {
        ChangeWatch { source: Source::Postgres { latest }, last_seen: seen }
    }

    /// The newest event id this watcher has seen.
    pub fn last_seen(&self) -> i64 {
        self.last_seen
    }

    /// Checks once, without waiting. Returns the newest event id if it moved since last time.
    pub fn poll(&mut self) -> Result<Option<i64>, StoreError> {
        let latest = match &mut self.source {
            Source::Postgres { latest } => *latest.borrow_and_update(),
            Source::Sqlite { .. } => {
                let version = self.read_data_version()?;
                let Source::Sqlite { local, data_version, .. } = &mut self.source else {
                    unreachable!("matched above")
                };
                let local_moved = local.has_changed().unwrap_or(false);
                if !local_moved && version == *data_version {
                    return Ok(None);
                }
                local.mark_unchanged();
                *data_version = version;
                self.read_latest_event_id()?
            }
        };
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
            match &mut self.source {
                Source::Sqlite { local, .. } => tokio::select! {
                    _ = local.changed() => {}
                    () = tokio::time::sleep(nap) => {}
                },
                // Only the listener wakes it: the timeout alone bounds the wait.
                Source::Postgres { latest } => {
                    let _ = tokio::time::timeout(deadline - now, latest.changed()).await;
                }
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
        self.sqlite_value("PRAGMA data_version")
    }

    fn read_latest_event_id(&self) -> Result<i64, StoreError> {
        self.sqlite_value("SELECT coalesce(max(id), 0) FROM events")
    }

    fn sqlite_value(&self, sql: &str) -> Result<i64, StoreError> {
        let Source::Sqlite { conn, path, .. } = &self.source else {
            unreachable!("only SQLite watches read their own connection")
        };
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.query_row([], |row| row.get(0)))
            .map_err(|err| StoreError::from_sqlite(err, path))
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
