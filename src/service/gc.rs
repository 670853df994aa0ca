//! Cleaning up after agents: `cw diff` targets and `cw gc`. Merged worktrees go; unmerged work is
//! kept, or — once its task is cancelled or failed — archived under `refs/cw/archive/` first.

use std::collections::HashSet;
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

    /// What a task's agent (or an agent) changed, for the operator (MCP `diff`): the agent and
    /// its patch against the integration branch.
    pub fn diff(
        &self,
        caller: &super::Caller,
        target: &str,
    ) -> Result<(AgentRecord, String), ServiceError> {
        caller.require_operator()?;
        let agent = self.agent_for_target(target)?;
        let patch = self.agent_diff(&agent)?;
        Ok((agent, patch))
    }

    /// The agent's changes against the integration branch (committed, then uncommitted).
    pub fn agent_diff(&self, agent: &AgentRecord) -> Result<String, ServiceError> {
        let branch = agent.branch.as_deref().ok_or_else(|| {
            ServiceError::InvalidInput(format!("agent {} has no branch", agent.id))
        })?;
        let worktree = agent.worktree.as_deref().map(std::path::Path::new);
        let base = &self.config.integration_branch;
        match git::branch_diff(&self.workspace.repo, base, branch, worktree) {
            // Merged and cleaned up: what its merge brought in.
            Err(git::GitError::MissingBranch { .. })
                if let Some(commit) = self.merged_commit(agent)? =>
            {
                let patch = git::merge_diff(&self.workspace.repo, &commit)?;
                let short = &commit[..commit.len().min(10)];
                Ok(format!("# {branch} was merged into {base} as {short}\n{patch}"))
            }
            result => Ok(result?),
        }
    }

    /// The merge commit of the agent's task, once it merged.
    fn merged_commit(&self, agent: &AgentRecord) -> Result<Option<String>, ServiceError> {
        let Some(task) = agent.task.or(agent.bound_task) else { return Ok(None) };
        let merge = self.store.read(|tx| tx.latest_merge(task))?;
        Ok(merge.filter(|m| m.state == crate::model::MergeState::Merged).and_then(|m| m.commit))
    }

    /// Removes merged worktrees, archives and removes the unmerged work of cancelled or failed
    /// tasks, keeps everything else, and forgets worktrees whose directories are gone. A dry run
    /// reports the same plan without carrying it out: both come from `gc_plan`.
    pub fn gc(&self, dry_run: bool) -> Result<GcReport, ServiceError> {
        let repo = &self.workspace.repo;
        if dry_run {
            return self.gc_plan();
        }
        let lock = git::WriteLock::acquire(repo)?;
        let plan = self.gc_plan()?;
        for (branch, _) in &plan.archived {
            git::archive_branch(repo, &lock, branch)?;
        }
        for (_, path, branch) in &plan.removed {
            git::remove_worktree(repo, &lock, path, branch, &self.config.integration_branch)?;
        }
        git::prune_missing(repo, &lock)?;
        // Removals prune as they go; what is reported is what git no longer records.
        let still = git::missing_worktrees(repo);
        let pruned = plan.pruned.into_iter().filter(|p| !still.contains(p)).collect();
        Ok(GcReport { pruned, ..plan })
    }

    /// What `cw gc` would do now, decided from reads only.
    fn gc_plan(&self) -> Result<GcReport, ServiceError> {
        let repo = &self.workspace.repo;
        let integration = &self.config.integration_branch;
        let mut report = GcReport::default();
        let mut seen = HashSet::new();
        for agent in self.agents()? {
            let (Some(path), Some(branch)) = (agent.worktree.as_deref(), agent.branch.as_deref())
            else {
                continue;
            };
            let path = PathBuf::from(path);
            if !path.exists() && !branch_exists(repo, branch) {
                continue;
            }
            // Two records can name one worktree (a restarted agent's): decide it once.
            if !seen.insert((path.clone(), branch.to_owned())) {
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
            if !git::is_merged(repo, branch, integration)? {
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
                report.archived.push((branch.to_owned(), archive));
            }
            report.removed.push((agent.id, path, branch.to_owned()));
        }
        let removing: HashSet<&PathBuf> = report.removed.iter().map(|(_, p, _)| p).collect();
        report.pruned =
            git::missing_worktrees(repo).into_iter().filter(|p| !removing.contains(p)).collect();
        Ok(report)
    }
}

fn branch_exists(repo: &git::RepoLocation, branch: &str) -> bool {
    git::branch_exists(repo, branch)
}
