//! Newtype ids. Every id is an integer row id shown with a one-letter kind prefix (`t12`, `a3`),
//! so `cw diff t12` and `cw diff a3` can never be confused.

use std::fmt;
use std::str::FromStr;

/// An id string that does not name an object of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "'{input}' is not {} {kind} id (expected {prefix}<number>, e.g. {prefix}12)",
    article(kind)
)]
pub struct IdParseError {
    pub input: String,
    pub kind: &'static str,
    pub prefix: &'static str,
}

/// "an agent", "a task".
fn article(kind: &str) -> &'static str {
    if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" }
}

macro_rules! define_id {
    ($name:ident, $prefix:literal, $kind:literal, bare_numbers: $bare:literal) => {
        #[doc = concat!("Id of a ", $kind, ", displayed as `", $prefix, "<n>`.")]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl $name {
            /// The prefix this id is displayed with.
            pub const PREFIX: &'static str = $prefix;

            /// The raw row id.
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}{}", $prefix, self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(input: &str) -> Result<Self, Self::Err> {
                let trimmed = input.trim();
                let digits = match trimmed.get(..$prefix.len()) {
                    Some(head) if head.eq_ignore_ascii_case($prefix) => &trimmed[$prefix.len()..],
                    _ if $bare => trimmed,
                    _ => "",
                };
                match digits.parse::<i64>() {
                    Ok(n) if n > 0 && digits.bytes().all(|b| b.is_ascii_digit()) => Ok(Self(n)),
                    _ => {
                        Err(IdParseError { input: input.to_owned(), kind: $kind, prefix: $prefix })
                    }
                }
            }
        }
    };
}

define_id!(TaskId, "t", "task", bare_numbers: true);
define_id!(AgentId, "a", "agent", bare_numbers: true);
define_id!(QuestionId, "q", "question", bare_numbers: true);
define_id!(MessageId, "m", "message", bare_numbers: true);
define_id!(PlanId, "p", "plan", bare_numbers: false);
define_id!(PhaseId, "ph", "phase", bare_numbers: false);
define_id!(InitiativeId, "i", "initiative", bare_numbers: false);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefixed_and_bare_task_ids() {
        assert_eq!("t12".parse::<TaskId>(), Ok(TaskId(12)));
        assert_eq!("T12".parse::<TaskId>(), Ok(TaskId(12)));
        assert_eq!("12".parse::<TaskId>(), Ok(TaskId(12)));
        assert_eq!(TaskId(7).to_string(), "t7");
    }

    #[test]
    fn rejects_garbage_with_a_helpful_message() {
        for bad in ["", "t", "t-1", "t0", "a12", "12x", "t1.5", "+3"] {
            let err = bad.parse::<TaskId>().unwrap_err();
            assert_eq!(err.kind, "task", "{bad}");
        }
        let err = "x9".parse::<TaskId>().unwrap_err();
        assert_eq!(err.to_string(), "'x9' is not a task id (expected t<number>, e.g. t12)");
        let err = "t9".parse::<AgentId>().unwrap_err();
        assert_eq!(err.to_string(), "'t9' is not an agent id (expected a<number>, e.g. a12)");
    }

    #[test]
    fn plan_ids_need_their_prefix() {
        assert_eq!("p3".parse::<PlanId>(), Ok(PlanId(3)));
        assert!("3".parse::<PlanId>().is_err());
        assert_eq!("ph2".parse::<PhaseId>(), Ok(PhaseId(2)));
        assert!("p2".parse::<PhaseId>().is_err());
    }
}
