//! `cw import` against fixtures for every edge case in gsd-format.md §11, and against the real
//! sample folders beside the checkout when they exist.

use std::collections::HashMap;

use cw::model::TaskState;
use cw::service::{ImportOptions, ImportReport, Service, ServiceError};
use cw::store::TaskFilter;

use crate::support::{TestEnv, planning_samples};

const PLANNING: &str = ".planning";

pub(crate) fn plan_file(phase: &str, plan: &str, front: &str, tasks: &str) -> String {
    format!(
        "---\nphase: {phase}\nplan: {plan}\ntype: execute\n{front}\n---\n\n<objective>\nPlan {phase}-{plan} objective. More text.\n</objective>\n\n<tasks>\n{tasks}\n</tasks>\n"
    )
}

pub(crate) fn auto(name: &str) -> String {
    format!(
        "<task type=\"auto\">\n  <name>{name}</name>\n  <files>src/{name}.rs</files>\n  <action>Do {name}.</action>\n  <verify>cargo test</verify>\n  <done>{name} works</done>\n</task>"
    )
}

pub(crate) fn import(env: &TestEnv) -> Result<ImportReport, ServiceError> {
    env.service().import(&env.root().join(PLANNING), &ImportOptions::default())
}

/// `key state [human] ← dep keys` per task, in list order: the structure, without anyone's text.
pub(crate) fn structure(service: &Service) -> String {
    let listing = service.list_tasks(&TaskFilter::default()).unwrap();
    let keys: HashMap<_, _> = listing
        .tasks
        .iter()
        .map(|t| (t.id, t.key.clone().unwrap_or_else(|| t.id.to_string())))
        .collect();
    let mut out = String::new();
    for task in &listing.tasks {
        let mut deps: Vec<&str> = listing
            .dependencies
            .get(&task.id)
            .map(|d| d.iter().map(|id| keys[id].as_str()).collect())
            .unwrap_or_default();
        deps.sort_unstable();
        let human = if task.needs_human { " [human]" } else { "" };
        let after =
            if deps.is_empty() { String::new() } else { format!(" ← {}", deps.join(", ")) };
        out.push_str(&format!("{} {}{human}{after}\n", keys[&task.id], task.state));
    }
    out
}

pub(crate) fn roadmap(body: &str) -> String {
    format!("# Roadmap: Fixture\n\n## Overview\nA test initiative.\n\n## Phases\n\n{body}")
}

#[test]
fn phases_plans_tasks_dependencies_summaries_and_checkpoints() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 1: Core** - core\n- [ ] **Phase 2: Edge** - edge\n\n## Phase Details\n\n### Phase 1: Core\n**Goal**: the core\n**Depends on**: Nothing (first phase)\n\n### Phase 2: Edge\n**Goal:** the edge\n**Depends on:** Phase 1\n"));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file(
            "01-core",
            "01",
            "wave: 1\ndepends_on: []",
            &format!("{}\n{}", auto("a"), auto("b")),
        ),
    );
    env.write(".planning/phases/01-core/01-01-SUMMARY.md", "---\nphase: 01-core\nplan: 01\n---\n# Phase 1 Plan 1 Summary\n\n**Core types landed with tests**\n");
    env.write(".planning/phases/01-core/01-02-PLAN.md", &plan_file("01-core", "02", "wave: 2\ndepends_on: [\"01-01\"]", &format!("{}\n<task type=\"checkpoint:human-verify\" gate=\"blocking\">\n<what-built>1. The **CLI** prints a table</what-built>\n<how-to-verify>Run it</how-to-verify>\n<resume-signal>Type approved</resume-signal>\n</task>\n{}", auto("c"), auto("d"))));
    env.write(
        ".planning/phases/02-edge/02-01-PLAN.md",
        &plan_file("02-edge", "01", "wave: 1\ndepends_on: []", &auto("e")),
    );
    let report = import(&env).unwrap();
    assert_eq!(
        (
            report.phases,
            report.plans,
            report.tasks_created,
            report.tasks_marked_merged,
            report.needs_human
        ),
        (2, 3, 6, 2, 1)
    );
    let service = env.service();
    insta::assert_snapshot!(structure(&service), @r"
    01-01#1 merged
    01-01#2 merged ← 01-01#1
    01-02#1 ready ← 01-01#2
    01-02#2 pending [human] ← 01-02#1
    01-02#3 pending ← 01-02#2
    02-01#1 pending ← 01-01#2, 01-02#3
    ");
    let listing = service.list_tasks(&TaskFilter::default()).unwrap();
    let verify = listing.tasks.iter().find(|t| t.key.as_deref() == Some("01-02#2")).unwrap();
    assert_eq!(verify.title, "Verify: The CLI prints a table");
    assert_eq!(verify.kind, "checkpoint:human-verify");
    let merged = &listing.tasks[0];
    assert_eq!(merged.result_summary.as_deref(), Some("Core types landed with tests"));
    assert_eq!(merged.files, ["src/a.rs"]);
    assert_eq!((merged.verify.as_str(), merged.done_criteria.as_str()), ("cargo test", "a works"));
    assert_eq!(
        listing.phases.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(),
        ["Core", "Edge"]
    );
    assert_eq!(listing.initiatives[0].title, "Fixture");
    assert_eq!(listing.initiatives[0].description, "A test initiative.");
}

#[test]
fn reimport_updates_in_place_and_keeps_local_state() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Core\n**Depends on**: Nothing\n"));
    let plan_path = ".planning/phases/01-core/01-01-PLAN.md";
    env.write(
        plan_path,
        &plan_file(
            "01-core",
            "01",
            "wave: 1\ndepends_on: []",
            &format!("{}\n{}\n{}", auto("a"), auto("b"), auto("c")),
        ),
    );
    env.write(
        ".planning/phases/01-core/01-02-PLAN.md",
        &plan_file("01-core", "02", "wave: 2\ndepends_on: [01]", &auto("d")),
    );
    import(&env).unwrap();
    let service = env.service();
    let agent = service.register_agent("worker", None).unwrap().agent.id;
    let claimed = service.claim(agent).unwrap().unwrap().task;
    assert_eq!(claimed.key.as_deref(), Some("01-01#1"));

    // Edit: rename task a, drop task c, add plan 03; import twice.
    env.write(
        plan_path,
        &plan_file(
            "01-core",
            "01",
            "wave: 1\ndepends_on: []",
            &format!("{}\n{}", auto("a-renamed"), auto("b")),
        ),
    );
    env.write(
        ".planning/phases/01-core/01-03-PLAN.md",
        &plan_file("01-core", "03", "wave: 3\ndepends_on: [\"01-02\"]", &auto("f")),
    );
    let report = import(&env).unwrap();
    assert_eq!(
        (report.tasks_created, report.tasks_updated, report.tasks_unchanged, report.tasks_removed),
        (1, 1, 2, 1)
    );
    let again = import(&env).unwrap();
    assert_eq!(
        (
            again.tasks_created,
            again.tasks_updated,
            again.tasks_unchanged,
            again.edges_added,
            again.edges_removed
        ),
        (0, 0, 4, 0, 0)
    );
    let detail = service.task(claimed.id).unwrap().task;
    assert_eq!(
        (detail.title.as_str(), detail.state, detail.agent),
        ("a-renamed", TaskState::Claimed, Some(agent)),
        "re-import kept the claim"
    );
    insta::assert_snapshot!(structure(&service), @r"
    01-01#1 claimed
    01-01#2 pending ← 01-01#1
    01-02#1 pending ← 01-01#2
    01-03#1 pending ← 01-02#1
    ");

    // The plan gets a SUMMARY: its unclaimed tasks become merged, and the chain moves on.
    service.report_done(agent, claimed.id, cw::model::ReportOutcome::Done, "done").unwrap();
    env.write(".planning/phases/01-core/01-01-SUMMARY.md", "# Summary\n\n**All good**\n");
    let report = import(&env).unwrap();
    assert_eq!(
        report.tasks_marked_merged, 1,
        "only the untouched task is marked merged; done stays done"
    );
    insta::assert_snapshot!(structure(&service), @r"
    01-01#1 done
    01-01#2 merged ← 01-01#1
    01-02#1 ready ← 01-01#2
    01-03#1 pending ← 01-02#1
    ");
}

#[test]
fn a_malformed_file_costs_one_task_for_the_human_and_strict_refuses_naming_file_and_line() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Core\n"));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file("01-core", "01", "wave: 1", &auto("fine")),
    );
    env.write(
        ".planning/phases/01-core/01-02-PLAN.md",
        &plan_file(
            "01-core",
            "02",
            "wave: 1",
            "<task type=\"auto\">\n<name>broken</name>\n<action>never closed\n</task>",
        ),
    );
    env.write(
        ".planning/phases/01-core/01-03-PLAN.md",
        &plan_file("01-core", "03", "wave: 2\ndepends_on: [\"01-02\"]", &auto("later")),
    );
    let strict = env.cw(&["import", ".planning", "--strict"]);
    assert_eq!(
        strict.error(1),
        format!(
            "error: {}/.planning/phases/01-core/01-02-PLAN.md:15: <action> opened here is never closed",
            env.root().display()
        )
    );
    assert_eq!(
        env.service().status(&cw::service::Caller::CLI, 0).unwrap().total,
        0,
        "nothing was half-imported"
    );

    let run = env.cw(&["import", ".planning"]).ok().to_owned();
    assert!(run.contains("1 file could not be read (a plan among them is a task for the human now):\n    phases/01-core/01-02-PLAN.md:15 — <action> opened here is never closed\n"), "{run}");
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    01-02#fix ready [human]
    01-03#1 pending ← 01-02#fix
    ");
    let json = env.cw(&["import", ".planning", "--json"]).json();
    assert_eq!(json["problems"].as_array().unwrap().len(), 1, "{json}");
    // Per file, what became of it.
    let planning = env.root().canonicalize().unwrap().join(".planning");
    assert_eq!(json["planning"], planning.to_str().unwrap(), "the folder read, absolute");
    let outcome = |path: &str| {
        let files = json["files"].as_array().unwrap();
        let path = planning.join(path);
        let path = path.to_str().unwrap();
        let file =
            files.iter().find(|f| f["path"] == path).unwrap_or_else(|| panic!("{path}: {json}"));
        (file["outcome"].as_str().unwrap().to_owned(), file["detail"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        outcome("phases/01-core/01-01-PLAN.md"),
        ("imported".to_owned(), "plan 01-01: 1 task".to_owned())
    );
    assert_eq!(outcome("phases/01-core/01-02-PLAN.md").0, "problem");
    assert!(json["next_ready"][0]["depends_on"].is_array(), "{json}");

    // Fixed: the task for the human goes, the plan's own tasks come, and what waited still waits
    // on them.
    env.write(
        ".planning/phases/01-core/01-02-PLAN.md",
        &plan_file("01-core", "02", "wave: 1", &auto("mended")),
    );
    env.cw(&["import", ".planning"]).ok();
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    01-02#1 ready
    01-03#1 pending ← 01-02#1
    ");

    env.write(".planning/phases/01-core/01-02-PLAN.md", "---\nphase: 01\nplan: 02\n");
    let run = env.cw(&["import", ".planning", "--strict"]);
    assert!(
        run.error(1).ends_with(
            "01-02-PLAN.md:1: front matter opened here is never closed (no second `---` line)"
        ),
        "{run:?}"
    );
}

#[test]
fn cycles_are_refused_naming_plans_and_lines() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Core\n"));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file("01-core", "01", "wave: 1\ndepends_on: [\"01-02\"]", &auto("a")),
    );
    env.write(
        ".planning/phases/01-core/01-02-PLAN.md",
        &plan_file("01-core", "02", "wave: 1\ndepends_on: [\"01-01\"]", &auto("b")),
    );
    let run = env.cw(&["import", ".planning"]);
    assert_eq!(
        run.error(1),
        "error: dependency cycle: 01-01 → 01-02 → 01-01 (→ means \"depends on\"; see phases/01-core/01-01-PLAN.md:6, phases/01-core/01-02-PLAN.md:6)"
    );
    assert_eq!(env.service().status(&cw::service::Caller::CLI, 0).unwrap().total, 0);
}

#[test]
fn roadmaps_that_are_not_gsd_or_missing() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", "# Plan\n\n### Step 1: Do things\n- **Status**: open\n");
    let run = env.cw(&["import", "."]);
    assert!(
        run.error(1).ends_with(
            "ROADMAP.md: not a GSD roadmap (no 'Phase N:' headings or checklist entries)"
        ),
        "{run:?}"
    );

    // With phase directories, they are read, and the roadmap is named in a warning.
    env.write(
        ".planning/phases/01-setup/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &auto("y")),
    );
    let report = import(&env).unwrap();
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.location == "ROADMAP.md" && w.message.starts_with("not a GSD roadmap")),
        "{:?}",
        report.warnings
    );
    assert_eq!(report.tasks_created, 1);
    let strict = ImportOptions { strict: true, ..ImportOptions::default() };
    let err = env.service().import(&env.root().join(PLANNING), &strict).unwrap_err();
    assert!(
        err.to_string().ends_with(
            "ROADMAP.md: not a GSD roadmap (no 'Phase N:' headings or checklist entries)"
        ),
        "{err}"
    );

    // No ROADMAP at all: phases come from the directories, named after their slugs.
    fs_err::remove_file(env.root().join(".planning/ROADMAP.md")).unwrap();
    env.write(
        ".planning/phases/02-data-foundation/02-01-PLAN.md",
        &plan_file("02", "01", "wave: 1", &auto("x")),
    );
    env.write(
        ".planning/phases/01-setup/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &auto("y")),
    );
    let report = import(&env).unwrap();
    assert!(report.warnings.iter().any(|w| w.message.contains("no ROADMAP.md")));
    let listing = env.service().list_tasks(&TaskFilter::default()).unwrap();
    assert_eq!(
        listing.phases.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(),
        ["setup", "data foundation"]
    );
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    02-01#1 pending ← 01-01#1
    ");

    let empty = TestEnv::initialised();
    fs_err::create_dir_all(empty.root().join("nothing")).unwrap();
    assert!(
        empty
            .cw(&["import", "nothing"])
            .error(1)
            .contains("nothing to import (no ROADMAP.md and no phases/ directory)")
    );
    assert!(empty.cw(&["import", "missing"]).error(1).contains("is not a directory"));
}

#[test]
fn numbers_are_never_retyped_and_sort_numerically() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 12: Base** - b\n- [ ] **Phase 12.10: Tenth insert** - t (INSERTED)\n- [ ] **Phase 12.2: Second insert** - s (INSERTED)\n\n### Phase 12.2: Second insert (INSERTED)\n**Depends on**: Phase 12.10 (out of order on purpose)\n\n### Phase 12.10: Tenth insert (INSERTED)\n**Depends on**: Phase 12\n"));
    env.write(
        ".planning/phases/12-base/12-01-PLAN.md",
        &plan_file("12", "01", "wave: 1", &auto("base")),
    );
    env.write(
        ".planning/phases/12.10-tenth/12.10-010-PLAN.md",
        &plan_file("12.10", "010", "wave: 1\ndepends_on: []", &auto("tenth")),
    );
    env.write(
        ".planning/phases/12.2-second/12.2-PLAN-01.md",
        &plan_file("12.2", "01", "wave: 1\ndepends_on: []", &auto("second")),
    );
    env.write(".planning/phases/12.2-second/12.2-01-SUMMARY.md", "# S\n\n**done**\n");
    env.write(".planning/phases/12.2-second/12.2-01-PLAN-CHECK.md", "not a plan");
    import(&env).unwrap();
    let listing = env.service().list_tasks(&TaskFilter::default()).unwrap();
    let phases: Vec<(&str, &str)> =
        listing.phases.iter().map(|p| (p.key.as_str(), p.number.as_str())).collect();
    assert_eq!(phases, [("12", "12"), ("12.2", "12.2"), ("12.10", "12.10")]);
    insta::assert_snapshot!(structure(&env.service()), @r"
    12-01#1 ready
    12.2-01#1 merged ← 12.10-10#1
    12.10-10#1 pending ← 12-01#1
    ");
}

#[test]
fn legacy_plans_chain_and_plan_references_resolve_every_way() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Legacy\n\n### Phase 2: Modern\n**Depends on**: Nothing\n\n### Phase 3: Refs\n**Depends on**: None\n"));
    // Legacy: no wave and no depends_on anywhere in the phase → run in plan order.
    for plan in ["01", "02", "03"] {
        env.write(
            &format!(".planning/phases/01-legacy/01-{plan}-PLAN.md"),
            &format!(
                "---\nphase: 01-legacy\nplan: {plan}\ntype: execute\n---\n<tasks>{}</tasks>",
                auto(&format!("l{plan}"))
            ),
        );
    }
    env.write(
        ".planning/phases/02-modern/02-01-PLAN.md",
        &plan_file("02", "01", "wave: 1\ndepends_on: []", &auto("m1")),
    );
    env.write(
        ".planning/phases/02-modern/02-02-PLAN.md",
        &plan_file("02", "02", "wave: 1\ndepends_on: []", &auto("m2")),
    );
    env.write(
        ".planning/phases/02-modern/02-03-PLAN.md",
        &plan_file(
            "02",
            "03",
            "wave: 2\ndepends_on:\n  - 01\n  - \"02-02-some-slug\"",
            &auto("m3"),
        ),
    );
    env.write(
        ".planning/phases/03-refs/03-01-PLAN.md",
        &plan_file("03", "01", "wave: 1\ndepends_on:\n  - Phase 1\n  - 09-09", &auto("r1")),
    );
    let report = import(&env).unwrap();
    let unknown: Vec<&str> = report
        .warnings
        .iter()
        .filter(|w| w.message.contains("09-09"))
        .map(|w| w.location.as_str())
        .collect();
    assert_eq!(unknown, ["phases/03-refs/03-01-PLAN.md:6"]);
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    01-02#1 pending ← 01-01#1
    01-03#1 pending ← 01-02#1
    02-01#1 ready
    02-02#1 ready
    02-03#1 pending ← 02-01#1, 02-02#1
    03-01#1 pending ← 01-01#1, 01-02#1, 01-03#1, 03-01#deps
    03-01#deps ready [human]
    ");
    // --ignore-unresolved: the item is dropped and the plan runs on what resolved.
    let ignoring = ImportOptions { ignore_unresolved: true, ..ImportOptions::default() };
    let report = env.service().import(&env.root().join(PLANNING), &ignoring).unwrap();
    assert!(report.warnings.iter().any(|w| w.message.ends_with("dropped (--ignore-unresolved)")));
    assert!(structure(&env.service()).contains("03-01#1 pending ← 01-01#1, 01-02#1, 01-03#1\n"));
    let strict = env
        .service()
        .import(
            &env.root().join(PLANNING),
            &ImportOptions { strict: true, ..ImportOptions::default() },
        )
        .unwrap_err();
    assert!(strict.to_string().starts_with("1 unresolved dependencies with --strict; first: phases/03-refs/03-01-PLAN.md:6: plan 03-01 depends on 09-09"), "{strict}");
}

#[test]
fn tolerant_task_shapes() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Shapes\n"));
    let decision = "<task type=\"checkpoint:decision\" gate=\"blocking\">\n<decision>Which visual-regression tool?</decision>\n<context>Matters for CI</context>\n<options>\n<option id=\"pw\"><name>Playwright</name><pros>free</pros></option>\n<option id=\"ch\"><name>Chromatic</name></option>\n</options>\n</task>";
    let action = "<task type=\"checkpoint:human-action\">\n<action>\n- Create the OAuth app\n</action>\n</task>";
    let off_spec = "<task type=\"implementation\" id=\"01-01-03\">\n<title>Off-spec title</title>\n<action>Promise<void> & a < b</action>\n</task>";
    env.write(
        ".planning/phases/01-shapes/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &format!("{decision}\n{action}\n{off_spec}")),
    );
    env.write(".planning/phases/01-shapes/01-02-PLAN.md", "---\nphase: 01\nplan: 02\ntype: tdd\nwave: 1\n---\n<feature>\n<name>Message framing</name>\n<files>src/frame.rs</files>\n<behavior>round trips</behavior>\n<implementation>length prefix</implementation>\n</feature>\n");
    env.write(".planning/phases/01-shapes/01-03-PLAN.md", "\u{feff}# Plan without front matter\r\n\r\n## Task 1: First step\r\nDo the first step.\r\n\r\n## Task 2: Second step\r\nDo the second.\r\n");
    let report = import(&env).unwrap();
    let listing = env.service().list_tasks(&TaskFilter::default()).unwrap();
    let titles: Vec<(&str, &str, bool)> = listing
        .tasks
        .iter()
        .map(|t| (t.key.as_deref().unwrap(), t.title.as_str(), t.needs_human))
        .collect();
    assert_eq!(
        titles,
        [
            ("01-01#1", "Decide: Which visual-regression tool?", true),
            ("01-01#2", "Manual step: Create the OAuth app", true),
            ("01-01#3", "Off-spec title", false),
            ("01-02#1", "Message framing", false),
            ("01-03#1", "Task 1: First step", false),
            ("01-03#2", "Task 2: Second step", false),
        ]
    );
    let decision_task = &listing.tasks[0];
    assert!(
        decision_task.description.contains("Options:\n- pw: Playwright\n- ch: Chromatic"),
        "{}",
        decision_task.description
    );
    let metadata: serde_json::Value = serde_json::from_str(&decision_task.metadata).unwrap();
    assert_eq!(metadata["options"][0]["id"], "pw");
    assert_eq!(metadata["attributes"]["gate"], "blocking");
    assert!(listing.tasks[2].description.contains("Promise<void> & a < b"));
    assert!(listing.tasks[3].description.contains("Behavior:\nround trips"));
    assert_eq!(listing.tasks[3].files, ["src/frame.rs"]);
    let messages: Vec<&str> = report.warnings.iter().map(|w| w.message.as_str()).collect();
    assert!(
        messages.contains(&"no front matter; phase and plan come from the file name"),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"no <task> elements; tasks taken from the headings"),
        "{messages:?}"
    );
}

#[test]
fn roadmap_variants_completion_placeholders_and_skips() {
    let env = TestEnv::initialised();
    let text = "<details>\n<summary>✅ v1.0 MVP (Phases 1-2) — SHIPPED 2026-01-01</summary>\n\n- [x] Phase 1: Base (1/1 plans) — completed 2026-01-01\n- [x] Phase 2: More (0/0 plans) — completed 2026-01-02\n\n</details>\n\n### 🚧 v1.1 Next (In Progress)\n\n- [ ] **Phase 3: Next** - next\n- [ ] ~~**Phase 3.4: Dropped**~~ - ABANDONED\n- [ ] **Phase 4: Later** - later\n- [ ] **Phase 999.1: Someday** (BACKLOG)\n\n#### Phase 3: Next\n**Depends on**: v1.0 complete\n**Plans**: 1 plans\n\nPlans:\n- [ ] 03-01-PLAN.md — Real title from the roadmap\n- [ ] 03-02: TBD (run /gsd:plan-phase 3 to break down)\n\n#### Phase 4: Later\n**Depends on**: Phase 3\n**Plans**: TBD\n";
    env.write(".planning/ROADMAP.md", &roadmap(text));
    // Phase 1 is complete in the roadmap but its plan has no SUMMARY: trusted as merged, with a warning.
    env.write(
        ".planning/phases/01-base/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &auto("base")),
    );
    env.write(
        ".planning/phases/03-next/03-01-PLAN.md",
        &plan_file("03", "01", "wave: 1\ndepends_on: []", &auto("next")),
    );
    env.write(".planning/phases/03-next/03-99-SUMMARY.md", "# orphan\n");
    let report = import(&env).unwrap();
    assert_eq!(
        report.skipped,
        ["phase 3.4 (abandoned): Dropped", "phase 999.1 (backlog): Someday"]
    );
    let messages: Vec<String> =
        report.warnings.iter().map(|w| format!("{}: {}", w.location, w.message)).collect();
    assert!(
        messages.iter().any(|m| m.starts_with(
            "phases/01-base/01-01-PLAN.md: no SUMMARY but the roadmap marks the phase complete"
        )),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("03-99-SUMMARY.md: summary without a matching plan")),
        "{messages:?}"
    );
    assert!(messages.iter().any(|m| m.contains("phase 4 has no plans yet")), "{messages:?}");
    let listing = env.service().list_tasks(&TaskFilter::default()).unwrap();
    assert_eq!(
        listing.plans.iter().find(|p| p.key.as_deref() == Some("03-01")).unwrap().title,
        "Real title from the roadmap"
    );
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 merged
    03-01#1 ready
    04-unplanned#1 pending [human] ← 03-01#1
    ");
}

#[test]
fn duplicate_phase_directories_are_both_read_and_strict_refuses_naming_both() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 14: Research\n"));
    env.write(
        ".planning/phases/14-dedicated-researcher/14-01-PLAN.md",
        &plan_file("14", "01", "wave: 1", &auto("a")),
    );
    env.write(
        ".planning/phases/14-researcher/14-01-PLAN.md",
        &plan_file("14", "01", "wave: 1", &auto("b")),
    );
    // An abandoned start: a directory holding only its CONTEXT.md.
    env.write(".planning/phases/14-first-try/14-CONTEXT.md", "# Context\n");
    let line = env.cw(&["import", ".planning", "--dry-run", "--strict"]).error(1).to_owned();
    assert!(
        line.contains("phase 14 has two directories:")
            && line.contains("14-dedicated-researcher")
            && line.contains("14-researcher (remove or rename one)"),
        "{line}"
    );
    let report = import(&env).unwrap();
    let warned = |text: &str| report.warnings.iter().any(|w| w.message.contains(text));
    assert!(
        warned("a second directory for phase 14 holds plans; imported as phase 14-researcher"),
        "{:?}",
        report.warnings
    );
    assert!(
        warned(
            "a second directory for phase 14 holds no plans; phases/14-dedicated-researcher is read"
        ),
        "{:?}",
        report.warnings
    );
    insta::assert_snapshot!(structure(&env.service()), @r"
    14-01#1 ready
    14-researcher-01#1 ready
    ");
}

#[test]
fn dry_run_reports_without_writing() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Core\n"));
    env.write(
        ".planning/phases/01-core/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &auto("a")),
    );
    let report = env.cw(&["import", ".", "--dry-run", "--json"]).json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["tasks"]["created"], 1);
    assert_eq!(report["states"]["ready"], 1);
    assert_eq!(env.service().status(&cw::service::Caller::CLI, 0).unwrap().total, 0);
    let report = env.cw(&["import", ".", "--json"]).json();
    assert_eq!(report["next_ready"][0]["id"], "t1");
}

/// Every real sample beside the checkout imports, re-imports as a no-op, and keeps its shape.
#[test]
fn real_planning_samples_import() {
    let Some(samples) = planning_samples() else {
        // The samples are other people's text and are not copied into the project; CI has them.
        return;
    };
    let mut names: Vec<String> = fs_err::read_dir(&samples)
        .unwrap()
        .filter_map(|e| {
            let path = e.unwrap().path();
            path.is_dir().then(|| path.file_name().unwrap().to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    assert!(names.len() >= 3, "expected the three sample folders, found {names:?}");
    for name in names {
        let env = TestEnv::initialised();
        let service = env.service();
        let dir = samples.join(&name);
        let report = service
            .import(&dir, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(report.tasks_created > 0, "{name}: no tasks");
        let again = service.import(&dir, &ImportOptions::default()).unwrap();
        assert_eq!(
            (again.tasks_created, again.tasks_updated, again.edges_added, again.edges_removed),
            (0, 0, 0, 0),
            "{name}: re-import changed things"
        );
        let summary = format!("{}\n{}", sample_summary(&report), structure(&service));
        insta::assert_snapshot!(format!("sample_{name}"), summary);
    }
}

fn sample_summary(report: &ImportReport) -> String {
    let states: Vec<String> = report.state_counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let skipped = report
        .skipped
        .iter()
        .map(|s| s.split(':').next().unwrap_or(s).to_owned())
        .collect::<Vec<_>>();
    format!(
        "phases {} plans {} tasks {} merged {} human {} | {} | skipped {:?} | warnings {}",
        report.phases,
        report.plans,
        report.tasks_created,
        report.tasks_marked_merged,
        report.needs_human,
        states.join(", "),
        skipped,
        report.warnings.len()
    )
}

#[test]
fn archived_phases_fix_plans_wave_zero_and_odd_values() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [x] **Phase 1: Fundação** - base\n- [ ] **Phase 2: 数据** - data\n\n### Phase 2: 数据\n**Depends on**: Phase 1\n"));
    // Phase 1 was archived with its milestone; it still imports (done, it has a SUMMARY).
    env.write(
        ".planning/milestones/v1.0-phases/01-fundacao/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &auto("base")),
    );
    env.write(
        ".planning/milestones/v1.0-phases/01-fundacao/01-01-SUMMARY.md",
        "# S\n\n**Feito**\n",
    );
    env.write(
        ".planning/phases/02-data/02-00-PLAN.md",
        &plan_file("02", "00", "wave: 0\ndepends_on: []", &auto("scaffold")),
    );
    env.write(
        ".planning/phases/02-data/02-01-PLAN.md",
        &plan_file("02", "7", "wave: soon\ndepends_on: [\"02-00\"]", &auto("数据")),
    );
    env.write(
        ".planning/phases/02-data/02-FIX.md",
        &plan_file("02", "FIX", "type: fix\nwave: 3\ndepends_on: [\"02-01\"]", &auto("fix")),
    );
    let report = import(&env).unwrap();
    let messages: Vec<String> =
        report.warnings.iter().map(|w| format!("{}: {}", w.location, w.message)).collect();
    assert!(
        messages.contains(
            &"phases/02-data/02-01-PLAN.md: wave 'soon' is not a number; ignored".to_owned()
        ),
        "{messages:?}"
    );
    assert!(messages.contains(&"phases/02-data/02-01-PLAN.md: front matter says plan 7 but the file name says 01; using the file name".to_owned()), "{messages:?}");
    let listing = env.service().list_tasks(&TaskFilter::default()).unwrap();
    assert_eq!(
        listing.phases.iter().map(|p| p.title.as_str()).collect::<Vec<_>>(),
        ["Fundação", "数据"]
    );
    assert!(listing.tasks.iter().any(|t| t.title == "数据"));
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 merged
    02-00#1 ready ← 01-01#1
    02-01#1 pending ← 02-00#1
    02-FIX#1 pending ← 02-01#1
    ");
}

/// A task for the human is approved, rejected or deferred; any other answer is refused with
/// the three words, and nothing changes.
#[test]
fn a_task_for_the_human_is_approved_rejected_or_deferred_not_answered_at_large() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("### Phase 1: Ship\n"));
    let action = "<task type=\"checkpoint:human-action\">\n<action>\n- Create the OAuth app\n</action>\n</task>";
    env.write(
        ".planning/phases/01-ship/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1", &format!("{action}\n{}", auto("after"))),
    );
    import(&env).unwrap();
    let service = env.service();
    let asked = service.ask_human_for_checkpoints().unwrap();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let (question, task) = (asked[0].id.to_string(), asked[0].task.unwrap().to_string());
    assert_eq!(asked[0].options, ["approve", "reject", "defer"]);
    let state = |id: &str| env.cw(&["task", "show", id, "--json"]).json()["state"].clone();
    let refused = env.cw(&["answer", &question, "blue"]);
    assert!(refused.error(1).contains("answer `approve`"), "{refused:?}");
    assert_eq!(state(&task), "ready");
    let deferred = env.cw(&["answer", &question, "defer"]);
    assert!(deferred.ok().contains("deferred"), "{deferred:?}");
    assert_eq!(env.cw(&["inbox", "--json"]).json().as_array().unwrap().len(), 1, "still open");
    assert_eq!(state(&task), "ready");
    env.cw(&["answer", &question, "reject: the callback URL is wrong"]).ok();
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!(shown["state"], "failed");
    assert_eq!(shown["failure_reason"], "the callback URL is wrong");
    // Retried, it is asked again, and approved with a result.
    env.cw(&["task", "retry", &task]).ok();
    let again = service.ask_human_for_checkpoints().unwrap();
    assert_eq!(again.len(), 1);
    env.cw(&["answer", &again[0].id.to_string(), "approve created as cw-prod"]).ok();
    let shown = env.cw(&["task", "show", &task, "--json"]).json();
    assert_eq!(
        (shown["state"].as_str(), shown["result_summary"].as_str()),
        (Some("merged"), Some("created as cw-prod"))
    );
}
