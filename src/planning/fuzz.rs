//! Bounded fuzzing of the planning parsers (proptest, part of `cargo test`): texts assembled from
//! the pieces real `.planning/` files are made of, broken anywhere and mixed with arbitrary
//! characters. No text may make a parser panic, and every line a parser reports lies inside the
//! text. The case count is fixed, so the run time is too (under a second in a debug build).

use proptest::prelude::*;

use super::{frontmatter, plan, roadmap, text};

/// Pieces of PLAN, SUMMARY and ROADMAP files: delimiters, keys, tags and the characters that
/// have tripped parsers before (BOM, CRLF, multi-byte text, unbalanced quotes and brackets).
const PIECES: &[&str] = &[
    "---\n",
    "---",
    "phase: 01-core\n",
    "plan: 02\n",
    "wave: 1\n",
    "depends_on: [\"01-01\"]\n",
    "depends_on:\n  - 01-02\n  - \"Phase 2\"\n",
    "depends_on: []\n",
    "files_modified: [a.rs, \"b c.rs\"]\n",
    "type: execute\n",
    "autonomous: false\n",
    "key: |\n  block\n  text\n",
    "<objective>",
    "</objective>",
    "<tasks>",
    "</tasks>",
    "<task type=\"auto\">",
    "<task type=\"checkpoint:human-verify\" gate=\"blocking\">",
    "<task>",
    "</task>",
    "<name>",
    "</name>",
    "<action>",
    "</action>",
    "<files>",
    "</files>",
    "<verify>",
    "<done>",
    "</done>",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "```",
    "```xml\n",
    "# Roadmap: X\n",
    "## Phases\n",
    "### Phase 1: Core\n",
    "#### Phase 2.1: Insert (INSERTED)\n",
    "- [ ] **Phase 3: Edge** - edge\n",
    "- [x] 01-02-PLAN.md — done\n",
    "**Depends on**: Phase 1\n",
    "**Depends on:** Nothing\n",
    "<details>\n<summary>✅ v1.0 (Phases 1-2) — SHIPPED</summary>\n",
    "</details>\n",
    "Plans:\n",
    "\n",
    "\r\n",
    "  ",
    "\t",
    "\u{feff}",
    "é数据",
    "\"",
    "'",
    ":",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "&amp;",
    "x",
];

fn planning_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        6 => proptest::sample::select(PIECES).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..120).prop_map(|pieces| pieces.concat())
}

fn lines(text: &str) -> usize {
    text.split('\n').count()
}

/// How many texts each property tries: 2,000 in CI; `CW_FUZZ_CASES=1000000` for a long hunt.
pub(crate) fn cases() -> u32 {
    std::env::var("CW_FUZZ_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(2_000)
}

/// The proptest settings of cw's properties: `cases() / share` cases, nothing persisted.
pub(crate) fn config(share: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases() / share,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(1))]

    #[test]
    fn front_matter_never_panics_and_its_errors_name_a_line_of_the_text(text in planning_text()) {
        if let Err(err) = frontmatter::split(&text) {
            prop_assert!((1..=lines(&text)).contains(&err.line), "line {} of {}", err.line, lines(&text));
        }
    }

    #[test]
    fn plans_never_panic_and_their_errors_name_a_line_of_the_text(text in planning_text()) {
        if let Err(err) = plan::parse(&text) {
            prop_assert!((1..=lines(&text)).contains(&err.line), "line {} of {}", err.line, lines(&text));
        }
    }

    #[test]
    fn roadmaps_never_panic_and_name_lines_of_the_text(text in planning_text()) {
        let parsed = roadmap::parse(&text);
        for phase in parsed.phases.values() {
            prop_assert!((1..=lines(&text)).contains(&phase.line), "phase line {}", phase.line);
            if let Some((_, line)) = &phase.depends_on {
                prop_assert!((1..=lines(&text)).contains(line));
            }
        }
        let _ = roadmap::looks_like_gsd(&parsed);
    }

    #[test]
    fn the_line_index_agrees_with_counting_newlines(text in planning_text(), at in 0usize..2_000) {
        let index = text::LineIndex::new(&text);
        prop_assert_eq!(index.line_of(at), text::line_of(&text, at));
    }
}

/// A `.planning/` folder: a roadmap and PLAN/SUMMARY files under a few phase directories, each
/// text built like `planning_text`, most of them starting with front matter that parses.
fn planning_folder() -> impl Strategy<Value = Vec<(String, String)>> {
    let dir = proptest::sample::select(vec!["01-core", "02-edge", "2.1-insert", "03", "10-later"]);
    let name = proptest::sample::select(vec![
        "01-01-PLAN.md",
        "01-02-PLAN.md",
        "02-01-PLAN.md",
        "01-01-SUMMARY.md",
        "PLAN.md",
        "03-PLAN.md",
    ]);
    let front = proptest::sample::select(vec![
        "---\nphase: 01-core\nplan: 01\nwave: 1\n---\n",
        "---\nphase: 01-core\nplan: 02\nwave: 2\ndepends_on: [\"01-01\"]\n---\n",
        "---\nphase: 02-edge\nplan: 01\ndepends_on: [\"01-02\", \"Phase 1\"]\n---\n",
        "---\nplan: 01\ndepends_on: [\"02-01\"]\n---\n",
        "",
    ]);
    // Half the bodies are well-formed tasks with noise around them, so that many folders read
    // and their dependencies are resolved, not refused at the first broken tag.
    let tasks = "<tasks>\n<task type=\"auto\">\n<name>A</name>\n<action>do a</action>\n</task>\n\
                 <task type=\"checkpoint:human-verify\"><name>B</name></task>\n</tasks>\n";
    let body = prop_oneof![
        planning_text(),
        (planning_text(), planning_text()).prop_map(move |(before, after)| {
            format!("{}\n{tasks}{}", before.replace('<', ""), after.replace('<', ""))
        }),
    ];
    let file = (dir, name, front, body).prop_map(|(dir, name, front, body)| {
        (format!("phases/{dir}/{name}"), format!("{front}{body}"))
    });
    let roadmap = planning_text().prop_map(|body| {
        let phases = "### Phase 1: Core\n**Depends on**: Nothing\n### Phase 2: Edge\n";
        ("ROADMAP.md".to_owned(), format!("# Roadmap: F\n\n{phases}{body}"))
    });
    (proptest::option::of(roadmap), proptest::collection::vec(file, 0..6))
        .prop_map(|(roadmap, files)| roadmap.into_iter().chain(files).collect())
}

proptest! {
    #![proptest_config(config(10))]

    /// The whole reader over a folder on disk: it never panics; what it reads is consistent
    /// (unique keys, every edge between tasks it read, no task depending on itself); what it
    /// refuses, it says in words.
    #[test]
    fn reading_a_folder_never_panics_and_reads_a_consistent_set(files in planning_folder()) {
        let dir = tempfile::tempdir().unwrap();
        for (path, text) in &files {
            let path = dir.path().join(path);
            fs_err::create_dir_all(path.parent().unwrap()).unwrap();
            fs_err::write(&path, text).unwrap();
        }
        match super::read(dir.path(), "fuzz", &super::ReadOptions::default()) {
            Ok(set) => {
                let keys: std::collections::HashSet<&str> = set.tasks.iter().map(|t| t.key.as_str()).collect();
                prop_assert_eq!(keys.len(), set.tasks.len(), "task keys are unique");
                for (from, to) in &set.edges {
                    prop_assert!(keys.contains(from.as_str()) && keys.contains(to.as_str()), "{} → {}", from, to);
                    prop_assert_ne!(from, to);
                }
                let plans: std::collections::HashSet<&str> = set.plans.iter().map(|p| p.key.as_str()).collect();
                prop_assert!(set.tasks.iter().all(|t| plans.contains(t.plan_key.as_str())));
            }
            Err(err) => prop_assert!(!err.to_string().trim().is_empty()),
        }
    }
}
