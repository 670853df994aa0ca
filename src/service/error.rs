//! Service errors: one enum for every use case, each variant naming its object and what to do.

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::git::GitError;
use crate::model::{AgentId, IdParseError, QuestionId, TaskId, TaskState, TransitionError};
use crate::planning::ImportError;
use crate::store::StoreError;

impl ServiceError {
    /// The database could not be reached (a PostgreSQL server restarting): the same call can
    /// be made again once it is back.
    pub fn is_transient(&self) -> bool {
        matches!(self, ServiceError::Store(err) if err.is_transient())
    }
}

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("cw is not initialised in {} (run `cw init` there)", root.display())]
    NotInitialised { root: PathBuf },
    #[error("cw is already initialised in {} (nothing changed)", path.display())]
    AlreadyInitialised { path: PathBuf },
    #[error("{} is {what}; cw will not touch it: move it away (`mv {} {}.broken`), then run `cw init`", path.display(), path.display(), path.display())]
    BrokenState { path: PathBuf, what: &'static str },
    #[error("the database {} is missing (moved away or deleted); run `cw init` to make a new, empty one (the config and operator token are kept; new ids continue after the ones cw's branches and worktrees carry)", path.display())]
    DatabaseMissing { path: PathBuf },
    #[error("cw is set up in {} with its state elsewhere; `cw init --store` only sets up a new repository (to move state into PostgreSQL, run `cw store migrate <url>`)", cw_dir.display())]
    StoreElsewhere { cw_dir: PathBuf },
    #[error("task {0} does not exist (see `cw task list`)")]
    TaskNotFound(TaskId),
    #[error("agent {0} does not exist (see `cw agent list`)")]
    AgentNotFound(AgentId),
    #[error("plan '{0}' does not exist (see `cw task list` for plan ids)")]
    PlanNotFound(String),
    #[error("plan key '{key}' is ambiguous: it names {count} plans; use the plan id (p<number>)")]
    PlanAmbiguous { key: String, count: usize },
    #[error("task {task}: {source}")]
    Transition {
        task: TaskId,
        #[source]
        source: TransitionError,
    },
    #[error("adding this dependency would create a cycle: {} (→ means \"depends on\")", render_cycle(.cycle))]
    Cycle { cycle: Vec<TaskId> },
    #[error("task {0} cannot depend on itself")]
    SelfDependency(TaskId),
    #[error(
        "task {task} is {state}; dependencies can only be added to pending or ready tasks (cancel it or add the dependency to a new task)"
    )]
    DependencyOnStartedTask { task: TaskId, state: TaskState },
    #[error("task {task} does not depend on {dependency}")]
    NoSuchDependency { task: TaskId, dependency: TaskId },
    #[error("{0}")]
    InvalidInput(String),
    #[error(transparent)]
    BadId(#[from] IdParseError),
    #[error("the token is not valid for this repository (register with `cw agent register`)")]
    UnknownToken,
    #[error("the operator token {} is missing (or empty); run `cw init` to make a new one (nothing else is touched)", path.display())]
    OperatorTokenMissing { path: PathBuf },
    #[error("the operator token {} can be read by others (mode {mode:o}); run `chmod 600 {}`", path.display(), path.display())]
    OperatorTokenExposed { path: PathBuf, mode: u32 },
    #[error("no token given: set CW_TOKEN to an agent token (from `cw agent register --json`)")]
    MissingToken,
    #[error("CW_TOKEN belongs to agent {belongs}, not {expected}; fix this agent's MCP config")]
    TokenOfAnotherAgent { belongs: AgentId, expected: AgentId },
    #[error("task {task} is not held by agent {agent}; an agent may only act on its own task")]
    NotYourTask { task: TaskId, agent: AgentId },
    #[error("question {0} does not exist (see `cw inbox`)")]
    QuestionNotFound(QuestionId),
    #[error(
        "question {id} was already answered {}; nothing changed",
        super::caller::Via::words(by)
    )]
    AlreadyAnswered { id: QuestionId, by: String },
    #[error("this tool is for the operator; agent {agent} may only use the agent tools")]
    OperatorOnly { agent: AgentId },
    #[error("this tool is for agents; call it with an agent token (from `cw agent register`)")]
    AgentOnly,
    #[error(
        "cw run is already serving this repository (pid {pid}); stop it first, or use its server (see .cw/server.json)"
    )]
    ServerRunning { pid: String },
    #[error(
        "no cw run serves this repository now; start one with `cw run` (or `cw run --no-dispatch`)"
    )]
    NotServing,
    #[error("the server is shutting down; end your turn, the work will be resumed")]
    ShuttingDown,
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Import(#[from] ImportError),
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("task {task} has uncommitted changes in its worktree: {}; commit them (git add, git commit) and call report_done again", .paths.join(", "))]
    Uncommitted { task: TaskId, paths: Vec<String> },
    #[error("task {task} cannot be given to an agent: {why}")]
    TaskNotReady { task: TaskId, why: String },
    #[error("agent {0} is running; stop it first (`cw agent stop {0}`)")]
    AgentRunning(AgentId),
    #[error("agent {agent} has nothing to continue: {why}")]
    NothingToContinue { agent: AgentId, why: String },
    #[error(transparent)]
    Process(#[from] crate::process::ProcessError),
    #[error("internal error: {0}")]
    Internal(String),
}

fn render_cycle(cycle: &[TaskId]) -> String {
    cycle.iter().map(ToString::to_string).collect::<Vec<_>>().join(" → ")
}
