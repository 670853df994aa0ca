//! One PLAN file: front matter, top-level blocks and `<task>` elements.
//!
//! Element content is not XML (task bodies hold `Promise<void>`, JSX, `a < b`, code fences), so
//! nothing here XML-parses: tasks are found by `<task …>` … next `</task>`, and inside a task the
//! known children are found in document order, each up to its own closing tag.

use std::sync::LazyLock;

use regex::Regex;

use super::frontmatter::{self, FrontMatter};
use super::text::{LineIndex, dedent, mask_code};

/// A parsed PLAN file.
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedPlan {
    pub(crate) front: Option<FrontMatter>,
    pub(crate) objective: String,
    /// Other top-level blocks (`<context>`, `<verification>`, …) kept as plan notes.
    pub(crate) blocks: Vec<(String, String)>,
    pub(crate) tasks: Vec<ParsedTask>,
    /// How tasks were found when there was no `<task>`: `feature`, `headings`, `whole body`.
    pub(crate) fallback: Option<&'static str>,
}

/// One task element (or a fallback standing in for one).
#[derive(Debug, Clone, Default)]
pub(crate) struct ParsedTask {
    pub(crate) line: usize,
    pub(crate) attributes: Vec<(String, String)>,
    pub(crate) children: Vec<(String, String)>,
    pub(crate) options: Vec<(String, String)>,
}

/// A PLAN file that cannot be imported, with the line to look at.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PlanSyntaxError {
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// Task children cw understands, in no particular order.
const TASK_CHILDREN: &[&str] = &[
    "name",
    "title",
    "files",
    "read_first",
    "action",
    "verify",
    "behavior",
    "implementation",
    "acceptance_criteria",
    "done",
    "what-built",
    "how-to-verify",
    "resume-signal",
    "decision",
    "context",
    "instructions",
    "verification",
];

/// A `<task …>` that opens a line: `<task-dir>` or a `<task>` in prose is not one.
static TASK_OPEN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^[ \t]*<task(\s[^>]*)?>").expect("invariant: static regex"));
static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"([A-Za-z_][\w-]*)\s*=\s*"([^"]*)""#).expect("invariant: static regex")
});
static BLOCK_OPEN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?m)^[ \t]*<([a-z][a-z0-9_-]*)(?:\s[^>]*)?>").expect("invariant: static regex")
});
static TASK_HEADING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?mi)^#{2,4}\s+Task\s+\d+[^\n]*$").expect("invariant: static regex")
});
static OPTION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?s)<option\b([^>]*)>(.*?)</option>"#).expect("invariant: static regex")
});

/// Parses a normalised PLAN file.
pub(crate) fn parse(text: &str) -> Result<ParsedPlan, PlanSyntaxError> {
    let front = frontmatter::split(text)
        .map_err(|e| PlanSyntaxError { line: e.line, message: e.message })?;
    let body_start = front.as_ref().map_or(0, |f| f.body_start);
    let body = &text[body_start..];
    let lines = LineIndex::new(text);
    let at = |offset: usize| lines.line_of(body_start + offset);

    // Tags are looked for outside code (fenced blocks, inline spans); text is taken from `body`.
    let masked = mask_code(body);
    let mut tasks = Vec::new();
    let mut task_spans = Vec::new();
    let mut cursor = 0;
    while let Some(caps) = TASK_OPEN.captures_at(&masked, cursor) {
        let open = caps.get(0).map_or(0..0, |m| m.range());
        let attributes = parse_attributes(caps.get(1).map_or("", |m| &body[m.range()]));
        let start =
            open.start + (masked[open.clone()].len() - masked[open.clone()].trim_start().len());
        let content_start = open.end;
        let close = masked[content_start..].find("</task>").map(|p| content_start + p);
        let next_open = TASK_OPEN.find_at(&masked, content_start).map(|m| m.start());
        let close = match (close, next_open) {
            (Some(close), Some(next)) if next < close => None,
            (close, _) => close,
        };
        let Some(close) = close else {
            return Err(PlanSyntaxError {
                line: at(start),
                message: "<task> opened here is never closed".to_owned(),
            });
        };
        let (children, options) =
            parse_children(&body[content_start..close]).map_err(|(offset, message)| {
                PlanSyntaxError { line: at(content_start + offset), message }
            })?;
        tasks.push(ParsedTask { line: at(start), attributes, children, options });
        task_spans.push(start..close + "</task>".len());
        cursor = close + "</task>".len();
    }

    let objective = block(body, "objective").map(|(_, t)| t).unwrap_or_default();
    let blocks = top_level_blocks(body, &masked, &task_spans);
    let mut fallback = None;
    if tasks.is_empty() {
        (tasks, fallback) = fallback_tasks(body, &masked, &at);
    }
    Ok(ParsedPlan { front, objective, blocks, tasks, fallback })
}

/// Children and options of a task, or the offset and reason it could not be read.
type ChildrenResult = Result<(Vec<(String, String)>, Vec<(String, String)>), (usize, String)>;

/// The children of one task, in document order, plus any decision options.
fn parse_children(content: &str) -> ChildrenResult {
    // Options first: each `<option>` has its own `<name>`, which must not title the task.
    let mut options = Vec::new();
    let masked = mask_code(content);
    let mut remaining = masked.clone();
    if let (Some(start), Some(end)) = (masked.find("<options>"), masked.find("</options>"))
        && start < end
    {
        for caps in OPTION.captures_iter(&content[start..end]) {
            let attrs = parse_attributes(&caps[1]);
            let id =
                attrs.iter().find(|(k, _)| k == "id").map(|(_, v)| v.clone()).unwrap_or_default();
            let name = block(&caps[2], "name").map(|(_, t)| t).unwrap_or_else(|| dedent(&caps[2]));
            options.push((id, name));
        }
        // Blank the options out, keeping offsets (and so line numbers) unchanged.
        let blank: String = content[start..end + "</options>".len()]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        remaining.replace_range(start..end + "</options>".len(), &blank);
    }
    let mut children = Vec::new();
    let mut cursor = 0;
    loop {
        let next = TASK_CHILDREN
            .iter()
            .filter_map(|tag| {
                find_open_tag(&remaining[cursor..], tag)
                    .map(|(s, e)| (cursor + s, cursor + e, *tag))
            })
            .min_by_key(|&(start, _, _)| start);
        let Some((start, open_end, tag)) = next else { break };
        let closing = format!("</{tag}>");
        let Some(close) = remaining[open_end..].find(&closing).map(|p| open_end + p) else {
            return Err((start, format!("<{tag}> opened here is never closed")));
        };
        let mut value = dedent(&content[open_end..close]);
        if tag == "verify" {
            value = value.replace("<automated>", "").replace("</automated>", "");
            value = dedent(&value);
        }
        children.push((tag.to_owned(), value));
        cursor = close + closing.len();
    }
    Ok((children, options))
}

/// Finds `<tag>` or `<tag attr…>` (not `<tagger>`); returns the span of the opening tag.
fn find_open_tag(text: &str, tag: &str) -> Option<(usize, usize)> {
    let needle = format!("<{tag}");
    let mut from = 0;
    while let Some(pos) = text[from..].find(&needle).map(|p| from + p) {
        let after = pos + needle.len();
        match text[after..].chars().next() {
            Some('>') => return Some((pos, after + 1)),
            Some(c) if c.is_whitespace() => {
                let end = text[after..].find('>')?;
                return Some((pos, after + end + 1));
            }
            _ => from = after,
        }
    }
    None
}

/// The first `<name>…</name>` block in `text`, with its start offset.
fn block(text: &str, name: &str) -> Option<(usize, String)> {
    let masked = mask_code(text);
    let (start, open_end) = find_open_tag(&masked, name)?;
    let close = masked[open_end..].find(&format!("</{name}>"))? + open_end;
    Some((start, dedent(&text[open_end..close])))
}

/// Top-level blocks outside any task, except `objective` and `tasks`.
fn top_level_blocks(
    body: &str,
    masked: &str,
    task_spans: &[std::ops::Range<usize>],
) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut cursor = 0;
    while let Some(caps) = BLOCK_OPEN.captures_at(masked, cursor) {
        let whole = caps.get(0).map_or(0..0, |m| m.range());
        let name = caps[1].to_owned();
        cursor = whole.end;
        // The spans are sorted and disjoint: a tag inside a task skips the rest of that task
        // (looking through every span for every tag made a plan of N tasks cost N²).
        let after = task_spans.partition_point(|span| span.end <= whole.start);
        if let Some(span) = task_spans.get(after).filter(|span| span.contains(&whole.start)) {
            cursor = cursor.max(span.end);
            continue;
        }
        if matches!(name.as_str(), "task" | "tasks" | "objective") {
            continue;
        }
        let closing = format!("</{name}>");
        if let Some(close) = masked[whole.end..].find(&closing).map(|p| whole.end + p) {
            blocks.push((name, dedent(&body[whole.end..close])));
            cursor = close + closing.len();
        }
    }
    blocks
}

/// Tasks for a plan without `<task>`: a TDD `<feature>`, `## Task N` headings, or the whole body.
fn fallback_tasks(
    body: &str,
    masked: &str,
    at: &dyn Fn(usize) -> usize,
) -> (Vec<ParsedTask>, Option<&'static str>) {
    if let Some((start, content)) = block(body, "feature") {
        let (children, _) = parse_children(&content).unwrap_or_default();
        let mut children: Vec<(String, String)> = children;
        let behavior = children.iter().find(|(k, _)| k == "behavior").map(|(_, v)| v.clone());
        let implementation =
            children.iter().find(|(k, _)| k == "implementation").map(|(_, v)| v.clone());
        let action = [
            behavior.map(|b| format!("Behavior:\n{b}")),
            implementation.map(|i| format!("Implementation:\n{i}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");
        children.retain(|(k, _)| k != "behavior" && k != "implementation");
        children.push(("action".to_owned(), action));
        let attributes =
            vec![("type".to_owned(), "auto".to_owned()), ("tdd".to_owned(), "true".to_owned())];
        return (
            vec![ParsedTask { line: at(start), attributes, children, options: Vec::new() }],
            Some("feature"),
        );
    }
    let headings: Vec<_> = TASK_HEADING.find_iter(masked).collect();
    if !headings.is_empty() {
        let tasks = headings
            .iter()
            .enumerate()
            .map(|(i, heading)| {
                let end = headings.get(i + 1).map_or(body.len(), |next| next.start());
                let title = body[heading.range()].trim_start_matches('#').trim().to_owned();
                let action = dedent(&body[heading.end()..end]);
                ParsedTask {
                    line: at(heading.start()),
                    attributes: vec![("type".to_owned(), "auto".to_owned())],
                    children: vec![("name".to_owned(), title), ("action".to_owned(), action)],
                    options: Vec::new(),
                }
            })
            .collect();
        return (tasks, Some("headings"));
    }
    let action = dedent(body);
    if action.is_empty() {
        return (Vec::new(), None);
    }
    let task = ParsedTask {
        line: at(0),
        attributes: vec![("type".to_owned(), "auto".to_owned())],
        children: vec![("action".to_owned(), action)],
        options: Vec::new(),
    };
    (vec![task], Some("whole body"))
}

fn parse_attributes(text: &str) -> Vec<(String, String)> {
    ATTRIBUTE.captures_iter(text).map(|c| (c[1].to_owned(), c[2].to_owned())).collect()
}

impl ParsedTask {
    /// The value of child `tag`, if present and non-empty.
    pub(crate) fn child(&self, tag: &str) -> Option<&str> {
        self.children.iter().find(|(k, v)| k == tag && !v.is_empty()).map(|(_, v)| v.as_str())
    }

    /// The value of attribute `name`.
    pub(crate) fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_bodies_with_angle_brackets_and_code_survive() {
        let text = "---\nphase: 01\n---\n<tasks>\n<task type=\"auto\">\n  <name>Task 1: Types</name>\n  <files>src/a.ts, src/b.ts</files>\n  <action>\n  Write `Promise<void>` and <div className=\"x\">hi</div>; if a < b && c > d:\n  ```ts\n  const m: Record<string, number> = {};\n  ```\n  </action>\n   </verify>\n  <verify><automated>npm test</automated></verify>\n  <done>Done when <b>bold</b></done>\n</task>\n</tasks>\n";
        let plan = parse(text).unwrap();
        assert_eq!(plan.tasks.len(), 1);
        let task = &plan.tasks[0];
        assert_eq!(task.line, 5);
        assert_eq!(task.child("name"), Some("Task 1: Types"));
        assert!(task.child("action").unwrap().contains("Record<string, number>"));
        assert!(task.child("action").unwrap().contains("<div className=\"x\">hi</div>"));
        assert_eq!(task.child("verify"), Some("npm test"));
        assert_eq!(task.child("done"), Some("Done when <b>bold</b>"));
    }

    #[test]
    fn unclosed_elements_name_their_line() {
        let err = parse(
            "<task type=\"auto\">\n<name>x</name>\n<task type=\"auto\"><name>y</name></task>",
        )
        .unwrap_err();
        assert_eq!(
            err,
            PlanSyntaxError { line: 1, message: "<task> opened here is never closed".into() }
        );
        let err = parse("intro\n<task type=\"auto\">\n<name>x</name>\n<action>never ends\n</task>")
            .unwrap_err();
        assert_eq!(
            err,
            PlanSyntaxError { line: 4, message: "<action> opened here is never closed".into() }
        );
    }

    #[test]
    fn decision_options_do_not_title_the_task() {
        let text = "<task type=\"checkpoint:decision\" gate=\"blocking\">\n<decision>Which tool?</decision>\n<options>\n<option id=\"pw\"><name>Playwright</name><pros>a</pros></option>\n<option id=\"ch\"><name>Chromatic</name></option>\n</options>\n<resume-signal>Select</resume-signal>\n</task>";
        let plan = parse(text).unwrap();
        let task = &plan.tasks[0];
        assert_eq!(task.child("name"), None);
        assert_eq!(task.child("decision"), Some("Which tool?"));
        assert_eq!(
            task.options,
            vec![("pw".into(), "Playwright".into()), ("ch".into(), "Chromatic".into())]
        );
        assert_eq!(task.attribute("gate"), Some("blocking"));
    }

    #[test]
    fn fallbacks_for_plans_without_task_elements() {
        let feature = parse("<feature>\n<name>Framing</name>\n<files>src/f.ts</files>\n<behavior>round trips</behavior>\n<implementation>split</implementation>\n</feature>").unwrap();
        assert_eq!(feature.fallback, Some("feature"));
        assert_eq!(feature.tasks[0].child("name"), Some("Framing"));
        assert!(feature.tasks[0].child("action").unwrap().contains("round trips"));

        let headings = parse("# Plan\n## Task 1: One\ndo one\n## Task 2: Two\ndo two\n").unwrap();
        assert_eq!(headings.fallback, Some("headings"));
        assert_eq!(headings.tasks.len(), 2);
        assert_eq!(headings.tasks[1].child("name"), Some("Task 2: Two"));
        assert_eq!(headings.tasks[1].line, 4);

        let prose = parse("Just do the thing.\n").unwrap();
        assert_eq!(prose.fallback, Some("whole body"));
        assert_eq!(parse("---\na: 1\n---\n\n").unwrap().tasks.len(), 0);
    }

    #[test]
    fn objective_and_other_blocks_are_kept() {
        let plan = parse("<objective>\nDo X.\nPurpose: y\n</objective>\n<context>\n@src/a.ts\n</context>\n<tasks><task type=\"auto\"><name>a</name></task></tasks>\n<verification>ok</verification>").unwrap();
        assert_eq!(plan.objective, "Do X.\nPurpose: y");
        let names: Vec<&str> = plan.blocks.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["context", "verification"]);
    }
}
