//! What each tool returns, as types: the structured content is serialised from them and each
//! tool's `outputSchema` is derived from the same type, so the two cannot disagree (clients such
//! as the Python SDK validate one against the other).

use std::sync::Arc;

use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Serialize;

use crate::wire::{AgentJson, MessageJson, QuestionJson, WorkJson};

/// The `outputSchema` of a tool returning `T`, without the `$schema` line (2020-12 is MCP's
/// default).
pub(super) fn schema<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    let mut schema = rmcp::handler::server::tool::schema_for_output::<T>().as_ref().clone();
    schema.remove("$schema");
    Arc::new(schema)
}

/// `claim_task`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Claimed {
    /// The task you hold, or null when nothing is ready for you.
    pub(super) task: Option<WorkJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) message: Option<&'static str>,
}

/// A task's id and state after a change (`report_progress`).
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct TaskState {
    pub(super) task_id: String,
    pub(super) state: &'static str,
}

/// `report_done`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Reported {
    pub(super) task_id: String,
    pub(super) state: &'static str,
    pub(super) next: &'static str,
}

/// `ask_user`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Asked {
    /// `answered`, or `pending` (end your turn; you are resumed with the answer).
    pub(super) status: &'static str,
    pub(super) question_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) answer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) next: Option<&'static str>,
}

/// `request_merge`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct MergeRequested {
    pub(super) task_id: String,
    /// `queued`, `merged` or `conflict`.
    pub(super) state: String,
    pub(super) waiting_for: Vec<String>,
    pub(super) next: &'static str,
}

/// `get_messages`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Messages {
    pub(super) messages: Vec<MessageJson>,
}

/// `list_questions`: one line each, or whole with `full`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Questions {
    pub(super) questions: Vec<QuestionItem>,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub(super) enum QuestionItem {
    Line(QuestionLine),
    Whole(QuestionJson),
}

/// A question in one line.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct QuestionLine {
    pub(super) id: String,
    pub(super) agent: Option<String>,
    pub(super) task: Option<String>,
    /// Its first line, at most 160 characters.
    pub(super) question: String,
}

/// `send_message`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Sent {
    pub(super) message_id: String,
}

/// `list_agents`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Agents {
    pub(super) agents: Vec<AgentJson>,
}

/// `list_tasks`: a page.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct TaskList {
    pub(super) tasks: Vec<TaskLine>,
    pub(super) total: usize,
    /// Pass it back as `cursor` for the next page; null on the last.
    pub(super) next_cursor: Option<String>,
}

/// A task in a listing.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct TaskLine {
    pub(super) id: String,
    pub(super) state: &'static str,
    pub(super) title: String,
    pub(super) agent: Option<String>,
    pub(super) depends_on: Vec<String>,
}

/// `cancel_task` and `retry_task`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct TaskChanged {
    pub(super) task_id: String,
    pub(super) state: &'static str,
    pub(super) previous: &'static str,
    /// For a cancel: the tasks that wait for it and will not start until it is retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) dependents_waiting: Option<Vec<String>>,
}

/// `diff`: a page of the patch.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Diff {
    pub(super) agent: String,
    pub(super) branch: Option<String>,
    pub(super) base: String,
    pub(super) total_bytes: usize,
    pub(super) offset: usize,
    pub(super) patch: String,
    /// Pass it back as `offset` for the next page; null on the last.
    pub(super) next_offset: Option<usize>,
}

/// `stop_agent`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Stopped {
    pub(super) agent_id: String,
    pub(super) stopped: bool,
    pub(super) detail: String,
    pub(super) next: &'static str,
}

/// `restart_agent`.
#[derive(Debug, Serialize, JsonSchema)]
pub(super) struct Restarting {
    pub(super) agent_id: String,
    pub(super) task_id: String,
    pub(super) restart: &'static str,
    pub(super) next: &'static str,
}
