//! ROADMAP.md: the initiative title and overview, and every phase from the checklist and the
//! detail sections, with milestone context (shipped or not) and the raw `Depends on` text.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::numbers::{PHASE_NUMBER, PhaseNumber};
use super::text::{LineIndex, dedent};

/// What ROADMAP.md says.
#[derive(Debug, Clone, Default)]
pub(crate) struct Roadmap {
    pub(crate) title: Option<String>,
    pub(crate) overview: String,
    pub(crate) phases: BTreeMap<PhaseNumber, RoadmapPhase>,
}

/// One phase as the roadmap describes it (checklist and details merged).
#[derive(Debug, Clone, Default)]
pub(crate) struct RoadmapPhase {
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) checked: bool,
    pub(crate) in_shipped_milestone: bool,
    pub(crate) milestone: Option<String>,
    pub(crate) abandoned: bool,
    pub(crate) backlog: bool,
    pub(crate) inserted: bool,
    pub(crate) has_details: bool,
    pub(crate) goal: String,
    pub(crate) success_criteria: String,
    pub(crate) requirements: String,
    /// The raw `Depends on` value and its line, if the field is present.
    pub(crate) depends_on: Option<(String, usize)>,
    /// Plan list entries: normalised plan key suffix (`01`) → description.
    pub(crate) plan_entries: Vec<(String, String)>,
    /// Plan list entries by number: ticked (`- [x] 01-02-PLAN.md`) or not, and their line.
    pub(crate) plan_checks: Vec<(String, bool, usize)>,
    /// Read from an archived milestone's roadmap (`milestones/v1.0-ROADMAP.md`), not ROADMAP.md.
    pub(crate) from_archive: bool,
}

impl RoadmapPhase {
    /// True when the roadmap says the phase is finished.
    pub(crate) fn complete(&self) -> bool {
        self.checked || self.in_shipped_milestone
    }
}

static CHECKLIST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^\s*[-*]\s+\[([ xX])\]\s*(~~)?\s*(?:\*\*)?Phase\s+({PHASE_NUMBER})(?:\s*[-–]\s*({PHASE_NUMBER}))?\s*:?\s*(.*)$"
    ))
    .expect("invariant: static regex")
});
static DETAIL_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(#{{2,4}})\s*(~~)?\s*Phase\s+({PHASE_NUMBER})\s*:\s*(.+)$"))
        .expect("invariant: static regex")
});
static HEADING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(#{1,6})\s+(.*)$").expect("invariant: static regex"));
static MILESTONE_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bv\d+(\.\d+)*\b|✅|🚧|📋|shipped|\bmilestone\b")
        .expect("invariant: static regex")
});
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\*\*\s*(Goal|Depends\s+on|Requirements|Success\s+Criteria|Plans|Research(?:\s+topics|\s+flag)?|Mode|UI\s+hint|Details)\s*(?::\s*\*\*|\*\*\s*:|\*\*)")
        .expect("invariant: static regex")
});
static PLAN_ENTRY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^\s*[-*]\s+\[([ xX])\]\s*(?:\*\*)?({PHASE_NUMBER})-(?:PLAN-)?(\d+|FIX\d*)(?:-PLAN)?(?:\.md)?(?:\*\*)?\s*(?::|—|–|--|-)?\s*(.*)$"
    ))
    .expect("invariant: static regex")
});

/// Parses a normalised ROADMAP.md: one pass over its lines outside code fences, each kind of line
/// handled by one step of a `Scan` (milestone blocks, phase headings, other headings, checklist
/// entries), then each phase's section read for its fields.
pub(crate) fn parse(text: &str) -> Roadmap {
    let lines: Vec<&str> = text.lines().collect();
    let mut scan = Scan::default();
    let mut in_fence = false;
    for (index, line) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
        } else if !in_fence && !scan.milestone_block(trimmed, index) {
            let milestone = scan.milestone();
            if let Some(caps) = DETAIL_HEADING.captures(line) {
                scan.phase_heading(&caps, index, milestone.as_ref());
            } else if let Some(caps) = HEADING.captures(line) {
                scan.heading(caps[1].len(), caps[2].trim(), index);
            } else if let Some(caps) = CHECKLIST.captures(line) {
                scan.checklist_entry(&caps, line, index, milestone.as_ref());
            }
        }
    }
    scan.finish(text, &lines)
}

/// A milestone a phase is listed under: a `<details>` block's summary or a milestone heading.
#[derive(Debug, Clone)]
struct Milestone {
    name: String,
    shipped: bool,
}

/// The phase section open at the current line: its phase, heading line and heading level.
struct OpenSection {
    phase: PhaseNumber,
    start: usize,
    level: usize,
}

/// A phase's section: from its heading line to the line that ends it (exclusive).
struct Section {
    phase: PhaseNumber,
    start: usize,
    end: usize,
}

/// The state of one pass over a roadmap.
#[derive(Default)]
struct Scan {
    roadmap: Roadmap,
    /// The `<details>` blocks open at this line, innermost last.
    details: Vec<Milestone>,
    heading_milestone: Option<Milestone>,
    open: Option<OpenSection>,
    sections: Vec<Section>,
    overview_start: Option<usize>,
    overview_end: Option<usize>,
}

impl Scan {
    /// The milestone the current line is under.
    fn milestone(&self) -> Option<Milestone> {
        self.details.last().cloned().or_else(|| self.heading_milestone.clone())
    }

    fn close_section(&mut self, end: usize) {
        if let Some(OpenSection { phase, start, .. }) = self.open.take() {
            self.sections.push(Section { phase, start, end });
        }
    }

    /// `<details>`, `<summary>…</summary>` and `</details>` lines; true if this was one.
    fn milestone_block(&mut self, trimmed: &str, index: usize) -> bool {
        if trimmed.starts_with("<details") {
            self.details.push(Milestone { name: String::new(), shipped: false });
        } else if let Some(summary) = trimmed.strip_prefix("<summary>") {
            let summary = summary.trim_end_matches("</summary>");
            if let Some(top) = self.details.last_mut() {
                *top = Milestone { name: summary.to_owned(), shipped: is_shipped(summary) };
            }
        } else if trimmed.starts_with("</details>") {
            self.details.pop();
            self.close_section(index);
        } else {
            return false;
        }
        true
    }

    /// `### Phase 3: Name`: a phase with details; its section starts here.
    fn phase_heading(&mut self, caps: &Captures<'_>, index: usize, milestone: Option<&Milestone>) {
        self.close_section(index);
        let Some(number) = PhaseNumber::parse(&caps[3]) else { return };
        let raw_name = caps[4].trim().to_owned();
        let phase = self.roadmap.phases.entry(number.clone()).or_default();
        phase.number = caps[3].to_owned();
        phase.name = clean_name(&raw_name);
        phase.line = index + 1;
        phase.has_details = true;
        phase.abandoned |=
            caps.get(2).is_some() || raw_name.contains("~~") || raw_name.contains("ABANDONED");
        phase.inserted |= raw_name.contains("(INSERTED)");
        phase.backlog |= raw_name.contains("(BACKLOG)") || number.major() == 999;
        phase.checked |= raw_name.contains('✅');
        if let Some(milestone) = milestone {
            phase.milestone = Some(milestone.name.clone());
            phase.in_shipped_milestone |= milestone.shipped;
        }
        self.open = Some(OpenSection { phase: number, start: index, level: caps[1].len() });
    }

    /// Any other heading: the title, the overview's bounds, the end of a phase's section, a
    /// milestone heading.
    fn heading(&mut self, level: usize, heading: &str, index: usize) {
        if level == 1 && self.roadmap.title.is_none() {
            let title = heading.trim_start_matches("Roadmap:").trim_start_matches("Roadmap").trim();
            self.roadmap.title = Some(title.trim_start_matches([':', '-', '—']).trim().to_owned());
        }
        if self.overview_start.is_some() && self.overview_end.is_none() {
            self.overview_end = Some(index);
        }
        if level == 2 && heading.eq_ignore_ascii_case("overview") {
            self.overview_start = Some(index + 1);
        }
        let ends_section = self.open.as_ref().is_some_and(|open| {
            level <= open.level
                || MILESTONE_WORDS.is_match(heading)
                || heading.starts_with("Progress")
                || heading.starts_with("Backlog")
        });
        if ends_section {
            self.close_section(index);
        }
        if level >= 2 && MILESTONE_WORDS.is_match(heading) && !heading.starts_with("Phase") {
            self.heading_milestone =
                Some(Milestone { name: heading.to_owned(), shipped: is_shipped(heading) });
        } else if level == 2 {
            self.heading_milestone = None;
        }
    }

    /// `- [x] Phase 3: Name` (or a range `Phases 3-5`): phases listed, ticked or not.
    fn checklist_entry(
        &mut self,
        caps: &Captures<'_>,
        line: &str,
        index: usize,
        milestone: Option<&Milestone>,
    ) {
        let checked = &caps[1] != " ";
        let struck = caps.get(2).is_some() || line.contains("ABANDONED");
        let first = &caps[3];
        let rest = caps[5].to_owned();
        let name = checklist_name(&rest);
        let numbers: Vec<(String, PhaseNumber)> =
            match caps.get(4).and_then(|last| range(first, last.as_str())) {
                Some(range) => range,
                None => PhaseNumber::parse(first)
                    .map(|n| vec![(first.to_owned(), n)])
                    .unwrap_or_default(),
            };
        for (raw, number) in numbers {
            let phase = self.roadmap.phases.entry(number.clone()).or_default();
            if phase.number.is_empty() {
                phase.number = raw;
                phase.line = index + 1;
            }
            if !phase.has_details && !name.is_empty() {
                phase.name = name.clone();
            }
            phase.checked |= checked || rest.contains("completed");
            phase.abandoned |= struck;
            phase.backlog |= rest.contains("(BACKLOG)") || number.major() == 999;
            phase.inserted |= rest.contains("(INSERTED)");
            if let Some(milestone) = milestone {
                phase.milestone.get_or_insert_with(|| milestone.name.clone());
                phase.in_shipped_milestone |= milestone.shipped;
            }
        }
    }

    /// Closes the last section, takes the overview, and reads each phase's section fields.
    fn finish(mut self, text: &str, lines: &[&str]) -> Roadmap {
        self.close_section(lines.len());
        let mut roadmap = self.roadmap;
        if let Some(start) = self.overview_start {
            let end = self.overview_end.unwrap_or(lines.len());
            roadmap.overview = dedent(&lines[start..end.max(start)].join("\n"));
        }
        let line_index = LineIndex::new(text);
        for Section { phase: number, start, end } in self.sections {
            let body_start: usize = lines[..start + 1].iter().map(|l| l.len() + 1).sum();
            let section_text = lines[start + 1..end].join("\n");
            if let Some(phase) = roadmap.phases.get_mut(&number) {
                read_fields(phase, &section_text, |offset| line_index.line_of(body_start + offset));
            }
        }
        roadmap
    }
}

/// True when the roadmap has at least one GSD phase (heading or checklist entry).
pub(crate) fn looks_like_gsd(roadmap: &Roadmap) -> bool {
    !roadmap.phases.is_empty()
}

fn is_shipped(text: &str) -> bool {
    text.contains('✅')
        || text.to_ascii_lowercase().contains("shipped")
        || text.to_ascii_lowercase().contains("complete)")
}

fn clean_name(raw: &str) -> String {
    let name =
        raw.replace("~~", "").replace("(INSERTED)", "").replace("(BACKLOG)", "").replace('✅', "");
    let name = name.split(" — ").next().unwrap_or(&name);
    name.trim().trim_end_matches(['-', '—']).trim().to_owned()
}

/// The name part of a checklist entry: up to the closing `**`, or (unbolded) up to
/// ` (N/N plans)`, ` — `, ` - ` or ` -- `.
fn checklist_name(rest: &str) -> String {
    let rest = rest.trim_start_matches(':').trim();
    let cut = if let Some(end) = rest.find("**") {
        &rest[..end]
    } else {
        let mut end = rest.len();
        for separator in [" (", " — ", " -- ", " - ", " – "] {
            if let Some(pos) = rest.find(separator) {
                end = end.min(pos);
            }
        }
        &rest[..end]
    };
    clean_name(cut.trim_end_matches("~~"))
}

fn range(first: &str, last: &str) -> Option<Vec<(String, PhaseNumber)>> {
    let start: u64 = first.trim_start_matches('0').parse().ok()?;
    let end: u64 = last.trim_start_matches('0').parse().ok()?;
    if end < start || end - start > 1000 {
        return None;
    }
    (start..=end).map(|n| PhaseNumber::parse(&n.to_string()).map(|p| (n.to_string(), p))).collect()
}

/// Reads `**Label**:` fields found anywhere in a phase section, and its plan list.
fn read_fields(phase: &mut RoadmapPhase, section: &str, line_at: impl Fn(usize) -> usize) {
    let labels: Vec<_> = LABEL.captures_iter(section).collect();
    for (i, caps) in labels.iter().enumerate() {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        let label = caps[1].split_whitespace().collect::<Vec<_>>().join(" ").to_ascii_lowercase();
        let next_label =
            labels.get(i + 1).and_then(|c| c.get(0)).map_or(section.len(), |m| m.start());
        let line_end = section[whole.end..].find('\n').map_or(section.len(), |p| whole.end + p);
        let value = section[whole.end..next_label.min(line_end)].trim().to_owned();
        match label.as_str() {
            "goal" => phase.goal = value,
            "depends on" => phase.depends_on = Some((value, line_at(whole.start))),
            "requirements" => phase.requirements = value,
            "success criteria" => {
                let block_end = section[line_end..]
                    .find("\n\n")
                    .map_or(next_label, |p| (line_end + p).min(next_label));
                phase.success_criteria = dedent(&section[line_end.min(block_end)..block_end]);
            }
            _ => {}
        }
    }
    let mut offset = 0;
    for line in section.split_inclusive('\n') {
        let at = offset;
        offset += line.len();
        if let Some(caps) = PLAN_ENTRY.captures(line.trim_end_matches('\n')) {
            let description = caps[4].trim().to_owned();
            if description.starts_with("TBD") || caps[3].eq_ignore_ascii_case("TBD") {
                continue;
            }
            if let Some(number) = super::numbers::plan_number(&caps[3]) {
                let ticked = caps[1].eq_ignore_ascii_case("x");
                phase.plan_checks.push((number.clone(), ticked, line_at(at)));
                let description = strip_wave_suffix(&description);
                phase.plan_entries.push((number, description));
            }
        }
    }
}

fn strip_wave_suffix(text: &str) -> String {
    static WAVE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\s*[\(\[][Ww]ave\s+\d+[\)\]]\s*$").expect("invariant: static regex")
    });
    WAVE.replace(text, "").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase<'a>(roadmap: &'a Roadmap, number: &str) -> &'a RoadmapPhase {
        &roadmap.phases[&PhaseNumber::parse(number).unwrap()]
    }

    #[test]
    fn checklist_variants_and_ranges() {
        let text = "# Roadmap: Acme\n\n## Phases\n- [ ] **Phase 3: Sync** - Two-way sync\n- [x] **Phase 25: Tokens** — API token model\n- [x] Phase 1: Foundation (3/3 plans) — completed 2026-02-19\n- [x] **Phase 4-6** — MVP\n- [ ] ~~**Phase 3.4: Graph DSL**~~ - ABANDONED - x\n- [ ] **Phase 999.1: Idea** (BACKLOG)\n";
        let roadmap = parse(text);
        assert_eq!(roadmap.title.as_deref(), Some("Acme"));
        assert_eq!(phase(&roadmap, "3").name, "Sync");
        assert!(!phase(&roadmap, "3").checked);
        assert_eq!(phase(&roadmap, "25").name, "Tokens");
        assert_eq!(phase(&roadmap, "1").name, "Foundation");
        assert!(phase(&roadmap, "1").complete());
        assert!(phase(&roadmap, "5").complete());
        assert!(phase(&roadmap, "3.4").abandoned);
        assert!(phase(&roadmap, "999.1").backlog);
    }

    #[test]
    fn detail_sections_with_labels_anywhere() {
        let text = "# Roadmap: X\n\n## Phase Details\n\n### Phase 2: Editor\n**Goal:** Edit notes\n**Depends on**: Phase 1 (storage first)\n**Requirements**: A-01\n\nPlans:\n- [ ] 02-01-PLAN.md — Schema\n- [x] 02-02: Views (Wave 2)\n- [ ] 02-03: TBD (run /gsd:plan-phase 2 to break down)\n\n### Phase 3: Sync\n…working in CI **Depends on**: Phase 2 **Requirements**: B-01\n";
        let roadmap = parse(text);
        let editor = phase(&roadmap, "2");
        assert_eq!(editor.goal, "Edit notes");
        assert_eq!(editor.depends_on, Some(("Phase 1 (storage first)".to_owned(), 7)));
        assert_eq!(
            editor.plan_entries,
            vec![("01".to_owned(), "Schema".to_owned()), ("02".to_owned(), "Views".to_owned())]
        );
        let sync = phase(&roadmap, "3");
        assert_eq!(sync.depends_on.as_ref().map(|d| d.0.as_str()), Some("Phase 2"));
    }

    #[test]
    fn milestones_in_details_are_shipped() {
        let text = "# Roadmap\n<details>\n<summary>✅ v1.0 MVP (Phases 1-2) — SHIPPED 2026-01-01</summary>\n\n- [x] Phase 1: A (1/1 plans)\n\n### Phase 2: B\n**Depends on**: Phase 1\n\n</details>\n\n### 🚧 v1.1 Polish (In Progress)\n\n#### Phase 3: C\n**Depends on**: Nothing (first phase of v1.1)\n";
        let roadmap = parse(text);
        assert!(phase(&roadmap, "2").in_shipped_milestone);
        assert!(!phase(&roadmap, "3").complete());
        assert_eq!(phase(&roadmap, "3").milestone.as_deref(), Some("🚧 v1.1 Polish (In Progress)"));
    }

    #[test]
    fn headings_inside_code_fences_are_ignored() {
        let roadmap = parse("# R\n```\n### Phase 9: Fake\n```\n### Phase 1: Real\n");
        assert_eq!(roadmap.phases.len(), 1);
        assert!(looks_like_gsd(&roadmap));
        assert!(!looks_like_gsd(&parse("# Plan\n### Step 1: Do\n- **Status**: open\n")));
    }
}
