//! The pure domain model: ids, the task and agent state machines, the dependency graph and leases.
//!
//! Owns: newtype ids, `TaskState`/`AgentState` with total `transition` functions, cycle detection,
//! lease arithmetic, the size limits of a task's text.
//! Must not: do I/O, touch async, derive serde, or read the clock (time is always passed in).

mod agent_state;
mod dag;
mod ids;
mod lease;
mod limits;
mod records;
mod task_state;

pub use agent_state::{AgentEvent, AgentKind, AgentState, AgentTransitionError};
pub use dag::{find_cycle, path_between};
pub use ids::{
    AgentId, IdParseError, InitiativeId, MessageId, PhaseId, PlanId, QuestionId, TaskId,
};
pub use lease::{Lease, Timestamp};
pub use limits::{MAX_DESCRIPTION_BYTES, MAX_PRIORITY, MAX_TITLE_CHARS};
pub use records::{MergeState, QuestionStatus};
pub use task_state::{ReportOutcome, TaskEvent, TaskState, TransitionError};
