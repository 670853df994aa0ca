//! The database: `.cw/cw.db` through rusqlite with bundled SQLite.
//!
//! Owns: opening (WAL, busy timeout, foreign keys), migrations, every SQL statement, appending
//! `events`, and the change watch other processes wait on.
//! Must not: decide transitions (the service and model do), touch git or processes.
//! Invariants: every function here that changes state appends its event in the same transaction;
//! store functions take a `Tx` and never commit — `Store::write` chooses the scope.

mod agents;
mod error;
mod events;
mod hierarchy;
mod merges;
mod questions;
mod tasks;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};

pub use agents::{AgentProcess, AgentRecord, AgentUsage, NewAgent};
pub use error::StoreError;
pub use events::EventRecord;
pub use hierarchy::{
    InitiativeRecord, InitiativeUpsert, PhaseRecord, PhaseUpsert, PlanRecord, PlanUpsert,
};
pub use merges::{MergeEnd, MergeRecord};
pub use questions::{MessageRecord, QuestionRecord};
pub use tasks::{DepOrigin, NewTask, TaskFilter, TaskRecord, TaskTextUpdate};
pub use watch::ChangeWatch;

/// How long a writer waits for another process's write lock before giving up with `Busy`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Overrides `BUSY_TIMEOUT` (milliseconds), for tests of a locked database and for slow disks.
pub const BUSY_TIMEOUT_ENV: &str = "CW_BUSY_TIMEOUT_MS";

/// The busy timeout in force.
pub fn busy_timeout() -> Duration {
    std::env::var(BUSY_TIMEOUT_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(BUSY_TIMEOUT, Duration::from_millis)
}

/// SQLite's busy handler for every connection: retries a locked database until `busy_timeout`
/// has passed since the first retry. SQLite's own (`busy_timeout`) first sleeps 1 ms, then 2, 5,
/// 10…, while cw's write transactions last well under a millisecond: with a dozen `cw mcp`
/// processes writing at once, a coordinator that lost one race slept longer than the transaction
/// it waited for. This one polls every 50 µs for the first 2 ms, then every 500 µs, then every
/// 5 ms.
fn wait_for_the_write_lock(retries: i32) -> bool {
    thread_local! {
        /// When the current wait started, and when it gives up.
        static WAIT: std::cell::Cell<Option<(Instant, Instant)>> = const { std::cell::Cell::new(None) };
    }
    let now = Instant::now();
    let (since, deadline) = WAIT.with(|wait| {
        // Retry 0 starts a new wait (SQLite counts per statement).
        let current = match wait.get() {
            Some(current) if retries > 0 => current,
            _ => (now, now + busy_timeout()),
        };
        wait.set(Some(current));
        current
    });
    if now >= deadline {
        return false;
    }
    let waited = now.duration_since(since);
    let nap = if waited < Duration::from_millis(2) {
        Duration::from_micros(50)
    } else if waited < Duration::from_millis(50) {
        Duration::from_micros(500)
    } else {
        Duration::from_millis(5)
    };
    std::thread::sleep(nap.min(deadline - now));
    true
}

const MIGRATIONS_SLICE: &[M<'_>] = &[
    M::up(include_str!("migrations/001_initial.sql")),
    M::up(include_str!("migrations/002_deliveries.sql")),
    M::up(include_str!("migrations/003_agents_by_task.sql")),
    M::up(include_str!("migrations/004_id_floors.sql")),
    M::up(include_str!("migrations/005_agent_kind.sql")),
    M::up(include_str!("migrations/006_message_keys.sql")),
    M::up(include_str!("migrations/007_task_keys.sql")),
    M::up(include_str!("migrations/008_drop_agents_by_task.sql")),
    M::up(include_str!("migrations/009_restart_requests.sql")),
    M::up(include_str!("migrations/010_events_by_task.sql")),
];
const MIGRATIONS: Migrations<'_> = Migrations::from_slice(MIGRATIONS_SLICE);

/// SQLite takes an empty file for a new database: opened, cw would start again at `t1` beside
/// the branches and worktrees of the state that was lost. An empty file with a write-ahead log
/// holding its pages is a database not yet checkpointed, and fine.
fn refuse_empty_file(path: &Path) -> Result<(), StoreError> {
    let len = |path: &Path| fs_err::metadata(path).map_or(0, |m| m.len());
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    if len(path) == 0 && len(Path::new(&wal)) == 0 {
        return Err(StoreError::Corrupt {
            path: path.to_owned(),
            cause: "the file is empty (0 bytes): the state it held is lost".to_owned(),
        });
    }
    Ok(())
}

/// The file that keeps this process from writing the database, if one does: the database
/// itself, its directory (SQLite creates its `-wal` and `-shm` files beside it), or a leftover
/// `-wal` or `-shm` file, each asked of the kernel (`access(2)`, which knows about read-only
/// mounts and the user's groups).
pub(crate) fn unwritable(path: &Path) -> Option<PathBuf> {
    use nix::unistd::{AccessFlags, access};
    let writable = |p: &Path| access(p, AccessFlags::W_OK).is_ok();
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    [path.to_owned(), dir.to_owned(), sibling(path, "-shm"), sibling(path, "-wal")]
        .into_iter()
        .find(|p| p.exists() && !writable(p))
}

/// An open database. Safe to share between threads; writes are serialised by SQLite itself.
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// Set when this process cannot write the database: the file in the way. Reads work.
    read_only: Option<PathBuf>,
}

/// A transaction in progress. Store functions take `&Tx` and never commit.
pub struct Tx<'c> {
    inner: rusqlite::Transaction<'c>,
    appended_events: std::cell::Cell<bool>,
}

impl Store {
    /// Creates the database file, applies every migration. Fails if the file exists.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        if path.exists() {
            return Err(StoreError::AlreadyExists { path: path.to_owned() });
        }
        let mut conn = open_connection(path, OpenFlags::default())?;
        MIGRATIONS.to_latest(&mut conn).map_err(|source| StoreError::Migration {
            path: path.to_owned(),
            cause: source.to_string(),
        })?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_owned(), read_only: None })
    }

    /// Opens an existing database and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing { path: path.to_owned() });
        }
        refuse_empty_file(path)?;
        if let Some(culprit) = unwritable(path) {
            return Store::open_read_only(path, culprit);
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = open_connection(path, flags)?;
        // Cheap when up to date: one read of `user_version`.
        MIGRATIONS.to_latest(&mut conn).map_err(|source| StoreError::Migration {
            path: path.to_owned(),
            cause: source.to_string(),
        })?;
        Ok(Store { conn: Mutex::new(conn), path: path.to_owned(), read_only: None })
    }

    /// Opens a database this process cannot write (`culprit` is in the way) for reading; every
    /// write is refused with `StoreError::ReadOnly` naming `culprit`.
    fn open_read_only(path: &Path, culprit: PathBuf) -> Result<Store, StoreError> {
        let migration = |source: rusqlite_migration::Error| StoreError::Migration {
            path: path.to_owned(),
            cause: source.to_string(),
        };
        let mut conn = read_only_connection(path, false)?;
        let pending = match MIGRATIONS.pending_migrations(&conn) {
            Ok(pending) => pending,
            // A WAL database whose -wal and -shm files are gone (its last writer closed it
            // cleanly) cannot be read by SQLite's usual read-only path when it cannot create
            // them. Then the file holds every page, and it is read as immutable: no writer can
            // be mid-way, since a writer would have made the -wal first.
            Err(_) if !sibling(path, "-wal").exists() => {
                conn = read_only_connection(path, true)?;
                MIGRATIONS.pending_migrations(&conn).map_err(migration)?
            }
            Err(err) => return Err(migration(err)),
        };
        let store =
            Store { conn: Mutex::new(conn), path: path.to_owned(), read_only: Some(culprit) };
        if pending > 0 {
            // An older schema must be migrated (a write) before this cw can read it.
            return Err(store.refuse_write());
        }
        Ok(store)
    }

    /// The file that keeps this process from writing, when it opened the database read-only.
    pub fn read_only(&self) -> Option<&Path> {
        self.read_only.as_deref()
    }

    fn refuse_write(&self) -> StoreError {
        let culprit = self.read_only.clone().unwrap_or_else(|| self.path.clone());
        StoreError::ReadOnly { path: self.path.clone(), culprit }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `body` in one `BEGIN IMMEDIATE` transaction and commits it if `body` succeeds.
    /// Other processes waiting on a `ChangeWatch` wake up if events were appended.
    pub fn write<T, E>(&self, body: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if self.read_only.is_some() {
            return Err(self.refuse_write().into());
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        let tx = Tx { inner: tx, appended_events: std::cell::Cell::new(false) };
        let value = body(&tx)?;
        let appended = tx.appended_events.get();
        tx.inner.commit().map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        if appended {
            watch::notify_local(&self.path);
        }
        Ok(value)
    }

    /// Runs `body` in a write transaction and always rolls it back: a dry run that sees exactly
    /// what a real write would.
    pub fn rehearse<T, E>(&self, body: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if self.read_only.is_some() {
            return Err(self.refuse_write().into());
        }
        if self.read_only.is_some() {
            return Err(self.refuse_write().into());
        }
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        let tx = Tx { inner: tx, appended_events: std::cell::Cell::new(false) };
        let value = body(&tx)?;
        tx.inner.rollback().map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        Ok(value)
    }

    /// Runs `body` in a read transaction: a consistent snapshot, no lock held against writers.
    pub fn read<T, E>(&self, body: impl FnOnce(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Deferred)
            .map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        let tx = Tx { inner: tx, appended_events: std::cell::Cell::new(false) };
        let value = body(&tx)?;
        debug_assert!(!tx.appended_events.get(), "invariant: read transactions append no events");
        tx.inner.finish().map_err(|err| StoreError::from_sqlite(err, &self.path))?;
        Ok(value)
    }

    /// A watcher that wakes when any process appends an event to this database.
    pub fn watch(&self) -> Result<ChangeWatch, StoreError> {
        ChangeWatch::open(&self.path)
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: SQLite rolls back the
        // unfinished transaction when the `Transaction` is dropped during unwinding.
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Tx<'_> {
    fn conn(&self) -> &rusqlite::Transaction<'_> {
        &self.inner
    }

    fn mark_event_appended(&self) {
        self.appended_events.set(true);
    }
}

/// `path` with `suffix` appended to its file name (`cw.db` → `cw.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A read-only connection; `immutable` tells SQLite the file cannot change while it is open.
fn read_only_connection(path: &Path, immutable: bool) -> Result<Connection, StoreError> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = if immutable {
        let flags = flags | OpenFlags::SQLITE_OPEN_URI;
        Connection::open_with_flags(format!("file:{}?immutable=1", uri_path(path)), flags)
    } else {
        Connection::open_with_flags(path, flags)
    };
    let conn = conn.map_err(|err| StoreError::from_sqlite(err, path))?;
    conn.busy_handler(Some(wait_for_the_write_lock))
        .and_then(|()| conn.pragma_update(None, "foreign_keys", "ON"))
        .map_err(|err| StoreError::from_sqlite(err, path))?;
    Ok(conn)
}

/// A path as the path part of an SQLite `file:` URI: every byte but unreserved ones and `/`
/// percent-encoded (a `?` or `#` in a directory name must not start the query).
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn open_connection(path: &Path, flags: OpenFlags) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, flags)
        .map_err(|err| StoreError::from_sqlite(err, path))?;
    configure(&conn).map_err(|err| StoreError::from_sqlite(err, path))?;
    Ok(conn)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_handler(Some(wait_for_the_write_lock))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}
