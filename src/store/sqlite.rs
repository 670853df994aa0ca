//! The embedded engine: `.cw/cw.db` through rusqlite with bundled SQLite (WAL, a busy handler
//! tuned for sub-millisecond transactions, foreign keys), opened read-only when this user cannot
//! write it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags};
use rusqlite_migration::{M, Migrations};

use super::StoreError;
use super::migrations::MIGRATIONS;
use super::sql::Value;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t.as_bytes()),
        }))
    }
}

/// SQLite's busy handler for every connection: retries a locked database until `busy_timeout`
/// has passed since the first retry. SQLite's own (`busy_timeout`) first sleeps 1 ms, then 2, 5,
/// 10…, while cw's write transactions last well under a millisecond: with a dozen `cw mcp`
/// processes writing at once, a coordinator that lost one race slept longer than the transaction
/// it waited for. This one polls every 50 µs for the first 2 ms, then every 500 µs, then every
/// 5 ms.
pub(super) fn wait_for_the_write_lock(retries: i32) -> bool {
    thread_local! {
        /// When the current wait started, and when it gives up.
        static WAIT: std::cell::Cell<Option<(Instant, Instant)>> = const { std::cell::Cell::new(None) };
    }
    let now = Instant::now();
    let (since, deadline) = WAIT.with(|wait| {
        // Retry 0 starts a new wait (SQLite counts per statement).
        let current = match wait.get() {
            Some(current) if retries > 0 => current,
            _ => (now, now + super::busy_timeout()),
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

fn migrations() -> Migrations<'static> {
    Migrations::new(MIGRATIONS.iter().map(|m| M::up(m.sqlite)).collect())
}

fn migration_error(path: &Path) -> impl Fn(rusqlite_migration::Error) -> StoreError + '_ {
    move |source| StoreError::Migration { path: path.to_owned(), cause: source.to_string() }
}

/// A new database file with every migration applied. Fails if the file exists.
pub(super) fn create(path: &Path) -> Result<Connection, StoreError> {
    if path.exists() {
        return Err(StoreError::AlreadyExists { path: path.to_owned() });
    }
    let mut conn = open_connection(path, OpenFlags::default())?;
    migrations().to_latest(&mut conn).map_err(migration_error(path))?;
    Ok(conn)
}

/// An existing database brought up to date; when this user cannot write it, a read-only
/// connection and the file in the way.
pub(super) fn open(path: &Path) -> Result<(Connection, Option<PathBuf>), StoreError> {
    if !path.exists() {
        return Err(StoreError::Missing { path: path.to_owned() });
    }
    refuse_empty_file(path)?;
    if let Some(culprit) = unwritable(path) {
        return open_read_only(path, culprit);
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let mut conn = open_connection(path, flags)?;
    // Cheap when up to date: one read of `user_version`.
    migrations().to_latest(&mut conn).map_err(migration_error(path))?;
    Ok((conn, None))
}

/// Opens a database this process cannot write (`culprit` is in the way) for reading. An older
/// schema must be migrated (a write) before this cw can read it: that is refused.
fn open_read_only(
    path: &Path,
    culprit: PathBuf,
) -> Result<(Connection, Option<PathBuf>), StoreError> {
    let mut conn = read_only_connection(path, false)?;
    let pending = match migrations().pending_migrations(&conn) {
        Ok(pending) => pending,
        // A WAL database whose -wal and -shm files are gone (its last writer closed it
        // cleanly) cannot be read by SQLite's usual read-only path when it cannot create
        // them. Then the file holds every page, and it is read as immutable: no writer can
        // be mid-way, since a writer would have made the -wal first.
        Err(_) if !sibling(path, "-wal").exists() => {
            conn = read_only_connection(path, true)?;
            migrations().pending_migrations(&conn).map_err(migration_error(path))?
        }
        Err(err) => return Err(migration_error(path)(err)),
    };
    if pending > 0 {
        return Err(StoreError::ReadOnly { path: path.to_owned(), culprit });
    }
    Ok((conn, Some(culprit)))
}

/// SQLite takes an empty file for a new database: opened, cw would start again at `t1` beside
/// the branches and worktrees of the state that was lost. An empty file with a write-ahead log
/// holding its pages is a database not yet checkpointed, and fine.
fn refuse_empty_file(path: &Path) -> Result<(), StoreError> {
    let len = |path: &Path| fs_err::metadata(path).map_or(0, |m| m.len());
    if len(path) == 0 && len(&sibling(path, "-wal")) == 0 {
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

/// `path` with `suffix` appended to its file name (`cw.db` → `cw.db-wal`).
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// A read-only connection; `immutable` tells SQLite the file cannot change while it is open.
pub(super) fn read_only_connection(path: &Path, immutable: bool) -> Result<Connection, StoreError> {
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
