//! The one classification of errors at the boundary: is it the user's to fix, a usage mistake,
//! or cw's own fault? The CLI turns this into exit codes 1/2; MCP into tool errors vs JSON-RPC
//! errors.

use crate::agent::AgentError;
use crate::coordinator::CoordinatorError;
use crate::git::GitError;
use crate::process::ProcessError;
use crate::service::ServiceError;
use crate::store::StoreError;

/// Who has to act on an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Bad input or state the user can fix (exit 1, MCP tool error).
    User,
    /// The command line itself is wrong (exit 2).
    Usage,
    /// A bug or an environment failure (exit 1, logged with its cause chain).
    Internal,
}

/// Classifies a service error. Every variant is named: a new one must be judged here.
pub fn classify(err: &ServiceError) -> ErrorKind {
    use ServiceError as E;
    match err {
        E::BadId(_) => ErrorKind::Usage,
        // Named objects, rules and state the user can see and change.
        E::NotInitialised { .. }
        | E::AlreadyInitialised { .. }
        | E::BrokenState { .. }
        | E::DatabaseMissing { .. }
        | E::StoreElsewhere { .. }
        | E::TaskNotFound(_)
        | E::AgentNotFound(_)
        | E::PlanNotFound(_)
        | E::PlanAmbiguous { .. }
        | E::Transition { .. }
        | E::Cycle { .. }
        | E::SelfDependency(_)
        | E::DependencyOnStartedTask { .. }
        | E::NoSuchDependency { .. }
        | E::InvalidInput(_)
        | E::UnknownToken
        | E::OperatorTokenMissing { .. }
        | E::OperatorTokenExposed { .. }
        | E::MissingToken
        | E::TokenOfAnotherAgent { .. }
        | E::NotYourTask { .. }
        | E::QuestionNotFound(_)
        | E::AlreadyAnswered { .. }
        | E::OperatorOnly { .. }
        | E::AgentOnly
        | E::ServerRunning { .. }
        | E::NotServing
        | E::ShuttingDown
        | E::Config(_)
        | E::Import(_)
        | E::Uncommitted { .. }
        | E::TaskNotReady { .. }
        | E::AgentRunning(_)
        | E::NothingToContinue { .. } => ErrorKind::User,
        E::Store(err) => classify_store(err),
        E::Git(err) => classify_git(err),
        E::Process(err) => classify_process(err),
        E::Io { .. } | E::Internal(_) => ErrorKind::Internal,
    }
}

/// Classifies an agent runtime error: a worktree that is gone or a setup command that failed
/// is the user's to see to; a row without a worktree is cw's.
pub fn classify_agent(err: &AgentError) -> ErrorKind {
    match err {
        AgentError::Service(err) => classify(err),
        AgentError::Process(err) => classify_process(err),
        AgentError::WorktreeGone { .. } | AgentError::SetupFailed { .. } => ErrorKind::User,
        AgentError::NoWorktree(_) => ErrorKind::Internal,
    }
}

/// Classifies a failure of `cw run`'s loop: its own threads failing are cw's.
pub fn classify_run(err: &CoordinatorError) -> ErrorKind {
    match err {
        CoordinatorError::Service(err) => classify(err),
        CoordinatorError::Agent(err) => classify_agent(err),
        CoordinatorError::Watch(err) => classify_store(err),
        CoordinatorError::StartThreads(_)
        | CoordinatorError::StartThreadsGone
        | CoordinatorError::Panicked(_) => ErrorKind::Internal,
    }
}

/// The database's state (missing, busy, read-only, damaged) is the user's to act on, with a
/// hint; a failed statement or migration is cw's.
fn classify_store(err: &StoreError) -> ErrorKind {
    match err {
        StoreError::Missing { .. }
        | StoreError::AlreadyExists { .. }
        | StoreError::Busy { .. }
        | StoreError::Corrupt { .. }
        | StoreError::ReadOnly { .. }
        | StoreError::BadUrl { .. }
        | StoreError::Unreachable { .. } => ErrorKind::User,
        StoreError::Migration { .. } | StoreError::Sqlite { .. } | StoreError::Postgres { .. } => {
            ErrorKind::Internal
        }
    }
}

/// The repository's shape (no commits, a checked-out integration branch, a directory in the
/// way) is the user's; a failure inside git2 or the file system is cw's.
fn classify_git(err: &GitError) -> ErrorKind {
    match err {
        GitError::NotARepository { .. }
        | GitError::Bare { .. }
        | GitError::NoCommits { .. }
        | GitError::PathExists { .. }
        | GitError::BranchExists { .. }
        | GitError::MissingBranch { .. }
        | GitError::CheckedOut { .. }
        | GitError::Unmerged { .. }
        | GitError::NotReusable { .. }
        | GitError::InvalidBranchName { .. } => ErrorKind::User,
        GitError::Git { .. } | GitError::Io { .. } | GitError::LockedTwice { .. } => {
            ErrorKind::Internal
        }
    }
}

/// A configured program that is missing or not executable is the user's to fix; a spawn,
/// log file or signal that fails is cw's.
fn classify_process(err: &ProcessError) -> ErrorKind {
    match err {
        ProcessError::NotFound { .. } | ProcessError::NotExecutable { .. } => ErrorKind::User,
        ProcessError::Spawn { .. } | ProcessError::Log { .. } | ProcessError::Signal { .. } => {
            ErrorKind::Internal
        }
    }
}

/// A short next step for errors where the message alone may not be enough.
pub fn hint(err: &ServiceError) -> Option<&'static str> {
    match err {
        ServiceError::Store(StoreError::Busy { .. }) => {
            Some("another cw process holds the database; wait for it or stop it")
        }
        ServiceError::Store(StoreError::Corrupt { .. }) => {
            Some("restore .cw/cw.db from a backup, or move it away and run `cw init` again")
        }
        ServiceError::Store(StoreError::Unreachable { .. }) => Some(
            "start the PostgreSQL server, or fix `[store] url` in .cw/config.toml (or CW_DATABASE_URL)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn io_git_and_process_failures_are_cws_and_a_missing_program_is_the_users() {
        let io = std::io::Error::other("disk on fire");
        let cases = [
            (ServiceError::Io { path: PathBuf::from("/x"), source: io }, ErrorKind::Internal),
            (
                ServiceError::Git(GitError::Io {
                    path: PathBuf::from("/x"),
                    source: std::io::Error::other("no"),
                }),
                ErrorKind::Internal,
            ),
            (ServiceError::Git(GitError::NoCommits { path: PathBuf::from("/r") }), ErrorKind::User),
            (
                ServiceError::Process(ProcessError::NotFound { program: PathBuf::from("claude") }),
                ErrorKind::User,
            ),
            (
                ServiceError::Store(StoreError::Migration {
                    path: PathBuf::from("/db"),
                    cause: "bad".to_owned(),
                }),
                ErrorKind::Internal,
            ),
            (ServiceError::AgentOnly, ErrorKind::User),
        ];
        for (err, kind) in cases {
            assert_eq!(classify(&err), kind, "{err}");
        }
    }

    #[test]
    fn an_agent_or_run_failure_is_classified_by_what_it_wraps_or_as_cws_own() {
        let agent: crate::model::AgentId = "a3".parse().unwrap();
        let gone = AgentError::WorktreeGone {
            agent,
            worktree: PathBuf::from("/w"),
            branch: "cw/a3".to_owned(),
        };
        assert_eq!(classify_agent(&gone), ErrorKind::User);
        assert_eq!(classify_agent(&AgentError::NoWorktree(agent)), ErrorKind::Internal);
        let refused = AgentError::Service(ServiceError::AgentRunning(agent));
        assert_eq!(classify_agent(&refused), ErrorKind::User);
        assert_eq!(classify_run(&CoordinatorError::Agent(refused)), ErrorKind::User);
        let panicked = CoordinatorError::Panicked("starting the agent");
        assert_eq!(classify_run(&panicked), ErrorKind::Internal);
        assert_eq!(panicked.to_string(), "starting the agent panicked");
    }
}
