//! The core service: the one API every adapter (CLI, MCP, coordinator) calls.
//!
//! Owns: use cases (init, tasks, dependencies, claims, agents, import), authorising callers,
//! applying model transitions and choosing each transaction's scope.
//! Must not: parse arguments, print, know JSON shapes or MCP, write SQL, or spawn processes.

mod agents;
mod caller;
mod claims;
mod conversation;
mod coordination;
mod error;
mod gc;
mod hosts;
mod import;
mod init;
mod merging;
mod remote;
mod server_lock;
mod store_move;
mod tasks;
mod token;
mod work;
mod worktrees;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::config::Config;
use crate::model::Timestamp;
use crate::store::{Location, Store};
use crate::workspace::{StateDir, Workspace};

pub use agents::{Continues, ExitKind, stop_status};
pub use caller::{Caller, Via};

/// A new random secret with a readable kind prefix (the dashboard's login token: `cwd_`).
pub fn new_secret(prefix: &str) -> Result<String, ServiceError> {
    token::generate(prefix)
}
pub use claims::{Claim, ClaimedWork, Registration};
pub use conversation::{
    AnswerWait, MAX_MESSAGE_BYTES, MAX_OPTION_CHARS, MAX_OPTIONS, MAX_QUESTION_BYTES,
};
pub use coordination::{Delivery, HeldTask, QueuedMerge};
pub use error::ServiceError;
pub use gc::GcReport;
pub use hosts::{HostRegistration, HostStatus, WorkerHello};
pub use import::{ImportOptions, ImportReport};
pub use init::InitReport;
pub use merging::MergeResult;
pub use server_lock::{Endpoints, ServerLock};
pub use store_move::StoreMove;
pub use tasks::{
    AddTask, DependencyChange, MAX_DESCRIPTION_BYTES, MAX_TITLE_CHARS, MergeLine, Overview,
    PlanRef, StatusReport, TaskChange, TaskDetail, TaskEdit, TaskListing, TaskPage,
};
pub use work::{MAX_PROGRESS_CHARS, MergeRequest};

/// The stored (hashed) form of a token: what caches of known tokens may keep.
pub fn token_hash(token: &str) -> String {
    token::hash(token)
}

/// The source of "now". Tests move a manual clock to expire leases without sleeping.
#[derive(Debug, Clone)]
pub enum Clock {
    System,
    Manual(Arc<AtomicI64>),
}

impl Clock {
    /// The current time.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => {
                let since_epoch = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
            }
            Clock::Manual(millis) => Timestamp(millis.load(Ordering::SeqCst)),
        }
    }
}

/// cw's core API over one repository's state.
pub struct Service {
    store: Store,
    config: Config,
    workspace: Workspace,
    clock: Clock,
}

impl Service {
    /// Opens the state of an initialised workspace.
    pub fn open(workspace: Workspace) -> Result<Service, ServiceError> {
        let state = workspace.state_dir();
        match &state {
            StateDir::Ready | StateDir::NoDatabase => {}
            StateDir::Absent => {
                return Err(ServiceError::NotInitialised { root: workspace.root().to_owned() });
            }
            StateDir::Broken { path, what } => {
                return Err(ServiceError::BrokenState { path: path.clone(), what });
            }
        }
        let config = Config::load(&workspace.config_path())?;
        let location = store_location(&workspace, &config);
        // With PostgreSQL, `.cw/` holds no database file.
        if state == StateDir::NoDatabase && matches!(location, Location::File(_)) {
            return Err(ServiceError::DatabaseMissing { path: workspace.db_path() });
        }
        if crate::git::validate_branch_name(&config.integration_branch).is_err() {
            return Err(ServiceError::Config(crate::config::ConfigError::Parse {
                path: workspace.config_path(),
                message: format!(
                    "integration_branch = {:?} is not a valid branch name (the default is \"cw/integration\")",
                    config.integration_branch
                ),
            }));
        }
        let store = Store::open_at(&location)?;
        Ok(Service { store, config, workspace, clock: Clock::System })
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Service {
        self.clock = clock;
        self
    }

    /// Adjusts the settings for this process only (command-line overrides such as
    /// `cw run --agent-command`); the file is not changed.
    pub fn with_settings(mut self, adjust: impl FnOnce(&mut Config)) -> Service {
        adjust(&mut self.config);
        self
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The repository and its `.cw` directory.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }

    /// A watcher that wakes when any process changes state (for `--follow` and waiting calls).
    pub fn watch_changes(&self) -> Result<crate::store::ChangeWatch, ServiceError> {
        Ok(self.store.watch()?)
    }

    /// Blocks until the next change (from any process) or `timeout`; true if something changed.
    pub fn wait_for_change(
        &self,
        watch: &mut crate::store::ChangeWatch,
        timeout: std::time::Duration,
    ) -> Result<bool, ServiceError> {
        Ok(watch.wait_blocking(std::time::Duration::from_millis(50), timeout)?.is_some())
    }

    /// The newest event id (0 for none).
    pub fn latest_event_id(&self) -> Result<i64, ServiceError> {
        self.store.read(|tx| Ok(tx.latest_event_id()?))
    }

    /// Up to `limit` events after `after_id`, oldest first.
    pub fn events_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<crate::store::EventRecord>, ServiceError> {
        self.store.read(|tx| Ok(tx.events_after(after_id, limit)?))
    }

    /// The newest `limit` events of `task`, oldest first (its timeline).
    pub fn task_events(
        &self,
        task: crate::model::TaskId,
        limit: u32,
    ) -> Result<Vec<crate::store::EventRecord>, ServiceError> {
        self.store.read(|tx| Ok(tx.task_events(task, limit)?))
    }

    /// Every finished merge request's end and time, oldest first.
    pub fn merge_history(
        &self,
    ) -> Result<Vec<(crate::model::MergeState, Timestamp)>, ServiceError> {
        self.store.read(|tx| Ok(tx.merge_history()?))
    }

    /// The current time by this service's clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Where a workspace's state lives: PostgreSQL when `CW_DATABASE_URL` or `[store] url` names it,
/// else `.cw/cw.db`.
pub(crate) fn store_location(workspace: &Workspace, config: &Config) -> Location {
    config
        .store
        .postgres_url()
        .map_or_else(|| Location::File(workspace.db_path()), Location::Postgres)
}
