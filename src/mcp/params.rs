//! Tool parameters: what each tool accepts, with the schema descriptions a model reads.

use schemars::JsonSchema;
use serde::Deserialize;

/// A tool that takes no arguments: an unknown one is refused by name, not ignored.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoArgs {}

/// `report_progress` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProgressArgs {
    /// The task id from claim_task, e.g. "t12".
    pub(crate) task_id: String,
    /// One line for the human: what you are doing now.
    pub(crate) message: String,
}

/// `report_done` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DoneArgs {
    /// The task id from claim_task.
    pub(crate) task_id: String,
    /// What you did and what the next agent should know (dependent tasks receive it).
    pub(crate) summary: String,
    /// done: finished and committed. failed: cannot be done (say why in summary). blocked: needs the human.
    pub(crate) outcome: Outcome,
}

/// How the work ended.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    Done,
    Failed,
    Blocked,
}

/// `ask_user` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AskArgs {
    /// The question, with the context the human needs to answer it.
    pub(crate) question: String,
    /// Suggested answers, if the choice is between known options.
    #[serde(default)]
    pub(crate) options: Vec<String>,
    /// The task it is about; defaults to the task you hold.
    #[serde(default)]
    pub(crate) task_id: Option<String>,
}

/// Arguments naming one task.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskArgs {
    /// The task id, e.g. "t12".
    pub(crate) task_id: String,
}

/// `answer_question` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnswerArgs {
    /// The question id, e.g. "q3".
    pub(crate) question_id: String,
    /// The answer the agent will receive.
    pub(crate) answer: String,
}

/// `add_task` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddTaskArgs {
    /// What to do, in one line (no newlines or control characters).
    pub(crate) title: String,
    /// Details for the agent.
    #[serde(default)]
    pub(crate) description: String,
    /// Task ids that must be merged first.
    #[serde(default)]
    pub(crate) after: Vec<String>,
    /// A plan id ("p3") or imported plan key ("01-02").
    #[serde(default)]
    pub(crate) plan: Option<String>,
    /// 0 (most urgent) to 9; default 2.
    #[serde(default)]
    #[schemars(range(max = 9))]
    pub(crate) priority: Option<u8>,
}

/// `send_message` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageArgs {
    /// The agent id, e.g. "a3".
    pub(crate) agent_id: String,
    /// The message text.
    pub(crate) body: String,
}

/// Arguments naming one agent.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AgentArgs {
    /// The agent id, e.g. "a3".
    pub(crate) agent_id: String,
}

/// `list_tasks` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListTasksArgs {
    /// Only tasks in this state: pending, ready, working, waiting, merging, conflict, merged,
    /// failed or cancelled.
    #[serde(default)]
    pub(crate) state: Option<String>,
    /// next_cursor from the previous page.
    #[serde(default)]
    pub(crate) cursor: Option<String>,
    /// Tasks per page, 1 to 200; default 50.
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub(crate) limit: Option<u32>,
}

/// `list_questions` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuestionsArgs {
    /// Whole questions with their options, instead of one line each.
    #[serde(default)]
    pub(crate) full: bool,
}

/// `diff` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffArgs {
    /// A task id ("t3": its latest agent) or an agent id ("a2").
    pub(crate) target: String,
    /// next_offset from the previous page (bytes into the patch).
    #[serde(default)]
    pub(crate) offset: Option<u64>,
}

/// `restart_agent` arguments.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RestartArgs {
    /// The agent id, e.g. "a3".
    pub(crate) agent_id: String,
    /// Why, as told to the agent when it continues.
    #[serde(default)]
    pub(crate) reason: Option<String>,
}
