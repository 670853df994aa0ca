//! Cleaning up after agents: `cw diff` targets and `cw gc`. Merged worktrees go; unmerged work is
//! kept, or — once its task is cancelled or failed — archived under `refs/cw/archive/` first.

use std::path::PathBuf;

use super::tasks::require_task;
use super::{Service, ServiceError};
use crate::git;
use crate::model::{AgentId, TaskId, TaskState};
use crate::store::AgentRecord;

/// What `cw gc` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Default)]
pub struct GcReport {
    /// Worktrees removed with their branches (merged, or archived first).
    pub removed: Vec<(AgentId, PathBuf, String)>,
    /// Unmerged branches kept under an archive ref before removal.
    pub archived: Vec<(String, String)>,
    /// Worktrees kept, with why.
    pub kept: Vec<(AgentId, PathBuf, String)>,
    /// Worktree records whose directories were already gone.
    pub pruned: Vec<PathBuf>,
}

impl Service {
    /// The agent a `cw diff` target names: an agent id, or a task id (its latest agent).
    pub fn agent_for_target(&self, target: &str) -> Result<AgentRecord, ServiceError> {
        if let Ok(agent) = target.parse::<AgentId>()
            && target.trim_start().starts_with('a')
        {
            return self.agent(agent);
        }
        let task: TaskId = target.parse()?;
        self.store
            .read(|tx| -> Result<_, ServiceError> {
                require_task(tx, task)?;
                Ok(tx
                    .agents()?
                    .into_iter()
                    .find(|a| a.task.or(a.bound_task) == Some(task) && a.branch.is_some()))
            })?
            .ok_or_else(|| {
                ServiceError::InvalidInput(format!("task {task} has no agent branch yet"))
            })
    }

    /// The agent's changes against the integration branch (committed, then uncommitted).
    pub fn agent_diff(&self, agent: &AgentRecord) -> Result<String, ServiceError> {
        let branch = agent.branch.as_deref().ok_or_else(|| {
            ServiceError::InvalidInput(format!("agent {} has no branch", agent.id))
        })?;
        let worktree = agent.worktree.as_deref().map(std::path::Path::new);
        Ok(git::branch_diff(
            &self.workspace.repo,
            &self.config.integration_branch,
            branch,
            worktree,
        )?)
    }

    /// Removes merged worktrees, archives and removes the unmerged work of cancelled or failed
    /// tasks, keeps everything else, and forgets worktrees whose directories are gone.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, ServiceError> {
        let repo = &self.workspace.repo;
        let integration = &self.config.integration_branch;
        let _lock = if dry_run { None } else { Some(git::WriteLock::acquire(repo)?) };
        let mut report = GcReport::default();
        for agent in self.agents()? {
            let (Some(path), Some(branch)) = (agent.worktree.as_deref(), agent.branch.as_deref())
            else {
                continue;
            };
            let path = PathBuf::from(path);
            if !path.exists() && !dry_run && !branch_exists(repo, branch) {
                continue;
            }
            if agent.process.is_some() {
                report.kept.push((agent.id, path, "its agent is running".to_owned()));
                continue;
            }
            let task = match agent.task.or(agent.bound_task) {
                Some(task) => Some(self.store.read(|tx| require_task(tx, task))?),
                None => None,
            };
            let active = task.as_ref().is_some_and(|t| {
                t.agent == Some(agent.id)
                    && matches!(
                        t.state,
                        TaskState::Claimed
                            | TaskState::Waiting
                            | TaskState::Conflict
                            | TaskState::Done
                            | TaskState::Merging
                    )
            });
            if active {
                let state = task.map(|t| t.state.to_string()).unwrap_or_default();
                report.kept.push((agent.id, path, format!("its task is {state}")));
                continue;
            }
            let merged = git::is_merged(repo, branch, integration)?;
            if !merged {
                let abandoned = task.as_ref().is_some_and(|t| {
                    matches!(t.state, TaskState::Cancelled | TaskState::Failed)
                        || t.agent.is_some_and(|holder| holder != agent.id)
                        || t.state == TaskState::Merged
                });
                if !abandoned {
                    report.kept.push((agent.id, path, "its branch holds unmerged work".to_owned()));
                    continue;
                }
                let archive = format!("refs/cw/archive/{}", branch.trim_start_matches("cw/"));
                if !dry_run {
                    git::archive_branch(repo, branch)?;
                }
                report.archived.push((branch.to_owned(), archive));
            }
            if !dry_run {
                git::remove_worktree(repo, &path, branch, integration)?;
            }
            report.removed.push((agent.id, path, branch.to_owned()));
        }
        if !dry_run {
            report.pruned = git::prune_missing(repo)?;
        }
        Ok(report)
    }
}

fn branch_exists(repo: &git::RepoLocation, branch: &str) -> bool {
    git::branch_exists(repo, branch)
}
