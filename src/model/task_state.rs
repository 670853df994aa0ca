//! The task state machine of design.md §2 as one total function.
//!
//! ```text
//! pending ─deps merged→ ready ─claim→ claimed ─report done→ done ─request merge→ merging ─→ merged
//!                         ↑  └───────────────── lease expired / crashed (attempts+1) ┘       │
//!                         │            claimed ─ask_user→ waiting ─answer→ claimed          ↓
//!                         │                                conflict ←─ bounced ─────── merging
//! plus failed and cancelled; retry brings either back.
//! ```

use std::fmt;
use std::str::FromStr;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaskState {
    /// Waiting for at least one dependency to be merged.
    Pending,
    /// Every dependency is merged; an agent may claim it.
    Ready,
    /// An agent holds it under a lease.
    Claimed,
    /// The agent asked the human and waits for the answer.
    Waiting,
    /// The agent reported the work done and committed.
    Done,
    /// In the merge queue.
    Merging,
    /// The merge conflicted or the merge gate failed; bounced back to the agent.
    Conflict,
    /// On the integration branch. Final.
    Merged,
    /// Gave up (reported failed, or out of attempts).
    Failed,
    /// Cancelled by the human.
    Cancelled,
}

/// How an agent ends its work on a task (`report_done`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportOutcome {
    Done,
    Failed,
    Blocked,
}

/// Everything that can happen to a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TaskEvent {
    /// The last unmerged dependency was merged.
    DependenciesMerged,
    /// A new unmerged dependency appeared.
    DependencyReopened,
    Claim,
    /// The holding agent gave the task back without failing it.
    Release,
    /// The lease ran out or the agent crashed. `attempts` counts this attempt too.
    LeaseExpired {
        attempts: u32,
        max_attempts: u32,
    },
    /// The agent's process ended (or never started) with the task unfinished. `attempts`
    /// counts this attempt too; past the maximum the task fails.
    AgentLost {
        attempts: u32,
        max_attempts: u32,
    },
    /// The host of the agent holding a done or bounced task went silent (`cw worker`): its
    /// work may never have reached the coordinator's repository, and no host can resume it.
    /// The task is handed out again; past the maximum it fails.
    HostLost {
        attempts: u32,
        max_attempts: u32,
    },
    AskUser,
    Answered,
    Report(ReportOutcome),
    RequestMerge,
    MergeSucceeded,
    /// The merge conflicted or the merge gate failed. `bounces` counts this one too; past the
    /// maximum the task fails (an agent that cannot satisfy the gate must not loop forever).
    MergeBounced {
        bounces: u32,
        max_bounces: u32,
    },
    /// Imported from a plan that already has a SUMMARY: the work is in history.
    ImportedAsMerged,
    /// A task for the human (a checkpoint) was completed by the human.
    CompletedByHuman,
    /// A task for the human was rejected by the human: it fails, and what waits for it waits.
    RejectedByHuman,
    Cancel,
    Retry {
        dependencies_merged: bool,
    },
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {from} task cannot {action}{hint}")]
pub struct TransitionError {
    pub from: TaskState,
    pub action: &'static str,
    pub hint: &'static str,
}

impl TaskState {
    /// Every state, in life-cycle order.
    pub const ALL: [TaskState; 10] = [
        TaskState::Pending,
        TaskState::Ready,
        TaskState::Claimed,
        TaskState::Waiting,
        TaskState::Done,
        TaskState::Merging,
        TaskState::Conflict,
        TaskState::Merged,
        TaskState::Failed,
        TaskState::Cancelled,
    ];

    /// The state after `event`, or why `event` is not allowed here.
    pub fn transition(self, event: TaskEvent) -> Result<TaskState, TransitionError> {
        use TaskEvent as E;
        use TaskState as S;
        let next =
            match (self, event) {
                (S::Pending, E::DependenciesMerged) => S::Ready,
                (S::Ready, E::DependencyReopened) => S::Pending,
                (S::Ready, E::Claim) => S::Claimed,
                (S::Claimed, E::Release) => S::Ready,
                (S::Claimed, E::LeaseExpired { attempts, max_attempts }) => {
                    if attempts > max_attempts { S::Failed } else { S::Ready }
                }
                (S::Ready | S::Claimed | S::Conflict, E::AgentLost { attempts, max_attempts })
                    if attempts > max_attempts =>
                {
                    S::Failed
                }
                (S::Ready | S::Claimed, E::AgentLost { .. }) => S::Ready,
                (S::Conflict, E::AgentLost { .. }) => S::Conflict,
                (S::Done | S::Conflict, E::HostLost { attempts, max_attempts }) => {
                    if attempts > max_attempts { S::Failed } else { S::Ready }
                }
                (S::Claimed, E::AskUser) => S::Waiting,
                (S::Waiting, E::Answered) => S::Claimed,
                (S::Claimed, E::Report(ReportOutcome::Done)) => S::Done,
                (S::Claimed, E::Report(ReportOutcome::Failed)) => S::Failed,
                (S::Claimed, E::Report(ReportOutcome::Blocked)) => S::Waiting,
                (S::Done | S::Conflict, E::RequestMerge) => S::Merging,
                (S::Merging, E::MergeSucceeded) => S::Merged,
                (S::Merging, E::MergeBounced { bounces, max_bounces }) => {
                    if bounces > max_bounces {
                        S::Failed
                    } else {
                        S::Conflict
                    }
                }
                (S::Pending | S::Ready, E::ImportedAsMerged) => S::Merged,
                (S::Ready | S::Waiting, E::CompletedByHuman) => S::Merged,
                (S::Ready | S::Waiting, E::RejectedByHuman) => S::Failed,
                (S::Merged | S::Cancelled, E::Cancel) => return Err(refusal(self, event)),
                (_, E::Cancel) => S::Cancelled,
                (S::Failed | S::Cancelled, E::Retry { dependencies_merged }) => {
                    if dependencies_merged {
                        S::Ready
                    } else {
                        S::Pending
                    }
                }
                _ => return Err(refusal(self, event)),
            };
        Ok(next)
    }

    /// The lower-case name used in the database, `--json` and MCP.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Ready => "ready",
            TaskState::Claimed => "claimed",
            TaskState::Waiting => "waiting",
            TaskState::Done => "done",
            TaskState::Merging => "merging",
            TaskState::Conflict => "conflict",
            TaskState::Merged => "merged",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// True for states no agent will ever move again (only `retry` reopens failed/cancelled).
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Merged | TaskState::Failed | TaskState::Cancelled)
    }

    /// True while an agent holds the task and is expected to work on it.
    pub fn is_held(self) -> bool {
        matches!(self, TaskState::Claimed | TaskState::Waiting | TaskState::Conflict)
    }
}

impl TaskEvent {
    /// The verb used in refusal messages ("a merged task cannot be claimed").
    fn action(self) -> &'static str {
        match self {
            TaskEvent::DependenciesMerged => "become ready",
            TaskEvent::DependencyReopened => "go back to pending",
            TaskEvent::Claim => "be claimed",
            TaskEvent::Release => "be released",
            TaskEvent::LeaseExpired { .. } => "have its lease expire",
            TaskEvent::AgentLost { .. } => "lose its agent",
            TaskEvent::HostLost { .. } => "lose its agent's host",
            TaskEvent::AskUser => "wait for an answer",
            TaskEvent::Answered => "receive an answer",
            TaskEvent::Report(ReportOutcome::Done) => "be reported done",
            TaskEvent::Report(ReportOutcome::Failed) => "be reported failed",
            TaskEvent::Report(ReportOutcome::Blocked) => "be reported blocked",
            TaskEvent::RequestMerge => "be queued for merge",
            TaskEvent::MergeSucceeded => "be merged",
            TaskEvent::MergeBounced { .. } => "be bounced",
            TaskEvent::ImportedAsMerged => "be marked merged by an import",
            TaskEvent::CompletedByHuman => "be completed by the human",
            TaskEvent::RejectedByHuman => "be rejected by the human",
            TaskEvent::Cancel => "be cancelled",
            TaskEvent::Retry { .. } => "be retried",
        }
    }
}

fn refusal(from: TaskState, event: TaskEvent) -> TransitionError {
    let hint = match (from, event) {
        (_, TaskEvent::Retry { .. }) => " (only failed or cancelled tasks can be retried)",
        (TaskState::Pending, TaskEvent::Claim) => " (its dependencies are not merged yet)",
        (_, TaskEvent::Claim) => " (only ready tasks can be claimed)",
        (_, TaskEvent::Report(_)) => " (only a claimed task can be reported on)",
        (_, TaskEvent::RequestMerge) => " (call report_done with outcome done first)",
        _ => "",
    };
    TransitionError { from, action: event.action(), hint }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TaskState {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        TaskState::ALL.into_iter().find(|state| state.as_str() == input).ok_or_else(|| {
            let names: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown task state '{input}' (expected one of {})", names.join(", "))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState as S;

    fn all_events() -> Vec<TaskEvent> {
        use TaskEvent as E;
        vec![
            E::DependenciesMerged,
            E::DependencyReopened,
            E::Claim,
            E::Release,
            E::LeaseExpired { attempts: 1, max_attempts: 3 },
            E::LeaseExpired { attempts: 4, max_attempts: 3 },
            E::AgentLost { attempts: 1, max_attempts: 3 },
            E::AgentLost { attempts: 4, max_attempts: 3 },
            E::HostLost { attempts: 1, max_attempts: 3 },
            E::HostLost { attempts: 4, max_attempts: 3 },
            E::AskUser,
            E::Answered,
            E::Report(ReportOutcome::Done),
            E::Report(ReportOutcome::Failed),
            E::Report(ReportOutcome::Blocked),
            E::RequestMerge,
            E::MergeSucceeded,
            E::MergeBounced { bounces: 1, max_bounces: 3 },
            E::MergeBounced { bounces: 4, max_bounces: 3 },
            E::ImportedAsMerged,
            E::CompletedByHuman,
            E::RejectedByHuman,
            E::Cancel,
            E::Retry { dependencies_merged: true },
            E::Retry { dependencies_merged: false },
        ]
    }

    /// The complete table of allowed transitions; every pair not listed must be refused.
    fn expected(state: TaskState, event: TaskEvent) -> Option<TaskState> {
        use TaskEvent as E;
        Some(match (state, event) {
            (S::Pending, E::DependenciesMerged) => S::Ready,
            (S::Ready, E::DependencyReopened) => S::Pending,
            (S::Ready, E::Claim) => S::Claimed,
            (S::Claimed, E::Release) => S::Ready,
            (S::Claimed, E::LeaseExpired { attempts: 1, .. }) => S::Ready,
            (S::Claimed, E::LeaseExpired { attempts: 4, .. }) => S::Failed,
            (S::Ready | S::Claimed, E::AgentLost { attempts: 1, .. }) => S::Ready,
            (S::Conflict, E::AgentLost { attempts: 1, .. }) => S::Conflict,
            (S::Ready | S::Claimed | S::Conflict, E::AgentLost { attempts: 4, .. }) => S::Failed,
            (S::Done | S::Conflict, E::HostLost { attempts: 1, .. }) => S::Ready,
            (S::Done | S::Conflict, E::HostLost { attempts: 4, .. }) => S::Failed,
            (S::Claimed, E::AskUser) => S::Waiting,
            (S::Waiting, E::Answered) => S::Claimed,
            (S::Claimed, E::Report(ReportOutcome::Done)) => S::Done,
            (S::Claimed, E::Report(ReportOutcome::Failed)) => S::Failed,
            (S::Claimed, E::Report(ReportOutcome::Blocked)) => S::Waiting,
            (S::Done, E::RequestMerge) | (S::Conflict, E::RequestMerge) => S::Merging,
            (S::Merging, E::MergeSucceeded) => S::Merged,
            (S::Merging, E::MergeBounced { bounces: 1, .. }) => S::Conflict,
            (S::Merging, E::MergeBounced { bounces: 4, .. }) => S::Failed,
            (S::Pending, E::ImportedAsMerged) | (S::Ready, E::ImportedAsMerged) => S::Merged,
            (S::Ready, E::CompletedByHuman) | (S::Waiting, E::CompletedByHuman) => S::Merged,
            (S::Ready, E::RejectedByHuman) | (S::Waiting, E::RejectedByHuman) => S::Failed,
            (S::Merged, E::Cancel) | (S::Cancelled, E::Cancel) => return None,
            (_, E::Cancel) => S::Cancelled,
            (S::Failed | S::Cancelled, E::Retry { dependencies_merged: true }) => S::Ready,
            (S::Failed | S::Cancelled, E::Retry { dependencies_merged: false }) => S::Pending,
            _ => return None,
        })
    }

    #[test]
    fn every_state_and_event_matches_the_table() {
        let mut allowed = 0;
        let mut refused = 0;
        for state in TaskState::ALL {
            for event in all_events() {
                let got = state.transition(event);
                match expected(state, event) {
                    Some(next) => {
                        assert_eq!(got, Ok(next), "{state} + {event:?}");
                        allowed += 1;
                    }
                    None => {
                        let err = got.expect_err(&format!("{state} + {event:?} must be refused"));
                        assert_eq!(err.from, state);
                        assert!(err.to_string().starts_with(&format!("a {state} task cannot")));
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(allowed + refused, TaskState::ALL.len() * all_events().len());
        assert_eq!(allowed, 44, "the number of allowed transitions changed: update the table");
    }

    #[test]
    fn refusals_explain_what_to_do() {
        let err = S::Pending.transition(TaskEvent::Claim).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a pending task cannot be claimed (its dependencies are not merged yet)"
        );
        let err = S::Claimed.transition(TaskEvent::RequestMerge).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a claimed task cannot be queued for merge (call report_done with outcome done first)"
        );
    }

    #[test]
    fn names_round_trip() {
        for state in TaskState::ALL {
            assert_eq!(state.as_str().parse::<TaskState>(), Ok(state));
        }
        assert!("Ready".parse::<TaskState>().unwrap_err().contains("expected one of pending"));
    }
}
