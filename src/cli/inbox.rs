//! `cw inbox` and `cw inbox show`.

use clap::Args;

use super::output::{self, Doc, Style};
use super::{CommandError, CommandResult, Context};
use crate::model::{QuestionId, QuestionStatus};
use crate::service::{Caller, Via};
use crate::store::QuestionRecord;
use crate::wire::QuestionJson;

/// List open questions from agents, oldest first, one line each
///
/// `cw inbox show q3` prints one whole. Each open question is also a file, .cw/inbox/<id>.md:
/// write the answer under its "## Answer" line and save (cw run or cw mirror --watch applies it).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct InboxArgs {
    #[command(subcommand)]
    action: Option<InboxAction>,
    /// Answered and withdrawn questions too
    #[arg(long)]
    all: bool,
    /// Print the questions as JSON
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum InboxAction {
    /// Print one question whole: its text, options, and the answer once there is one
    Show(ShowArgs),
}

#[derive(Debug, Args)]
struct ShowArgs {
    /// The question (e.g. q3)
    #[arg(add = crate::cli::completions::question_ids())]
    question: String,
    /// Print it as JSON
    #[arg(long)]
    json: bool,
}

/// How much of a question's first line a listing shows.
const FIRST_LINE_CHARS: usize = 72;

pub(crate) fn cmd_inbox(cx: &Context, args: &InboxArgs) -> CommandResult {
    let service = cx.service()?;
    let caller = Caller::Operator(Via::Cli);
    if let Some(InboxAction::Show(show)) = &args.action {
        let id: QuestionId = show
            .question
            .parse()
            .map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))?;
        let question = service.show_question(&caller, id)?;
        if show.json {
            return output::json(&QuestionJson::from(&question));
        }
        return output::text(whole(&question));
    }
    let questions =
        if args.all { service.all_questions(&caller)? } else { service.open_questions(&caller)? };
    if args.json {
        return output::json(&questions.iter().map(QuestionJson::from).collect::<Vec<_>>());
    }
    if questions.is_empty() {
        return output::text("no open questions\n");
    }
    let now = service.now();
    let mut out = Doc::new();
    for q in &questions {
        let agent = q.agent.map(|a| a.to_string()).unwrap_or_else(|| "cw".to_owned());
        let task = q.task.map(|t| t.to_string()).unwrap_or_else(|| "-".to_owned());
        out.paint(Style::Id, &output::column(&q.id.to_string(), 4)).plain("  ");
        out.paint(Style::Dim, &output::column(&q.asked_at.age_at(now), 4)).plain("  ");
        out.paint(Style::Id, &output::column(&agent, 4)).plain("  ");
        out.paint(Style::Id, &output::column(&task, 5)).plain("  ");
        if q.status != QuestionStatus::Open {
            out.paint(Style::Dim, &format!("[{}]", q.status)).plain(" ");
        }
        out.plain(&crate::safe_text::first_line(&q.question, FIRST_LINE_CHARS)).plain("\n");
    }
    out.plain("whole question: ").paint(Style::Hint, "cw inbox show <id>");
    out.plain("; answer: ").paint(Style::Hint, "cw answer <id> <text>").plain("\n");
    output::text(out)
}

/// A question with its options and, once answered, the answer.
fn whole(q: &QuestionRecord) -> Doc {
    let who = q.agent.map(|a| a.to_string()).unwrap_or_else(|| "cw".to_owned());
    let task = q.task.map(|t| format!(" on {t}")).unwrap_or_default();
    let mut out = Doc::new();
    out.paint(Style::Id, &q.id.to_string()).plain(&format!("  from {who}{task}  ("));
    let style = if q.status == QuestionStatus::Open { Style::Attention } else { Style::Dim };
    out.paint(style, q.status.as_str()).plain(&format!(")\n\n{}\n", q.question.trim_end()));
    if !q.options.is_empty() {
        out.plain(&format!("\noptions: {}\n", q.options.join(" | ")));
    }
    match &q.answer {
        Some(answer) => {
            let by = q.answered_by.as_deref().unwrap_or("");
            out.plain(&format!("\nanswered ({by}):\n{}\n", answer.trim_end()));
        }
        None if q.status == QuestionStatus::Open => {
            out.plain("\nanswer with: ").paint(Style::Hint, &format!("cw answer {} <text>", q.id));
            out.plain("\n");
        }
        None => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;

    #[test]
    fn ages_and_first_lines_are_short() {
        assert_eq!(Timestamp(88_000).age_at(Timestamp(100_000)), "12s");
        assert_eq!(Timestamp(0).age_at(Timestamp(7_300_000)), "2h");
        assert_eq!(Timestamp(5).age_at(Timestamp(0)), "0s");
        let first_line = |text: &str| crate::safe_text::first_line(text, FIRST_LINE_CHARS);
        assert_eq!(first_line("Which one?\nA or B"), "Which one? …");
        assert_eq!(first_line(&"x".repeat(100)).chars().count(), FIRST_LINE_CHARS + 1);
    }
}
