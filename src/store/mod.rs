//! The database: SQLite (`.cw/cw.db`, the embedded default) or PostgreSQL (`[store] url`),
//! behind one contract.
//!
//! Owns: opening (`sqlite.rs`, `postgres.rs`), migrations for both (`migrations.rs`), every SQL
//! statement (written once for both engines, `sql.rs`), appending `events`, and the change watch
//! other processes wait on.
//! Must not: decide transitions (the service and model do), touch git or processes.
//! Invariants: every function here that changes state appends its event in the same transaction;
//! store functions take a `Tx` and never commit — `Store::write` chooses the scope; writes are
//! serialised on both engines (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's write lock).

mod agents;
mod copy;
mod error;
mod events;
mod hierarchy;
mod hosts;
mod merges;
mod migrations;
mod pg;
mod questions;
pub(crate) mod sql;
mod sqlite;
mod tasks;
mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::{Connection, TransactionBehavior};

use self::pg::PgConn;
use self::sql::{Row, RowInner, Value};

pub use agents::{AgentProcess, AgentRecord, AgentUsage, NewAgent};
pub use copy::copy_state;
pub use error::StoreError;
pub use events::EventRecord;
pub use hierarchy::{
    InitiativeRecord, InitiativeUpsert, PhaseRecord, PhaseUpsert, PlanRecord, PlanUpsert,
};
pub use hosts::HostRecord;
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

/// Where a repository's state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file (`.cw/cw.db`).
    File(PathBuf),
    /// A PostgreSQL database, as a URL (`postgres://user@host/db`) or key-value string.
    Postgres(String),
}

/// An open database. Safe to share between threads; writes are serialised by the engine.
pub struct Store {
    engine: Engine,
    /// The database as cw names it: its file, or its URL without the password.
    shown: PathBuf,
    /// Set when this process cannot write the database: the file in the way. Reads work.
    read_only: Option<PathBuf>,
}

enum Engine {
    Sqlite(Mutex<Connection>),
    Postgres { conn: Mutex<PgConn>, config: Box<::postgres::Config> },
}

/// A transaction in progress. Store functions take `&Tx` and never commit.
pub struct Tx<'c> {
    conn: TxConn<'c>,
    shown: &'c Path,
    appended_events: std::cell::Cell<bool>,
    /// A statement failed because the connection was lost (PostgreSQL): the transaction may
    /// be run again.
    connection_lost: std::cell::Cell<bool>,
}

enum TxConn<'c> {
    Sqlite(rusqlite::Transaction<'c>),
    Postgres(&'c PgConn),
}

/// Rolls back a PostgreSQL transaction that did not finish (its body failed or panicked), so
/// the connection is clean for the next one.
struct Unfinished<'c>(Option<&'c PgConn>);

impl Drop for Unfinished<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            let _ = conn.finish(false, false);
        }
    }
}

/// How a transaction ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    Write,
    Rehearse,
    Read,
}

impl Store {
    /// Creates the database with every migration applied. Fails if the file exists, or if the
    /// PostgreSQL database already holds cw's state.
    pub fn create_at(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::File(path) => Ok(Store::sqlite(sqlite::create(path)?, path, None)),
            Location::Postgres(url) => Store::postgres(url, true),
        }
    }

    /// Opens an existing database and brings its schema up to date.
    pub fn open_at(location: &Location) -> Result<Store, StoreError> {
        match location {
            Location::File(path) => {
                let (conn, read_only) = sqlite::open(path)?;
                Ok(Store::sqlite(conn, path, read_only))
            }
            Location::Postgres(url) => Store::postgres(url, false),
        }
    }

    /// Creates an SQLite database file.
    pub fn create(path: &Path) -> Result<Store, StoreError> {
        Store::create_at(&Location::File(path.to_owned()))
    }

    /// Opens an SQLite database file.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_at(&Location::File(path.to_owned()))
    }

    fn sqlite(conn: Connection, path: &Path, read_only: Option<PathBuf>) -> Store {
        Store { engine: Engine::Sqlite(Mutex::new(conn)), shown: path.to_owned(), read_only }
    }

    fn postgres(url: &str, fresh: bool) -> Result<Store, StoreError> {
        let config = pg::parse(url)?;
        let conn = PgConn::connect(config.clone())?;
        conn.migrate(fresh)?;
        let shown = conn.shown().to_owned();
        Ok(Store {
            engine: Engine::Postgres { conn: Mutex::new(conn), config: Box::new(config) },
            shown,
            read_only: None,
        })
    }

    /// The file that keeps this process from writing, when it opened the database read-only.
    pub fn read_only(&self) -> Option<&Path> {
        self.read_only.as_deref()
    }

    fn refuse_write(&self) -> StoreError {
        let culprit = self.read_only.clone().unwrap_or_else(|| self.shown.clone());
        StoreError::ReadOnly { path: self.shown.clone(), culprit }
    }

    /// The database as cw names it: its file, or its PostgreSQL URL without the password.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Whether the state is in PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.engine, Engine::Postgres { .. })
    }

    /// Runs `body` in one write transaction (SQLite's `BEGIN IMMEDIATE`, PostgreSQL's write
    /// lock) and commits it if `body` succeeds. Waiters in other processes wake up if events
    /// were appended.
    pub fn write<T, E>(&self, body: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.run(Scope::Write, body)
    }

    /// Runs `body` in a write transaction and always rolls it back: a dry run that sees exactly
    /// what a real write would.
    pub fn rehearse<T, E>(&self, body: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.run(Scope::Rehearse, body)
    }

    /// Runs `body` in a read transaction: a consistent snapshot, no lock held against writers.
    pub fn read<T, E>(&self, body: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        self.run(Scope::Read, body)
    }

    fn run<T, E>(&self, scope: Scope, mut body: impl FnMut(&Tx<'_>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        if scope != Scope::Read && self.read_only.is_some() {
            return Err(self.refuse_write().into());
        }
        let shown = self.shown.as_path();
        match &self.engine {
            Engine::Sqlite(conn) => {
                let mut conn = lock(conn);
                let behavior = match scope {
                    Scope::Write | Scope::Rehearse => TransactionBehavior::Immediate,
                    Scope::Read => TransactionBehavior::Deferred,
                };
                let tx = conn
                    .transaction_with_behavior(behavior)
                    .map_err(|err| StoreError::from_sqlite(err, shown))?;
                let tx = Tx::new(TxConn::Sqlite(tx), shown);
                let value = body(&tx)?;
                let appended = tx.appended_events.get();
                let TxConn::Sqlite(inner) = tx.conn else { unreachable!("an SQLite transaction") };
                let ended = match scope {
                    Scope::Write => inner.commit(),
                    Scope::Rehearse => inner.rollback(),
                    Scope::Read => {
                        debug_assert!(!appended, "invariant: read transactions append no events");
                        inner.finish()
                    }
                };
                ended.map_err(|err| StoreError::from_sqlite(err, shown))?;
                if appended && scope == Scope::Write {
                    watch::notify_local(shown);
                }
                Ok(value)
            }
            Engine::Postgres { conn, .. } => {
                let conn = lock(conn);
                let deadline = Instant::now() + busy_timeout();
                loop {
                    conn.begin(scope != Scope::Read)?;
                    let mut unfinished = Unfinished(Some(&conn));
                    let tx = Tx::new(TxConn::Postgres(&conn), shown);
                    let value = match body(&tx) {
                        Ok(value) => value,
                        // The connection died before COMMIT was sent: the server rolled the
                        // transaction back, so it is run again on a new connection (bodies only
                        // touch the database). A loss at COMMIT itself is not retried: it may
                        // have committed.
                        Err(_) if tx.connection_lost.get() && Instant::now() < deadline => {
                            drop(unfinished);
                            continue;
                        }
                        Err(err) => return Err(err),
                    };
                    let appended = tx.appended_events.get();
                    unfinished.0 = None;
                    conn.finish(scope == Scope::Write, appended && scope == Scope::Write)?;
                    return Ok(value);
                }
            }
        }
    }

    /// A watcher that wakes when any process appends an event to this database.
    pub fn watch(&self) -> Result<ChangeWatch, StoreError> {
        match &self.engine {
            Engine::Sqlite(_) => ChangeWatch::sqlite(&self.shown),
            Engine::Postgres { config, .. } => {
                // Subscribed before reading the newest id: no event can fall between the two.
                let latest = pg::listen(config);
                let seen = self.read(|tx| tx.latest_event_id())?;
                Ok(ChangeWatch::postgres(latest, seen))
            }
        }
    }
}

/// A panic while holding the lock leaves the connection usable: SQLite rolls back the
/// unfinished transaction when the `Transaction` is dropped during unwinding, and `Unfinished`
/// rolls back PostgreSQL's.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<'c> Tx<'c> {
    fn new(conn: TxConn<'c>, shown: &'c Path) -> Tx<'c> {
        Tx {
            conn,
            shown,
            appended_events: std::cell::Cell::new(false),
            connection_lost: std::cell::Cell::new(false),
        }
    }

    fn mark_event_appended(&self) {
        self.appended_events.set(true);
    }

    /// The database as cw names it, for errors.
    fn shown(&self) -> &Path {
        self.shown
    }

    /// Whether this transaction runs on PostgreSQL (for the rare statement spelt differently).
    fn is_postgres(&self) -> bool {
        matches!(self.conn, TxConn::Postgres(_))
    }

    /// Remembers a lost connection (see `Store::run`).
    fn note(&self, err: &StoreError) {
        if err.is_transient() {
            self.connection_lost.set(true);
        }
    }

    fn corrupt(&self, cause: String) -> StoreError {
        StoreError::Corrupt { path: self.shown.to_owned(), cause }
    }

    /// Runs one statement; the number of rows it changed.
    fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        match &self.conn {
            TxConn::Sqlite(tx) => tx
                .prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute(rusqlite::params_from_iter(args)))
                .map(|n| n as u64)
                .map_err(|err| StoreError::from_sqlite(err, self.shown)),
            TxConn::Postgres(conn) => conn.execute(sql, args).inspect_err(|err| self.note(err)),
        }
    }

    /// Runs one query and hands each row to `each`.
    fn query_each(
        &self,
        sql: &str,
        args: &[Value],
        mut each: impl FnMut(&Row<'_>) -> Result<(), String>,
    ) -> Result<(), StoreError> {
        match &self.conn {
            TxConn::Sqlite(tx) => {
                let sqlite = |err| StoreError::from_sqlite(err, self.shown);
                let mut stmt = tx.prepare_cached(sql).map_err(sqlite)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(args)).map_err(sqlite)?;
                while let Some(row) = rows.next().map_err(sqlite)? {
                    each(&Row { inner: RowInner::Sqlite(row) }).map_err(|c| self.corrupt(c))?;
                }
                Ok(())
            }
            TxConn::Postgres(conn) => {
                for row in conn.query(sql, args).inspect_err(|err| self.note(err))? {
                    each(&Row { inner: RowInner::Owned(&row) }).map_err(|c| self.corrupt(c))?;
                }
                Ok(())
            }
        }
    }

    /// Every row of a query, each read by `read`.
    fn query_all<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl Fn(&Row<'_>) -> Result<T, String>,
    ) -> Result<Vec<T>, StoreError> {
        let mut all = Vec::new();
        self.query_each(sql, args, |row| {
            all.push(read(row)?);
            Ok(())
        })?;
        Ok(all)
    }

    /// The first row of a query, if there is one.
    fn query_opt<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl Fn(&Row<'_>) -> Result<T, String>,
    ) -> Result<Option<T>, StoreError> {
        let mut first = None;
        self.query_each(sql, args, |row| {
            if first.is_none() {
                first = Some(read(row)?);
            }
            Ok(())
        })?;
        Ok(first)
    }

    /// The one row a query always gives (an aggregate, a `RETURNING`).
    fn query_one<T>(
        &self,
        sql: &str,
        args: &[Value],
        read: impl Fn(&Row<'_>) -> Result<T, String>,
    ) -> Result<T, StoreError> {
        self.query_opt(sql, args, read)?
            .ok_or_else(|| self.corrupt(format!("no row from: {}", sql.trim())))
    }
}
