//! `cw inbox`.

use clap::Args;

use super::{CommandResult, Context, output};
use crate::model::QuestionStatus;
use crate::service::{Caller, Via};
use crate::wire::QuestionJson;

/// List open questions from agents, oldest first
///
/// Each open question is also a file, .cw/inbox/<id>.md: write the answer under its "## Answer"
/// line and save (cw run or cw mirror --watch applies it).
#[derive(Debug, Args)]
pub(crate) struct InboxArgs {
    /// Answered and withdrawn questions too, with the answer, who gave it and when
    #[arg(long)]
    all: bool,
    /// Print the questions as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_inbox(cx: &Context, args: &InboxArgs) -> CommandResult {
    let service = cx.service()?;
    let caller = Caller::Operator(Via::Cli);
    let questions =
        if args.all { service.all_questions(&caller)? } else { service.open_questions(&caller)? };
    if args.json {
        return output::json(&questions.iter().map(QuestionJson::from).collect::<Vec<_>>());
    }
    if questions.is_empty() {
        return output::text("no open questions\n");
    }
    let mut out = String::new();
    for q in &questions {
        let who = q.agent.map(|a| a.to_string()).unwrap_or_else(|| "cw".to_owned());
        let task = q.task.map(|t| format!(" on {t}")).unwrap_or_default();
        out.push_str(&format!(
            "{}  from {who}{task}\n  {}\n",
            q.id,
            q.question.replace('\n', "\n  ")
        ));
        if !q.options.is_empty() {
            out.push_str(&format!("  options: {}\n", q.options.join(" | ")));
        }
        if let Some(answer) = &q.answer {
            let by = q.answered_by.as_deref().unwrap_or("");
            out.push_str(&format!("  answered ({by}): {}\n", answer.replace('\n', "\n  ")));
        } else if q.status != QuestionStatus::Open {
            out.push_str(&format!("  {}\n", q.status));
        }
    }
    out.push_str("answer with: cw answer <question-id> <text>, or in .cw/inbox/<question-id>.md\n");
    output::text(&out)
}
