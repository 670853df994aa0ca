//! `.cw/agents/<id>/status.md` (regenerated; edits are overwritten) and
//! `.cw/agents/<id>/inbox.md`: paragraphs written below its line go to the agent as messages,
//! each once; what was sent is listed under `## Sent`.

use super::files::{front_matter, has_conflict_markers, normalise, scalar};
use super::inbox::iso;
use crate::model::AgentId;
use crate::store::{AgentRecord, MessageRecord};

/// The line below which the human writes.
const WRITE_BELOW: &str = "----- write below this line, then save -----";
/// The heading of what was sent.
const SENT: &str = "## Sent";

/// An agent's read-only status page.
pub(super) fn render_status(agent: &AgentRecord, task_title: Option<&str>) -> String {
    let mut out = format!(
        "# Agent {} ({})\n\n<!-- cw rewrites this file; write to inbox.md beside it instead. -->\n\n",
        agent.id,
        scalar(&agent.name)
    );
    let line =
        |out: &mut String, key: &str, value: &str| out.push_str(&format!("- {key}: {value}\n"));
    line(&mut out, "state", agent.state.as_str());
    if let Some(task) = agent.task.or(agent.bound_task) {
        line(&mut out, "task", format!("{task} {}", scalar(task_title.unwrap_or(""))).trim_end());
    }
    if let Some(worktree) = &agent.worktree {
        line(&mut out, "worktree", worktree);
    }
    if let Some(branch) = &agent.branch {
        line(&mut out, "branch", branch);
    }
    if let Some(process) = agent.process {
        line(&mut out, "pid", &process.pid.to_string());
    }
    if let Some(status) = &agent.exit_status {
        line(&mut out, "last exit", &scalar(status));
    }
    line(&mut out, "cost", &format!("${:.4}", agent.usage.cost_usd));
    line(
        &mut out,
        "tokens",
        &format!("{} in, {} out", agent.usage.input_tokens, agent.usage.output_tokens),
    );
    line(&mut out, "updated", &iso(agent.updated_at));
    out
}

/// The inbox page at `version` (how many messages the agent had when it was written).
pub(super) fn render_inbox(agent: AgentId, version: usize, sent: &[MessageRecord]) -> String {
    let mut out = format!(
        "---\nagent: {agent}\nversion: {version}\n---\n# Messages for agent {agent}\n\n\
         Write below the line and save: each paragraph (text between blank lines) goes to the agent\n\
         once, and it reads it with get_messages. What was sent is listed under \"{SENT}\".\n\n\
         {WRITE_BELOW}\n\n\n{SENT}\n\n"
    );
    for message in sent {
        let mut lines = message.body.lines();
        let first = lines.next().unwrap_or("");
        out.push_str(&format!(
            "- {} ({}{}): {first}\n",
            iso(message.created_at),
            scalar(&message.sender),
            if message.read_at.is_some() { ", read" } else { "" }
        ));
        for more in lines {
            out.push_str(&format!("  {more}\n"));
        }
    }
    out
}

/// What the human wrote below the line: the page's version and each paragraph with the key
/// that sends it once.
pub(super) struct Written {
    pub(super) paragraphs: Vec<(String, String)>,
}

/// Reads an inbox page; an error (in words) when it cannot be read as this agent's.
pub(super) fn parse_inbox(text: &str, agent: AgentId) -> Result<Written, String> {
    let text = normalise(text);
    if has_conflict_markers(&text) {
        return Err(
            "it has merge conflict markers (<<<<<<< … >>>>>>>); resolve them and save".to_owned()
        );
    }
    let (fields, rest) = front_matter(&text).ok_or_else(|| {
        format!("its front matter (the `---` lines at the top) is missing or broken; it must say `agent: {agent}`")
    })?;
    let field = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    if field("agent") != Some(agent.to_string().as_str()) {
        return Err(format!(
            "its front matter says agent: {}, but the file is in .cw/agents/{agent}/",
            field("agent").unwrap_or("(nothing)")
        ));
    }
    let version = field("version").unwrap_or("0");
    let Some(start) = rest.find(WRITE_BELOW).map(|at| at + WRITE_BELOW.len()) else {
        return Err(format!("the line `{WRITE_BELOW}` is missing; write your message below it"));
    };
    let area = &rest[start..];
    let area = area.find(&format!("\n{SENT}\n")).map_or(area, |end| &area[..end]);
    let mut paragraphs = Vec::new();
    for (index, paragraph) in
        area.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).enumerate()
    {
        let hex = super::files::digest(paragraph, 8);
        let key = format!("file:{agent}:v{version}:{index}:{hex}");
        paragraphs.push((paragraph.to_owned(), key));
    }
    Ok(Written { paragraphs })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fsui::files::tricky;
    use crate::model::MessageId;

    proptest! {
        #![proptest_config(crate::planning::fuzz_config(4))]

        /// Whatever was sent before and whatever the human writes, the paragraphs written below
        /// the line are read back as written, each with its own key, the same on a second read.
        #[test]
        fn a_message_written_below_the_line_reads_back_paragraph_by_paragraph(
            sent in proptest::collection::vec(tricky(), 0..3),
            written in tricky(),
            crlf in any::<bool>(),
        ) {
            let agent = AgentId(4);
            let sent: Vec<MessageRecord> = sent
                .into_iter()
                .enumerate()
                .map(|(n, body)| MessageRecord {
                    id: MessageId(i64::try_from(n).unwrap() + 1),
                    agent,
                    sender: "file".to_owned(),
                    body,
                    created_at: crate::model::Timestamp(1_764_684_000_000),
                    read_at: None,
                })
                .collect();
            let page = render_inbox(agent, sent.len(), &sent);
            let below = format!("{WRITE_BELOW}\n\n");
            let mut file = page.replacen(&below, &format!("{below}{written}\n"), 1);
            if crlf {
                file = file.replace('\n', "\r\n");
            }
            let expected: Vec<String> = normalise(&written)
                .split("\n\n")
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
                .collect();
            let read = parse_inbox(&file, agent).unwrap();
            let texts: Vec<String> = read.paragraphs.iter().map(|(p, _)| p.clone()).collect();
            prop_assert_eq!(&texts, &expected, "{}", file);
            let keys: std::collections::HashSet<&String> = read.paragraphs.iter().map(|(_, k)| k).collect();
            prop_assert_eq!(keys.len(), expected.len(), "one key per paragraph");
            let again = parse_inbox(&file, agent).unwrap();
            prop_assert_eq!(again.paragraphs, read.paragraphs);
            // The page as cw writes it holds nothing to send.
            prop_assert!(parse_inbox(&page, agent).unwrap().paragraphs.is_empty());
        }
    }
}
