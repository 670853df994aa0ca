//! The agent ↔ human conversation: questions (`ask_user`, answers) and messages.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;
use tracing::instrument;

use super::tasks::{apply, require_task};
use super::{Caller, Service, ServiceError};
use crate::model::{
    AgentEvent, AgentId, MessageId, QuestionId, QuestionStatus, TaskEvent, TaskId, TaskState,
    Timestamp,
};
use crate::store::{AgentRecord, MessageRecord, QuestionRecord, Tx};

/// The longest question accepted, in bytes.
pub const MAX_QUESTION_BYTES: usize = 16 * 1024;
/// The most options a question may offer, and the longest option, in characters.
pub const MAX_OPTIONS: usize = 20;
pub const MAX_OPTION_CHARS: usize = 500;
/// The longest answer or message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// How waiting for an answer ended.
#[derive(Debug, Clone)]
pub enum AnswerWait {
    Answered(QuestionRecord),
    /// The configured wait passed; the question stays open.
    Pending(QuestionRecord),
    /// The caller gave up (the MCP client cancelled).
    Cancelled,
    /// The server is shutting down.
    ShuttingDown,
}

impl Service {
    /// Stores a question from `agent` (at once, so it survives any restart) and moves its task to
    /// waiting. Asking the same open question again returns the existing one.
    #[instrument(skip_all, fields(agent_id = %agent))]
    pub fn ask(
        &self,
        agent: AgentId,
        question: &str,
        options: &[String],
        task: Option<TaskId>,
    ) -> Result<QuestionRecord, ServiceError> {
        let question = question.trim();
        if question.is_empty() {
            return Err(ServiceError::InvalidInput(
                "the question is empty; say what you need from the human".to_owned(),
            ));
        }
        check_size("the question", question.len(), MAX_QUESTION_BYTES)?;
        if options.len() > MAX_OPTIONS
            || options.iter().any(|o| o.chars().count() > MAX_OPTION_CHARS)
        {
            return Err(ServiceError::InvalidInput(format!(
                "at most {MAX_OPTIONS} options of at most {MAX_OPTION_CHARS} characters each"
            )));
        }
        let now = self.now();
        self.store.write(|tx| {
            let holder = require_agent(tx, agent)?;
            let task = match task {
                Some(task) => {
                    let record = require_task(tx, task)?;
                    if record.agent != Some(agent) || !record.state.is_held() {
                        return Err(ServiceError::NotYourTask { task, agent });
                    }
                    Some(record)
                }
                None => tx.task_held_by(agent)?.map(|id| require_task(tx, id)).transpose()?,
            };
            if let Some(existing) = tx.open_question_like(agent, question)? {
                return Ok(existing);
            }
            let id = tx.insert_question(
                Some(agent),
                task.as_ref().map(|t| t.id),
                question,
                options,
                now,
            )?;
            if let Some(task) = &task
                && task.state == TaskState::Claimed
            {
                apply(tx, task, TaskEvent::AskUser, None, "asked the human", now)?;
            }
            move_agent(tx, &holder, AgentEvent::AskUser, now)?;
            tx.question(id)?.ok_or(ServiceError::QuestionNotFound(id))
        })
    }

    /// Waits until question `id` is answered (from any process), `timeout` passes, `cancel`
    /// fires or `shutdown` fires. `tick` is called about every `tick_every` while waiting (MCP
    /// progress notifications).
    pub async fn await_answer(
        &self,
        id: QuestionId,
        timeout: Duration,
        tick_every: Duration,
        cancel: &CancellationToken,
        shutdown: &CancellationToken,
        mut tick: impl FnMut(Duration),
    ) -> Result<AnswerWait, ServiceError> {
        let started = Instant::now();
        let mut watch = self.store.watch()?;
        let mut next_tick = tick_every;
        loop {
            let question = self.question(id)?;
            if question.status != QuestionStatus::Open {
                return Ok(AnswerWait::Answered(question));
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Ok(AnswerWait::Pending(question));
            }
            if elapsed >= next_tick {
                tick(elapsed);
                next_tick += tick_every;
            }
            let nap = (timeout - elapsed)
                .min(next_tick.saturating_sub(elapsed))
                .max(Duration::from_millis(1));
            tokio::select! {
                () = cancel.cancelled() => return Ok(AnswerWait::Cancelled),
                () = shutdown.cancelled() => return Ok(AnswerWait::ShuttingDown),
                changed = watch.changed(Duration::from_millis(25), nap) => { changed?; }
            }
        }
    }

    /// One question.
    pub fn question(&self, id: QuestionId) -> Result<QuestionRecord, ServiceError> {
        self.store.read(|tx| tx.question(id)?.ok_or(ServiceError::QuestionNotFound(id)))
    }

    /// One question, for the operator (`cw inbox show`).
    pub fn show_question(
        &self,
        caller: &Caller,
        id: QuestionId,
    ) -> Result<QuestionRecord, ServiceError> {
        caller.require_operator()?;
        self.question(id)
    }

    /// Open questions, oldest first (operator).
    pub fn open_questions(&self, caller: &Caller) -> Result<Vec<QuestionRecord>, ServiceError> {
        caller.require_operator()?;
        self.store.read(|tx| Ok(tx.open_questions()?))
    }

    /// Answers an open question (operator): the asking agent's task and state move on.
    #[instrument(skip_all, fields(question = %id))]
    pub fn answer(
        &self,
        caller: &Caller,
        id: QuestionId,
        answer: &str,
    ) -> Result<QuestionRecord, ServiceError> {
        caller.require_operator()?;
        let answer = answer.trim();
        if answer.is_empty() {
            return Err(ServiceError::InvalidInput("the answer is empty".to_owned()));
        }
        check_size("the answer", answer.len(), MAX_MESSAGE_BYTES)?;
        let now = self.now();
        let lease = self.lease_from(now);
        self.store.write(|tx| {
            let question = tx.question(id)?.ok_or(ServiceError::QuestionNotFound(id))?;
            let for_the_human = match question.task.filter(|_| question.agent.is_none()) {
                Some(task) => Some(require_task(tx, task)?)
                    .filter(|t| t.needs_human && matches!(t.state, TaskState::Ready | TaskState::Waiting)),
                None => None,
            };
            let verdict = match &for_the_human {
                Some(task) if question.status == QuestionStatus::Open => {
                    Some(Verdict::read(answer).ok_or_else(|| {
                        ServiceError::InvalidInput(format!(
                            "{id} is a task for you ({}): answer `approve` (anything after it is kept as its result), `reject <why>` (it fails; what waits for it keeps waiting) or `defer` (it stays in the inbox)",
                            task.id
                        ))
                    })?)
                }
                _ => None,
            };
            if let Some(Verdict::Defer) = verdict {
                return Ok(question);
            }
            if !tx.answer_question(id, answer, &caller.label(), now)? {
                let by = question.answered_by.unwrap_or_else(|| "someone".to_owned());
                return Err(ServiceError::AlreadyAnswered { id, by });
            }
            if let (Some(record), Some(verdict)) = (&for_the_human, verdict) {
                // A task for the human, asked as a question: the verdict settles it.
                match verdict {
                    Verdict::Approve(result) => {
                        apply(tx, record, TaskEvent::CompletedByHuman, None, "done by the human", now)?;
                        tx.set_task_result(record.id, Some(result.unwrap_or("approved")))?;
                    }
                    Verdict::Reject(why) => {
                        let why = why.unwrap_or("rejected by the human");
                        apply(tx, record, TaskEvent::RejectedByHuman, None, why, now)?;
                        tx.set_task_failure(record.id, Some(why))?;
                    }
                    Verdict::Defer => {}
                }
            } else if let Some(task) = question.task {
                let record = require_task(tx, task)?;
                if record.state == TaskState::Waiting && record.agent == question.agent {
                    apply(
                        tx,
                        &record,
                        TaskEvent::Answered,
                        record.agent.map(|a| (a, lease)),
                        "the human answered",
                        now,
                    )?;
                }
            }
            if let Some(agent) = question.agent.and_then(|a| tx.agent(a).transpose()).transpose()?
                && agent.state == crate::model::AgentState::Waiting
            {
                move_agent(tx, &agent, AgentEvent::Answered, now)?;
            }
            tx.question(id)?.ok_or(ServiceError::QuestionNotFound(id))
        })
    }

    /// Every question, answered and withdrawn ones too, oldest first (operator).
    pub fn all_questions(&self, caller: &Caller) -> Result<Vec<QuestionRecord>, ServiceError> {
        caller.require_operator()?;
        self.store.read(|tx| Ok(tx.all_questions()?))
    }

    /// Every message sent to `agent`, oldest first (operator).
    pub fn agent_messages(
        &self,
        caller: &Caller,
        agent: AgentId,
    ) -> Result<Vec<crate::store::MessageRecord>, ServiceError> {
        caller.require_operator()?;
        self.store.read(|tx| {
            require_agent(tx, agent)?;
            Ok(tx.messages_for(agent)?)
        })
    }

    /// Sends a message to an agent (operator); it reads it with `get_messages`.
    pub fn send_message(
        &self,
        caller: &Caller,
        agent: AgentId,
        body: &str,
    ) -> Result<MessageId, ServiceError> {
        self.send_message_once(caller, agent, body, None)?.ok_or_else(|| {
            ServiceError::Internal("a message without a key was not sent".to_owned())
        })
    }

    /// Sends a message unless one with `dedupe_key` was sent before (then `None`): a file
    /// read twice sends each paragraph once.
    #[instrument(skip_all, fields(agent_id = %agent))]
    pub fn send_message_once(
        &self,
        caller: &Caller,
        agent: AgentId,
        body: &str,
        dedupe_key: Option<&str>,
    ) -> Result<Option<MessageId>, ServiceError> {
        caller.require_operator()?;
        let body = body.trim();
        if body.is_empty() {
            return Err(ServiceError::InvalidInput("the message is empty".to_owned()));
        }
        check_size("the message", body.len(), MAX_MESSAGE_BYTES)?;
        let now = self.now();
        self.store.write(|tx| {
            require_agent(tx, agent)?;
            Ok(tx.insert_message_once(agent, &caller.label(), body, dedupe_key, now)?)
        })
    }

    /// The agent's unread messages (marked read), renewing its lease.
    pub fn take_messages(&self, agent: AgentId) -> Result<Vec<MessageRecord>, ServiceError> {
        let now = self.now();
        let lease = self.lease_from(now);
        self.store.write(|tx| {
            require_agent(tx, agent)?;
            renew_held(tx, agent, lease)?;
            Ok(tx.take_unread_messages(agent, now)?)
        })
    }
}

/// Moves an agent along its state machine when the event applies; other states are left alone
/// (an agent may call tools in any state, e.g. a user-run agent that never "started").
pub(super) fn move_agent(
    tx: &Tx<'_>,
    agent: &AgentRecord,
    event: AgentEvent,
    now: Timestamp,
) -> Result<(), ServiceError> {
    if let Ok(next) = agent.state.transition(event) {
        tx.set_agent_state(agent.id, agent.state, next, now)?;
    }
    Ok(())
}

/// Renews the lease of whatever task `agent` holds (every agent call keeps its claim alive).
pub(super) fn renew_held(
    tx: &Tx<'_>,
    agent: AgentId,
    until: Timestamp,
) -> Result<(), ServiceError> {
    if let Some(task) = tx.task_held_by(agent)? {
        tx.renew_lease(task, agent, until)?;
    }
    Ok(())
}

pub(super) fn require_agent(tx: &Tx<'_>, id: AgentId) -> Result<AgentRecord, ServiceError> {
    tx.agent(id)?.ok_or(ServiceError::AgentNotFound(id))
}

fn check_size(what: &str, len: usize, max: usize) -> Result<(), ServiceError> {
    if len > max {
        return Err(ServiceError::InvalidInput(format!(
            "{what} is {len} bytes; the limit is {max}"
        )));
    }
    Ok(())
}

/// What the human says of a task for them: the answer's first word (`approve`, `reject`,
/// `defer`, or a synonym), and what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict<'a> {
    Approve(Option<&'a str>),
    Reject(Option<&'a str>),
    Defer,
}

impl<'a> Verdict<'a> {
    fn read(answer: &'a str) -> Option<Verdict<'a>> {
        let answer = answer.trim();
        let (word, rest) = answer.split_once(char::is_whitespace).unwrap_or((answer, ""));
        let rest = rest.trim_start_matches([':', '-', ',']).trim();
        let rest = (!rest.is_empty()).then_some(rest);
        match word.trim_end_matches([':', ',', '.', '!']).to_ascii_lowercase().as_str() {
            "approve" | "approved" | "done" | "yes" | "ok" => Some(Verdict::Approve(rest)),
            "reject" | "rejected" | "no" => Some(Verdict::Reject(rest)),
            "defer" | "later" => Some(Verdict::Defer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict;

    #[test]
    fn a_verdict_is_its_first_word_and_what_follows() {
        assert_eq!(Verdict::read("approve"), Some(Verdict::Approve(None)));
        assert_eq!(
            Verdict::read("Approved: deployed at 3pm"),
            Some(Verdict::Approve(Some("deployed at 3pm")))
        );
        assert_eq!(
            Verdict::read("reject - the copy is wrong"),
            Some(Verdict::Reject(Some("the copy is wrong")))
        );
        assert_eq!(Verdict::read(" defer "), Some(Verdict::Defer));
        assert_eq!(Verdict::read("blue"), None);
        assert_eq!(Verdict::read("approvals are hard"), None);
    }
}
