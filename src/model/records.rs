//! The states of a merge request and of a question, as the database, `--json` and MCP name them.

use std::fmt;
use std::str::FromStr;

/// Where a merge request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeState {
    /// Waiting in the merge queue.
    Queued,
    /// On the integration branch.
    Merged,
    /// Bounced back to the task's agent (a conflict or a failed merge gate).
    Conflict,
    /// Closed without merging (its task left `merging`).
    Failed,
}

/// Where a question is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuestionStatus {
    Open,
    Answered,
    /// Its task ended before anyone answered.
    Withdrawn,
}

macro_rules! named {
    ($type:ident, $what:literal, $($variant:ident => $name:literal),+ $(,)?) => {
        impl $type {
            /// The lower-case name used in the database, `--json` and MCP.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($type::$variant => $name,)+
                }
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = String;

            fn from_str(text: &str) -> Result<$type, String> {
                match text {
                    $($name => Ok($type::$variant),)+
                    other => Err(format!(concat!("unknown ", $what, " {:?}"), other)),
                }
            }
        }
    };
}

named!(MergeState, "merge state", Queued => "queued", Merged => "merged", Conflict => "conflict", Failed => "failed");
named!(QuestionStatus, "question status", Open => "open", Answered => "answered", Withdrawn => "withdrawn");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        for state in
            [MergeState::Queued, MergeState::Merged, MergeState::Conflict, MergeState::Failed]
        {
            assert_eq!(state.as_str().parse::<MergeState>(), Ok(state));
        }
        for status in [QuestionStatus::Open, QuestionStatus::Answered, QuestionStatus::Withdrawn] {
            assert_eq!(status.to_string().parse::<QuestionStatus>(), Ok(status));
        }
        assert_eq!("lost".parse::<MergeState>(), Err("unknown merge state \"lost\"".to_owned()));
    }
}
