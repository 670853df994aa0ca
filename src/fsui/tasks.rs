//! `.cw/tasks/<plan>.md`: one line per task, `- t3 [ready] Title (after t1, t2)`. Editing a title
//! or the `after` list, or the state word to `cancel` (or `retry` for a failed or cancelled task),
//! and saving changes the task; a line without an id adds one to that plan. `.cw/tasks/new.md`:
//! `- Title (after t3)` lines below its line each add a task. What cw last wrote is kept in
//! `.cw/mirror/` to tell the human's edits from changes in the database.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::Regex;

use crate::model::{TaskId, TaskState};
use crate::store::TaskRecord;

/// The line below which new tasks are written.
pub(super) const WRITE_BELOW: &str = "----- write below this line, then save -----";

/// One task line as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Line {
    /// `None` for a new task.
    pub(super) id: Option<TaskId>,
    pub(super) state: String,
    pub(super) title: String,
    pub(super) after: BTreeSet<TaskId>,
}

static TASK_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^- (t\d+) \[([a-z ]+)\] (.*?)(?: \(after ([t\d, ]*)\))?$")
        .expect("invariant: a valid regex")
});
static NEW_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^- (.+?)(?: \(after ([t\d, ]*)\))?$").expect("invariant: a valid regex")
});

/// The file for one plan's tasks (or those without a plan).
pub(super) fn render(heading: &str, tasks: &[(TaskRecord, Vec<TaskId>)]) -> String {
    let mut out = format!(
        "# {heading}\n\n<!-- One line per task: `- <id> [<state>] <title> (after <ids>)`. Change a title or the\n     after list, set the state to cancel (or retry a failed or cancelled task), or add a\n     line `- <title> (after <ids>)`, and save. -->\n\n"
    );
    for (task, after) in tasks {
        out.push_str(&line(task, after));
        out.push('\n');
    }
    out
}

fn line(task: &TaskRecord, after: &[TaskId]) -> String {
    let mut out = format!("- {} [{}] {}", task.id, task.state, super::files::scalar(&task.title));
    if !after.is_empty() {
        let ids: Vec<String> = after.iter().map(ToString::to_string).collect();
        out.push_str(&format!(" (after {})", ids.join(", ")));
    }
    out
}

/// The task lines of a plan file (other lines are the human's notes and are ignored).
pub(super) fn parse(text: &str) -> Result<Vec<Line>, String> {
    let text = super::files::normalise(text);
    if super::files::has_conflict_markers(&text) {
        return Err(
            "it has merge conflict markers (<<<<<<< … >>>>>>>); resolve them and save".to_owned()
        );
    }
    let mut lines = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let raw = raw.trim_end();
        if let Some(caps) = TASK_LINE.captures(raw) {
            lines.push(Line {
                id: Some(
                    caps[1].parse().map_err(|_| {
                        format!("line {}: {} is not a task id", number + 1, &caps[1])
                    })?,
                ),
                state: caps[2].trim().to_owned(),
                title: caps[3].trim().to_owned(),
                after: ids(caps.get(4).map_or("", |m| m.as_str()), number + 1)?,
            });
        } else if let Some(caps) = NEW_LINE.captures(raw) {
            lines.push(Line {
                id: None,
                state: String::new(),
                title: caps[1].trim().to_owned(),
                after: ids(caps.get(2).map_or("", |m| m.as_str()), number + 1)?,
            });
        }
    }
    Ok(lines)
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

/// The `- Title (after t3)` lines below `new.md`'s line.
pub(super) fn parse_new(text: &str) -> Result<Vec<Line>, String> {
    let text = super::files::normalise(text);
    let Some((_, below)) = text.split_once(WRITE_BELOW) else {
        return Err(format!("the line `{WRITE_BELOW}` is missing; write new tasks below it"));
    };
    Ok(parse(below)?.into_iter().filter(|l| l.id.is_none()).collect())
}

/// `new.md` with nothing below its line.
pub(super) fn render_new() -> String {
    format!(
        "# New tasks\n\nOne per line below, `- <title> (after <ids>)`, then save: each becomes a task and\nleaves this file (it appears in .cw/tasks/unplanned.md).\n\n{WRITE_BELOW}\n\n"
    )
}
