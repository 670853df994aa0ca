//! `cw store migrate <url>`: a repository's state moved from `.cw/cw.db` into PostgreSQL, with
//! nothing lost. Refused while `cw run` serves the repository (its writes would be left behind).
//! The copy is one transaction; only once it committed does the config name the new store and
//! the SQLite file move aside (`.cw/cw.db.migrated`, kept as a backup).

use std::path::PathBuf;

use super::{Service, ServiceError};
use crate::store::{Location, Store};

/// What `cw store migrate` did.
#[derive(Debug, Clone)]
pub struct StoreMove {
    /// The database the state is now in, as cw names it (no password).
    pub to: PathBuf,
    /// Where the SQLite file was moved.
    pub backup: PathBuf,
    /// How many rows each table held.
    pub rows: Vec<(&'static str, usize)>,
}

impl Service {
    /// Copies this repository's SQLite state into the new PostgreSQL database `url`, then points
    /// the repository at it.
    pub fn move_store_to(&self, url: &str) -> Result<StoreMove, ServiceError> {
        if self.store.is_postgres() {
            return Err(ServiceError::InvalidInput(format!(
                "the state is already in PostgreSQL ({}); nothing to move",
                self.store.path().display()
            )));
        }
        // No `cw run` may write to the file while (or after) it is copied.
        let lock = self.lock_server()?;
        let target = Store::create_at(&Location::Postgres(url.to_owned()))?;
        let rows = crate::store::copy_state(&self.store, &target)?;
        let config_path = self.workspace.config_path();
        let text = fs_err::read_to_string(&config_path)
            .map_err(|source| ServiceError::Io { path: config_path.clone(), source })?;
        super::init::rewrite_secret(&config_path, &super::init::with_store_url(&text, url)?)?;
        let db = self.workspace.db_path();
        let backup = db.with_extension("db.migrated");
        fs_err::rename(&db, &backup).map_err(|source| ServiceError::Io { path: db, source })?;
        drop(lock);
        Ok(StoreMove { to: target.path().to_owned(), backup, rows })
    }
}
