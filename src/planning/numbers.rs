//! GSD phase and plan numbers: `2`, `02.1`, `12.3.1`, `12A`, `CK-07`. Compared numerically
//! segment by segment, never as strings, and never re-typed (`12.10` stays `12.10`).

use std::cmp::Ordering;
use std::sync::LazyLock;

use regex::Regex;

/// The phase number grammar, optionally prefixed by a project code.
pub(crate) const PHASE_NUMBER: &str = r"(?:[A-Z]{1,6}-)?\d+[A-Z]?(?:\.\d+)*";

static SEGMENT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d+)([A-Za-z]?)$").expect("invariant: static regex"));

/// A normalised phase number: leading zeros stripped in every segment, prefix dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PhaseNumber(pub(crate) String);

impl PhaseNumber {
    /// Normalises `02.1` → `2.1`, `CK-07` → `7`, `12.10` → `12.10`.
    pub(crate) fn parse(raw: &str) -> Option<PhaseNumber> {
        let raw = raw.trim();
        let body = match raw.find('-') {
            Some(dash) if raw[..dash].chars().all(|c| c.is_ascii_uppercase()) => &raw[dash + 1..],
            _ => raw,
        };
        let mut segments = Vec::new();
        for segment in body.split('.') {
            let caps = SEGMENT.captures(segment)?;
            let digits = caps[1].trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            segments.push(format!("{digits}{}", caps[2].to_ascii_uppercase()));
        }
        Some(PhaseNumber(segments.join(".")))
    }

    /// The normalised text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    fn sort_key(&self) -> Vec<(u64, String)> {
        self.0
            .split('.')
            .map(|segment| {
                let digits: String = segment.chars().take_while(char::is_ascii_digit).collect();
                let suffix: String = segment.chars().skip(digits.len()).collect();
                (digits.parse().unwrap_or(u64::MAX), suffix)
            })
            .collect()
    }

    /// The integer part (`12` for `12.3.1`).
    pub(crate) fn major(&self) -> u64 {
        self.sort_key().first().map_or(0, |(n, _)| *n)
    }
}

impl Ord for PhaseNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        self.sort_key().cmp(&other.sort_key())
    }
}

impl PartialOrd for PhaseNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The canonical plan key GSD uses: the phase padded to two integer digits, then the plan
/// number (`1` + `01` → `01-01`, `2.1` + `03` → `02.1-03`, `12.3.1` + `04` → `12.3.1-04`).
pub(crate) fn plan_key(phase_key: &str, plan: &str) -> String {
    let digits = phase_key.chars().take_while(char::is_ascii_digit).count();
    let pad = if digits == 1 { "0" } else { "" };
    format!("{pad}{phase_key}-{plan}")
}

/// A plan number within its phase: `01` → `01`, `2` → `02`, `FIX6` → `FIX6`, `010` → `10`.
pub(crate) fn plan_number(raw: &str) -> Option<String> {
    let raw = raw.trim().trim_matches(['"', '\'']);
    if let Some(rest) = raw.strip_prefix("FIX") {
        return rest.chars().all(|c| c.is_ascii_digit()).then(|| raw.to_owned());
    }
    let n: u64 = raw.parse().ok().filter(|_| raw.chars().all(|c| c.is_ascii_digit()))?;
    Some(format!("{n:02}"))
}

/// Orders plan numbers: numbered plans by value, FIX plans after them.
pub(crate) fn plan_sort_key(number: &str) -> (u8, u64, String) {
    match number.parse::<u64>() {
        Ok(n) => (0, n, String::new()),
        Err(_) => (1, 0, number.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> PhaseNumber {
        PhaseNumber::parse(text).unwrap()
    }

    #[test]
    fn normalises_without_retyping() {
        for (raw, normal) in [
            ("02.1", "2.1"),
            ("12.10", "12.10"),
            ("010", "10"),
            ("CK-07", "7"),
            ("12a", "12A"),
            ("0", "0"),
            ("12.3.1", "12.3.1"),
        ] {
            assert_eq!(n(raw).as_str(), normal, "{raw}");
        }
        assert_eq!(PhaseNumber::parse("v1.0x"), None);
        assert_eq!(PhaseNumber::parse(""), None);
    }

    #[test]
    fn sorts_segment_by_segment() {
        let mut phases: Vec<PhaseNumber> =
            ["12.6", "11.2", "2.1", "12", "12.10", "12.3.1", "2", "12A", "3"]
                .iter()
                .map(|s| n(s))
                .collect();
        phases.sort();
        let order: Vec<&str> = phases.iter().map(PhaseNumber::as_str).collect();
        assert_eq!(order, ["2", "2.1", "3", "11.2", "12", "12.3.1", "12.6", "12.10", "12A"]);
    }

    #[test]
    fn plan_keys_are_gsd_canonical() {
        assert_eq!(plan_key("1", "01"), "01-01");
        assert_eq!(plan_key("2.1", "03"), "02.1-03");
        assert_eq!(plan_key("12.3.1", "04"), "12.3.1-04");
        assert_eq!(plan_key("142", "FIX6"), "142-FIX6");
    }

    #[test]
    fn plan_numbers_pad_and_keep_fix() {
        assert_eq!(plan_number("1").as_deref(), Some("01"));
        assert_eq!(plan_number("\"02\"").as_deref(), Some("02"));
        assert_eq!(plan_number("010").as_deref(), Some("10"));
        assert_eq!(plan_number("FIX6").as_deref(), Some("FIX6"));
        assert_eq!(plan_number("x"), None);
        assert!(plan_sort_key("FIX") > plan_sort_key("99"));
    }
}
