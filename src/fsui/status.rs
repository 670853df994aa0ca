//! `.cw/STATUS.md`: the whole run at a glance (regenerated).

use super::files::scalar;
use crate::service::StatusReport;
use crate::store::QuestionRecord;

pub(super) fn render(
    report: &StatusReport,
    open: &[QuestionRecord],
    problems: &[String],
) -> String {
    let mut out = String::from("# Status\n\n<!-- cw rewrites this file. -->\n\n## Tasks\n\n");
    out.push_str(&format!("{} tasks", report.total));
    let counts: Vec<String> =
        report.counts.iter().filter(|(_, n)| *n > 0).map(|(s, n)| format!("{n} {s}")).collect();
    if !counts.is_empty() {
        out.push_str(&format!(": {}", counts.join(", ")));
    }
    out.push_str(&format!("; {} merge(s) queued\n", report.queued_merges));
    out.push_str("\n## Open questions\n\n");
    if open.is_empty() {
        out.push_str("None.\n");
    }
    for question in open {
        let first = question.question.lines().next().unwrap_or("");
        out.push_str(&format!(
            "- [{}](inbox/{}.md): {}\n",
            question.id,
            question.id,
            scalar(first)
        ));
    }
    out.push_str("\n## Agents\n\n");
    if report.agents.is_empty() {
        out.push_str("None.\n");
    }
    for agent in &report.agents {
        let task = agent.task.or(agent.bound_task).map(|t| format!(" on {t}")).unwrap_or_default();
        out.push_str(&format!(
            "- [{}](agents/{}/status.md) {}{task}\n",
            agent.id,
            agent.id,
            agent.state.as_str()
        ));
    }
    out.push_str("\n## Latest merges\n\n");
    if report.recent_merges.is_empty() {
        out.push_str("None yet.\n");
    }
    for merge in &report.recent_merges {
        let why = merge.reason.as_deref().and_then(|r| r.lines().next()).unwrap_or("");
        let why = if merge.state == crate::model::MergeState::Merged || why.is_empty() {
            String::new()
        } else {
            format!(" — {}", scalar(why))
        };
        out.push_str(&format!("- {} {}: {}{why}\n", merge.state, merge.task, scalar(&merge.title)));
    }
    if !problems.is_empty() {
        out.push_str("\n## Files not applied\n\n");
        for problem in problems {
            out.push_str(&format!("- {}\n", scalar(problem)));
        }
    }
    out
}
