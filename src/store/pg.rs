//! The shared engine: PostgreSQL, for state several hosts reach (`[store] url`).
//!
//! Each connection is owned by a thread of its own, and callers hand it one statement at a time.
//! The `postgres` client drives its socket with a runtime of its own, which must never be started
//! inside another: cw calls the store from inside tokio (MCP handlers, the dashboard) as well as
//! from plain threads, and a thread hop per statement is small beside the network round trip.
//!
//! Writes are serialised exactly as SQLite serialises them: each write transaction first takes
//! one transaction-scoped advisory lock. Every store function was written for a single writer
//! (ids one above the highest, guarded state moves, the ready counters), and so keeps its
//! meaning on PostgreSQL unchanged; a claim is still one transaction that two agents can never
//! both win. Reads are `REPEATABLE READ` snapshots and take no lock.
//!
//! A commit that appended events also sends `NOTIFY cw_events` with the newest event id; each
//! process keeps one listening connection per database (`listen`) that wakes its waiters.
//!
//! A connection lost between transactions (the server restarted) is made again with backoff
//! before the next transaction begins, for up to the busy timeout; one lost inside a transaction
//! fails that transaction, which is rolled back by the server.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Config, NoTls, Statement};
use tokio::sync::watch;

use super::StoreError;
use super::migrations::MIGRATIONS;
use super::sql::{Value, postgres_text};

/// The advisory lock every write transaction takes (any constant; one database, one cw).
const WRITE_LOCK: i64 = 0x6377_7772; // "cwwr"
/// The advisory lock migrations take, so two processes opening a new database do not race.
const MIGRATION_LOCK: i64 = 0x6377_6d67; // "cwmg"
/// The channel commits with events notify.
const CHANNEL: &str = "cw_events";

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                #[expect(clippy::cast_precision_loss, reason = "whole numbers stored as reals")]
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                _ => i.to_string().as_str().to_sql(ty, out),
            },
            Value::Real(r) => match *ty {
                #[expect(clippy::cast_possible_truncation, reason = "the column is single")]
                Type::FLOAT4 => (*r as f32).to_sql(ty, out),
                _ => r.to_sql(ty, out),
            },
            Value::Text(t) => t.as_str().to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A row's cells as cw's four kinds of value.
fn owned_row(row: &postgres::Row) -> Result<Vec<Value>, postgres::Error> {
    let mut cells = Vec::with_capacity(row.len());
    for (index, column) in row.columns().iter().enumerate() {
        let cell = match *column.type_() {
            Type::INT8 => row.try_get::<_, Option<i64>>(index)?.map(Value::Int),
            Type::INT4 => row.try_get::<_, Option<i32>>(index)?.map(|i| Value::Int(i.into())),
            Type::INT2 => row.try_get::<_, Option<i16>>(index)?.map(|i| Value::Int(i.into())),
            Type::BOOL => row.try_get::<_, Option<bool>>(index)?.map(|b| Value::Int(b.into())),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(index)?.map(Value::Real),
            Type::FLOAT4 => row.try_get::<_, Option<f32>>(index)?.map(|r| Value::Real(r.into())),
            _ => row.try_get::<_, Option<String>>(index)?.map(Value::Text),
        };
        cells.push(cell.unwrap_or(Value::Null));
    }
    Ok(cells)
}

/// A database URL as cw shows it: user, host, port and database, never the password.
pub(super) fn shown(config: &Config) -> PathBuf {
    use postgres::config::Host;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        Some(Host::Unix(dir)) => dir.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = config.get_dbname().unwrap_or_default();
    PathBuf::from(format!("postgres://{user}{host}:{port}/{db}"))
}

/// Parses a URL (`postgres://…`) or key-value string (`host=… dbname=…`), and sets what every
/// cw session needs: a connection to a host that vanished (cut off, powered down) is noticed
/// within seconds (TCP keepalives), a session stuck inside a transaction (its process frozen or
/// cut off mid-write) is ended by the server before it holds the write lock for long, and a wait
/// for that lock ends after the busy timeout as `Busy`, as on SQLite.
pub(super) fn parse(url: &str) -> Result<Config, StoreError> {
    let mut config =
        url.parse::<Config>().map_err(|err| StoreError::BadUrl { cause: err.to_string() })?;
    let lock_wait = super::busy_timeout().as_millis();
    let mut options = config.get_options().map(str::to_owned).unwrap_or_default();
    options.push_str(&format!(
        " -c idle_in_transaction_session_timeout=5000 -c lock_timeout={lock_wait}"
    ));
    config
        .options(options.trim())
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(2))
        .keepalives_retries(3);
    Ok(config)
}

type Job = Box<dyn FnOnce(&mut Worker) + Send>;

/// One connection, owned by its thread.
pub(super) struct PgConn {
    jobs: mpsc::Sender<Job>,
    shown: PathBuf,
}

struct Worker {
    config: Config,
    shown: PathBuf,
    client: Option<Client>,
    statements: HashMap<String, Statement>,
}

impl PgConn {
    /// Connects (waiting up to the busy timeout for a server that is starting).
    pub(super) fn connect(config: Config) -> Result<PgConn, StoreError> {
        let shown = shown(&config);
        let (jobs, queue) = mpsc::channel::<Job>();
        let mut worker =
            Worker { config, shown: shown.clone(), client: None, statements: HashMap::new() };
        std::thread::Builder::new()
            .name("cw-postgres".to_owned())
            .spawn(move || {
                for job in queue {
                    job(&mut worker);
                }
            })
            .map_err(|err| StoreError::Unreachable {
                path: shown.clone(),
                cause: err.to_string(),
            })?;
        let conn = PgConn { jobs, shown };
        conn.call(Worker::ensure_connected)?;
        Ok(conn)
    }

    pub(super) fn shown(&self) -> &std::path::Path {
        &self.shown
    }

    /// Runs `job` on the connection's thread and waits for its answer.
    fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Worker) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let sent = self.jobs.send(Box::new(move |worker| {
            let _ = reply.send(job(worker));
        }));
        let gone = || StoreError::Unreachable {
            path: self.shown.clone(),
            cause: "the connection's thread ended".to_owned(),
        };
        sent.map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Begins a transaction: a write takes the write lock first, a read is a snapshot.
    pub(super) fn begin(&self, write: bool) -> Result<(), StoreError> {
        self.call(move |worker| {
            let begin = if write {
                format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
            } else {
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned()
            };
            worker.ensure_connected()?;
            match worker.client()?.batch_execute(&begin) {
                Ok(()) => Ok(()),
                // The server went away since the last transaction: nothing is lost, begin anew
                // on a new connection (made with backoff while the server comes back).
                Err(err) if super::error::connection_lost(&err) => {
                    worker.drop_client();
                    worker.ensure_connected()?;
                    worker.client()?.batch_execute(&begin).map_err(|e| worker.error(e))
                }
                Err(err) => Err(worker.error(err)),
            }
        })
    }

    /// Ends the transaction: commits (telling listeners the newest event id when events were
    /// appended) or rolls back.
    pub(super) fn finish(&self, commit: bool, notify: bool) -> Result<(), StoreError> {
        self.call(move |worker| {
            let client = worker.client()?;
            let result = if !commit {
                client.batch_execute("ROLLBACK")
            } else if notify {
                client.batch_execute(&format!(
                    "SELECT pg_notify('{CHANNEL}', (SELECT max(id) FROM events)::text); COMMIT"
                ))
            } else {
                client.batch_execute("COMMIT")
            };
            result.map_err(|err| worker.error(err))
        })
    }

    /// Runs one statement; the number of rows it changed.
    pub(super) fn execute(&self, sql: &str, args: &[Value]) -> Result<u64, StoreError> {
        let (sql, args) = (sql.to_owned(), args.to_vec());
        self.call(move |worker| {
            let statement = worker.prepare(&sql)?;
            let params: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            worker.client()?.execute(&statement, &params).map_err(|err| worker.error(err))
        })
    }

    /// Runs one query; its rows.
    pub(super) fn query(&self, sql: &str, args: &[Value]) -> Result<Vec<Vec<Value>>, StoreError> {
        let (sql, args) = (sql.to_owned(), args.to_vec());
        self.call(move |worker| {
            let statement = worker.prepare(&sql)?;
            let params: Vec<&(dyn ToSql + Sync)> =
                args.iter().map(|a| a as &(dyn ToSql + Sync)).collect();
            let rows =
                worker.client()?.query(&statement, &params).map_err(|err| worker.error(err))?;
            rows.iter()
                .map(owned_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| worker.error(err))
        })
    }

    /// Brings the schema up to date; `fresh` refuses a database that already holds cw's state.
    pub(super) fn migrate(&self, fresh: bool) -> Result<(), StoreError> {
        self.call(move |worker| {
            worker.ensure_connected()?;
            let shown = worker.shown.clone();
            let migration = |cause: String| StoreError::Migration { path: shown.clone(), cause };
            let client = worker.client()?;
            let mut tx = client.transaction().map_err(|e| migration(e.to_string()))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .and_then(|_| {
                    tx.batch_execute("CREATE TABLE IF NOT EXISTS cw_schema (version BIGINT NOT NULL)")
                })
                .map_err(|e| migration(e.to_string()))?;
            let version: i64 = tx
                .query_one("SELECT coalesce(max(version), 0) FROM cw_schema", &[])
                .and_then(|row| row.try_get(0))
                .map_err(|e| migration(e.to_string()))?;
            if fresh && version > 0 {
                return Err(StoreError::AlreadyExists { path: shown.clone() });
            }
            let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
            if version > known {
                return Err(migration(format!(
                    "its schema is version {version}, newer than this cw knows ({known}): upgrade cw"
                )));
            }
            for (number, step) in (1_i64..).zip(MIGRATIONS).skip(usize::try_from(version).unwrap_or(0))
            {
                let run = |tx: &mut postgres::Transaction<'_>| {
                    if !step.postgres.is_empty() {
                        tx.batch_execute(step.postgres)?;
                    }
                    tx.execute("DELETE FROM cw_schema", &[])?;
                    tx.execute("INSERT INTO cw_schema (version) VALUES ($1)", &[&number])
                };
                run(&mut tx).map_err(|e| migration(format!("migration {number}: {e}")))?;
            }
            tx.commit().map_err(|e| migration(e.to_string()))
        })
    }
}

impl Worker {
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let shown = self.shown.clone();
        self.client.as_mut().ok_or_else(|| StoreError::Unreachable {
            path: shown,
            cause: "not connected".to_owned(),
        })
    }

    fn drop_client(&mut self) {
        self.client = None;
        self.statements.clear();
    }

    /// Connects if there is no live connection, retrying with backoff for the busy timeout.
    fn ensure_connected(&mut self) -> Result<(), StoreError> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.drop_client();
        let client = connect_with_backoff(&self.config, &self.shown)?;
        self.client = Some(client);
        Ok(())
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let text = postgres_text(sql);
        let statement = self.client()?.prepare(&text).map_err(|err| self.error(err))?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    fn error(&self, err: postgres::Error) -> StoreError {
        StoreError::from_postgres(err, &self.shown)
    }
}

/// A new connection, retried with doubling pauses (from 50 ms to 1 s) until the busy timeout.
fn connect_with_backoff(config: &Config, shown: &std::path::Path) -> Result<Client, StoreError> {
    let deadline = Instant::now() + super::busy_timeout();
    let mut pause = Duration::from_millis(50);
    loop {
        match config.connect(NoTls) {
            Ok(client) => return Ok(client),
            // A refusal (no such database, a wrong password) will not change by waiting.
            Err(err)
                if !super::error::connection_lost(&err) || Instant::now() + pause > deadline =>
            {
                return Err(StoreError::from_postgres(err, shown));
            }
            Err(_) => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// The newest event id of a database, kept current by one listening connection per process;
/// every `ChangeWatch` on it subscribes. The thread ends when the last subscriber is gone.
pub(super) fn listen(config: &Config) -> watch::Receiver<i64> {
    static LISTENERS: OnceLock<Mutex<HashMap<PathBuf, watch::Sender<i64>>>> = OnceLock::new();
    let listeners = LISTENERS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut listeners = listeners.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let key = shown(config);
    if let Some(sender) = listeners.get(&key).filter(|s| !s.is_closed()) {
        return sender.subscribe();
    }
    let (sender, receiver) = watch::channel(0);
    listeners.insert(key.clone(), sender.clone());
    let config = config.clone();
    let spawned = std::thread::Builder::new()
        .name("cw-listen".to_owned())
        .spawn(move || listen_until_unwatched(&config, &key, &sender));
    if let Err(err) = spawned {
        tracing::warn!(%err, "cannot start the database listener; waits fall back to their timeouts");
    }
    receiver
}

fn listen_until_unwatched(config: &Config, shown: &std::path::Path, latest: &watch::Sender<i64>) {
    let publish = |id: i64| {
        latest.send_if_modified(|seen| {
            let newer = id > *seen;
            *seen = (*seen).max(id);
            newer
        });
    };
    while latest.receiver_count() > 0 {
        let mut client = match connect_with_backoff(config, shown) {
            Ok(client) => client,
            Err(err) => {
                tracing::warn!(%err, "database listener: cannot connect; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        let caught_up = client
            .batch_execute(&format!("LISTEN {CHANNEL}"))
            .and_then(|()| client.query_one("SELECT coalesce(max(id), 0) FROM events", &[]))
            .and_then(|row| row.try_get::<_, i64>(0));
        match caught_up {
            Ok(id) => publish(id),
            Err(err) => {
                tracing::warn!(%err, "database listener: cannot listen; retrying");
                continue;
            }
        }
        while latest.receiver_count() > 0 {
            let mut notifications = client.notifications();
            let mut wake = notifications.timeout_iter(Duration::from_millis(500));
            match wake.next() {
                Ok(Some(note)) => publish(note.payload().parse().unwrap_or(0)),
                Ok(None) => {}
                Err(err) => {
                    tracing::warn!(%err, "database listener: connection lost; reconnecting");
                    break;
                }
            }
        }
    }
}
