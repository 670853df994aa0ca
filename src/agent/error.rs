//! Why an agent could not be started, continued, watched or stopped: a use case the service
//! refused, or the runtime's own view of the agent that does not hold.

use std::path::PathBuf;

use crate::model::AgentId;
use crate::process::ProcessError;
use crate::service::ServiceError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    /// The agent's row names no worktree: it was registered but never given one.
    #[error(
        "agent {0} has no worktree recorded; stop it (`cw agent stop {0}`) and start its task again"
    )]
    NoWorktree(AgentId),
    #[error("the worktree {} of agent {agent} is gone; its branch {branch} still holds its commits", worktree.display())]
    WorktreeGone { agent: AgentId, worktree: PathBuf, branch: String },
    /// `[agent] setup` exited non-zero or was killed.
    #[error("the setup command `{command}` failed ({outcome}); its output is in {}", log.display())]
    SetupFailed { command: String, outcome: String, log: PathBuf },
}

impl AgentError {
    /// The service's refusal, when that is what this is.
    pub fn as_service(&self) -> Option<&ServiceError> {
        match self {
            AgentError::Service(err) => Some(err),
            _ => None,
        }
    }
}
