//! Time and leases. Time is milliseconds since the Unix epoch, always passed in by the caller.

use std::fmt;

/// A point in time, in milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the epoch.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// RFC 3339 in UTC to the millisecond, `2026-12-02T14:03:00.250Z` (the JSON form).
    pub fn rfc3339(self) -> String {
        self.formatted(chrono::SecondsFormat::Millis)
    }

    /// RFC 3339 in UTC to the second, `2026-12-02T14:03:00Z` (for files people read).
    pub fn rfc3339_seconds(self) -> String {
        self.formatted(chrono::SecondsFormat::Secs)
    }

    fn formatted(self, precision: chrono::SecondsFormat) -> String {
        chrono::DateTime::from_timestamp_millis(self.0)
            .map(|t| t.to_rfc3339_opts(precision, true))
            .unwrap_or_default()
    }

    /// How long before `now` this was, short: "12s", "5m", "3h", "2d" (for listings).
    pub fn age_at(self, now: Timestamp) -> String {
        match (now.0 - self.0).max(0) / 1000 {
            s if s < 60 => format!("{s}s"),
            s if s < 3600 => format!("{}m", s / 60),
            s if s < 86_400 => format!("{}h", s / 3600),
            s => format!("{}d", s / 86_400),
        }
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub fn plus_millis(self, millis: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(millis))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}

/// A claim's lease: the agent holds the task until `expires_at` unless it renews.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub expires_at: Timestamp,
}

impl Lease {
    /// A lease of `duration_millis` starting at `now`.
    pub fn starting(now: Timestamp, duration_millis: i64) -> Lease {
        Lease { expires_at: now.plus_millis(duration_millis.max(1)) }
    }

    /// True once `now` has reached the expiry time.
    pub fn is_expired(self, now: Timestamp) -> bool {
        now >= self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_expires_exactly_at_its_deadline() {
        let lease = Lease::starting(Timestamp(1_000), 500);
        assert!(!lease.is_expired(Timestamp(1_499)));
        assert!(lease.is_expired(Timestamp(1_500)));
    }

    #[test]
    fn a_zero_length_lease_still_lasts_a_millisecond() {
        let lease = Lease::starting(Timestamp(10), 0);
        assert_eq!(lease.expires_at, Timestamp(11));
    }
}
