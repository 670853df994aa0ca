//! The merge queue: each queued branch whose dependencies are merged is merged into the
//! integration branch in memory, optionally tested by the merge gate, and the ref advanced with a
//! compare-and-swap; conflicts and gate failures are bounced back to the task's agent.

use std::path::PathBuf;

use tracing::warn;

use super::Coordinator;
use crate::git::{self, GitError, MergeOutcome, Prepared};
use crate::model::TaskState;
use crate::process::{self, ExitOutcome, SpawnSpec};
use crate::service::{QueuedMerge, ServiceError};

/// How often a merge is recomputed when the integration branch keeps moving under it.
const MAX_REF_RACES: usize = 10;
/// How much of a failing gate's output goes into the bounce.
const GATE_OUTPUT_TAIL: usize = 4_000;

impl Coordinator<'_> {
    /// Merges every queued branch that may merge now (its dependencies merged), oldest first.
    pub(super) fn merge_queue(&mut self) -> Result<(), ServiceError> {
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
    fn merge_one(&mut self, queued: &QueuedMerge) -> Result<bool, ServiceError> {
        let repo = self.service.workspace().repo.clone();
        let integration = self.service.config().integration_branch.clone();
        let task = &queued.task;
        let title = crate::safe_text::one_line(&task.title);
        let message = format!("Merge {}: {title} ({})", queued.branch, task.id);
        for _ in 0..MAX_REF_RACES {
            let prepared = match git::prepare_merge(&repo, &integration, &queued.branch, &message) {
                Ok(prepared) => prepared,
                Err(err) => {
                    let why = format!("cw could not merge {}: {err}", queued.branch);
                    return self.bounce(queued, &[], &why).map(|()| true);
                }
            };
            let merge = match prepared {
                Prepared::AlreadyMerged => {
                    self.service.record_merged(&queued.merge, None)?;
                    self.progress.line(&format!("{}: already on {integration}", task.id));
                    return self.after_merge(queued).map(|()| true);
                }
                Prepared::Conflict { paths } => {
                    let why = format!(
                        "merging {} into {integration} conflicts in {}",
                        queued.branch,
                        paths.join(", ")
                    );
                    return self.bounce(queued, &paths, &why).map(|()| true);
                }
                Prepared::Ready(merge) => merge,
            };
            if let Some(failure) = self.run_gate(&merge.commit)? {
                return self.bounce(queued, &[], &failure).map(|()| true);
            }
            let advanced = match git::advance(&repo, &merge, &message) {
                Err(err @ GitError::CheckedOut { .. }) => {
                    self.hold_merges(&err.into());
                    return Ok(false);
                }
                other => other?,
            };
            match advanced {
                MergeOutcome::Merged { commit } => {
                    self.service.record_merged(&queued.merge, Some(&commit))?;
                    self.progress.line(&format!(
                        "merged {} into {integration} ({}): {}",
                        task.id,
                        &commit[..commit.len().min(10)],
                        task.title
                    ));
                    return self.after_merge(queued).map(|()| true);
                }
                MergeOutcome::RefMoved => {
                    warn!(task_id = %task.id, "the integration branch moved during a merge; merging again");
                }
                MergeOutcome::AlreadyMerged | MergeOutcome::Conflict { .. } => {
                    return Err(ServiceError::Internal("advance only merges or races".to_owned()));
                }
            }
        }
        let why = format!("{integration} kept moving while cw merged {}", queued.branch);
        self.bounce(queued, &[], &why).map(|()| true)
    }

    fn bounce(
        &mut self,
        queued: &QueuedMerge,
        paths: &[String],
        why: &str,
    ) -> Result<(), ServiceError> {
        let task = self.service.record_bounce(&queued.merge, paths, why)?;
        match task.failure_reason.filter(|_| task.state == TaskState::Failed) {
            Some(failure) => self.progress.line(&format!("{} failed: {failure}", task.id)),
            None => self.progress.line(&format!("{} bounced back to its agent: {why}", task.id)),
        }
        Ok(())
    }

    /// Cleans the merged task's worktree when its agent is done with it (a live agent's is
    /// cleaned when it exits).
    fn after_merge(&mut self, queued: &QueuedMerge) -> Result<(), ServiceError> {
        if let Some(agent) = queued.task.agent.filter(|a| !self.live.contains_key(a)) {
            self.tidy(agent);
        }
        Ok(())
    }

    /// Runs the merge gate on `commit` in the scratch worktree; the failure text if it fails.
    fn run_gate(&mut self, commit: &str) -> Result<Option<String>, ServiceError> {
        let gate = self.service.config().run.merge_gate.trim().to_owned();
        if gate.is_empty() {
            return Ok(None);
        }
        let workspace = self.service.workspace();
        let config = self.service.config();
        let scratch = workspace.worktrees_dir(&config.agent.worktree_dir).join("merge-gate");
        git::gate_checkout(&workspace.repo, &scratch, commit)?;
        let log = workspace.logs_dir().join("merge-gate.log");
        let spec = SpawnSpec {
            program: PathBuf::from("sh"),
            args: vec!["-c".into(), gate.clone().into()],
            cwd: scratch,
            env: Vec::new(),
            env_remove: vec!["CW_TOKEN".into()],
            stdout: log.clone(),
            stderr: log.clone(),
            stdin_pipe: false,
        };
        self.progress.line(&format!("merge gate `{gate}` on {}", &commit[..commit.len().min(10)]));
        let outcome = process::run_to_end(&spec)?;
        if outcome == ExitOutcome::Exited(0) {
            return Ok(None);
        }
        let output = fs_err::read_to_string(&log).unwrap_or_default();
        let start = output.len().saturating_sub(GATE_OUTPUT_TAIL);
        let start = (start..output.len()).find(|i| output.is_char_boundary(*i)).unwrap_or(0);
        Ok(Some(format!(
            "the merge gate `{gate}` failed on the merged tree ({}); its output ends with:\n{}",
            crate::agent::describe(outcome),
            &output[start..]
        )))
    }
}
