//! `.cw/inbox/<id>.md`: an open question, answered by writing under `## Answer` and saving;
//! `.cw/inbox/answered/<id>.md`: the question with its answer, who gave it and when.

use super::files::{front_matter, has_conflict_markers, normalise, scalar};
use crate::model::Timestamp;
use crate::store::QuestionRecord;

/// The heading the answer goes under.
pub(super) const ANSWER_HEADING: &str = "## Answer";
/// The hint under the heading; not part of the answer.
const HINT: &str =
    "<!-- Write your answer below and save. An option can be given by its number. -->";

/// The file for an open question.
pub(super) fn render_open(question: &QuestionRecord, context: &str) -> String {
    let mut out = front(question);
    out.push_str(&format!("# Question {}{context}\n\n", question.id));
    out.push_str(&body(question));
    out.push_str(&format!("{ANSWER_HEADING}\n\n{HINT}\n\n"));
    out
}

/// The file for an answered (or withdrawn) question.
pub(super) fn render_answered(question: &QuestionRecord, context: &str) -> String {
    let mut out = front(question);
    if let Some(by) = &question.answered_by {
        out.insert_str(out.len() - 4, &format!("answered_by: {}\n", scalar(by)));
    }
    if let Some(at) = question.answered_at {
        out.insert_str(out.len() - 4, &format!("answered_at: {}\n", iso(at)));
    }
    out.push_str(&format!("# Question {}{context}\n\n", question.id));
    out.push_str(&body(question));
    out.push_str(&format!("{ANSWER_HEADING}\n\n"));
    match &question.answer {
        Some(answer) => out.push_str(&format!("{answer}\n")),
        None => out.push_str("(withdrawn: its agent no longer waits for an answer)\n"),
    }
    out
}

fn front(question: &QuestionRecord) -> String {
    let mut out = format!("---\nid: {}\n", question.id);
    if let Some(agent) = question.agent {
        out.push_str(&format!("agent: {agent}\n"));
    }
    if let Some(task) = question.task {
        out.push_str(&format!("task: {task}\n"));
    }
    out.push_str(&format!(
        "asked_at: {}\nstatus: {}\n---\n",
        iso(question.asked_at),
        question.status
    ));
    out
}

fn body(question: &QuestionRecord) -> String {
    // Written without the agent's carriage returns: an editor's CRLF then reads back the same.
    let mut out = format!("{}\n\n", normalise(&question.question).trim_end());
    if !question.options.is_empty() {
        out.push_str("Options:\n");
        for (n, option) in question.options.iter().enumerate() {
            out.push_str(&format!("{}. {}\n", n + 1, scalar(option)));
        }
        out.push('\n');
    }
    out
}

/// The answer written in a question's file: `None` while nothing is written under the heading;
/// an error (in words, for the note beside the file) when the file cannot be read as this
/// question's. An answer that is an option's number is that option.
pub(super) fn parse_answer(
    text: &str,
    question: &QuestionRecord,
) -> Result<Option<String>, String> {
    let text = normalise(text);
    if has_conflict_markers(&text) {
        return Err(
            "it has merge conflict markers (<<<<<<< … >>>>>>>); resolve them and save".to_owned()
        );
    }
    let Some((fields, rest)) = front_matter(&text) else {
        return Err(format!(
            "its front matter (the `---` lines at the top) is missing or broken; it must say `id: {}`",
            question.id
        ));
    };
    let id = fields.iter().find(|(k, _)| k == "id").map(|(_, v)| v.as_str());
    if id != Some(question.id.to_string().as_str()) {
        return Err(format!(
            "its front matter says id: {}, but the file is {}.md",
            id.unwrap_or("(nothing)"),
            question.id
        ));
    }
    // The heading after the question as cw wrote it (the question may itself hold the heading);
    // if the human edited the question, the first heading.
    let question_text = body(question);
    let search_from = rest.find(&question_text).map_or(0, |at| at + question_text.len());
    let Some(heading) = find_heading(rest, search_from).or_else(|| find_heading(rest, 0)) else {
        return Err(format!("it has no `{ANSWER_HEADING}` line to write the answer under"));
    };
    let answer: String =
        rest[heading..].lines().filter(|line| line.trim() != HINT).collect::<Vec<_>>().join("\n");
    let answer = answer.trim();
    if answer.is_empty() {
        return Ok(None);
    }
    if let Ok(n) = answer.parse::<usize>()
        && (1..=question.options.len()).contains(&n)
    {
        return Ok(Some(question.options[n - 1].clone()));
    }
    Ok(Some(answer.to_owned()))
}

/// Where the text under the first `## Answer` line at or after `from` starts.
fn find_heading(text: &str, from: usize) -> Option<usize> {
    let mut at = from;
    for line in text.get(from..)?.split_inclusive('\n') {
        if line.trim_end() == ANSWER_HEADING {
            return Some(at + line.len());
        }
        at += line.len();
    }
    None
}

/// `2026-12-02T14:03:00Z`.
pub(super) fn iso(at: Timestamp) -> String {
    at.rfc3339_seconds()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fsui::files::tricky;
    use crate::model::{AgentId, QuestionId, TaskId};

    fn question(text: &str, options: Vec<String>) -> QuestionRecord {
        QuestionRecord {
            id: QuestionId(7),
            agent: Some(AgentId(2)),
            task: Some(TaskId(5)),
            question: text.to_owned(),
            options,
            status: crate::model::QuestionStatus::Open,
            answer: None,
            answered_by: None,
            asked_at: Timestamp(1_764_684_000_000),
            answered_at: None,
        }
    }

    proptest! {
        #![proptest_config(crate::planning::fuzz_config(4))]

        /// Whatever the question and the answer hold, the answer written under the heading is
        /// what is read back (line ends as `\n`, outer blank space trimmed).
        #[test]
        fn an_answer_written_under_the_heading_is_read_back(
            asked in tricky(),
            answer in tricky(),
            crlf in any::<bool>(),
        ) {
            let q = question(&asked, Vec::new());
            let mut file = format!("{}{answer}\n", render_open(&q, " from agent a2"));
            if crlf {
                file = file.replace('\n', "\r\n");
            }
            let as_saved = if crlf { answer.replace('\n', "\r\n") } else { answer };
            let expected = normalise(&as_saved).lines().filter(|l| l.trim() != HINT).collect::<Vec<_>>().join("\n");
            let expected = expected.trim();
            let read = parse_answer(&file, &q).unwrap();
            if expected.is_empty() {
                prop_assert_eq!(read, None);
            } else {
                prop_assert_eq!(read.as_deref(), Some(expected));
            }
        }
    }

    #[test]
    fn an_untouched_file_has_no_answer_and_a_number_picks_an_option() {
        let q = question("Which colour?", vec!["red".to_owned(), "blue".to_owned()]);
        let file = render_open(&q, "");
        assert_eq!(parse_answer(&file, &q), Ok(None));
        assert_eq!(parse_answer(&format!("{file}2\n"), &q), Ok(Some("blue".to_owned())));
        assert_eq!(parse_answer(&format!("{file}3\n"), &q), Ok(Some("3".to_owned())));
    }
}
