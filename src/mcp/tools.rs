//! The tools. Each decodes its arguments, makes one service call and encodes the result; every
//! rule lives in the service so stdio, HTTP and the CLI cannot drift apart.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, tool, tool_router};
use serde_json::json;

use super::params::{
    AddTaskArgs, AgentArgs, AnswerArgs, AskArgs, DiffArgs, DoneArgs, ListQuestionsArgs,
    ListTasksArgs, MessageArgs, NoArgs, Outcome, ProgressArgs, RestartArgs, TaskArgs,
};
use super::results::{
    self, Agents, Asked, Claimed, Diff, MergeRequested, Messages, QuestionItem, QuestionLine,
    Questions, Reported, Restarting, Sent, Stopped, TaskChanged, TaskLine, TaskList,
};
use super::server::{CwServer, error_result, service_error, structured};
use crate::model::{AgentId, QuestionId, ReportOutcome, TaskId, TaskState};
use crate::service::{AddTask, AnswerWait, PlanRef, ServiceError};
use crate::wire::{
    AgentJson, MessageJson, QuestionJson, StatusJson, TaskDetailJson, TaskJson, WorkJson,
};

fn task_id(text: &str) -> Result<TaskId, ServiceError> {
    Ok(text.parse()?)
}

#[tool_router(router = agent_router, vis = "pub(super)")]
impl CwServer {
    #[tool(
        description = "Get your task. Call this first, and again after a restart: it returns the task you hold \
(title, action, files, verify, done criteria, plan context, results of the tasks it depends on, and the \
worktree and branch to commit your work in), or task null when nothing is ready (then stop). Calling it renews your claim.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true),
        output_schema = results::schema::<Claimed>()
    )]
    async fn claim_task(
        &self,
        Parameters(NoArgs {}): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, |service, caller| {
            let work = service.claim_work(caller.agent()?.id)?;
            Ok(match work {
                Some(work) => Claimed { task: Some(WorkJson::from(&work)), message: None },
                None => {
                    Claimed { task: None, message: Some("nothing is ready for you; end your turn") }
                }
            })
        })
        .await
    }

    #[tool(
        description = "Tell the human what you are doing, in one line. Also keeps your claim alive; \
call it every few minutes during long work.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<results::TaskState>()
    )]
    async fn report_progress(
        &self,
        Parameters(args): Parameters<ProgressArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let task = service.report_progress(
                caller.agent()?.id,
                task_id(&args.task_id)?,
                &args.message,
            )?;
            Ok(results::TaskState { task_id: task.id.to_string(), state: task.state.as_str() })
        })
        .await
    }

    #[tool(
        description = "Finish your task. outcome done requires all work committed on your branch (you are told \
what is uncommitted otherwise); then call request_merge. failed: it cannot be done, say why. blocked: only the \
human can unblock it; the summary goes to the human's inbox.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<Reported>()
    )]
    async fn report_done(
        &self,
        Parameters(args): Parameters<DoneArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let outcome = match args.outcome {
                Outcome::Done => ReportOutcome::Done,
                Outcome::Failed => ReportOutcome::Failed,
                Outcome::Blocked => ReportOutcome::Blocked,
            };
            let task = service.report_done(
                caller.agent()?.id,
                task_id(&args.task_id)?,
                outcome,
                &args.summary,
            )?;
            let next = match outcome {
                ReportOutcome::Done => "call request_merge with this task_id",
                ReportOutcome::Failed | ReportOutcome::Blocked => "end your turn",
            };
            Ok(Reported { task_id: task.id.to_string(), state: task.state.as_str(), next })
        })
        .await
    }

    #[tool(
        description = "Ask the human when you cannot decide or proceed alone. Blocks until answered and returns \
the answer. If no answer comes in time it returns status pending with a question_id: then end your turn; you will \
be resumed with the answer.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<Asked>()
    )]
    async fn ask_user(
        &self,
        Parameters(args): Parameters<AskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        let asked = self
            .respond(&ctx, move |service, caller| {
                let task = args.task_id.as_deref().map(task_id).transpose()?;
                let question =
                    service.ask(caller.agent()?.id, &args.question, &args.options, task)?;
                Ok(json!({ "question_id": question.id.to_string() }))
            })
            .await;
        let Some(id) = asked
            .structured_content
            .as_ref()
            .and_then(|v| v["question_id"].as_str())
            .and_then(|q| q.parse::<QuestionId>().ok())
        else {
            return asked;
        };
        self.wait_for_answer(id, &ctx).await
    }

    #[tool(
        description = "Queue your finished task's branch for merging into the integration branch, after \
report_done with outcome done. Returns queued (merged after the tasks it depends on), merged, or conflict with the \
paths to fix: then merge the integration branch into yours, resolve, commit and call request_merge again.",
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true),
        output_schema = results::schema::<MergeRequested>()
    )]
    async fn request_merge(
        &self,
        Parameters(args): Parameters<TaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let request = service.request_merge(caller.agent()?.id, task_id(&args.task_id)?)?;
            let waiting: Vec<String> =
                request.waiting_for.iter().map(ToString::to_string).collect();
            Ok(MergeRequested {
                task_id: request.task.id.to_string(),
                state: request.state.to_string(),
                waiting_for: waiting,
                next: "end your turn; you will be resumed if the merge conflicts",
            })
        })
        .await
    }

    #[tool(
        description = "Read new messages from the human or the coordinator (each is returned once). Check \
after each step of long work.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<Messages>()
    )]
    async fn get_messages(
        &self,
        Parameters(NoArgs {}): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, |service, caller| {
            let messages = service.take_messages(caller.agent()?.id)?;
            Ok(Messages { messages: messages.iter().map(MessageJson::from).collect() })
        })
        .await
    }
}

#[tool_router(router = operator_router, vis = "pub(super)")]
impl CwServer {
    #[tool(
        description = "Overview: tasks by state, the next ready tasks, agents.",
        annotations(read_only_hint = true),
        output_schema = results::schema::<StatusJson>()
    )]
    async fn status(
        &self,
        Parameters(NoArgs {}): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, |service, caller| {
            let report = service.status(caller, 10)?;
            let root = service.workspace().root().display().to_string();
            Ok(StatusJson::new(&report, root, service.config().integration_branch.clone()))
        })
        .await
    }

    #[tool(
        description = "Open questions from agents, oldest first, one line each (full: true for the whole \
text and options). Answer one with answer_question; the waiting agent continues with the answer.",
        annotations(read_only_hint = true),
        output_schema = results::schema::<Questions>()
    )]
    async fn list_questions(
        &self,
        Parameters(args): Parameters<ListQuestionsArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let questions = service.open_questions(caller)?;
            let questions = questions
                .iter()
                .map(|q| {
                    if args.full {
                        return QuestionItem::Whole(QuestionJson::from(q));
                    }
                    QuestionItem::Line(QuestionLine {
                        id: q.id.to_string(),
                        agent: q.agent.map(|a| a.to_string()),
                        task: q.task.map(|t| t.to_string()),
                        question: crate::safe_text::first_line(&q.question, 160),
                    })
                })
                .collect();
            Ok(Questions { questions })
        })
        .await
    }

    #[tool(
        description = "Answer an agent's question; the waiting agent receives the answer.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<QuestionJson>()
    )]
    async fn answer_question(
        &self,
        Parameters(args): Parameters<AnswerArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let question = service.answer(caller, args.question_id.parse()?, &args.answer)?;
            Ok(QuestionJson::from(&question))
        })
        .await
    }

    #[tool(
        description = "Add a task; it is ready once every task in after is merged.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<TaskJson>()
    )]
    async fn add_task(
        &self,
        Parameters(args): Parameters<AddTaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let after = args.after.iter().map(|a| task_id(a)).collect::<Result<Vec<_>, _>>()?;
            let plan = args.plan.map(|p| p.parse().map_or(PlanRef::Key(p), PlanRef::Id));
            let request = AddTask {
                title: args.title,
                description: args.description,
                plan,
                after,
                priority: args.priority.map(i64::from),
                dedupe_key: None,
            };
            let task = service.add_task(caller, &request)?;
            Ok(TaskJson::new(&task, &request.after))
        })
        .await
    }

    #[tool(
        description = "Send a message to an agent; it reads it with get_messages.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<Sent>()
    )]
    async fn send_message(
        &self,
        Parameters(args): Parameters<MessageArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let id = service.send_message(caller, args.agent_id.parse::<AgentId>()?, &args.body)?;
            Ok(Sent { message_id: id.to_string() })
        })
        .await
    }

    #[tool(
        description = "All agents with their state and task.",
        annotations(read_only_hint = true),
        output_schema = results::schema::<Agents>()
    )]
    async fn list_agents(
        &self,
        Parameters(NoArgs {}): Parameters<NoArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, |service, caller| {
            let agents = service.list_agents(caller)?;
            Ok(Agents { agents: agents.iter().map(AgentJson::from).collect() })
        })
        .await
    }

    #[tool(
        description = "Tasks, a page at a time in id order: id, state, title, agent and what each waits for. \
Filter with state; pass next_cursor back for the next page. show_task gives one task whole.",
        annotations(read_only_hint = true),
        output_schema = results::schema::<TaskList>()
    )]
    async fn list_tasks(
        &self,
        Parameters(args): Parameters<ListTasksArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let state = match args.state.as_deref().map(str::trim) {
                Some(state) => {
                    Some(state.parse::<TaskState>().map_err(ServiceError::InvalidInput)?)
                }
                None => None,
            };
            let after = args.cursor.as_deref().map(task_id).transpose()?;
            let limit = args.limit.unwrap_or(50).clamp(1, 200) as usize;
            let page = service.task_page(caller, state, after, limit)?;
            let next =
                page.more.then(|| page.tasks.last().map(|(t, _)| t.id.to_string())).flatten();
            let tasks = page
                .tasks
                .iter()
                .map(|(task, deps)| TaskLine {
                    id: task.id.to_string(),
                    state: task.state.as_str(),
                    title: task.title.clone(),
                    agent: task.agent.map(|a| a.to_string()),
                    depends_on: deps.iter().map(ToString::to_string).collect(),
                })
                .collect();
            Ok(TaskList { tasks, total: page.total, next_cursor: next })
        })
        .await
    }

    #[tool(
        description = "One task whole: description, files, verify and done criteria, dependencies both ways, \
agent, attempts, result or failure, last merge.",
        annotations(read_only_hint = true),
        output_schema = results::schema::<TaskDetailJson>()
    )]
    async fn show_task(
        &self,
        Parameters(args): Parameters<TaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            Ok(TaskDetailJson::from(&service.show_task(caller, task_id(&args.task_id)?)?))
        })
        .await
    }

    #[tool(
        description = "Cancel a task: it will not be started; tasks that wait for it stay pending until it is \
retried (retry_task) and merged.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true),
        output_schema = results::schema::<TaskChanged>()
    )]
    async fn cancel_task(
        &self,
        Parameters(args): Parameters<TaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let change = service.cancel_task(caller, task_id(&args.task_id)?)?;
            let waiting: Vec<String> =
                change.blocked_dependents.iter().map(ToString::to_string).collect();
            Ok(TaskChanged {
                task_id: change.task.id.to_string(),
                state: change.task.state.as_str(),
                previous: change.previous.as_str(),
                dependents_waiting: Some(waiting),
            })
        })
        .await
    }

    #[tool(
        description = "Give a failed or cancelled task a fresh start (attempts reset): it is ready again once its \
dependencies are merged, and cw run starts an agent on it.",
        annotations(read_only_hint = false, destructive_hint = false),
        output_schema = results::schema::<TaskChanged>()
    )]
    async fn retry_task(
        &self,
        Parameters(args): Parameters<TaskArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let change = service.retry_task(caller, task_id(&args.task_id)?)?;
            Ok(TaskChanged {
                task_id: change.task.id.to_string(),
                state: change.task.state.as_str(),
                previous: change.previous.as_str(),
                dependents_waiting: None,
            })
        })
        .await
    }

    #[tool(
        description = "What an agent changed: its branch against the integration branch, then what is \
uncommitted in its worktree, as a unified diff, a page at a time (pass next_offset back as offset).",
        annotations(read_only_hint = true),
        output_schema = results::schema::<Diff>()
    )]
    async fn diff(
        &self,
        Parameters(args): Parameters<DiffArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let (agent, patch) = service.diff(caller, &args.target)?;
            let offset = usize::try_from(args.offset.unwrap_or(0)).unwrap_or(usize::MAX);
            let (page, next) = page_of(&patch, offset, DIFF_PAGE_BYTES);
            Ok(Diff {
                agent: agent.id.to_string(),
                branch: agent.branch,
                base: service.config().integration_branch.clone(),
                total_bytes: patch.len(),
                offset: offset.min(patch.len()),
                patch: page.to_owned(),
                next_offset: next,
            })
        })
        .await
    }

    #[tool(
        description = "Stop an agent's process (SIGTERM, then SIGKILL after the grace period). Its task stays \
with it, paused, worktree and branch kept, until restart_agent.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true),
        output_schema = results::schema::<Stopped>()
    )]
    async fn stop_agent(
        &self,
        Parameters(args): Parameters<AgentArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let agent = args.agent_id.parse::<AgentId>()?;
            let report = service.stop_agent(caller, agent)?;
            let detail = match report {
                Some(r) if r.killed => "stopped (killed after the grace period)".to_owned(),
                Some(_) => "stopped".to_owned(),
                None => "it was not running; marked stopped".to_owned(),
            };
            Ok(Stopped {
                agent_id: agent.to_string(),
                stopped: report.is_some(),
                detail,
                next: "its task waits; restart_agent continues it",
            })
        })
        .await
    }

    #[tool(
        description = "Continue a stopped (or stuck) agent's task in its own session and worktree: a running \
process is stopped first; cw run resumes the session, telling the agent the reason.",
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true),
        output_schema = results::schema::<Restarting>()
    )]
    async fn restart_agent(
        &self,
        Parameters(args): Parameters<RestartArgs>,
        ctx: RequestContext<RoleServer>,
    ) -> CallToolResult {
        self.respond(&ctx, move |service, caller| {
            let agent = args.agent_id.parse::<AgentId>()?;
            let reason = args.reason.as_deref().unwrap_or("it was restarted by the operator");
            let task = service.request_restart(caller, agent, reason)?;
            Ok(Restarting {
                agent_id: agent.to_string(),
                task_id: task.to_string(),
                restart: "requested",
                next: "cw run continues its session within seconds (or at its next start, if none is running)",
            })
        })
        .await
    }
}

/// The most a `diff` page carries; a whole patch can be megabytes.
const DIFF_PAGE_BYTES: usize = 64 * 1024;

/// At most `max` bytes of `text` from `offset` (both moved back to character boundaries), and
/// where the next page starts, if there is one.
fn page_of(text: &str, offset: usize, max: usize) -> (&str, Option<usize>) {
    let boundary = |mut at: usize| {
        at = at.min(text.len());
        while !text.is_char_boundary(at) {
            at -= 1;
        }
        at
    };
    let start = boundary(offset);
    let end = boundary(start.saturating_add(max));
    let end = if end == start && start < text.len() { boundary(start + 4) } else { end };
    (&text[start..end], (end < text.len()).then_some(end))
}

impl CwServer {
    /// Blocks until question `id` is answered, sending progress while waiting; `pending` after
    /// the configured wait; promptly returns on cancellation or shutdown.
    async fn wait_for_answer(
        &self,
        id: QuestionId,
        ctx: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let progress_token = ctx.meta.get_progress_token();
        let peer = ctx.peer.clone();
        let tick = |elapsed: std::time::Duration| {
            if let Some(token) = progress_token.clone() {
                let note = ProgressNotificationParam::new(token, elapsed.as_secs_f64())
                    .with_message(format!("waiting for the human to answer {id}"));
                let peer = peer.clone();
                // Fire and forget: a slow client must not delay noticing the answer.
                tokio::spawn(async move {
                    let _ = peer.notify_progress(note).await;
                });
            }
        };
        let waited = self
            .service
            .await_answer(
                id,
                self.settings.ask_wait,
                self.settings.progress_every,
                &ctx.ct,
                &self.shutdown,
                tick,
            )
            .await;
        match waited {
            Ok(AnswerWait::Answered(question)) => {
                // The agent has it now: nobody needs to resume its session with it later.
                if let Err(err) = self.service.mark_answer_delivered(id) {
                    return service_error(&err);
                }
                structured(&Asked {
                    status: "answered",
                    question_id: id.to_string(),
                    answer: question.answer,
                    next: None,
                })
            }
            Ok(AnswerWait::Pending(_)) => structured(&Asked {
                status: "pending",
                question_id: id.to_string(),
                answer: None,
                next: Some(
                    "the human has not answered yet: end your turn now; you will be resumed with the answer",
                ),
            }),
            Ok(AnswerWait::Cancelled) => {
                error_result(&format!("cancelled; question {id} stays open"))
            }
            Ok(AnswerWait::ShuttingDown) => error_result(&format!(
                "the server is shutting down; end your turn, you will be resumed with the answer to {id}"
            )),
            Err(err) => service_error(&err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_end_on_character_boundaries_and_cover_the_text_once() {
        let text = "aé€😀".repeat(50);
        let mut pages = String::new();
        let mut offset = 0;
        loop {
            let (page, next) = page_of(&text, offset, 7);
            assert!(!page.is_empty());
            pages.push_str(page);
            match next {
                Some(next) => offset = next,
                None => break,
            }
        }
        assert_eq!(pages, text);
        assert_eq!(page_of("abc", 99, 10), ("", None));
        assert_eq!(crate::safe_text::first_line("héllo wörld\nmore", 5), "héllo…");
        assert_eq!(crate::safe_text::first_line("short", 5), "short");
    }
}
