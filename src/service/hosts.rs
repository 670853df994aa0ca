//! Hosts beside the coordinator's that run agents (`cw worker`): adding one (its token shown
//! once), a worker's greeting (its token traded for where the state is), heartbeats, and each
//! host's agents. The database is the bus: a worker takes ready tasks in the same dispatch order
//! as the coordinator, runs and supervises its own agents, and pushes their branches to the
//! coordinator's repository, which merges them.

use super::{Service, ServiceError, token};
use crate::model::Timestamp;
use crate::store::{HostRecord, Location};

/// A new host and its token (shown once; stored hashed).
#[derive(Debug, Clone)]
pub struct HostRegistration {
    pub host: HostRecord,
    pub token: String,
}

/// A host as `cw worker list` and `cw status` show it.
#[derive(Debug, Clone)]
pub struct HostStatus {
    pub host: HostRecord,
    /// Its agents whose process runs (as last recorded).
    pub running: usize,
    /// Not heard from for `[worker] lost_after_seconds`.
    pub lost: bool,
}

/// What a worker learns when it greets the coordinator: who it is and where the state is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerHello {
    pub name: String,
    /// The PostgreSQL URL of the shared state, as the coordinator reaches it.
    pub store_url: String,
    pub integration_branch: String,
    pub heartbeat_seconds: u64,
    pub lost_after_seconds: u64,
    /// The claims' lease and attempts: the same rules for agents on every host.
    pub lease_seconds: u64,
    pub max_attempts: u32,
}

impl Service {
    /// Adds a host that may run agents; its token is returned once.
    pub fn add_host(&self, name: &str) -> Result<HostRegistration, ServiceError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !valid {
            return Err(ServiceError::InvalidInput(
                "a host name is 1 to 64 letters, digits, '-', '_' or '.'".to_owned(),
            ));
        }
        let token = token::generate("cwk_")?;
        let now = self.now();
        let host = self.store.write(|tx| {
            if !tx.insert_host(name, &token::hash(&token), now)? {
                return Err(ServiceError::InvalidInput(format!(
                    "a host named {name} exists (see `cw worker list`)"
                )));
            }
            tx.host(name)?.ok_or_else(|| ServiceError::Internal(format!("host {name} vanished")))
        })?;
        Ok(HostRegistration { host, token })
    }

    /// Forgets a host; its token stops working.
    pub fn remove_host(&self, name: &str) -> Result<(), ServiceError> {
        let now = self.now();
        let removed = self.store.write(|tx| Ok::<_, ServiceError>(tx.delete_host(name, now)?))?;
        if !removed {
            return Err(ServiceError::InvalidInput(format!(
                "no host named {name} (see `cw worker list`)"
            )));
        }
        Ok(())
    }

    /// Every host with how many agents it runs and whether it is lost.
    pub fn hosts(&self) -> Result<Vec<HostStatus>, ServiceError> {
        let now = self.now();
        let lost_after = self.host_lost_after();
        self.store.read(|tx| {
            let agents = tx.agents()?;
            let hosts = tx.hosts()?;
            Ok(hosts
                .into_iter()
                .map(|host| {
                    let running = agents
                        .iter()
                        .filter(|a| a.host.as_deref() == Some(&host.name) && a.process.is_some())
                        .count();
                    let lost = !heard_within(host.last_seen, now, lost_after);
                    HostStatus { host, running, lost }
                })
                .collect())
        })
    }

    /// A worker's greeting: `token` must be a host's; answers where the shared state is.
    pub fn greet_worker(&self, token: &str) -> Result<WorkerHello, ServiceError> {
        let hash = token::hash(token);
        let host = self.store.read(|tx| Ok::<_, ServiceError>(tx.host_by_token_hash(&hash)?))?;
        let host = host.ok_or(ServiceError::UnknownToken)?;
        let Location::Postgres(store_url) = super::store_location(&self.workspace, &self.config)
        else {
            return Err(ServiceError::InvalidInput(
                "workers share the state through PostgreSQL, and this repository's is in .cw/cw.db: move it with `cw store migrate <url>` first".to_owned(),
            ));
        };
        Ok(WorkerHello {
            name: host.name,
            store_url,
            integration_branch: self.config.integration_branch.clone(),
            heartbeat_seconds: self.config.worker.heartbeat_seconds,
            lost_after_seconds: self.config.worker.lost_after_seconds,
            lease_seconds: self.config.claims.lease_seconds,
            max_attempts: self.config.claims.max_attempts,
        })
    }

    /// This worker is alive, with room for `agents` agents and `memory_mb` MiB for them.
    pub fn heartbeat(&self, agents: u32, memory_mb: u64) -> Result<(), ServiceError> {
        let Some(name) = self.config.worker.host() else {
            return Err(ServiceError::InvalidInput(
                "only a worker sends heartbeats ([worker] name is empty)".to_owned(),
            ));
        };
        let now = self.now();
        self.store
            .write(|tx| Ok::<_, ServiceError>(tx.record_heartbeat(name, agents, memory_mb, now)?))
    }

    /// How long a host may stay silent before its agents count as lost (milliseconds).
    pub(super) fn host_lost_after(&self) -> i64 {
        i64::try_from(self.config.worker.lost_after_seconds.saturating_mul(1000))
            .unwrap_or(i64::MAX)
    }

    /// Whether the state is shared through PostgreSQL (which `cw worker` hosts need).
    pub fn state_is_shared(&self) -> bool {
        self.store.is_postgres()
    }

    /// The host this clone runs agents as (`None` on the coordinator's machine).
    pub fn own_host(&self) -> Option<&str> {
        self.config.worker.host()
    }
}

/// Whether a host last heard from at `last_seen` still counts as alive at `now`.
pub(super) fn heard_within(last_seen: Option<Timestamp>, now: Timestamp, lost_after: i64) -> bool {
    last_seen.is_some_and(|seen| now.0.saturating_sub(seen.0) < lost_after)
}
