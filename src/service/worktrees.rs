//! The agents' worktrees as use cases: prepare one for a task (a finished agent's merged one made
//! into it, or a fresh checkout), check a removed one out again, remove what a failed start left.
//! The service is the one layer that takes the git write lock (`git::WriteLock`); every git
//! write below it is handed the lock it holds.

use std::path::Path;

use tracing::{debug, info, warn};

use super::{Service, ServiceError};
use crate::git::{self, CreatedWorktree, WorktreeSpec};
use crate::model::{AgentId, TaskId};
use crate::store::AgentRecord;

impl Service {
    /// The worktree for a new agent on `task`: the merged worktree of the finished agent `reuse`
    /// made into it when it can be (`git::recycle_worktree`), else a fresh checkout of the
    /// integration branch. Returns it and whose worktree it was, if reused.
    pub fn prepare_worktree(
        &self,
        task: TaskId,
        title: &str,
        reuse: Option<AgentId>,
    ) -> Result<(CreatedWorktree, Option<AgentId>), ServiceError> {
        if self.own_host().is_some() {
            self.fetch_integration_branch()?;
        }
        let (branch, path) = self.planned_worktree(task, title);
        // The task's branch exists already: work an agent left there (pushed by a worker whose
        // host was then lost, or left by an agent whose worktree is gone). The new agent starts
        // from it, on a branch of its own, instead of from nothing.
        if let Some(earlier) = self.earlier_work(task, &branch)? {
            let (branch, path) = (0_u32..)
                .map(|n| (format!("{branch}-again{n}"), path.with_extension(format!("again{n}"))))
                .find(|(b, p)| !git::branch_exists(&self.workspace.repo, b) && !p.exists())
                .unwrap_or_else(|| unreachable!("some name is free"));
            info!(%task, from = %earlier, %branch, "a new agent continues earlier work");
            let spec = WorktreeSpec { branch, path, base: earlier };
            let lock = git::WriteLock::acquire(&self.workspace.repo)?;
            return Ok((git::create_worktree(&self.workspace.repo, &lock, &spec)?, None));
        }
        let spec = WorktreeSpec { branch, path, base: self.config.integration_branch.clone() };
        if let Some(old) = reuse
            && let Some(created) = self.recycle(old, &spec)
        {
            return Ok((created, Some(old)));
        }
        let lock = git::WriteLock::acquire(&self.workspace.repo)?;
        Ok((git::create_worktree(&self.workspace.repo, &lock, &spec)?, None))
    }

    /// The local branch holding earlier work on a task whose branch is `branch`: the branch
    /// itself, or on a worker the coordinator's copy of it, fetched as `cw-pushed/<branch>`.
    /// Only a branch an earlier agent of this task recorded counts: a branch of the user's that
    /// happens to bear the name is refused as ever (`create_worktree`), never built on.
    fn earlier_work(&self, task: TaskId, branch: &str) -> Result<Option<String>, ServiceError> {
        let ours = self
            .agents()?
            .iter()
            .any(|a| a.bound_task == Some(task) && a.branch.as_deref() == Some(branch));
        if !ours {
            return Ok(None);
        }
        if git::branch_exists(&self.workspace.repo, branch) {
            return Ok(Some(branch.to_owned()));
        }
        if self.own_host().is_none() {
            return Ok(None);
        }
        let fetched = format!("cw-pushed/{branch}");
        // No such branch there is the usual answer: nothing was pushed for this task.
        Ok(self.fetch_branch(branch, &fetched).ok().map(|()| fetched))
    }

    /// The merged worktree of the finished agent `old` made into `spec`, if it can be. One that
    /// cannot is left to the usual clean-up, and the caller checks out a fresh one.
    fn recycle(&self, old: AgentId, spec: &WorktreeSpec) -> Option<CreatedWorktree> {
        let (path, branch) = match self.merged_worktree(old) {
            Ok(found) => found?,
            Err(err) => {
                warn!(agent_id = %old, cause = %err, "could not read a finished agent's worktree");
                return None;
            }
        };
        let repo = &self.workspace.repo;
        let recycled = git::WriteLock::acquire(repo)
            .and_then(|mut lock| git::recycle_worktree(repo, &mut lock, &path, &branch, spec));
        match recycled {
            Ok(created) => {
                debug!(from = %path.display(), to = %created.path.display(), "worktree reused");
                Some(created)
            }
            Err(err) => {
                debug!(from = %path.display(), cause = %err, "worktree not reused");
                None
            }
        }
    }

    /// Checks the worktree of an agent whose unfinished task is continued out again when it was
    /// removed (by `cw gc` after the task failed, or by hand), so the session has somewhere to run.
    pub fn restore_agent_worktree(&self, record: &AgentRecord) -> Result<(), ServiceError> {
        let (Some(worktree), Some(branch)) = (&record.worktree, &record.branch) else {
            return Ok(());
        };
        let path = Path::new(worktree);
        if path.is_dir() {
            return Ok(());
        }
        let repo = &self.workspace.repo;
        let lock = git::WriteLock::acquire(repo)?;
        git::restore_worktree(repo, &lock, path, branch, &self.config.integration_branch)?;
        info!(agent_id = %record.id, worktree, branch, "checked the removed worktree out again");
        Ok(())
    }

    /// Removes the worktree and branch an agent on `task` would get, when they are cw's (a linked
    /// worktree, its branch merged) and no agent's record names them: what a start that failed or
    /// was killed before it recorded its worktree leaves, which would block every later start.
    /// A branch without its worktree is removed only with `branch_alone` (a start killed midway:
    /// the branch is cw's); after a failed start it may be the user's branch that made it fail.
    pub fn remove_planned_worktree(
        &self,
        task: TaskId,
        branch_alone: bool,
    ) -> Result<(), ServiceError> {
        let title = self.task(task)?.task.title;
        let (branch, path) = self.planned_worktree(task, &title);
        let repo = &self.workspace.repo;
        let recorded = self
            .agents()?
            .iter()
            .any(|a| a.worktree.as_deref().is_some_and(|w| Path::new(w) == path.as_path()));
        // Only a linked worktree (a `.git` file) is cw's; any other directory is left alone.
        let made = path.join(".git").is_file();
        if recorded || !(made || (branch_alone && !path.exists())) {
            return Ok(());
        }
        let lock = git::WriteLock::acquire(repo)?;
        if git::branch_exists(repo, &branch) {
            git::remove_worktree(repo, &lock, &path, &branch, &self.config.integration_branch)?;
        } else if path.exists() {
            fs_err::remove_dir_all(&path)
                .map_err(|source| ServiceError::Io { path: path.clone(), source })?;
            git::prune_missing(repo, &lock)?;
        }
        Ok(())
    }
}
