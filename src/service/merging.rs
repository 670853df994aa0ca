//! Merging one queued branch into the integration branch, and what becomes of it: the merge is
//! made in memory (`git::prepare_merge`), the merge gate runs on the merged tree in a scratch
//! worktree, and the branch moves with a compare-and-swap under the write lock. A conflict, a
//! failed gate or a branch that keeps moving bounces the task to its agent (`record_bounce`,
//! which fails it past `max_bounces`). The coordinator decides when to merge; this decides how.

use std::path::PathBuf;

use tracing::warn;

use super::coordination::QueuedMerge;
use super::{Service, ServiceError};
use crate::git::{self, Advanced, GitError, Prepared};
use crate::process::{self, ExitOutcome, SpawnSpec};
use crate::store::TaskRecord;

/// How often a merge is recomputed when the integration branch keeps moving under it.
const MAX_REF_RACES: usize = 10;
/// How much of a failing gate's output goes into the bounce.
const GATE_OUTPUT_TAIL: usize = 4_000;

/// What became of one merge request.
#[derive(Debug)]
pub enum MergeResult {
    /// The task is merged: `commit` is the merge commit, `None` when the branch was already on
    /// the integration branch.
    Merged { task: TaskRecord, commit: Option<String> },
    /// Sent back to its agent, or failed past `max_bounces` (`task` says which), and why.
    Bounced { task: TaskRecord, why: String },
    /// The integration branch may not move now (it is checked out somewhere); the request stays
    /// queued, nothing lost.
    Held(ServiceError),
}

impl Service {
    /// Merges `queued` (its dependencies merged) or bounces it. `gate_starts` is told the commit
    /// before the merge gate runs on it (a gate can take minutes).
    pub fn merge_queued(
        &self,
        queued: &QueuedMerge,
        mut gate_starts: impl FnMut(&str),
    ) -> Result<MergeResult, ServiceError> {
        let repo = &self.workspace.repo;
        let integration = &self.config.integration_branch;
        let task = &queued.task;
        let title = crate::safe_text::one_line(&task.title);
        let message = format!("Merge {}: {title} ({})", queued.branch, task.id);
        for _ in 0..MAX_REF_RACES {
            let merge = match git::prepare_merge(repo, integration, &queued.branch, &message) {
                Err(err) => {
                    let why = format!("cw could not merge {}: {err}", queued.branch);
                    return self.bounce(queued, &[], why);
                }
                Ok(Prepared::AlreadyMerged) => {
                    let task = self.record_merged(&queued.merge, None)?;
                    return Ok(MergeResult::Merged { task, commit: None });
                }
                Ok(Prepared::Conflict { paths }) => {
                    let why = format!(
                        "merging {} into {integration} conflicts in {}",
                        queued.branch,
                        paths.join(", ")
                    );
                    return self.bounce(queued, &paths, why);
                }
                Ok(Prepared::Ready(merge)) => merge,
            };
            if let Some(failure) = self.run_gate(&merge.commit, &mut gate_starts)? {
                return self.bounce(queued, &[], failure);
            }
            let advanced = {
                let lock = git::WriteLock::acquire(repo)?;
                git::advance(repo, &lock, &merge, &message)
            };
            match advanced {
                Err(err @ GitError::CheckedOut { .. }) => return Ok(MergeResult::Held(err.into())),
                Err(err) => return Err(err.into()),
                Ok(Advanced::Merged { commit }) => {
                    let task = self.record_merged(&queued.merge, Some(&commit))?;
                    return Ok(MergeResult::Merged { task, commit: Some(commit) });
                }
                Ok(Advanced::RefMoved) => {
                    warn!(task_id = %task.id, "the integration branch moved during a merge; merging again");
                }
            }
        }
        let why = format!("{integration} kept moving while cw merged {}", queued.branch);
        self.bounce(queued, &[], why)
    }

    fn bounce(
        &self,
        queued: &QueuedMerge,
        paths: &[String],
        why: String,
    ) -> Result<MergeResult, ServiceError> {
        let task = self.record_bounce(&queued.merge, paths, &why)?;
        Ok(MergeResult::Bounced { task, why })
    }

    /// Runs `[run] merge_gate` on `commit` in the scratch worktree; the failure text if it fails.
    fn run_gate(
        &self,
        commit: &str,
        gate_starts: &mut impl FnMut(&str),
    ) -> Result<Option<String>, ServiceError> {
        let gate = self.config.run.merge_gate.trim().to_owned();
        if gate.is_empty() {
            return Ok(None);
        }
        let workspace = &self.workspace;
        let scratch = workspace.worktrees_dir(&self.config.agent.worktree_dir).join("merge-gate");
        {
            let lock = git::WriteLock::acquire(&workspace.repo)?;
            git::ensure_gate_worktree(&workspace.repo, &lock, &scratch, commit)?;
        }
        git::gate_checkout(&scratch, commit)?;
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
        gate_starts(commit);
        let outcome = process::run_to_end(&spec)?;
        if outcome == ExitOutcome::Exited(0) {
            return Ok(None);
        }
        let output = fs_err::read_to_string(&log).unwrap_or_default();
        let start = output.len().saturating_sub(GATE_OUTPUT_TAIL);
        let start = (start..output.len()).find(|i| output.is_char_boundary(*i)).unwrap_or(0);
        Ok(Some(format!(
            "the merge gate `{gate}` failed on the merged tree ({outcome}); its output ends with:\n{}",
            &output[start..]
        )))
    }
}
