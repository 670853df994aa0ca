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

impl CoordinatorError {
    /// The database could not be reached: the step can run again once it is back.
    pub(crate) fn is_transient(&self) -> bool {
        let (CoordinatorError::Service(ServiceError::Store(store))
        | CoordinatorError::Agent(AgentError::Service(ServiceError::Store(store)))
        | CoordinatorError::Watch(store)) = self
        else {
            return false;
        };
        store.is_transient()
    }
}
