//! `cw answer`.

use std::io::Read;

use clap::Args;

use super::{CommandError, CommandResult, Context, output};
use crate::service::{Caller, Via};
use crate::wire::QuestionJson;

/// Answer an agent's question; the waiting agent receives the answer
#[derive(Debug, Args)]
pub(crate) struct AnswerArgs {
    /// The question id (q3 or 3)
    #[arg(add = crate::cli::completions::question_ids())]
    question: String,
    /// The answer, or - to read it from stdin
    text: String,
    /// Print the answered question as JSON
    #[arg(long)]
    json: bool,
}

pub(crate) fn cmd_answer(cx: &Context, args: &AnswerArgs) -> CommandResult {
    let id = args
        .question
        .parse()
        .map_err(|e: crate::model::IdParseError| CommandError::Usage(e.to_string()))?;
    let text = read_text_argument(&args.text)?;
    let question = cx.service()?.answer(&Caller::Operator(Via::Cli), id, &text)?;
    if args.json {
        return output::json(&QuestionJson::from(&question));
    }
    if question.status == crate::model::QuestionStatus::Open {
        return output::text(format!("{id} deferred: it stays in the inbox\n"));
    }
    output::text(format!("{id} answered\n"))
}

/// The argument itself, or all of stdin for `-`.
pub(crate) fn read_text_argument(text: &str) -> Result<String, CommandError> {
    if text != "-" {
        return Ok(text.to_owned());
    }
    let mut buffer = String::new();
    std::io::stdin().read_to_string(&mut buffer).map_err(CommandError::Io)?;
    Ok(buffer)
}
