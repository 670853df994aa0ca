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
                let culprit = super::unwritable(path).unwrap_or_else(|| path.to_owned());
                StoreError::ReadOnly { path: path.to_owned(), culprit }
            }
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt { path: path.to_owned(), cause: err.to_string() }
            }
            _ => StoreError::Sqlite { path: path.to_owned(), source: err },
        }
    }
}

/// Lets store functions use `?` on rusqlite results; the path is filled in from the connection.
pub(crate) trait SqlResultExt<T> {
    fn on(self, tx: &super::Tx<'_>) -> Result<T, StoreError>;
}

impl<T> SqlResultExt<T> for rusqlite::Result<T> {
    fn on(self, tx: &super::Tx<'_>) -> Result<T, StoreError> {
        self.map_err(|err| {
            let path = tx.conn().path().map(PathBuf::from).unwrap_or_default();
            StoreError::from_sqlite(err, &path)
        })
    }
}
