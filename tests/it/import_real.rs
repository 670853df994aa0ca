//! `cw import` reading what real `.planning/` folders hold (issue 19): one small fixture per
//! shape found in public repositories, and the corpus of whole real folders in
//! `tests/fixtures/planning-corpus/`.

use cw::model::TaskState;
use cw::service::ImportOptions;

use crate::import::{auto, import, plan_file, roadmap, structure};
use crate::support::TestEnv;

/// Per folder of the corpus: phases, plans, tasks, merged tasks, tasks for the human — counted
/// from the files by `tests/fixtures/planning-corpus/count.py` and by hand (its README says how).
const CORPUS: &[(&str, usize, usize, usize, usize, usize)] = &[
    ("001TMF__HYDRA", 6, 31, 60, 60, 2),
    ("0antinomia__tui01", 6, 3, 6, 6, 0),
    ("0jrm__gsd-unsupervised", 9, 21, 57, 57, 1),
    ("0xCUB3__mcode", 5, 0, 0, 0, 0),
    ("0xCUB3__wBlock", 12, 0, 0, 0, 0),
    ("F9Uf__md2cv", 13, 41, 77, 77, 11),
    ("FReptar0__centik", 31, 81, 177, 177, 12),
    ("FablrWill__Camping-Manager", 62, 136, 288, 280, 26),
    ("FavioVazquez__roadtoreality", 11, 41, 119, 119, 0),
    ("Fearvox__Evensong", 15, 15, 40, 31, 9),
    ("FedorPortnoi__ibp", 5, 2, 8, 4, 4),
    ("Fei2-Labs__cc-proxy", 7, 13, 37, 37, 0),
    ("FelipeOFF__CairnGo", 38, 130, 297, 297, 2),
];

#[test]
fn every_real_folder_of_the_corpus_imports_with_the_counts_its_files_give() {
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/planning-corpus");
    let on_disk =
        fs_err::read_dir(&corpus).unwrap().filter(|e| e.as_ref().unwrap().path().is_dir()).count();
    assert_eq!(on_disk, CORPUS.len(), "every folder of the corpus has its expected counts");
    let mut wrong = Vec::new();
    for &(name, phases, plans, tasks, merged, human) in CORPUS {
        let env = TestEnv::initialised();
        let dir = corpus.join(name).join(".planning");
        let report = env
            .service()
            .import(&dir, &ImportOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let merged_now = report
            .state_counts
            .iter()
            .find(|(s, _)| *s == TaskState::Merged)
            .map_or(0, |(_, n)| *n);
        let got =
            (report.phases, report.plans, report.tasks_created, merged_now, report.needs_human);
        if got != (phases, plans, tasks, merged, human) {
            wrong.push(format!(
                "{name}: got {got:?}, the files say {:?}",
                (phases, plans, tasks, merged, human)
            ));
        }
        assert!(report.problems.is_empty(), "{name}: {:?}", report.problems);
        // What is ready next waited only for merged work, and the report says what it was.
        for task in &report.next_ready {
            for dep in &report.next_ready_depends_on[&task.id] {
                let state = env.service().task(*dep).unwrap().task.state;
                assert_eq!(
                    state,
                    TaskState::Merged,
                    "{name}: {} is ready before {dep}",
                    task.title
                );
            }
        }
        if name == "FedorPortnoi__ibp" {
            let first = &report.next_ready[0];
            assert_eq!(
                report.next_ready_depends_on[&first.id].len(),
                2,
                "phase 2 waits for the last task of each of phase 1's two plans"
            );
        }
        let again = env.service().import(&dir, &ImportOptions::default()).unwrap();
        assert_eq!(
            (
                again.tasks_created,
                again.tasks_updated,
                again.tasks_removed,
                again.edges_added,
                again.edges_removed
            ),
            (0, 0, 0, 0, 0),
            "{name}: a second import changed things"
        );
    }
    assert!(wrong.is_empty(), "(phases, plans, tasks, merged, human):\n{}", wrong.join("\n"));
}

#[test]
fn every_plan_file_name_gsd_accepts_is_a_plan_and_its_summary_marks_it_done() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 1: Odd names** - x\n- [ ] **Phase 2: Alone** - y\n- [ ] **Phase 3: Versions** - z\n"));
    let dir = ".planning/phases/01-odd-names";
    for (name, plan) in [
        ("01-add-auth-01-PLAN.md", "01"),
        ("01-P02-PLAN.md", "02"),
        ("01-03-FIX-PLAN.md", "FIX03"),
        ("01-FIX-04-PLAN.md", "FIX04"),
    ] {
        env.write(&format!("{dir}/{name}"), &plan_file("01", plan, "", &auto(&format!("t{plan}"))));
    }
    // Summaries named after the plan, including `-PLAN-SUMMARY.md`.
    env.write(&format!("{dir}/01-add-auth-01-SUMMARY.md"), "# Done\n\n**Auth landed**\n");
    env.write(&format!("{dir}/01-P02-PLAN-SUMMARY.md"), "# Done\n\n**P02 landed**\n");
    env.write(".planning/phases/02-alone/02-PLAN.md", &plan_file("02", "01", "", &auto("alone")));
    env.write(
        ".planning/phases/03-versions/03-01-PLAN.md",
        &plan_file("03", "01", "", &auto("old")),
    );
    env.write(
        ".planning/phases/03-versions/03-01-PLAN-v2.md",
        &plan_file("03", "01", "", &auto("new")),
    );
    // A note that only looks like a plan is not one, and says so.
    env.write(".planning/phases/02-alone/PAPER_TRADING_PLAN.md", "notes");
    let report = import(&env).unwrap();
    let warned = |text: &str| report.warnings.iter().any(|w| w.message.contains(text));
    assert!(
        warned("version 2 of plan 03-01 (03-01-PLAN-v2.md) is read instead"),
        "{:?}",
        report.warnings
    );
    assert!(warned("not a GSD plan name"), "{:?}", report.warnings);
    assert!(!warned("summary without a matching plan"), "{:?}", report.warnings);
    assert!(!warned("placeholder"), "no plan-this-phase task where plans exist");
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 merged
    01-02#1 merged ← 01-01#1
    01-FIX03#1 ready ← 01-02#1
    01-FIX04#1 pending ← 01-FIX03#1
    02-01#1 pending ← 01-01#1, 01-02#1, 01-FIX03#1, 01-FIX04#1
    03-01#1 pending ← 02-01#1
    ");
    let titles: Vec<String> = env
        .service()
        .list_tasks(&Default::default())
        .unwrap()
        .tasks
        .iter()
        .map(|t| t.title.clone())
        .collect();
    assert!(
        titles.iter().any(|t| t.contains("new")) && !titles.iter().any(|t| t.contains("old")),
        "{titles:?}"
    );
}

#[test]
fn a_phase_summary_marks_every_plan_of_its_phase_done() {
    let env = TestEnv::initialised();
    env.write(
        ".planning/ROADMAP.md",
        &roadmap("- [ ] **Phase 1: Shipped** - x\n- [ ] **Phase 2: Open** - y\n"),
    );
    for plan in ["01", "02"] {
        env.write(
            &format!(".planning/phases/01-shipped/01-{plan}-PLAN.md"),
            &plan_file("01", plan, "", &auto(&format!("s{plan}"))),
        );
        env.write(
            &format!(".planning/phases/02-open/02-{plan}-PLAN.md"),
            &plan_file("02", plan, "", &auto(&format!("o{plan}"))),
        );
    }
    env.write(
        ".planning/phases/01-shipped/01-SUMMARY.md",
        "# Phase 1 summary\n\n**Both plans shipped**\n",
    );
    import(&env).unwrap();
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 merged
    01-02#1 merged ← 01-01#1
    02-01#1 ready ← 01-01#1, 01-02#1
    02-02#1 pending ← 02-01#1
    ");
}

#[test]
fn depends_on_given_as_a_path_a_slug_a_file_stem_or_a_number_of_the_same_phase() {
    let env = TestEnv::initialised();
    env.write(
        ".planning/ROADMAP.md",
        &roadmap("- [ ] **Phase 1: Base** - x\n- [ ] **Phase 2: Uses** - y\n"),
    );
    env.write(
        ".planning/phases/01-base/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1\ndepends_on: []", &auto("base")),
    );
    env.write(
        ".planning/phases/01-base/01-setup-db-02-PLAN.md",
        &plan_file("01", "02", "wave: 1\ndepends_on: []", &auto("db")),
    );
    env.write(
        ".planning/phases/02-uses/02-P01-PLAN.md",
        &plan_file(
            "02",
            "01",
            "wave: 1\ndepends_on: [\".planning/phases/01-base/01-01-PLAN.md\"]",
            &auto("path"),
        ),
    );
    env.write(
        ".planning/phases/02-uses/02-P02-PLAN.md",
        &plan_file("02", "02", "wave: 2\ndepends_on: [setup-db, 02-P01]", &auto("slug")),
    );
    env.write(
        ".planning/phases/02-uses/02-P03-PLAN.md",
        &plan_file("02", "03", "wave: 3\ndepends_on: [2]", &auto("number")),
    );
    let report = import(&env).unwrap();
    assert!(
        report.warnings.iter().all(|w| !w.message.contains("depends")),
        "{:?}",
        report.warnings
    );
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    01-02#1 ready
    02-01#1 pending ← 01-01#1, 01-02#1
    02-02#1 pending ← 01-02#1, 02-01#1
    02-03#1 pending ← 02-02#1
    ");
}

#[test]
fn tags_in_prose_inline_code_and_fenced_code_open_nothing() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 1: Prose** - x\n"));
    let plan = "---\nphase: 01\nplan: 01\nwave: 1\ndepends_on: []\n---\n\n<objective>\nRun `/legion:quick <task>` for each <task> you see.\n</objective>\n\n<tasks>\n\n<task type=\"auto\">\n  <name>Push the branch</name>\n  <action>\nRun `git push -u origin feature/<name>` and read `<task-dir>/task.json`.\nA template, quoted:\n```xml\n<task type=\"auto\">\n  <name>Example</name>\n</task>\n```\n  </action>\n  <done>pushed</done>\n</task>\n\n<task type=\"auto\">\n  <name>Second</name>\n  <action>Then this.</action>\n</task>\n\n</tasks>\n";
    env.write(".planning/phases/01-prose/01-01-PLAN.md", plan);
    let report = import(&env).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let tasks = env.service().list_tasks(&Default::default()).unwrap().tasks;
    let titles: Vec<&str> = tasks.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Push the branch", "Second"]);
    assert!(
        tasks[0].description.contains("```xml\n<task type=\"auto\">"),
        "{}",
        tasks[0].description
    );
}

#[test]
fn a_comment_opener_in_yaml_or_an_action_swallows_nothing() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 1: Docs** - x\n"));
    let plan = "---\nphase: 01\nplan: 01\nwave: 1\ndepends_on: []\nmust_haves:\n  artifacts:\n    - path: README.md\n      pattern: <!-- AUTOGEN\n---\n\n<tasks>\n<task type=\"auto\">\n  <name>One</name>\n  <action>Keep the `<!-- AUTOGEN -->` marker.</action>\n</task>\n<task type=\"auto\">\n  <name>Two</name>\n  <action>Write <!-- a real note --> the docs.</action>\n</task>\n<task type=\"auto\">\n  <name>Three</name>\n  <action>End the marker with --> here.</action>\n</task>\n</tasks>\n";
    env.write(".planning/phases/01-docs/01-01-PLAN.md", plan);
    let report = import(&env).unwrap();
    assert_eq!(report.tasks_created, 3, "{:?}", report.warnings);
    let tasks = env.service().list_tasks(&Default::default()).unwrap().tasks;
    assert_eq!(tasks[1].description, "Write  the docs.", "a real comment is still dropped");
}

#[test]
fn task_headings_in_any_case_are_tasks_and_one_broken_plan_costs_one_task() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [ ] **Phase 1: Mixed** - x\n"));
    env.write(
        ".planning/phases/01-mixed/01-01-PLAN.md",
        "---\nphase: 01\nplan: 01\nwave: 1\ndepends_on: []\n---\n\n# Plan\n\n## Task 1: Schema\nWrite it.\n\n### TASK 2 — Queries\nQuery it.\n\n```md\n## Task 3: only an example\n```\n",
    );
    env.write(
        ".planning/phases/01-mixed/01-02-PLAN.md",
        &plan_file(
            "01",
            "02",
            "wave: 2\ndepends_on: [\"01-01\"]",
            "<task type=\"auto\">\n<name>Broken</name>\n<action>never closed\n</task>",
        ),
    );
    env.write(
        ".planning/phases/01-mixed/01-03-PLAN.md",
        &plan_file("01", "03", "wave: 3\ndepends_on: [\"01-02\"]", &auto("after")),
    );
    let report = import(&env).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let tasks = env.service().list_tasks(&Default::default()).unwrap().tasks;
    let titles: Vec<&str> = tasks.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(&titles[..2], ["Task 1: Schema", "TASK 2 — Queries"]);
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    01-01#2 pending ← 01-01#1
    01-02#fix ready [human]
    01-03#1 pending ← 01-02#fix
    ");
}

#[test]
fn a_ticked_phase_does_not_merge_a_plan_its_own_list_leaves_unticked() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", &roadmap("- [x] **Phase 1: Ticked plans** - x\n- [x] **Phase 2: No plan ticks** - y\n\n## Phase Details\n\n### Phase 1: Ticked plans\n**Goal**: g\n\nPlans:\n- [x] 01-01-PLAN.md — first\n- [ ] 01-02-PLAN.md — second\n\n### Phase 2: No plan ticks\n**Goal**: g\n\nPlans:\n- [ ] 02-01-PLAN.md — only\n"));
    for (phase, plan) in [("01", "01"), ("01", "02"), ("02", "01")] {
        env.write(
            &format!(".planning/phases/{phase}-p/{phase}-{plan}-PLAN.md"),
            &plan_file(phase, plan, "wave: 1\ndepends_on: []", &auto(&format!("t{phase}{plan}"))),
        );
    }
    let report = import(&env).unwrap();
    let warning = report.warnings.iter().find(|w| w.message.contains("unchecked")).unwrap();
    assert_eq!(warning.location, "phases/01-p/01-02-PLAN.md");
    assert!(
        warning.message.starts_with("ROADMAP.md:")
            && warning.message.contains("marks phase 1 complete, but ROADMAP.md:"),
        "{warning:?}"
    );
    // Phase 1 ticks plan lines: its unticked plan is not done. Phase 2 ticks none: the phase decides.
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 merged
    01-02#1 ready
    02-01#1 merged ← 01-01#1, 01-02#1
    ");
}

/// A `.planning/` tree of what real folders hold and worse: every plan name GSD accepts and some
/// it does not, archived milestones, nested `plans/`, random bytes, unclosed and nested tags,
/// fences, comment openers and a very long line.
fn hostile_folder() -> impl proptest::strategy::Strategy<Value = Vec<(String, Vec<u8>)>> {
    use proptest::prelude::*;
    let dir = proptest::sample::select(vec![
        "phases/01-core",
        "phases/02-edge",
        "phases/02-edge-again",
        "phases/2.1-insert",
        "milestones/v1.0-phases/01-old",
        "phases/03-nested/plans",
        "phases/04-x/deep/er",
    ]);
    let name = proptest::sample::select(vec![
        "01-01-PLAN.md",
        "01-02-PLAN.md",
        "01-02-PLAN-v2.md",
        "01-add-auth-03-PLAN.md",
        "02-P01-PLAN.md",
        "02-05-FIX-PLAN.md",
        "PLAN.md",
        "PLAN-01-setup.md",
        "01-01-SUMMARY.md",
        "01-01-PLAN-SUMMARY.md",
        "01-SUMMARY.md",
        "NOTES_PLAN.md",
    ]);
    let piece = proptest::sample::select(vec![
        "---\n",
        "phase: 01\n",
        "plan: 02\n",
        "wave: 1\n",
        "depends_on: [\"01-01\", 02-P01, setup, .planning/phases/01-core/01-01-PLAN.md]\n",
        "pattern: <!-- AUTOGEN\n",
        "-->\n",
        "<tasks>\n",
        "</tasks>\n",
        "<task type=\"auto\">\n",
        "</task>\n",
        "<task type=\"checkpoint:human-verify\">\n",
        "<name>N</name>\n",
        "<action>\n",
        "</action>\n",
        "```\n",
        "- ```ts\n",
        "`<task>` in prose <task-dir>\n",
        "## Task 1: T\n",
        "### TASK 2\n",
        "é数据\r\n",
        "\u{feff}",
        "<feature><behavior>b</behavior></feature>\n",
    ]);
    let text = proptest::collection::vec(piece, 0..24).prop_map(|p| p.concat().into_bytes());
    let body = prop_oneof![
        6 => text,
        1 => proptest::collection::vec(any::<u8>(), 0..200),
        1 => Just(format!("<task>\n<action>{}\n", "<".repeat(200_000)).into_bytes()),
    ];
    let file = (dir, name, body).prop_map(|(dir, name, body)| (format!("{dir}/{name}"), body));
    let roadmap = prop_oneof![
        Just("# Roadmap: F\n\n- [x] **Phase 1: Core**\n- [ ] **Phase 2: Edge**\n\n### Phase 2: Edge\n**Depends on**: Phase 1\n\nPlans:\n- [x] 02-01-PLAN.md — a\n- [ ] 02-05-PLAN.md — b\n".to_owned()),
        Just("# Roadmap\n\n## Milestones\n- ✅ **v1.0** — Phases 1-2 · [archive](./milestones/v1.0-ROADMAP.md)\n".to_owned()),
        Just("just notes\n".to_owned()),
    ];
    (proptest::option::of(roadmap), proptest::collection::vec(file, 0..8)).prop_map(
        |(roadmap, files)| {
            let roadmap = roadmap.map(|r| ("ROADMAP.md".to_owned(), r.into_bytes()));
            roadmap.into_iter().chain(files).collect()
        },
    )
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: std::env::var("CW_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).map_or(48, |n: u32| n / 40),
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Whatever the folder holds, `cw import` answers in bounded time without a panic, and a
    /// second import of the same folder changes nothing.
    #[test]
    fn any_folder_imports_without_a_panic_and_a_second_import_changes_nothing(files in hostile_folder()) {
        static ENV: std::sync::OnceLock<std::sync::Mutex<(TestEnv, usize)>> = std::sync::OnceLock::new();
        let mut guard = ENV.get_or_init(|| std::sync::Mutex::new((TestEnv::initialised(), 0))).lock().unwrap();
        guard.1 += 1;
        let root = guard.0.outer().join(format!("folder-{}/.planning", guard.1));
        for (path, bytes) in &files {
            let path = root.join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, bytes).unwrap();
        }
        fs_err::create_dir_all(&root).unwrap();
        let service = guard.0.service();
        let started = std::time::Instant::now();
        let first = service.import(&root, &ImportOptions::default());
        // A generous bound: a quadratic parser takes minutes on the 200 KB line, a linear one
        // milliseconds.
        proptest::prop_assert!(started.elapsed() < std::time::Duration::from_secs(20), "import took {:?}", started.elapsed());
        match first {
            Ok(_) => {
                let again = service.import(&root, &ImportOptions::default()).unwrap();
                proptest::prop_assert_eq!(
                    (again.tasks_created, again.tasks_updated, again.tasks_removed, again.edges_added, again.edges_removed),
                    (0, 0, 0, 0, 0)
                );
            }
            // Only a folder with nothing to read at all is refused.
            Err(err) => {
                let err = err.to_string();
                proptest::prop_assert!(err.contains("nothing to import") || err.contains("not a GSD roadmap"), "{}", err);
            }
        }
    }
}

#[test]
fn a_roadmap_collapsed_after_its_milestones_shipped_is_read_through_the_archives() {
    let env = TestEnv::initialised();
    env.write(".planning/ROADMAP.md", "# Roadmap: Shipped\n\n## Milestones\n\n- ✅ **v1.0 MVP** — Phases 1-2, shipped 2026-07-27 · [archive](./milestones/v1.0-ROADMAP.md)\n- 🚧 **v1.1 Next** — Phase 1 again (numbers restart)\n");
    env.write(
        ".planning/milestones/v1.0-ROADMAP.md",
        &roadmap("- [x] **Phase 1: Core** - x\n- [x] **Phase 2: Edge** - y\n"),
    );
    // Archived plans: done even without a SUMMARY.
    env.write(
        ".planning/milestones/v1.0-phases/01-core/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1\ndepends_on: []", &auto("core")),
    );
    env.write(
        ".planning/milestones/v1.0-phases/02-edge/02-01-PLAN.md",
        &plan_file("02", "01", "wave: 1\ndepends_on: []", &auto("edge")),
    );
    // The new milestone starts again at phase 1, in phases/.
    env.write(
        ".planning/phases/01-next/01-01-PLAN.md",
        &plan_file("01", "01", "wave: 1\ndepends_on: []", &auto("next")),
    );
    let report = import(&env).unwrap();
    let warned = |text: &str| report.warnings.iter().any(|w| w.message.contains(text));
    assert!(
        warned("lists no phases (collapsed after its milestones shipped)"),
        "{:?}",
        report.warnings
    );
    assert!(warned("imported as phase v1.0-01-core"), "{:?}", report.warnings);
    assert!(warned("archived with milestone v1.0"), "{:?}", report.warnings);
    // The current phase 1 is new work: ready, not merged with the shipped phase 1.
    insta::assert_snapshot!(structure(&env.service()), @r"
    01-01#1 ready
    02-01#1 merged ← 01-01#1
    v1.0-01-core-01#1 merged
    ");
}
