//! Questions for the human, and messages for agents.

use serde_json::json;

use super::sql::{Row, args};
use super::{StoreError, Tx};
use crate::model::{AgentId, MessageId, QuestionId, QuestionStatus, TaskId, Timestamp};

/// A question row.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionRecord {
    pub id: QuestionId,
    pub agent: Option<AgentId>,
    pub task: Option<TaskId>,
    pub question: String,
    pub options: Vec<String>,
    pub status: QuestionStatus,
    pub answer: Option<String>,
    pub answered_by: Option<String>,
    pub asked_at: Timestamp,
    pub answered_at: Option<Timestamp>,
}

/// A message row.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    pub id: MessageId,
    pub agent: AgentId,
    pub sender: String,
    pub body: String,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

const QUESTION_COLUMNS: &str =
    "id, agent_id, task_id, question, options, status, answer, answered_by, asked_at, answered_at";

impl Tx<'_> {
    /// Stores a new open question.
    pub fn insert_question(
        &self,
        agent: Option<AgentId>,
        task: Option<TaskId>,
        question: &str,
        options: &[String],
        now: Timestamp,
    ) -> Result<QuestionId, StoreError> {
        let id = self.query_one(
            "INSERT INTO questions (agent_id, task_id, question, options, asked_at)
             VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
            args![
                agent.map(AgentId::get),
                task.map(TaskId::get),
                question,
                json!(options).to_string(),
                now.0
            ],
            |row| row.get(0).map(QuestionId),
        )?;
        self.append_event(
            now,
            "question.asked",
            task,
            agent,
            // The text too (clipped): whoever tells the human about it need not look it up.
            &json!({ "question": id.to_string(), "text": question.chars().take(300).collect::<String>() }),
        )?;
        Ok(id)
    }

    /// One question, or `None` if the id is unknown.
    pub fn question(&self, id: QuestionId) -> Result<Option<QuestionRecord>, StoreError> {
        let sql = format!("SELECT {QUESTION_COLUMNS} FROM questions WHERE id = ?1");
        self.query_opt(&sql, args![id.0], question_from_row)
    }

    /// The open question `agent` already asked with exactly this text, if any.
    pub fn open_question_like(
        &self,
        agent: AgentId,
        question: &str,
    ) -> Result<Option<QuestionRecord>, StoreError> {
        let sql = format!(
            "SELECT {QUESTION_COLUMNS} FROM questions WHERE agent_id = ?1 AND question = ?2 AND status = 'open' ORDER BY id LIMIT 1"
        );
        self.query_opt(&sql, args![agent.0, question], question_from_row)
    }

    /// The oldest answer to a question `agent` asked that it has not been given yet.
    pub fn undelivered_answer(&self, agent: AgentId) -> Result<Option<QuestionRecord>, StoreError> {
        let sql = format!(
            "SELECT {QUESTION_COLUMNS} FROM questions WHERE agent_id = ?1 AND status = 'answered'
             AND delivered_at IS NULL ORDER BY answered_at, id LIMIT 1"
        );
        self.query_opt(&sql, args![agent.0], question_from_row)
    }

    /// Records that the answer reached the agent (in its `ask_user` call or a resumed session).
    pub fn mark_answer_delivered(&self, id: QuestionId, now: Timestamp) -> Result<(), StoreError> {
        let changed = self.execute(
            "UPDATE questions SET delivered_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
            args![id.0, now.0],
        )?;
        if changed > 0 {
            self.append_event(
                now,
                "question.delivered",
                None,
                None,
                &json!({ "question": id.to_string() }),
            )?;
        }
        Ok(())
    }

    /// The question cw asked the human on behalf of a task for the human, if any.
    pub fn human_task_question(&self, task: TaskId) -> Result<Option<QuestionRecord>, StoreError> {
        let sql = format!(
            "SELECT {QUESTION_COLUMNS} FROM questions WHERE task_id = ?1 AND agent_id IS NULL
             ORDER BY id DESC LIMIT 1"
        );
        self.query_opt(&sql, args![task.0], question_from_row)
    }

    /// Open questions, oldest first.
    pub fn open_questions(&self) -> Result<Vec<QuestionRecord>, StoreError> {
        let sql = format!(
            "SELECT {QUESTION_COLUMNS} FROM questions WHERE status = 'open' ORDER BY asked_at, id"
        );
        self.query_all(&sql, args![], question_from_row)
    }

    /// Every question, open or not, oldest first.
    pub fn all_questions(&self) -> Result<Vec<QuestionRecord>, StoreError> {
        let sql = format!("SELECT {QUESTION_COLUMNS} FROM questions ORDER BY asked_at, id");
        self.query_all(&sql, args![], question_from_row)
    }

    /// How many questions are open.
    pub fn open_question_count(&self) -> Result<usize, StoreError> {
        let count: u64 = self.query_one(
            "SELECT count(*) FROM questions WHERE status = 'open'",
            args![],
            |row| row.get(0),
        )?;
        Ok(usize::try_from(count).unwrap_or(usize::MAX))
    }

    /// Records the answer to an open question; false if it was not open any more.
    pub fn answer_question(
        &self,
        id: QuestionId,
        answer: &str,
        by: &str,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let changed = self.execute("UPDATE questions SET status = 'answered', answer = ?2, answered_by = ?3, answered_at = ?4
                 WHERE id = ?1 AND status = 'open'", args![id.0, answer, by, now.0])?;
        if changed > 0 {
            self.append_event(
                now,
                "question.answered",
                None,
                None,
                &json!({ "question": id.to_string(), "by": by }),
            )?;
        }
        Ok(changed > 0)
    }

    /// Stores a message for an agent.
    pub fn insert_message(
        &self,
        agent: AgentId,
        sender: &str,
        body: &str,
        now: Timestamp,
    ) -> Result<MessageId, StoreError> {
        let inserted = self.insert_message_once(agent, sender, body, None, now)?;
        inserted.ok_or_else(|| StoreError::Corrupt {
            path: self.shown().to_owned(),
            cause: "a message without a key was not inserted".to_owned(),
        })
    }

    /// Stores a message unless one with `dedupe_key` exists (then `None`).
    pub fn insert_message_once(
        &self,
        agent: AgentId,
        sender: &str,
        body: &str,
        dedupe_key: Option<&str>,
        now: Timestamp,
    ) -> Result<Option<MessageId>, StoreError> {
        let inserted = self.query_opt(
            "INSERT INTO messages (agent_id, sender, body, created_at, dedupe_key)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING RETURNING id",
            args![agent.0, sender, body, now.0, dedupe_key],
            |row| row.get(0).map(MessageId),
        )?;
        let Some(id) = inserted else { return Ok(None) };
        self.append_event(
            now,
            "message.sent",
            None,
            Some(agent),
            &json!({ "message": id.to_string(), "sender": sender }),
        )?;
        Ok(Some(id))
    }

    /// Every message to `agent`, oldest first.
    pub fn messages_for(&self, agent: AgentId) -> Result<Vec<MessageRecord>, StoreError> {
        self.query_all(
            "SELECT id, agent_id, sender, body, created_at, read_at FROM messages
                 WHERE agent_id = ?1 ORDER BY id",
            args![agent.0],
            message_from_row,
        )
    }

    /// When the newest unread message for `agent` was sent, if it has any.
    pub fn newest_unread_message_at(
        &self,
        agent: AgentId,
    ) -> Result<Option<Timestamp>, StoreError> {
        let at: Option<i64> = self.query_one(
            "SELECT max(created_at) FROM messages WHERE agent_id = ?1 AND read_at IS NULL",
            args![agent.0],
            |row| row.get(0),
        )?;
        Ok(at.map(Timestamp))
    }

    /// Unread messages for `agent`, marked read in the same transaction.
    pub fn take_unread_messages(
        &self,
        agent: AgentId,
        now: Timestamp,
    ) -> Result<Vec<MessageRecord>, StoreError> {
        let mut messages = self.query_all(
            "UPDATE messages SET read_at = ?2 WHERE agent_id = ?1 AND read_at IS NULL
             RETURNING id, agent_id, sender, body, created_at, read_at",
            args![agent.0, now.0],
            message_from_row,
        )?;
        messages.sort_by_key(|m| m.id);
        if !messages.is_empty() {
            self.append_event(
                now,
                "message.read",
                None,
                Some(agent),
                &json!({ "count": messages.len() }),
            )?;
        }
        Ok(messages)
    }
}

fn question_from_row(r: &Row<'_>) -> Result<QuestionRecord, String> {
    let options: String = r.get(4)?;
    Ok(QuestionRecord {
        id: QuestionId(r.get(0)?),
        agent: r.get::<Option<i64>>(1)?.map(AgentId),
        task: r.get::<Option<i64>>(2)?.map(TaskId),
        question: r.get(3)?,
        options: serde_json::from_str(&options).unwrap_or_default(),
        status: r
            .get::<String>(5)?
            .parse()
            .map_err(|cause: String| format!("column 5: {cause}"))?,
        answer: r.get(6)?,
        answered_by: r.get(7)?,
        asked_at: Timestamp(r.get(8)?),
        answered_at: r.get::<Option<i64>>(9)?.map(Timestamp),
    })
}

fn message_from_row(r: &Row<'_>) -> Result<MessageRecord, String> {
    Ok(MessageRecord {
        id: MessageId(r.get(0)?),
        agent: AgentId(r.get(1)?),
        sender: r.get(2)?,
        body: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
        read_at: r.get::<Option<i64>>(5)?.map(Timestamp),
    })
}
