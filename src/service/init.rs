//! `cw init`: create `.cw/` (database, config, logs, operator token) and the integration branch.
//! Either everything is set up or nothing changed: the directory is built under a temporary name
//! and renamed into place last.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Service, ServiceError, token};
use crate::config::{Config, DEFAULT_CONFIG_TOML};
use crate::git::{self, BranchOutcome};
use crate::store::Store;
use crate::workspace::{CW_DIR, Workspace};

/// What `cw init` set up.
#[derive(Debug, Clone)]
pub struct InitReport {
    pub root: PathBuf,
    pub cw_dir: PathBuf,
    pub integration_branch: String,
    pub branch_created: bool,
}

impl Service {
    /// Sets up cw in the repository containing `start`.
    pub fn init(start: &Path) -> Result<InitReport, ServiceError> {
        let workspace = Workspace::locate(start)?;
        if workspace.cw_dir.exists() {
            return Err(ServiceError::AlreadyInitialised { path: workspace.cw_dir });
        }
        let config = Config::default();
        git::validate_branch_name(&config.integration_branch)?;
        git::require_commits(&workspace.repo)?;

        let staging = workspace.root().join(format!("{CW_DIR}.init-{}", std::process::id()));
        let built = build_state_dir(&staging);
        let renamed = built.and_then(|()| {
            fs_err::rename(&staging, &workspace.cw_dir).map_err(|source| {
                if workspace.cw_dir.exists() {
                    ServiceError::AlreadyInitialised { path: workspace.cw_dir.clone() }
                } else {
                    ServiceError::Io { path: workspace.cw_dir.clone(), source }
                }
            })
        });
        if let Err(err) = renamed {
            let _ = fs_err::remove_dir_all(&staging);
            return Err(err);
        }

        let branch = git::ensure_branch(&workspace.repo, &config.integration_branch)
            .and_then(|outcome| git::exclude(&workspace.repo, "/.cw/").map(|()| outcome));
        let outcome = match branch {
            Ok(outcome) => outcome,
            Err(err) => {
                let _ = fs_err::remove_dir_all(&workspace.cw_dir);
                return Err(err.into());
            }
        };
        Ok(InitReport {
            root: workspace.root().to_owned(),
            cw_dir: workspace.cw_dir.clone(),
            integration_branch: config.integration_branch,
            branch_created: outcome == BranchOutcome::Created,
        })
    }
}

fn build_state_dir(dir: &Path) -> Result<(), ServiceError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| ServiceError::Io { path, source }
    };
    fs_err::create_dir(dir).map_err(io(dir))?;
    fs_err::create_dir(dir.join("logs")).map_err(io(&dir.join("logs")))?;
    fs_err::write(dir.join("config.toml"), DEFAULT_CONFIG_TOML)
        .map_err(io(&dir.join("config.toml")))?;
    write_secret(&dir.join("operator.token"), &token::generate("cwo_")?)?;
    // The store is closed (and its WAL checkpointed) before the directory is renamed.
    drop(Store::create(&dir.join("cw.db"))?);
    Ok(())
}

/// Writes a file only its owner can read (mode 0600 from the start, never wider).
fn write_secret(path: &Path, secret: &str) -> Result<(), ServiceError> {
    use fs_err::os::unix::fs::OpenOptionsExt;
    let io = |source| ServiceError::Io { path: path.to_owned(), source };
    let mut file = fs_err::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(io)?;
    file.write_all(secret.as_bytes()).and_then(|()| file.write_all(b"\n")).map_err(io)?;
    Ok(())
}
