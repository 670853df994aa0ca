//! Claude Code's stream-json output: parsing lines, tailing the log as it grows, summing up a run,
//! and rendering it for `cw agent logs`.
//!
//! Facts this relies on (../shared/claude-code.md): one `assistant` event per content block (blocks
//! of one message share `message.id`); `result` is not always the last line; `subtype: "success"`
//! does not mean success — `is_error`, `api_error_status` and `terminal_reason` do.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One thing that happened in a session.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The session started (or resumed).
    Init { session_id: String, model: String, mcp_failed: Vec<String> },
    /// Assistant text.
    Text { message_id: String, text: String },
    /// The model called a tool.
    ToolUse { message_id: String, id: String, name: String, input: Value },
    /// A tool answered.
    ToolResult { id: String, is_error: bool, text: String },
    /// An API call is being retried.
    ApiRetry { attempt: u64, error: String },
    /// The turn ended.
    Result(TurnResult),
    /// A line cw does not need (subagent progress, prompt suggestions, …).
    Other { kind: String },
    /// A line that is not JSON (or was cut off when the process died).
    Malformed { line: u64, error: String },
}

/// The `result` event of a turn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TurnResult {
    pub session_id: String,
    pub is_error: bool,
    pub subtype: String,
    pub terminal_reason: Option<String>,
    pub api_error_status: Option<i64>,
    pub text: String,
    pub cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub num_turns: i64,
}

impl TurnResult {
    /// Why the turn failed, if it did, in one line.
    pub fn failure(&self) -> Option<String> {
        if !self.is_error && self.api_error_status.is_none() {
            return None;
        }
        let mut why = self.text.lines().next().unwrap_or("").trim().to_owned();
        if why.is_empty() {
            why = self.terminal_reason.clone().unwrap_or_else(|| self.subtype.clone());
        }
        Some(why)
    }
}

/// Parses one line of stream-json into the events it holds.
pub fn parse_line(line: &str, line_no: u64) -> Vec<StreamEvent> {
    let value: Value = match serde_json::from_str(line) {
        Ok(value) => value,
        Err(err) => return vec![StreamEvent::Malformed { line: line_no, error: err.to_string() }],
    };
    let kind = value["type"].as_str().unwrap_or("").to_owned();
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    match (kind.as_str(), value["subtype"].as_str()) {
        ("system", Some("init")) => vec![StreamEvent::Init {
            session_id: text(&value["session_id"]),
            model: text(&value["model"]),
            mcp_failed: value["mcp_servers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|s| s["status"].as_str() == Some("failed"))
                .map(|s| text(&s["name"]))
                .collect(),
        }],
        ("system", Some("api_retry")) => vec![StreamEvent::ApiRetry {
            attempt: value["attempt"].as_u64().unwrap_or(0),
            error: value["error"]
                .as_str()
                .map_or_else(|| value["error_status"].to_string(), str::to_owned),
        }],
        ("assistant", _) => {
            let message_id = text(&value["message"]["id"]);
            blocks(&value["message"]["content"])
                .filter_map(|block| match block["type"].as_str() {
                    Some("text") => Some(StreamEvent::Text {
                        message_id: message_id.clone(),
                        text: text(&block["text"]),
                    }),
                    Some("tool_use") => Some(StreamEvent::ToolUse {
                        message_id: message_id.clone(),
                        id: text(&block["id"]),
                        name: text(&block["name"]),
                        input: block["input"].clone(),
                    }),
                    _ => None,
                })
                .collect()
        }
        ("user", _) => blocks(&value["message"]["content"])
            .filter(|block| block["type"].as_str() == Some("tool_result"))
            .map(|block| StreamEvent::ToolResult {
                id: text(&block["tool_use_id"]),
                is_error: block["is_error"].as_bool().unwrap_or(false),
                text: content_text(&block["content"]),
            })
            .collect(),
        ("result", _) => vec![StreamEvent::Result(TurnResult {
            session_id: text(&value["session_id"]),
            is_error: value["is_error"].as_bool().unwrap_or(false),
            subtype: text(&value["subtype"]),
            terminal_reason: value["terminal_reason"].as_str().map(str::to_owned),
            api_error_status: value["api_error_status"].as_i64(),
            text: match &value["result"] {
                Value::String(s) => s.clone(),
                Value::Null => value["errors"]
                    .as_array()
                    .map(|e| e.iter().map(text).collect::<Vec<_>>().join("; "))
                    .unwrap_or_default(),
                other => other.to_string(),
            },
            cost_usd: value["total_cost_usd"].as_f64().unwrap_or(0.0),
            input_tokens: value["usage"]["input_tokens"].as_i64().unwrap_or(0),
            output_tokens: value["usage"]["output_tokens"].as_i64().unwrap_or(0),
            num_turns: value["num_turns"].as_i64().unwrap_or(0),
        })],
        _ => vec![StreamEvent::Other { kind }],
    }
}

fn blocks(content: &Value) -> impl Iterator<Item = &Value> {
    content.as_array().into_iter().flatten()
}

fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            parts.iter().filter_map(|p| p["text"].as_str()).collect::<Vec<_>>().join("\n")
        }
        other => other.to_string(),
    }
}

/// Reads a growing stream log from where it left off. Only complete lines are parsed; a partial
/// last line waits for its newline (or, once the writer is gone, is reported as cut off).
#[derive(Debug)]
pub struct StreamTail {
    path: PathBuf,
    /// Kept open between polls: `cw run` polls every agent's log hundreds of times a second,
    /// and opening the path each time costs a path walk.
    file: Option<std::fs::File>,
    offset: u64,
    partial: Vec<u8>,
    line_no: u64,
}

impl StreamTail {
    /// Tails `path` from its start.
    pub fn new(path: &Path) -> StreamTail {
        StreamTail { path: path.to_owned(), file: None, offset: 0, partial: Vec::new(), line_no: 0 }
    }

    /// Tails `path` from its current end (for a resumed session whose earlier lines were seen).
    pub fn from_end(path: &Path) -> StreamTail {
        let offset = fs_err::metadata(path).map(|m| m.len()).unwrap_or(0);
        StreamTail { path: path.to_owned(), file: None, offset, partial: Vec::new(), line_no: 0 }
    }

    /// The events in lines completed since the last call. A missing file is "nothing yet".
    pub fn poll(&mut self) -> std::io::Result<Vec<StreamEvent>> {
        if self.file.is_none() {
            match fs_err::File::open(&self.path) {
                Ok(file) => self.file = Some(file.into_parts().0),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(err) => return Err(err),
            }
        }
        let Some(file) = self.file.as_mut() else { return Ok(Vec::new()) };
        let metadata = file.metadata()?;
        if !metadata.is_file() {
            // A device or pipe in place of the log (e.g. /dev/full) has no lines to give.
            return Ok(Vec::new());
        }
        let len = metadata.len();
        if len < self.offset {
            // Truncated: start over rather than read garbage.
            self.offset = 0;
            self.partial.clear();
        }
        file.seek(SeekFrom::Start(self.offset))?;
        let mut bytes = Vec::new();
        // Only up to the length seen: a file still being written is read on the next call.
        file.take(len - self.offset).read_to_end(&mut bytes)?;
        self.offset += bytes.len() as u64;
        self.partial.extend_from_slice(&bytes);
        let mut events = Vec::new();
        while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.line_no += 1;
            let line = String::from_utf8_lossy(&line);
            if !line.trim().is_empty() {
                events.extend(parse_line(line.trim(), self.line_no));
            }
        }
        Ok(events)
    }

    /// Called once the writer is gone: a leftover partial line was cut off.
    pub fn finish(&mut self) -> std::io::Result<Vec<StreamEvent>> {
        let mut events = self.poll()?;
        if !self.partial.is_empty() {
            self.line_no += 1;
            let line = String::from_utf8_lossy(&self.partial).trim().to_owned();
            self.partial.clear();
            events.extend(match parse_line(&line, self.line_no) {
                parsed if parsed.iter().any(|e| matches!(e, StreamEvent::Malformed { .. })) => {
                    vec![StreamEvent::Malformed {
                        line: self.line_no,
                        error: "the line was cut off (the process ended mid-line)".to_owned(),
                    }]
                }
                parsed => parsed,
            });
        }
        Ok(events)
    }
}

/// What a run amounts to so far: the session, the last thing it did, its results.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunSummary {
    pub session_id: Option<String>,
    pub last_action: Option<String>,
    pub tool_calls: u64,
    pub malformed_lines: u64,
    pub mcp_failed: Vec<String>,
    pub result: Option<TurnResult>,
}

impl RunSummary {
    /// Folds an event in.
    pub fn add(&mut self, event: &StreamEvent) {
        match event {
            StreamEvent::Init { session_id, mcp_failed, .. } => {
                // A new run of the session starts: earlier results are not this run's.
                self.session_id = Some(session_id.clone());
                self.mcp_failed.clone_from(mcp_failed);
                self.result = None;
            }
            StreamEvent::ToolUse { name, .. } => {
                self.tool_calls += 1;
                self.last_action = Some(format!("called {}", short_tool(name)));
            }
            StreamEvent::Text { text, .. } => {
                let line = text.lines().next().unwrap_or("").trim();
                if !line.is_empty() {
                    self.last_action = Some(truncate(line, 80));
                }
            }
            StreamEvent::Result(result) => {
                if !result.session_id.is_empty() {
                    self.session_id = Some(result.session_id.clone());
                }
                self.result = Some(result.clone());
            }
            StreamEvent::Malformed { .. } => self.malformed_lines += 1,
            StreamEvent::ApiRetry { .. }
            | StreamEvent::ToolResult { .. }
            | StreamEvent::Other { .. } => {}
        }
    }
}

/// `mcp__cw__claim_task` → `claim_task`.
pub fn short_tool(name: &str) -> &str {
    name.strip_prefix("mcp__cw__").unwrap_or(name)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// One readable line per event for `cw agent logs` (`None` for events not worth showing).
pub fn render(event: &StreamEvent) -> Option<String> {
    Some(match event {
        StreamEvent::Init { session_id, model, mcp_failed } => {
            let mut line = format!("── session {session_id} ({model})");
            if !mcp_failed.is_empty() {
                line.push_str(&format!(" — MCP servers failed: {}", mcp_failed.join(", ")));
            }
            line
        }
        StreamEvent::Text { text, .. } => format!("  {}", text.trim().replace('\n', "\n  ")),
        StreamEvent::ToolUse { name, input, .. } => {
            format!("→ {}({})", short_tool(name), truncate(&input.to_string(), 200))
        }
        StreamEvent::ToolResult { is_error, text, .. } => {
            let mark = if *is_error { "✗" } else { "←" };
            format!("{mark} {}", truncate(text.lines().next().unwrap_or(""), 200))
        }
        StreamEvent::ApiRetry { attempt, error } => format!("! API retry {attempt}: {error}"),
        StreamEvent::Result(result) => {
            let outcome = match result.failure() {
                Some(why) => format!("failed: {why}"),
                None => "done".to_owned(),
            };
            format!(
                "══ turn {outcome} ({} turns, ${:.4}, {} in / {} out tokens)",
                result.num_turns, result.cost_usd, result.input_tokens, result.output_tokens
            )
        }
        StreamEvent::Malformed { line, error } => format!("! line {line} unreadable: {error}"),
        StreamEvent::Other { .. } => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_api_error_reported_as_success_is_a_failure() {
        let line = r#"{"type":"result","subtype":"success","is_error":true,"api_error_status":529,"terminal_reason":"api_error","result":"API Error: 529 Overloaded. x","session_id":"s1","total_cost_usd":0.5}"#;
        let [StreamEvent::Result(result)] =
            <[StreamEvent; 1]>::try_from(parse_line(line, 1)).unwrap()
        else {
            panic!("one result")
        };
        assert_eq!(result.failure().as_deref(), Some("API Error: 529 Overloaded. x"));
        assert_eq!(result.api_error_status, Some(529));
        let ok = r#"{"type":"result","subtype":"success","is_error":false,"result":"fine","session_id":"s1"}"#;
        let [StreamEvent::Result(result)] =
            <[StreamEvent; 1]>::try_from(parse_line(ok, 1)).unwrap()
        else {
            panic!("one result")
        };
        assert_eq!(result.failure(), None);
        let turns = r#"{"type":"result","subtype":"error_max_turns","is_error":true,"terminal_reason":"max_turns","errors":["Reached maximum number of turns (1)"]}"#;
        let [StreamEvent::Result(result)] =
            <[StreamEvent; 1]>::try_from(parse_line(turns, 1)).unwrap()
        else {
            panic!("one result")
        };
        assert_eq!(result.failure().as_deref(), Some("Reached maximum number of turns (1)"));
    }

    #[test]
    fn assistant_blocks_keep_their_message_id() {
        let line = r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"text","text":"hi"},{"type":"tool_use","id":"u1","name":"mcp__cw__claim_task","input":{}}]}}"#;
        let events = parse_line(line, 3);
        assert_eq!(events.len(), 2);
        assert!(
            matches!(&events[1], StreamEvent::ToolUse { message_id, name, .. } if message_id == "m1" && name == "mcp__cw__claim_task")
        );
    }

    #[test]
    fn bad_and_cut_lines_are_reported_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.jsonl");
        fs_err::write(&path, "not json\n{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n{\"type\":\"res").unwrap();
        let mut tail = StreamTail::new(&path);
        let events = tail.poll().unwrap();
        assert!(matches!(events[0], StreamEvent::Malformed { line: 1, .. }));
        assert!(matches!(&events[1], StreamEvent::Init { session_id, .. } if session_id == "s"));
        assert_eq!(events.len(), 2, "the partial line waits for its newline");
        let events = tail.finish().unwrap();
        assert!(
            matches!(&events[..], [StreamEvent::Malformed { line: 3, error }] if error.contains("cut off")),
            "{events:?}"
        );
    }

    #[test]
    fn a_tail_follows_appends_and_starts_over_after_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stream.jsonl");
        let mut tail = StreamTail::new(&path);
        assert!(tail.poll().unwrap().is_empty(), "no file yet is nothing yet");
        let init = |id: &str| {
            format!("{{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"{id}\"}}\n")
        };
        fs_err::write(&path, init("s1")).unwrap();
        assert_eq!(tail.poll().unwrap().len(), 1);
        let mut file = fs_err::OpenOptions::new().append(true).open(&path).unwrap();
        std::io::Write::write_all(&mut file, init("s2").as_bytes()).unwrap();
        let events = tail.poll().unwrap();
        assert!(
            matches!(&events[..], [StreamEvent::Init { session_id, .. }] if session_id == "s2")
        );
        assert!(tail.poll().unwrap().is_empty(), "nothing new, nothing read");
        // Truncated and rewritten shorter: read from the start again.
        fs_err::write(&path, init("s3")).unwrap();
        let events = tail.poll().unwrap();
        assert!(
            matches!(&events[..], [StreamEvent::Init { session_id, .. }] if session_id == "s3")
        );
    }
}
