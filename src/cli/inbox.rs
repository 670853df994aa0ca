//! `cw inbox`.

use clap::Args;

use super::{CommandResult, Context, output};
use crate::service::Caller;
use crate::wire::QuestionJson;

/// List open questions from agents, oldest first
#[derive(Debug, Args)]
pub(crate) struct InboxArgs {
    /// Print the questions as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_inbox(cx: &Context, args: &InboxArgs) -> CommandResult {
    let questions = cx.service()?.open_questions(&Caller::Operator)?;
    if args.json {
        return Ok(output::json(&questions.iter().map(QuestionJson::from).collect::<Vec<_>>())?);
    }
    if questions.is_empty() {
        return Ok(output::text("no open questions\n")?);
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
    }
    out.push_str("answer with: cw answer <question-id> <text>\n");
    Ok(output::text(&out)?)
}
