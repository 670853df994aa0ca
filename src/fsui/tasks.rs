//! `.cw/tasks/<plan>.md`: one line per task, `- t3 [ready] Title (after t1, t2)`, its description
//! in the indented lines below it. Editing a title, description or the `after` list, or the state
//! word to `cancel` (or `retry` for a failed or cancelled task), and saving changes the task; a
//! line without an id adds one to that plan. `.cw/tasks/new.md`: `- Title (after t3)` lines below
//! its line each add a task. What cw last wrote is kept in `.cw/mirror/` to tell the human's
//! edits from changes in the database; a task added from a line carries a key naming the line
//! and the file's version, so a sync repeated after a crash adds it once.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::model::{TaskId, TaskState};
use crate::store::TaskRecord;

/// The line below which new tasks are written.
pub(super) const WRITE_BELOW: &str = "----- write below this line, then save -----";

/// One task line as written, with the indented description below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// `None` for a new task.
    pub(super) id: Option<TaskId>,
    pub(super) state: String,
    pub(super) title: String,
    pub(super) after: BTreeSet<TaskId>,
    /// Without its indent, trailing spaces or surrounding blank lines (see `canonical`).
    pub(super) description: String,
}

static TASK_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^- (t\d+) \[([a-z ]+)\] (.*?)(?: \(after ([t\d, ]*)\))?$")
        .expect("invariant: a valid regex")
});
static NEW_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^- (.+?)(?: \(after ([t\d, ]*)\))?$").expect("invariant: a valid regex")
});

/// How a description line is set under its task.
const INDENT: &str = "  ";

/// The file for one plan's tasks (or those without a plan).
pub(super) fn render(heading: &str, tasks: &[(TaskRecord, Vec<TaskId>)]) -> String {
    let mut out = format!(
        "# {heading}\n\n<!-- One line per task: `- <id> [<state>] <title> (after <ids>)`, its description\n     indented below it. Change a title, description or after list, set the state to cancel\n     (or retry a failed or cancelled task), or add a line `- <title> (after <ids>)`, and save. -->\n\n"
    );
    for (task, after) in tasks {
        out.push_str(&line(task, after));
        out.push('\n');
        out.push_str(&indented(&task.description));
    }
    out
}

fn line(task: &TaskRecord, after: &[TaskId]) -> String {
    let title = super::files::scalar(&task.title);
    let mut out = format!("- {} [{}] {title}", task.id, task.state);
    let ids: Vec<String> = after.iter().map(ToString::to_string).collect();
    // A title that itself ends like an after list ("Fix (after t2)") gets an empty one, so it
    // reads back as the title it is.
    if !ids.is_empty() || ENDS_LIKE_AFTER.is_match(&title) {
        out.push_str(&format!(" (after {})", ids.join(", ")));
    }
    out
}

static ENDS_LIKE_AFTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r" \(after [t\d, ]*\)$").expect("invariant: a valid regex"));

/// A description as written under its task line: each line indented, control characters made
/// visible (the file is read on terminals too).
pub(super) fn indented(description: &str) -> String {
    let description = canonical(description);
    let mut out = String::new();
    for line in crate::safe_text::visible(&description).lines() {
        if !line.is_empty() {
            out.push_str(INDENT);
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// A description as a file holds it: `\n` line ends, no trailing spaces, no blank lines around.
pub(super) fn canonical(description: &str) -> String {
    let text = super::files::normalise(description);
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let first = lines.iter().position(|l| !l.is_empty()).unwrap_or(lines.len());
    let last = lines.iter().rposition(|l| !l.is_empty()).map_or(first, |at| at + 1);
    lines[first..last].join("\n")
}

/// The task lines of a plan file with their descriptions (other lines are the human's notes and
/// are ignored).
pub(super) fn parse(text: &str) -> Result<Vec<Line>, String> {
    parse_lines(text, true)
}

/// `with_ids`: whether `- t3 [state] …` is a listed task (in a plan's file) or, like every line,
/// a new one (in `new.md`).
fn parse_lines(text: &str, with_ids: bool) -> Result<Vec<Line>, String> {
    let text = super::files::normalise(text);
    if super::files::has_conflict_markers(&text) {
        return Err(
            "it has merge conflict markers (<<<<<<< … >>>>>>>); resolve them and save".to_owned()
        );
    }
    let mut lines: Vec<Line> = Vec::new();
    // Whether the lines that follow may still be the last task's description.
    let mut in_description = false;
    for (number, raw) in text.lines().enumerate() {
        let raw = raw.trim_end();
        let below = raw.strip_prefix(INDENT).or_else(|| raw.strip_prefix('\t'));
        if in_description && (raw.is_empty() || below.is_some()) {
            let last = lines.last_mut().expect("invariant: a description follows a task line");
            last.description.push_str(below.unwrap_or(""));
            last.description.push('\n');
            continue;
        }
        in_description = true;
        if let Some(caps) = TASK_LINE.captures(raw).filter(|_| with_ids) {
            lines.push(Line {
                id: Some(
                    caps[1].parse().map_err(|_| {
                        format!("line {}: {} is not a task id", number + 1, &caps[1])
                    })?,
                ),
                state: caps[2].trim().to_owned(),
                title: caps[3].trim().to_owned(),
                after: ids(caps.get(4).map_or("", |m| m.as_str()), number + 1)?,
                description: String::new(),
            });
        } else if let Some(caps) = NEW_LINE.captures(raw) {
            lines.push(Line {
                id: None,
                state: String::new(),
                title: caps[1].trim().to_owned(),
                after: ids(caps.get(2).map_or("", |m| m.as_str()), number + 1)?,
                description: String::new(),
            });
        } else {
            in_description = false;
        }
    }
    for line in &mut lines {
        line.description = canonical(&line.description);
    }
    Ok(lines)
}

/// The key that adds the task of a new `line` once: the file, its version (what cw last wrote
/// there), and the line's text with how many identical lines come before it.
pub(super) fn dedupe_key(file: &str, version: &str, lines: &[Line], at: usize) -> String {
    let text = |line: &Line| format!("{}\n{:?}\n{}", line.title, line.after, line.description);
    let same_before =
        lines[..at].iter().filter(|l| l.id.is_none() && text(l) == text(&lines[at])).count();
    let hex = super::files::digest(&format!("{version}\n{}", text(&lines[at])), 12);
    format!("file:tasks/{file}:{hex}:{same_before}")
}

/// A short digest of a file's content, as its version when it has none of its own.
pub(super) fn digest(text: &str) -> String {
    super::files::digest(text, 12)
}

fn ids(list: &str, line: usize) -> Result<BTreeSet<TaskId>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|id| {
            id.parse().map_err(|_| format!("line {line}: `{id}` is not a task id (after t1, t2)"))
        })
        .collect()
}

/// What a changed state word asks for.
pub(super) enum StateEdit {
    Cancel,
    Retry,
}

/// The state edit from `before` to `after`, or why it cannot be made from a file.
pub(super) fn state_edit(
    id: TaskId,
    before: &str,
    after: &str,
) -> Result<Option<StateEdit>, String> {
    if before == after {
        return Ok(None);
    }
    match after {
        "cancel" | "cancelled" => Ok(Some(StateEdit::Cancel)),
        "retry" | "ready"
            if [TaskState::Failed.as_str(), TaskState::Cancelled.as_str()].contains(&before) =>
        {
            Ok(Some(StateEdit::Retry))
        }
        other => Err(format!(
            "{id}: the state cannot be set to `{other}` from a file; write `cancel`, or `retry` for a failed or cancelled task"
        )),
    }
}

/// The `- Title (after t3)` lines below `new.md`'s line, with the page's version.
pub(super) fn parse_new(text: &str) -> Result<(String, Vec<Line>), String> {
    let text = super::files::normalise(text);
    let Some((above, below)) = text.split_once(WRITE_BELOW) else {
        return Err(format!("the line `{WRITE_BELOW}` is missing; write new tasks below it"));
    };
    let version = super::files::front_matter(above)
        .and_then(|(fields, _)| fields.into_iter().find(|(k, _)| k == "version"))
        .map_or_else(|| digest(&text), |(_, v)| v);
    Ok((version, parse_lines(below, false)?))
}

/// `new.md` with nothing below its line; `version` tells this page from the ones before it.
pub(super) fn render_new(version: &str) -> String {
    format!(
        "---\nversion: {version}\n---\n# New tasks\n\nOne per line below, `- <title> (after <ids>)`, its description indented below it,\nthen save: each becomes a task and leaves this file (it appears in .cw/tasks/unplanned.md).\n\n{WRITE_BELOW}\n\n"
    )
}

/// A new task's line (and description) as written back to `new.md` after a refusal.
pub(super) fn render_new_line(line: &Line) -> String {
    let mut out = format!("- {}", line.title);
    let ids: Vec<String> = line.after.iter().map(ToString::to_string).collect();
    if !ids.is_empty() || ENDS_LIKE_AFTER.is_match(&line.title) {
        out.push_str(&format!(" (after {})", ids.join(", ")));
    }
    out.push('\n');
    out.push_str(&indented(&line.description));
    out
}

/// A version for a fresh `new.md`: the time in nanoseconds, unique enough between two pages.
pub(super) fn fresh_version() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fsui::files::tricky;
    use crate::model::Timestamp;

    fn task(id: i64, state: TaskState, title: &str, description: &str) -> TaskRecord {
        TaskRecord {
            id: TaskId(id),
            plan: None,
            key: None,
            title: title.to_owned(),
            description: description.to_owned(),
            files: Vec::new(),
            verify: String::new(),
            done_criteria: String::new(),
            kind: "auto".to_owned(),
            needs_human: false,
            state,
            unmerged_deps: 0,
            priority: 2,
            phase_seq: 0,
            wave: 0,
            attempts: 0,
            agent: None,
            lease_expires_at: None,
            result_summary: None,
            failure_reason: None,
            metadata: "{}".to_owned(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        }
    }

    /// A title as `add_task` keeps one: one trimmed line of text, sometimes ending like an after
    /// list or holding what a task line holds.
    fn title() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            proptest::sample::select(vec![
                "(after t2)",
                "[ready]",
                "- t1",
                "é数据✓",
                "`code`",
                "(after )",
                "## Answer",
            ])
            .prop_map(str::to_owned),
            "[A-Za-z0-9 ,.]{1,16}",
        ];
        proptest::collection::vec(piece, 1..5)
            .prop_map(|parts| parts.join(" ").trim().to_owned())
            .prop_filter("a title is not empty", |t| !t.is_empty())
    }

    proptest! {
        #![proptest_config(crate::planning::fuzz_config(4))]

        /// Whatever titles and descriptions hold, a plan's page reads back as the tasks it lists:
        /// id, state, title, after list, and the description as the page shows it.
        #[test]
        fn a_plans_page_reads_back_as_its_tasks(
            tasks in proptest::collection::vec(
                (title(), tricky(), proptest::sample::select(TaskState::ALL.to_vec()),
                 proptest::collection::btree_set(1_i64..40, 0..3)),
                1..5,
            ),
            crlf in any::<bool>(),
        ) {
            let listed: Vec<(TaskRecord, Vec<TaskId>)> = tasks
                .iter()
                .enumerate()
                .map(|(n, (title, description, state, after))| {
                    let id = i64::try_from(n).unwrap() + 100;
                    (task(id, *state, title, description), after.iter().map(|&a| TaskId(a)).collect())
                })
                .collect();
            let mut page = render("Plan 01-02: Tricky", &listed);
            if crlf {
                page = page.replace('\n', "\r\n");
            }
            let read = parse(&page).unwrap();
            prop_assert_eq!(read.len(), listed.len(), "{}", page);
            for (line, (task, after)) in read.iter().zip(&listed) {
                prop_assert_eq!(line.id, Some(task.id));
                prop_assert_eq!(&line.state, task.state.as_str());
                prop_assert_eq!(&line.title, &task.title);
                prop_assert_eq!(line.after.iter().copied().collect::<Vec<_>>(), after.clone());
                let shown = crate::safe_text::visible(&canonical(&task.description)).into_owned();
                prop_assert_eq!(&line.description, &shown);
                // What the page shows is what a second render writes: no drift on resync.
                prop_assert_eq!(&canonical(&line.description), &shown);
            }
        }

        /// A new task written on `new.md` with its description is read back once, with the
        /// page's version; the same page read twice gives the same keys.
        #[test]
        fn a_new_task_line_reads_back_with_a_stable_key(
            title in title(),
            description in tricky(),
            after in proptest::collection::btree_set(1_i64..40, 0..3),
        ) {
            let line = Line {
                id: None,
                state: String::new(),
                title,
                after: after.into_iter().map(TaskId).collect(),
                description: canonical(&crate::safe_text::visible(&description)),
            };
            let page = format!("{}{}", render_new("v7"), render_new_line(&line));
            let (version, read) = parse_new(&page).unwrap();
            prop_assert_eq!(&version, "v7");
            prop_assert_eq!(&read, &vec![line]);
            prop_assert_eq!(dedupe_key("new.md", &version, &read, 0), dedupe_key("new.md", "v7", &read, 0));
            prop_assert_ne!(dedupe_key("new.md", &version, &read, 0), dedupe_key("new.md", "v8", &read, 0));
        }
    }

    #[test]
    fn only_an_allowed_state_word_is_an_edit() {
        assert!(matches!(state_edit(TaskId(3), "ready", "cancel"), Ok(Some(StateEdit::Cancel))));
        assert!(matches!(state_edit(TaskId(3), "failed", "retry"), Ok(Some(StateEdit::Retry))));
        assert!(matches!(state_edit(TaskId(3), "ready", "ready"), Ok(None)));
        let refused = state_edit(TaskId(3), "ready", "merged").err().unwrap();
        assert!(refused.contains("cannot be set to `merged`"), "{refused}");
        assert!(state_edit(TaskId(3), "working", "retry").is_err());
    }
}
