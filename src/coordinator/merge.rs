//! The merge queue as the loop drives it: which queued branches merge now (their dependencies
//! merged, the integration branch free to move), what the user is told, and the clean-up after.
//! How one merges or bounces is the service's (`Service::merge_queued`).

use super::Coordinator;
use super::CoordinatorError;
use crate::model::TaskState;
use crate::service::{MergeResult, QueuedMerge, ServiceError};

impl Coordinator<'_> {
    /// Merges every queued branch that may merge now (its dependencies merged), oldest first.
    pub(super) fn merge_queue(&mut self) -> Result<(), CoordinatorError> {
        if !self.options.merge {
            return Ok(());
        }
        let queue = self.service.merge_queue()?;
        if !queue.iter().any(|queued| queued.waiting_for.is_empty()) {
            return Ok(());
        }
        match self.service.check_integration_branch() {
            Ok(()) => {
                if self.merges_held.take().is_some() {
                    self.progress.line("merges resumed");
                }
            }
            Err(err) => {
                self.hold_merges(&err);
                return Ok(());
            }
        }
        self.catch_up_on_output()?;
        for queued in queue {
            if queued.waiting_for.is_empty() && !self.merge_one(&queued)? {
                break;
            }
        }
        Ok(())
    }

    /// Merges wait (queued, nothing lost) until the integration branch may move again; the
    /// reason is reported once.
    fn hold_merges(&mut self, why: &ServiceError) {
        let why = why.to_string();
        if self.merges_held.as_deref() != Some(why.as_str()) {
            self.progress.line(&format!("merges wait: {why}"));
            self.merges_held = Some(why);
        }
    }

    /// Merges one request (or bounces it); false when merges must wait (see `hold_merges`).
    fn merge_one(&mut self, queued: &QueuedMerge) -> Result<bool, CoordinatorError> {
        let integration = self.service.config().integration_branch.clone();
        let gate = self.service.config().run.merge_gate.trim().to_owned();
        let progress = &mut *self.progress;
        let result = self.service.merge_queued(queued, |commit| {
            progress.line(&format!("merge gate `{gate}` on {}", &commit[..commit.len().min(10)]));
        })?;
        let task = &queued.task;
        match result {
            MergeResult::Held(why) => {
                self.hold_merges(&why);
                return Ok(false);
            }
            MergeResult::Merged { commit: None, .. } => {
                self.progress.line(&format!("{}: already on {integration}", task.id));
            }
            MergeResult::Merged { commit: Some(commit), .. } => {
                self.progress.line(&format!(
                    "merged {} into {integration} ({}): {}",
                    task.id,
                    &commit[..commit.len().min(10)],
                    task.title
                ));
            }
            MergeResult::Bounced { task, why } => {
                match task.failure_reason.filter(|_| task.state == TaskState::Failed) {
                    Some(failure) => self.progress.line(&format!("{} failed: {failure}", task.id)),
                    None => {
                        self.progress
                            .line(&format!("{} bounced back to its agent: {why}", task.id));
                    }
                }
                return Ok(true);
            }
        }
        self.after_merge(queued)?;
        Ok(true)
    }

    /// Cleans the merged task's worktree when its agent is done with it (a live agent's is
    /// cleaned when it exits).
    fn after_merge(&mut self, queued: &QueuedMerge) -> Result<(), CoordinatorError> {
        if let Some(agent) = queued.task.agent.filter(|a| !self.live.contains_key(a)) {
            self.tidy(agent);
        }
        Ok(())
    }
}
