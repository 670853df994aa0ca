//! Which files of a phase directory are plans and summaries, and which plan each one names.
//!
//! GSD's own rule is wide: any `*-PLAN.md` at a phase directory's root is a plan. Real folders use
//! `01-02-PLAN.md`, `01-add-auth-02-PLAN.md`, `26-P01-PLAN.md`, `06-05-FIX-PLAN.md`,
//! `09-FIX-01-PLAN.md`, `21-PLAN.md`, `PLAN.md` alone, and `01-02-PLAN-v2.md` beside the first
//! version; summaries follow the plan's name (`01-02-SUMMARY.md`, `01-02-PLAN-SUMMARY.md`), and
//! `05-SUMMARY.md` (no plan number) summarises the whole phase.

use std::sync::LazyLock;

use regex::Regex;

use super::numbers::{PHASE_NUMBER, plan_number};

/// A plan file's name read: the plan it is, the phase its name says, and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlanName {
    /// `01`, `FIX6`, `FIX05`, or a word (`gap-closure`).
    pub(super) plan: String,
    /// The phase number as the name writes it, if it does.
    pub(super) phase: Option<String>,
    /// `-PLAN-v2.md` is version 2; a plain name is version 1.
    pub(super) version: u32,
}

/// What a SUMMARY file summarises.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum SummaryOf {
    Plan(String),
    /// The whole phase (`05-SUMMARY.md`, `SUMMARY.md`): every plan in it is done.
    Phase,
    /// A summary whose name does not say (its front matter may).
    Unknown,
}

static WITH_PHASE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})(?:-(.*))?$")).expect("invariant: static regex")
});
static VERSIONED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(.*?)-?PLAN(?:-[vV](\d+))?\.md$").expect("invariant: static regex")
});
static ALTERNATE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})-PLAN-(\d+)(?:-.+)?\.md$"))
        .expect("invariant: static regex")
});
static FIX_ONLY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^({PHASE_NUMBER})-(FIX\d*)\.md$")).expect("invariant: static regex")
});
static NESTED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?:({PHASE_NUMBER})-)?PLAN-(\d+).*\.md$"))
        .expect("invariant: static regex")
});
static NESTED_SUMMARY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^SUMMARY-(\d+)\.md$").expect("invariant: static regex"));

/// Names that hold `PLAN` but are GSD's other reports, not plans.
fn is_report(name: &str) -> bool {
    ["-PLAN-CHECK.md", "-PLAN-OUTLINE.md", ".pre-bounce.md", "SUMMARY.md"]
        .iter()
        .any(|end| name.ends_with(end))
}

/// The plan a file named `name` is (`nested`: it sits in the phase's `plans/` folder), or `None`
/// when it is not a plan.
pub(super) fn plan_file(name: &str, nested: bool) -> Option<PlanName> {
    if !name.ends_with(".md") || is_report(name) {
        return None;
    }
    if nested {
        let caps = NESTED.captures(name)?;
        let phase = caps.get(1).map(|m| m.as_str().to_owned());
        return Some(PlanName { plan: plan_number(&caps[2])?, phase, version: 1 });
    }
    if name == "PLAN.md" {
        return Some(PlanName { plan: "01".to_owned(), phase: None, version: 1 });
    }
    for re in [&*ALTERNATE, &*FIX_ONLY] {
        if let Some(caps) = re.captures(name) {
            let plan = plan_number(&caps[2])?;
            return Some(PlanName { plan, phase: Some(caps[1].to_owned()), version: 1 });
        }
    }
    let caps = VERSIONED.captures(name)?;
    // `PAPER_TRADING_PLAN.md`: `PLAN` must follow a hyphen or start the name.
    let stem = &caps[1];
    if !stem.is_empty() && !name[stem.len()..].starts_with("-PLAN") {
        return None;
    }
    let version = caps.get(2).and_then(|v| v.as_str().parse().ok()).unwrap_or(1);
    let (phase, plan) = stem_plan(stem)?;
    Some(PlanName { plan: plan.unwrap_or_else(|| "01".to_owned()), phase, version })
}

/// What a file named `name` summarises, or `None` when it is not a summary.
pub(super) fn summary_file(name: &str) -> Option<SummaryOf> {
    if let Some(caps) = NESTED_SUMMARY.captures(name) {
        return Some(plan_number(&caps[1]).map_or(SummaryOf::Unknown, SummaryOf::Plan));
    }
    let stem = name.strip_suffix("SUMMARY.md")?;
    if stem.is_empty() {
        return Some(SummaryOf::Phase);
    }
    let stem = stem.strip_suffix('-')?;
    let stem = stem.strip_suffix("-PLAN").unwrap_or(stem);
    Some(match stem_plan(stem) {
        Some((_, Some(plan))) => SummaryOf::Plan(plan),
        Some((Some(_), None)) => SummaryOf::Phase,
        _ => SummaryOf::Unknown,
    })
}

/// A plan reference as GSD writes one in `depends_on` (`26-P01`, `06-05-FIX`, `01-add-auth-02`):
/// the phase it names, if any, and the plan.
pub(super) fn reference(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim().trim_matches(['"', '\'']);
    let text = text.strip_suffix(".md").unwrap_or(text);
    let text = text.strip_suffix("-PLAN").unwrap_or(text);
    let (phase, plan) = stem_plan(text)?;
    Some((phase, plan?))
}

/// The phase and plan a file's stem names (`None` plan: the stem is only a phase number).
fn stem_plan(stem: &str) -> Option<(Option<String>, Option<String>)> {
    let (phase, rest) = match WITH_PHASE.captures(stem) {
        Some(caps) => (Some(caps[1].to_owned()), caps.get(2).map_or("", |m| m.as_str())),
        None => (None, stem),
    };
    if rest.is_empty() {
        return Some((phase, None));
    }
    Some((phase, Some(plan_in(rest)?)))
}

/// The plan in what follows a phase number: `02`, `P02`, `FIX`, `FIX-2`, `05-FIX`,
/// `add-auth-02`, `02-add-auth`, or a word.
fn plan_in(rest: &str) -> Option<String> {
    static PREFIXED: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[Pp](\d+)$").expect("invariant: static regex"));
    static FIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^FIX-?(\d*)$").expect("invariant: static regex"));
    static NUMBERED_FIX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d+)-FIX(\d*)$").expect("invariant: static regex"));
    static LEADING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^(\d+)-[A-Za-z].*$").expect("invariant: static regex"));
    static TRAILING: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[A-Za-z].*?-(\d+)$").expect("invariant: static regex"));
    static WORD: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._-]*$").expect("invariant: static regex")
    });
    if let Some(plan) = plan_number(rest) {
        return Some(plan);
    }
    if let Some(caps) = PREFIXED.captures(rest) {
        return plan_number(&caps[1]);
    }
    if let Some(caps) = FIX.captures(rest) {
        return Some(format!("FIX{}", &caps[1]));
    }
    if let Some(caps) = NUMBERED_FIX.captures(rest) {
        return Some(format!("FIX{}{}", &caps[1], &caps[2]));
    }
    for re in [&*LEADING, &*TRAILING] {
        if let Some(caps) = re.captures(rest) {
            return plan_number(&caps[1]);
        }
    }
    WORD.is_match(rest).then(|| rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Option<(String, Option<String>, u32)> {
        plan_file(name, false).map(|p| (p.plan, p.phase, p.version))
    }

    #[test]
    fn every_plan_name_real_folders_use() {
        let some = |plan: &str, phase: Option<&str>, version: u32| {
            Some((plan.to_owned(), phase.map(str::to_owned), version))
        };
        assert_eq!(plan("01-02-PLAN.md"), some("02", Some("01"), 1));
        assert_eq!(plan("02.1-03-PLAN.md"), some("03", Some("02.1"), 1));
        assert_eq!(plan("44-add-auth-02-PLAN.md"), some("02", Some("44"), 1));
        assert_eq!(plan("26-P01-PLAN.md"), some("01", Some("26"), 1));
        assert_eq!(plan("06-05-FIX-PLAN.md"), some("FIX05", Some("06"), 1));
        assert_eq!(plan("09-FIX-01-PLAN.md"), some("FIX01", Some("09"), 1));
        assert_eq!(plan("142-FIX6-PLAN.md"), some("FIX6", Some("142"), 1));
        assert_eq!(plan("142-FIX.md"), some("FIX", Some("142"), 1));
        assert_eq!(plan("21-PLAN.md"), some("01", Some("21"), 1));
        assert_eq!(plan("PLAN.md"), some("01", None, 1));
        assert_eq!(plan("03-02-PLAN-v2.md"), some("02", Some("03"), 2));
        assert_eq!(plan("05-PLAN-02-setup.md"), some("02", Some("05"), 1));
        assert_eq!(plan("05-gap-closure-PLAN.md"), some("gap-closure", Some("05"), 1));
        assert_eq!(plan_file("PLAN-03-setup.md", true).map(|p| p.plan), Some("03".to_owned()));
    }

    #[test]
    fn reports_and_notes_are_not_plans() {
        for name in [
            "01-01-PLAN-CHECK.md",
            "01-01-PLAN-OUTLINE.md",
            "01-01-PLAN.pre-bounce.md",
            "01-01-PLAN-SUMMARY.md",
            "PAPER_TRADING_PLAN.md",
            "01-CONTEXT.md",
            "notes.txt",
        ] {
            assert_eq!(plan(name), None, "{name}");
        }
    }

    #[test]
    fn summaries_name_their_plan_or_their_phase() {
        let of = |plan: &str| Some(SummaryOf::Plan(plan.to_owned()));
        assert_eq!(summary_file("01-02-SUMMARY.md"), of("02"));
        assert_eq!(summary_file("01-02-PLAN-SUMMARY.md"), of("02"));
        assert_eq!(summary_file("26-P01-SUMMARY.md"), of("01"));
        assert_eq!(summary_file("06-05-FIX-SUMMARY.md"), of("FIX05"));
        assert_eq!(summary_file("SUMMARY-02.md"), of("02"));
        assert_eq!(summary_file("05-SUMMARY.md"), Some(SummaryOf::Phase));
        assert_eq!(summary_file("SUMMARY.md"), Some(SummaryOf::Phase));
        assert_eq!(summary_file("01-02-PLAN.md"), None);
    }

    #[test]
    fn references_name_a_plan() {
        let r = |text: &str| reference(text);
        assert_eq!(r("40-P01"), Some((Some("40".to_owned()), "01".to_owned())));
        assert_eq!(r("01-02"), Some((Some("01".to_owned()), "02".to_owned())));
        // A bare number is a plan of the same phase: the caller reads it so.
        assert_eq!(r("02"), None);
        assert_eq!(r("44-01-PLAN.md"), Some((Some("44".to_owned()), "01".to_owned())));
        assert_eq!(r("Phase 2"), None);
    }
}
