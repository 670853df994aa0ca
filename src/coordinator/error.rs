//! Why a run stopped: a use case or an agent that failed, or the coordinator's own threads.

use crate::agent::AgentError;
use crate::service::ServiceError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// Waiting for the database to change failed.
    #[error(transparent)]
    Watch(#[from] StoreError),
    #[error("could not start the threads that start agents: {0}")]
    StartThreads(#[source] std::io::Error),
    #[error("the threads that start agents are gone")]
    StartThreadsGone,
    /// A thread doing `what` panicked; its cause is in the log.
    #[error("{0} panicked")]
    Panicked(&'static str),
}
