//! A `.planning/` folder's dependencies as task edges: phases from the roadmap's `Depends on`
//! (gsd-format.md §3.4), plans from `depends_on` (a key, a number, a path, a file stem, a slug, a
//! phase), legacy plans in order, the plans that start a phase after the phases it depends on;
//! what names nothing held for the human; cycles refused naming their files and lines.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use regex::Regex;
use serde_json::json;

use super::names;
use super::numbers::{PHASE_NUMBER, PhaseNumber, plan_key, plan_number};
use super::resolve::{Context, DeclaredDepends, HeldPlan, PlanDepends, for_the_human};
use super::roadmap::Roadmap;
use super::{ImportError, ImportPlan, ImportSet, ImportTask, ImportWarning};
use crate::model::find_cycle;

static PHASE_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?i:phase)\s+({PHASE_NUMBER})$")).expect("invariant: static regex")
});
static PHASE_RANGE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i:phases?)\s+({PHASE_NUMBER})\s*(?:-|–|to)\s*({PHASE_NUMBER})"))
        .expect("invariant: static regex")
});
static PHASE_MENTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i:(?:phases?\s+)|(?:,\s*(?:phase\s+)?)|(?:\band\s+(?:phase\s+)?)|(?:&\s*(?:phase\s+)?)|/)({PHASE_NUMBER})\b"))
        .expect("invariant: static regex")
});

/// Phase `Depends on` → phase keys (gsd-format.md §9 step 8).
pub(super) fn resolve_phase_dependencies(
    set: &mut ImportSet,
    roadmap: &Roadmap,
    kept: &[PhaseNumber],
    cx: &mut Context,
) {
    let roadmap_path = cx.root.join("ROADMAP.md");
    for (index, number) in kept.iter().enumerate() {
        let previous = index.checked_sub(1).map(|i| kept[i].clone());
        let field = roadmap.phases.get(number).and_then(|r| r.depends_on.clone());
        let deps: Vec<PhaseNumber> = match field {
            None => previous.into_iter().collect(),
            Some((raw, line)) => {
                let location = cx.location(&roadmap_path, Some(line));
                cx.phase_dependency_lines.insert(number.as_str().to_owned(), location);
                let (deps, understood) = parse_phase_dependencies(&raw, number, kept);
                if !understood {
                    cx.warn(
                        &roadmap_path,
                        Some(line),
                        format!("cannot read 'Depends on: {raw}'; assuming the previous phase"),
                    );
                    previous.into_iter().collect()
                } else {
                    let mut present = Vec::new();
                    for dep in deps {
                        if dep == *number {
                            let message =
                                format!("phase {} depends on itself; dropped", number.as_str());
                            cx.unresolved.push(message.clone());
                            cx.warn(&roadmap_path, Some(line), message);
                        } else if kept.contains(&dep) {
                            present.push(dep);
                        } else {
                            let message = format!(
                                "phase {} depends on phase {}, which is not in this import; dropped",
                                number.as_str(),
                                dep.as_str()
                            );
                            cx.unresolved.push(message.clone());
                            cx.warn(&roadmap_path, Some(line), message);
                        }
                    }
                    present
                }
            }
        };
        if let Some(phase) = set.phases.iter_mut().find(|p| p.key == number.as_str()) {
            phase.depends_on = deps.iter().map(|d| d.as_str().to_owned()).collect();
        }
    }
}

/// The phases a `Depends on` value names, and whether the value was understood at all.
pub(super) fn parse_phase_dependencies(
    raw: &str,
    this: &PhaseNumber,
    all: &[PhaseNumber],
) -> (Vec<PhaseNumber>, bool) {
    let text = raw.trim().trim_end_matches('.');
    let lower = text.to_lowercase();
    if text.is_empty()
        || ["nothing", "none", "no ", "n/a", "-", "—", "–"].iter().any(|p| lower.starts_with(p))
        || lower == "no"
    {
        return (Vec::new(), true);
    }
    if lower.starts_with("all previous") || lower.starts_with("all prior") {
        return (all.iter().filter(|p| *p < this).cloned().collect(), true);
    }
    let cut = text.split('(').next().unwrap_or(text);
    let mut deps = Vec::new();
    for caps in PHASE_RANGE.captures_iter(cut) {
        if let (Some(from), Some(to)) = (PhaseNumber::parse(&caps[1]), PhaseNumber::parse(&caps[2]))
        {
            deps.extend(all.iter().filter(|p| **p >= from && **p <= to).cloned());
        }
    }
    for caps in PHASE_MENTION.captures_iter(cut) {
        if let Some(number) = PhaseNumber::parse(&caps[1]) {
            deps.push(number);
        }
    }
    deps.sort();
    deps.dedup();
    if deps.is_empty() {
        // `v1.0 complete` / `v3.0 shipped`: a previous milestone, done already. Never phase 1.0.
        let milestone =
            lower.starts_with('v') && lower.chars().nth(1).is_some_and(|c| c.is_ascii_digit());
        return (Vec::new(), milestone);
    }
    (deps, true)
}

/// The task edges of the whole set: tasks of a plan in document order, each plan's resolved
/// `depends_on` (first task waits for the dependency's last), and phase dependencies (the plans
/// that start a phase wait for every plan of the phases it depends on).
pub(super) fn build_edges(set: &mut ImportSet, plan_depends: &PlanDepends, cx: &mut Context) {
    let graph = PlanGraph::new(set);
    let mut resolved: HashMap<String, Vec<String>> = HashMap::new();
    let mut has_in_phase_dependency: HashSet<String> = HashSet::new();
    for plan in &set.plans {
        let Some(declared) = plan_depends.get(&plan.key) else { continue };
        let deps = graph.dependencies(plan, declared, cx);
        let phase_plans = graph.of_phase(&plan.phase_key);
        if deps.iter().any(|d| phase_plans.iter().any(|p| p.key == *d)) {
            has_in_phase_dependency.insert(plan.key.clone());
        }
        resolved.insert(plan.key.clone(), deps);
    }
    let edges = graph.task_edges(&resolved, &has_in_phase_dependency);
    for plan in &mut set.plans {
        plan.depends_on = resolved.remove(&plan.key).unwrap_or_default();
    }
    set.edges = edges;
}

/// The plans of an import by phase, and the other names they go by, for resolving references.
struct PlanGraph<'s> {
    set: &'s ImportSet,
    by_phase: BTreeMap<&'s str, Vec<&'s ImportPlan>>,
    aliases: HashMap<String, Vec<String>>,
    /// Each plan's task keys in document order.
    tasks_of: HashMap<&'s str, Vec<&'s str>>,
}

impl<'s> PlanGraph<'s> {
    fn new(set: &'s ImportSet) -> PlanGraph<'s> {
        let mut by_phase: BTreeMap<&str, Vec<&ImportPlan>> = BTreeMap::new();
        for plan in &set.plans {
            by_phase.entry(plan.phase_key.as_str()).or_default().push(plan);
        }
        let mut tasks_of: HashMap<&str, Vec<&str>> = HashMap::new();
        for task in &set.tasks {
            tasks_of.entry(task.plan_key.as_str()).or_default().push(task.key.as_str());
        }
        PlanGraph { set, by_phase, aliases: plan_aliases(set), tasks_of }
    }

    fn of_phase(&self, phase: &str) -> &[&'s ImportPlan] {
        self.by_phase.get(phase).map(Vec::as_slice).unwrap_or_default()
    }

    /// The plans `plan` depends on: its `depends_on` items resolved (what names nothing is
    /// reported, and holds the plan), or, for a legacy plan, the plan before it in its phase.
    fn dependencies(
        &self,
        plan: &ImportPlan,
        DeclaredDepends { items, legacy, location }: &DeclaredDepends,
        cx: &mut Context,
    ) -> Vec<String> {
        let phase_plans = self.of_phase(&plan.phase_key);
        let mut deps: Vec<String> = Vec::new();
        if *legacy {
            // GSD ≤ 1.3 ran the plans of a phase one after another.
            if let Some(position) = phase_plans.iter().position(|p| p.key == plan.key)
                && let Some(previous) = position.checked_sub(1).and_then(|i| phase_plans.get(i))
                && previous.seq >= 0
            {
                deps.push(previous.key.clone());
            }
        }
        for item in items {
            let item = item.trim();
            if let Some(caps) = PHASE_REFERENCE.captures(item) {
                let Some(number) = PhaseNumber::parse(&caps[1]) else { continue };
                match self.by_phase.get(number.as_str()) {
                    Some(plans) => deps.extend(plans.iter().map(|p| p.key.clone())),
                    None if self.set.phases.iter().any(|p| p.key == number.as_str()) => {}
                    None => unresolved_dependency(
                        cx,
                        &plan.key,
                        location,
                        &format!(
                            "plan {} depends on phase {}, which is not in this import",
                            plan.key,
                            number.as_str()
                        ),
                    ),
                }
                continue;
            }
            match resolve_reference(item, plan, self.set, &self.aliases) {
                Reference::Plans(targets) => deps.extend(targets),
                Reference::Missing(target) => unresolved_dependency(
                    cx,
                    &plan.key,
                    location,
                    &format!("plan {} depends on {target}, which does not exist", plan.key),
                ),
                Reference::Unreadable => unresolved_dependency(
                    cx,
                    &plan.key,
                    location,
                    &format!("plan {} has a dependency '{item}' cw cannot read", plan.key),
                ),
            }
        }
        deps.sort();
        deps.dedup();
        if deps.contains(&plan.key) {
            let message = format!("plan {} depends on itself; dropped", plan.key);
            unresolved(cx, location, message);
            deps.retain(|d| *d != plan.key);
        }
        deps
    }

    /// Task edges `(task, dependency)`, sorted and without repeats.
    fn task_edges(
        &self,
        resolved: &HashMap<String, Vec<String>>,
        has_in_phase_dependency: &HashSet<String>,
    ) -> Vec<(String, String)> {
        let first = |plan: &str| self.tasks_of.get(plan).and_then(|t| t.first().copied());
        let last = |plan: &str| self.tasks_of.get(plan).and_then(|t| t.last().copied());
        let mut edges: Vec<(String, String)> = Vec::new();
        let mut push = |from: Option<&str>, to: Option<&str>| {
            if let (Some(from), Some(to)) = (from, to)
                && from != to
            {
                edges.push((from.to_owned(), to.to_owned()));
            }
        };
        // Tasks of one plan run in document order.
        for tasks in self.tasks_of.values() {
            for pair in tasks.windows(2) {
                push(Some(pair[1]), Some(pair[0]));
            }
        }
        for plan in &self.set.plans {
            for dep in resolved.get(&plan.key).map(Vec::as_slice).unwrap_or(&[]) {
                push(first(&plan.key), last(dep));
            }
        }
        for phase in &self.set.phases {
            let roots = self
                .of_phase(&phase.key)
                .iter()
                .filter(|p| !has_in_phase_dependency.contains(&p.key));
            let roots: Vec<&&ImportPlan> = roots.collect();
            for dep_phase in &phase.depends_on {
                for dep_plan in self.of_phase(dep_phase) {
                    for root in &roots {
                        push(first(&root.key), last(&dep_plan.key));
                    }
                }
            }
        }
        edges.sort();
        edges.dedup();
        edges
    }
}

/// What a `depends_on` item names.
enum Reference {
    Plans(Vec<String>),
    /// It reads as this plan key, which the import does not hold.
    Missing(String),
    Unreadable,
}

/// Other names a plan is known by in `depends_on`: its file name with and without `.md` and
/// `-PLAN`, and the slug of an `NN-slug-MM-PLAN.md` name, each lower-cased; and a phase
/// directory's name for all of that phase's plans.
fn plan_aliases(set: &ImportSet) -> HashMap<String, Vec<String>> {
    static SLUG: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"^{PHASE_NUMBER}-([A-Za-z].*?)-\d+$"))
            .expect("invariant: static regex")
    });
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut add = |alias: &str, key: &str| {
        aliases.entry(alias.to_lowercase()).or_default().push(key.to_owned());
    };
    for plan in &set.plans {
        let Some(source) = &plan.source else { continue };
        let name = source.rsplit('/').next().unwrap_or(source);
        let stem = name.strip_suffix(".md").unwrap_or(name);
        let bare = stem.strip_suffix("-PLAN").unwrap_or(stem);
        for alias in [name, stem, bare] {
            add(alias, &plan.key);
        }
        if let Some(caps) = SLUG.captures(bare) {
            add(&caps[1], &plan.key);
        }
        let dir = source.rsplit('/').nth(1).unwrap_or("");
        if !dir.is_empty() {
            add(dir, &plan.key);
        }
    }
    for keys in aliases.values_mut() {
        keys.sort();
        keys.dedup();
    }
    aliases
}

/// Reads one `depends_on` item of `plan`: a plan key (`01-02`, `26-P01`), a plan number of the
/// same phase (`02`), a path or file name (`.planning/phases/44-x/44-01-PLAN.md`), a slug, or a
/// phase directory's name.
fn resolve_reference(
    item: &str,
    plan: &ImportPlan,
    set: &ImportSet,
    aliases: &HashMap<String, Vec<String>>,
) -> Reference {
    let item = item.trim().trim_matches(['"', '\'', '`']).trim();
    let name = item.rsplit('/').next().unwrap_or(item);
    let exists = |key: &str| set.plans.iter().any(|p| p.key == key);
    let by_name = |text: &str| {
        if let Some(number) = plan_number(text) {
            return Some(plan_key(&plan.phase_key, &number));
        }
        let (phase, number) = names::reference(text)?;
        let phase = match phase {
            Some(phase) => PhaseNumber::parse(&phase)?.as_str().to_owned(),
            None => plan.phase_key.clone(),
        };
        Some(plan_key(&phase, &number))
    };
    let target = by_name(name);
    if let Some(target) = &target
        && exists(target)
    {
        return Reference::Plans(vec![target.clone()]);
    }
    for alias in [item, name] {
        if let Some(keys) = aliases.get(&alias.to_lowercase()) {
            return Reference::Plans(keys.clone());
        }
    }
    target.map_or(Reference::Unreadable, Reference::Missing)
}

/// A `depends_on` item that names nothing in the import: the plan waits for the human to fix
/// it (a task of theirs holds it back), unless `--ignore-unresolved` drops the item — running
/// early a plan whose dependency was misspelt would build on work not done yet.
fn unresolved_dependency(cx: &mut Context, plan: &str, location: &str, what: &str) {
    if cx.ignore_unresolved {
        unresolved(cx, location, format!("{what}; dropped (--ignore-unresolved)"));
        return;
    }
    cx.held.push(HeldPlan { plan: plan.to_owned(), reason: format!("{location}: {what}") });
    unresolved(
        cx,
        location,
        format!(
            "{what}; a task for the human holds the plan until it is fixed (or import with --ignore-unresolved)"
        ),
    );
}

/// The tasks that hold back plans with unresolved dependencies, each the first of its plan.
pub(super) fn hold_unresolved(set: &mut ImportSet, held: &[HeldPlan]) {
    let mut by_plan: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for HeldPlan { plan, reason } in held {
        by_plan.entry(plan.as_str()).or_default().push(reason.as_str());
    }
    for (plan_key, reasons) in by_plan {
        let Some(plan) = set.plans.iter().find(|p| p.key == plan_key) else { continue };
        if plan.complete {
            continue;
        }
        let Some(phase) = set.phases.iter().find(|p| p.key == plan.phase_key) else { continue };
        let key = format!("{plan_key}#deps");
        let first = set.tasks.iter().find(|t| t.plan_key == plan_key).map(|t| t.key.clone());
        let title =
            format!("Fix the depends_on of plan {plan_key} ({}), then re-import", reasons[0]);
        let task = ImportTask {
            description: format!(
                "cw cannot tell what plan {plan_key} waits for, so it does not start yet:\n\n{}\n\nCorrect `depends_on` in the plan's front matter and run `cw import` again (or `cw import --ignore-unresolved` to drop what cannot be resolved).",
                reasons.join("\n")
            ),
            done: "depends_on names plans that exist, and `cw import` was run again".to_owned(),
            wave: plan.wave.unwrap_or(0),
            metadata: json!({ "placeholder": true, "unresolved": reasons }),
            ..for_the_human(plan_key, "deps", &title, phase)
        };
        set.tasks.push(task);
        if let Some(first) = first {
            set.edges.push((first, key));
        }
    }
    set.edges.sort();
    set.edges.dedup();
}

pub(super) fn unresolved(cx: &mut Context, location: &str, message: String) {
    cx.unresolved.push(format!("{location}: {message}"));
    cx.warnings.push(ImportWarning { location: location.to_owned(), message });
}

pub(super) fn check_cycles(
    set: &ImportSet,
    plan_depends: &PlanDepends,
    cx: &Context,
) -> Result<(), ImportError> {
    let index: HashMap<&str, usize> =
        set.tasks.iter().enumerate().map(|(i, t)| (t.key.as_str(), i)).collect();
    let mut graph: HashMap<usize, Vec<usize>> = HashMap::new();
    for (from, to) in &set.edges {
        if let (Some(&a), Some(&b)) = (index.get(from.as_str()), index.get(to.as_str())) {
            graph.entry(a).or_default().push(b);
        }
    }
    let nodes: Vec<usize> = (0..set.tasks.len()).collect();
    let Some(cycle) = find_cycle(&nodes, &graph) else { return Ok(()) };
    let mut plans: Vec<&str> = Vec::new();
    for node in cycle {
        let plan = set.tasks[node].plan_key.as_str();
        if plans.last() != Some(&plan) {
            plans.push(plan);
        }
    }
    // Where the cycle's edges were written: the plans' own depends_on, and — when it runs
    // through more than one phase — the phases' `Depends on` lines in ROADMAP.md.
    let phases: HashSet<&str> = plans
        .iter()
        .filter_map(|key| set.plans.iter().find(|p| p.key == *key))
        .map(|p| p.phase_key.as_str())
        .collect();
    let from_roadmap = phases
        .iter()
        .filter(|_| phases.len() > 1)
        .filter_map(|phase| cx.phase_dependency_lines.get(*phase).cloned());
    let sources: Vec<String> = plans
        .iter()
        .filter_map(|p| plan_depends.get(*p))
        .filter(|declared| !declared.items.is_empty())
        .map(|declared| declared.location.clone())
        .chain(from_roadmap)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // By file, then line as a number (ROADMAP.md:9 before ROADMAP.md:12).
    let mut sources = sources;
    sources.sort_by_key(|location| match location.rsplit_once(':') {
        Some((file, line)) => (file.to_owned(), line.parse::<usize>().unwrap_or(0)),
        None => (location.clone(), 0),
    });
    let mut cycle = plans.join(" → ");
    if !sources.is_empty() {
        cycle.push_str(&format!(" (→ means \"depends on\"; see {})", sources.join(", ")));
    }
    Err(ImportError::Cycle { cycle })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(raw: &str) -> (Vec<String>, bool) {
        let all: Vec<PhaseNumber> = ["1", "2", "2.1", "3", "4", "5", "6", "7", "8", "12", "12.6"]
            .iter()
            .filter_map(|n| PhaseNumber::parse(n))
            .collect();
        let this = PhaseNumber::parse("8").unwrap();
        let (found, understood) = parse_phase_dependencies(raw, &this, &all);
        (found.into_iter().map(|p| p.0).collect(), understood)
    }

    #[test]
    fn depends_on_values_from_the_survey() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(deps("Phase 4"), (s(&["4"]), true));
        assert_eq!(deps("Phase 4 (v1.0 complete)"), (s(&["4"]), true));
        assert_eq!(deps("Phase 12.6 (Core Kit foundation must be in place)"), (s(&["12.6"]), true));
        assert_eq!(deps("Nothing (but blocks Phases 99, 100, 102)"), (s(&[]), true));
        assert_eq!(deps("None"), (s(&[]), true));
        assert_eq!(deps("Phase 5, Phase 8"), (s(&["5", "8"]), true));
        assert_eq!(deps("Phase 25, 26, 27 (all previous phases)"), (s(&["25", "26", "27"]), true));
        assert_eq!(deps("Phases 5-7"), (s(&["5", "6", "7"]), true));
        assert_eq!(deps("Phases 2–3"), (s(&["2", "2.1", "3"]), true));
        assert_eq!(deps("v0.5 complete"), (s(&[]), true));
        assert_eq!(deps("Phase 61/62 per-user"), (s(&["61", "62"]), true));
        assert_eq!(
            deps("All previous phases"),
            (s(&["1", "2", "2.1", "3", "4", "5", "6", "7"]), true)
        );
        assert_eq!(deps("Existing shared template base chain"), (s(&[]), false));
    }
}
