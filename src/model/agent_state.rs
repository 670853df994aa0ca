//! The agent state machine of design.md §2:
//! `starting → running → (waiting) → idle → stopped | exited | crashed`, and `restart` back to
//! starting from any finished state.

use std::fmt;
use std::str::FromStr;

/// Who runs an agent's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentKind {
    /// cw started it (`cw run`, `cw agent spawn`) and supervises, resumes and stops it.
    Managed,
    /// The user runs it (`cw agent register`); cw gives it a worktree and branch on its first
    /// claim and merges them, but never starts, resumes or judges its process.
    Registered,
    /// Registered without a worktree (`--no-worktree`): it claims and reports, and cannot
    /// request a merge (there is no branch to merge).
    Bare,
}

impl AgentKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Managed => "managed",
            AgentKind::Registered => "registered",
            AgentKind::Bare => "bare",
        }
    }

    /// The stored text back; anything unknown is taken as managed (the column's default).
    pub fn from_stored(text: &str) -> AgentKind {
        match text {
            "registered" => AgentKind::Registered,
            "bare" => AgentKind::Bare,
            _ => AgentKind::Managed,
        }
    }
}

/// Where an agent process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Registered or spawned, not yet seen working.
    Starting,
    /// Its process runs and works on a task.
    Running,
    /// Blocked on a question to the human.
    Waiting,
    /// Its turn ended (or it was registered by the user and is between tasks).
    Idle,
    /// Stopped on purpose.
    Stopped,
    /// Its process ended by itself with exit code 0.
    Exited,
    /// Its process died with a non-zero code or a signal it did not ask for.
    Crashed,
}

/// Everything that can happen to an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentEvent {
    /// Its process was seen working (first MCP call or first stream line).
    Started,
    AskUser,
    Answered,
    /// Its turn ended without the process exiting (or it finished a task).
    TurnEnded,
    /// Its session was continued (answer, message, bounced conflict).
    Resumed,
    Stop,
    Exit,
    Crash,
    Restart,
}

impl AgentState {
    /// Every state, in life-cycle order.
    pub const ALL: [AgentState; 7] = [
        AgentState::Starting,
        AgentState::Running,
        AgentState::Waiting,
        AgentState::Idle,
        AgentState::Stopped,
        AgentState::Exited,
        AgentState::Crashed,
    ];

    /// The state after `event`, or why `event` is not allowed here.
    pub fn transition(self, event: AgentEvent) -> Result<AgentState, AgentTransitionError> {
        use AgentEvent as E;
        use AgentState as S;
        let next = match (self, event) {
            (S::Starting, E::Started) => S::Running,
            (S::Starting | S::Running, E::AskUser) => S::Waiting,
            (S::Waiting, E::Answered) => S::Running,
            (S::Starting | S::Running | S::Waiting, E::TurnEnded) => S::Idle,
            (S::Idle, E::Resumed) => S::Running,
            (S::Starting | S::Running | S::Waiting | S::Idle, E::Stop) => S::Stopped,
            (S::Starting | S::Running | S::Waiting | S::Idle, E::Exit) => S::Exited,
            (S::Starting | S::Running | S::Waiting | S::Idle, E::Crash) => S::Crashed,
            (S::Stopped | S::Exited | S::Crashed | S::Idle, E::Restart) => S::Starting,
            _ => return Err(AgentTransitionError { from: self, event }),
        };
        Ok(next)
    }

    /// The lower-case name used in the database, `--json` and MCP.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Starting => "starting",
            AgentState::Running => "running",
            AgentState::Waiting => "waiting",
            AgentState::Idle => "idle",
            AgentState::Stopped => "stopped",
            AgentState::Exited => "exited",
            AgentState::Crashed => "crashed",
        }
    }

    /// True while the agent may still have a live process.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            AgentState::Starting | AgentState::Running | AgentState::Waiting | AgentState::Idle
        )
    }
}

/// An agent transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an agent that is {from} cannot take the event {event:?}")]
pub struct AgentTransitionError {
    pub from: AgentState,
    pub event: AgentEvent,
}

impl fmt::Display for AgentState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AgentState {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        AgentState::ALL
            .into_iter()
            .find(|state| state.as_str() == input)
            .ok_or_else(|| format!("unknown agent state '{input}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AgentEvent as E;
    use AgentState as S;

    const EVENTS: [AgentEvent; 9] = [
        E::Started,
        E::AskUser,
        E::Answered,
        E::TurnEnded,
        E::Resumed,
        E::Stop,
        E::Exit,
        E::Crash,
        E::Restart,
    ];

    fn expected(state: AgentState, event: AgentEvent) -> Option<AgentState> {
        let live = state.is_live();
        Some(match (state, event) {
            (S::Starting, E::Started) => S::Running,
            (S::Starting | S::Running, E::AskUser) => S::Waiting,
            (S::Waiting, E::Answered) => S::Running,
            (S::Starting | S::Running | S::Waiting, E::TurnEnded) => S::Idle,
            (S::Idle, E::Resumed) => S::Running,
            (_, E::Stop) if live => S::Stopped,
            (_, E::Exit) if live => S::Exited,
            (_, E::Crash) if live => S::Crashed,
            (S::Stopped | S::Exited | S::Crashed | S::Idle, E::Restart) => S::Starting,
            _ => return None,
        })
    }

    #[test]
    fn every_state_and_event_matches_the_table() {
        let mut allowed = 0;
        for state in S::ALL {
            for event in EVENTS {
                match expected(state, event) {
                    Some(next) => {
                        assert_eq!(state.transition(event), Ok(next), "{state} + {event:?}");
                        allowed += 1;
                    }
                    None => {
                        let err = state.transition(event).unwrap_err();
                        assert_eq!((err.from, err.event), (state, event));
                    }
                }
            }
        }
        assert_eq!(allowed, 24);
    }

    #[test]
    fn finished_agents_are_not_live() {
        for state in S::ALL {
            let finished = matches!(state, S::Stopped | S::Exited | S::Crashed);
            assert_eq!(state.is_live(), !finished, "{state}");
        }
    }
}
