//! Store errors: what went wrong with the database file, named by path.

use std::path::{Path, PathBuf};

/// A database failure. `Busy` means another process held the write lock for the whole timeout.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the database {} is missing (run `cw init` in this repository)", path.display())]
    Missing { path: PathBuf },
    #[error("the database {} already exists", path.display())]
    AlreadyExists { path: PathBuf },
    #[error(
        "the database {} is locked by another process (waited {} ms); try again",
        path.display(),
        super::busy_timeout().as_millis()
    )]
    Busy { path: PathBuf },
    #[error("cannot migrate the database {}: {cause}", path.display())]
    Migration { path: PathBuf, cause: String },
    #[error("the database {} is not usable: {cause}", path.display())]
    Corrupt { path: PathBuf, cause: String },
    #[error(
        "cannot change {}: {} read-only for this user (reads still work; `chmod u+w {}`, or run cw as its owner)",
        path.display(),
        if culprit == path { "it is".to_owned() } else { format!("{} is", culprit.display()) },
        culprit.display()
    )]
    ReadOnly { path: PathBuf, culprit: PathBuf },
    #[error("database error on {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the store URL is not usable: {cause} (expected postgres://user@host:port/database)")]
    BadUrl { cause: String },
    #[error("cannot reach the database {}: {cause}", path.display())]
    Unreachable { path: PathBuf, cause: String },
    #[error("database error on {}: {}", path.display(), postgres_message(source))]
    Postgres {
        path: PathBuf,
        #[source]
        source: postgres::Error,
    },
}

impl StoreError {
    pub(crate) fn from_sqlite(err: rusqlite::Error, path: &Path) -> StoreError {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Busy { path: path.to_owned() }
            }
            // Writable by permissions yet refused (a read-only mount seen late, a lost lease).
            Some(ErrorCode::ReadOnly) => {
                let culprit = super::sqlite::unwritable(path).unwrap_or_else(|| path.to_owned());
                StoreError::ReadOnly { path: path.to_owned(), culprit }
            }
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path: path.to_owned(), cause: err.to_string() }
            }
            _ => StoreError::Sqlite { path: path.to_owned(), source: err },
        }
    }
}

impl StoreError {
    /// The database could not be reached (a server restarting, a network cut): the same work
    /// can be tried again once it is back. Only PostgreSQL fails this way.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unreachable { .. } => true,
            StoreError::Postgres { source, .. } => connection_lost(source),
            _ => false,
        }
    }

    /// A PostgreSQL failure: lock waits past the busy timeout are `Busy`, lost or refused
    /// connections `Unreachable`, the rest named with the server's words.
    pub(crate) fn from_postgres(err: postgres::Error, shown: &Path) -> StoreError {
        use postgres::error::SqlState;
        let path = shown.to_owned();
        match err.code() {
            Some(code) if *code == SqlState::LOCK_NOT_AVAILABLE => StoreError::Busy { path },
            Some(code)
                if *code == SqlState::INVALID_CATALOG_NAME
                    || *code == SqlState::INVALID_PASSWORD
                    || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                    || code.code().starts_with("08")
                    || code.code().starts_with("57P") =>
            {
                let cause =
                    err.as_db_error().map_or_else(|| err.to_string(), |db| db.message().to_owned());
                StoreError::Unreachable { path, cause }
            }
            None if err.is_closed() || err.as_db_error().is_none() => {
                let cause = std::error::Error::source(&err)
                    .map_or_else(|| err.to_string(), |source| format!("{err}: {source}"));
                StoreError::Unreachable { path, cause }
            }
            _ => StoreError::Postgres { path, source: err },
        }
    }
}

/// What the server said (`postgres::Error` alone displays only "db error").
fn postgres_message(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
        None => err.to_string(),
    }
}

/// The connection failed, rather than the statement: no server error at all (a closed socket),
/// one of class 08 (connection exception) or 57P (the server shutting down or starting), or the
/// server's connection slots all taken for now (53300).
pub(crate) fn connection_lost(err: &postgres::Error) -> bool {
    match err.code() {
        None => err.as_db_error().is_none(),
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || code.starts_with("57P") || code == "53300"
        }
    }
}
