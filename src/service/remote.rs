//! A worker's git traffic with the coordinator's repository (`[worker] remote`): the integration
//! branch fetched before each agent starts, an agent's branch pushed before its merge is queued.
//! Through the `git` program, so ssh keys and https credentials work as they do for the user.

use super::{Service, ServiceError};

impl Service {
    /// Brings this clone's integration branch up to the coordinator's (a worker, before it starts
    /// an agent: the worktree must start from what is merged now).
    pub fn fetch_integration_branch(&self) -> Result<(), ServiceError> {
        let branch = &self.config.integration_branch;
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        self.git_remote(&["fetch", "--quiet", "--no-tags", &self.config.worker.remote, &refspec])
    }

    /// Fetches the coordinator's `branch` into the local branch `into` (fails if it has none).
    pub(super) fn fetch_branch(&self, branch: &str, into: &str) -> Result<(), ServiceError> {
        let refspec = format!("+refs/heads/{branch}:refs/heads/{into}");
        self.git_remote(&["fetch", "--quiet", "--no-tags", &self.config.worker.remote, &refspec])
    }

    /// Pushes `branch` to the coordinator's repository (a worker, before a merge request: the
    /// coordinator merges what it has). Forced: the branch is the task's, and only the agent
    /// holding the task gets this far.
    pub(super) fn push_branch(&self, branch: &str) -> Result<(), ServiceError> {
        let refspec = format!("+refs/heads/{branch}:refs/heads/{branch}");
        self.git_remote(&["push", "--quiet", &self.config.worker.remote, &refspec])
    }

    fn git_remote(&self, args: &[&str]) -> Result<(), ServiceError> {
        let root = self.workspace.root();
        let (outcome, output) = crate::process::capture("git".as_ref(), args, root, &[])?;
        if outcome != crate::process::ExitOutcome::Exited(0) {
            return Err(ServiceError::InvalidInput(format!(
                "git {} failed ({outcome}): {}",
                args.first().copied().unwrap_or_default(),
                crate::safe_text::first_line(output.trim(), 300)
            )));
        }
        Ok(())
    }
}
