//! The stdio transport: one JSON-RPC message per line, and an answer to every line a client
//! waits on. rmcp's own line transport drops a line that is not JSON, is too long or does not
//! fit its types, so a client that sent one waits forever; here each gets a JSON-RPC error
//! (`-32700` parse error, `-32602` invalid params, `-32600` before the handshake) with the
//! request's id whenever one can be read.
//!
//! Every write goes through one writer task, so an error answer written while rmcp's service
//! loop cancels a pending `receive` can never cut a message in half.

use std::io;
use std::sync::LazyLock;

use regex::Regex;
use rmcp::RoleServer;
use rmcp::model::CallToolRequestParams;
use rmcp::service::{RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{mpsc, oneshot};

/// The longest message accepted: as rmcp's own transports (the streamable HTTP client's SSE
/// event limit), so what is fine over HTTP is fine here.
pub(super) const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// A line to write, and who waits to hear it was written.
type Outgoing = (Vec<u8>, Option<oneshot::Sender<io::Result<()>>>);

/// JSON-RPC over newline-delimited stdio.
pub(super) struct LineTransport<R> {
    read: BufReader<R>,
    line: Vec<u8>,
    /// Dropping the tail of a line already answered as too long.
    discarding: bool,
    /// The handshake (or a request with inline protocol metadata) has been passed on.
    initialized: bool,
    out: Option<mpsc::UnboundedSender<Outgoing>>,
    writer: Option<tokio::task::JoinHandle<()>>,
}

impl<R: AsyncRead + Send + Unpin + 'static> LineTransport<R> {
    /// Reads from `read`, writes to `write`; must run inside a tokio runtime.
    pub(super) fn new(read: R, write: impl AsyncWrite + Send + Unpin + 'static) -> Self {
        let (out, queue) = mpsc::unbounded_channel();
        LineTransport {
            read: BufReader::new(read),
            line: Vec::new(),
            discarding: false,
            initialized: false,
            out: Some(out),
            writer: Some(tokio::spawn(write_lines(write, queue))),
        }
    }

    fn answer(&self, reply: &Value) {
        let mut bytes = reply.to_string().into_bytes();
        bytes.push(b'\n');
        if let Some(out) = &self.out {
            let _ = out.send((bytes, None));
        }
    }

    /// One whole line into `self.line`, never longer than `MAX_LINE_BYTES`. Cancel-safe: the
    /// copy and the matching `consume` happen with no await between them.
    async fn read_line(&mut self) -> Read {
        loop {
            let (consumed, step) = {
                let available = match self.read.fill_buf().await {
                    Ok(available) => available,
                    Err(err) => return Read::Failed(err),
                };
                if available.is_empty() {
                    return Read::End;
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |at| at + 1);
                let step = if self.discarding {
                    if newline.is_some() { Step::EndOfDiscard } else { Step::More }
                } else if self.line.len() + take > MAX_LINE_BYTES {
                    self.line.clear();
                    if newline.is_some() { Step::TooLong } else { Step::TooLongDiscarding }
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    if newline.is_some() { Step::Line } else { Step::More }
                };
                (take, step)
            };
            self.read.consume(consumed);
            match step {
                Step::Line => return Read::Line,
                Step::More => {}
                Step::EndOfDiscard => self.discarding = false,
                Step::TooLong => return Read::TooLong,
                Step::TooLongDiscarding => {
                    self.discarding = true;
                    return Read::TooLong;
                }
            }
        }
    }
}

enum Read {
    Line,
    TooLong,
    End,
    Failed(io::Error),
}

enum Step {
    Line,
    More,
    EndOfDiscard,
    TooLong,
    TooLongDiscarding,
}

async fn write_lines(
    mut write: impl AsyncWrite + Send + Unpin,
    mut queue: mpsc::UnboundedReceiver<Outgoing>,
) {
    while let Some((bytes, done)) = queue.recv().await {
        let written = async {
            write.write_all(&bytes).await?;
            write.flush().await
        }
        .await;
        let failed = written.is_err();
        if let Some(done) = done {
            let _ = done.send(written);
        }
        if failed {
            return;
        }
    }
}

impl<R: AsyncRead + Send + Unpin + 'static> Transport<RoleServer> for LineTransport<R> {
    type Error = io::Error;

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleServer>,
    ) -> impl Future<Output = Result<(), io::Error>> + Send + 'static {
        let (done, written) = oneshot::channel();
        let queued = serde_json::to_vec(&item).map_err(io::Error::other).and_then(|mut bytes| {
            bytes.push(b'\n');
            let out = self.out.as_ref().ok_or_else(closed)?;
            out.send((bytes, Some(done))).map_err(|_| closed())
        });
        async move {
            queued?;
            written.await.unwrap_or_else(|_| Err(closed()))
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleServer>> {
        loop {
            match self.read_line().await {
                Read::Line => {}
                Read::TooLong => {
                    let message = format!(
                        "Parse error: the message is longer than {MAX_LINE_BYTES} bytes; nothing of it was read"
                    );
                    self.answer(&error_reply(Value::Null, -32700, &message));
                    continue;
                }
                Read::End => return None,
                Read::Failed(err) => {
                    tracing::error!(cause = %err, "cannot read stdin");
                    return None;
                }
            }
            let screened = screen(&self.line, self.initialized);
            self.line.clear();
            match screened {
                Screened::Accept { message, opens_session } => {
                    self.initialized |= opens_session;
                    return Some(*message);
                }
                Screened::Answer(reply) => self.answer(&reply),
                Screened::Ignore => {}
            }
        }
    }

    async fn close(&mut self) -> Result<(), io::Error> {
        drop(self.out.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.await;
        }
        Ok(())
    }
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "the stdio transport is closed")
}

/// What one line is.
#[derive(Debug)]
pub(super) enum Screened {
    /// A message for the server; `opens_session` if it is the handshake (or carries the
    /// protocol metadata that makes one unnecessary).
    Accept { message: Box<RxJsonRpcMessage<RoleServer>>, opens_session: bool },
    /// Not acceptable: this error answer goes back to the client.
    Answer(Value),
    /// Nothing to do (a blank line, a notification nobody answers).
    Ignore,
}

/// Methods a client may send before the handshake.
const BEFORE_HANDSHAKE: [&str; 3] = ["initialize", "ping", "server/discover"];
/// The request metadata that lets a client skip the handshake (MCP 2026-07-28).
const INLINE_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";

/// Decides what a line is; pure, so every case is a unit test.
pub(super) fn screen(raw: &[u8], initialized: bool) -> Screened {
    let line = raw.strip_suffix(b"\n").unwrap_or(raw);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Screened::Ignore;
    }
    let value: Value = match serde_json::from_slice(line) {
        Ok(value) => value,
        Err(err) => {
            let message = format!("Parse error: {err} (send one JSON-RPC message per line)");
            return Screened::Answer(error_reply(id_in_raw(line), -32700, &message));
        }
    };
    let id = value.get("id").cloned();
    let method = value.get("method").and_then(Value::as_str).unwrap_or_default().to_owned();
    if !initialized
        && id.is_some()
        && !method.is_empty()
        && !BEFORE_HANDSHAKE.contains(&method.as_str())
        && value.pointer("/params/_meta").and_then(|m| m.get(INLINE_PROTOCOL_VERSION)).is_none()
    {
        let message = format!(
            "cw mcp has not been initialised: send `initialize` first (the MCP handshake), then `{method}`"
        );
        return Screened::Answer(error_reply(id.unwrap_or_default(), -32600, &message));
    }
    // rmcp reads a request it cannot type as a custom one and answers "method not found";
    // a tools/call whose params are missing or ill-typed is invalid params.
    if let Some(id) = &id
        && method == "tools/call"
        && let Err(err) = serde_json::from_value::<CallToolRequestParams>(
            value.get("params").cloned().unwrap_or_default(),
        )
    {
        let message = format!(
            "Invalid params for tools/call: {err}; expected {{\"name\": <tool name>, \"arguments\": {{…}}}}"
        );
        return Screened::Answer(error_reply(id.clone(), -32602, &message));
    }
    match serde_json::from_value::<RxJsonRpcMessage<RoleServer>>(value.clone()) {
        Ok(message) => {
            let opens_session = method == "initialize"
                || value
                    .pointer("/params/_meta")
                    .and_then(|m| m.get(INLINE_PROTOCOL_VERSION))
                    .is_some();
            Screened::Accept { message: Box::new(message), opens_session }
        }
        // A notification gets no answer, even a wrong one.
        Err(_) if id.is_none() => Screened::Ignore,
        Err(err) => {
            let id = id.unwrap_or_default();
            let reply = if method.is_empty() {
                error_reply(id, -32600, &format!("Invalid request: {err}"))
            } else {
                error_reply(id, -32602, &format!("Invalid params for {method}: {err}"))
            };
            Screened::Answer(reply)
        }
    }
}

fn error_reply(id: Value, code: i64, message: &str) -> Value {
    let mut reply = json!({ "jsonrpc": "2.0", "error": { "code": code, "message": message } });
    reply["id"] = id;
    reply
}

/// The request id of a line that is not valid JSON, when it can still be read (`"id": 7`).
fn id_in_raw(line: &[u8]) -> Value {
    static ID: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#""id"\s*:\s*(-?[0-9]+|"(?:[^"\\]|\\.)*")"#).expect("invariant: a valid regex")
    });
    let text = String::from_utf8_lossy(line);
    ID.captures(&text).and_then(|caps| serde_json::from_str(&caps[1]).ok()).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn answer(line: &str, initialized: bool) -> Value {
        match screen(line.as_bytes(), initialized) {
            Screened::Answer(reply) => reply,
            other => panic!("{line}: expected an error answer, got {other:?}"),
        }
    }

    #[test]
    fn a_line_that_is_not_json_gets_a_parse_error_with_its_id_when_readable() {
        let reply = answer(r#"{"jsonrpc":"2.0","id":7,"method":"tools/list""#, true);
        assert_eq!(
            (reply["id"].clone(), reply["error"]["code"].clone()),
            (json!(7), json!(-32700))
        );
        let reply =
            answer(r#"{"jsonrpc":"2.0","id":"a-1","method":"x","params":{"s":"\ud800"}}"#, true);
        assert_eq!(reply["id"], "a-1");
        assert_eq!(reply["error"]["code"], -32700);
        assert!(reply["error"]["message"].as_str().unwrap().contains("hex escape"), "{reply}");
        let reply = answer("garbage", true);
        assert_eq!(
            (reply["id"].clone(), reply["error"]["code"].clone()),
            (Value::Null, json!(-32700))
        );
    }

    #[test]
    fn a_tools_call_with_missing_or_ill_typed_params_gets_invalid_params() {
        for params in ["", r#","params":{}"#, r#","params":{"name":5}"#, r#","params":[1]"#] {
            let line = format!(r#"{{"jsonrpc":"2.0","id":3,"method":"tools/call"{params}}}"#);
            let reply = answer(&line, true);
            assert_eq!(reply["error"]["code"], -32602, "{line}: {reply}");
            assert_eq!(reply["id"], 3);
        }
    }

    #[test]
    fn a_request_before_the_handshake_is_told_so_in_one_sentence() {
        let reply = answer(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#, false);
        assert_eq!(reply["error"]["code"], -32600);
        assert!(
            reply["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("cw mcp has not been initialised: send `initialize` first")
        );
        let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
        assert!(matches!(
            screen(init.as_bytes(), false),
            Screened::Accept { opens_session: true, .. }
        ));
        let ping = r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#;
        assert!(matches!(
            screen(ping.as_bytes(), false),
            Screened::Accept { opens_session: false, .. }
        ));
    }

    #[test]
    fn blank_lines_and_unknown_notifications_are_ignored() {
        assert!(matches!(screen(b"\r\n", true), Screened::Ignore));
        let note = r#"{"jsonrpc":"2.0","method":"notifications/initialized","params":5}"#;
        assert!(matches!(screen(note.as_bytes(), true), Screened::Ignore));
    }

    /// Bounded fuzzing (part of `cargo test`; `CW_FUZZ_CASES` runs longer): no line makes
    /// `screen` panic, every answer is a JSON-RPC error, and a request — anything with an id and
    /// a method — is never left unanswered, whatever its params.
    mod fuzz {
        use proptest::prelude::*;
        use serde_json::{Value, json};

        use super::super::{Screened, screen};

        fn json_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(|f| json!(f)),
                ".{0,12}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 6, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    proptest::collection::btree_map(
                        prop_oneof![
                            Just("name".to_owned()),
                            Just("arguments".to_owned()),
                            Just("_meta".to_owned()),
                            ".{0,6}"
                        ],
                        inner,
                        0..6
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn method() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(vec![
                    "initialize",
                    "ping",
                    "server/discover",
                    "tools/list",
                    "tools/call",
                    "resources/list",
                    "prompts/get",
                    "completion/complete",
                    "logging/setLevel",
                    "notifications/cancelled",
                ])
                .prop_map(str::to_owned),
                ".{1,16}",
            ]
        }

        fn id() -> impl Strategy<Value = Value> {
            prop_oneof![any::<i64>().prop_map(Value::from), ".{0,10}".prop_map(Value::String)]
        }

        fn assert_error(reply: &Value) -> Result<(), TestCaseError> {
            prop_assert_eq!(&reply["jsonrpc"], "2.0");
            let code = reply["error"]["code"].as_i64().unwrap_or_default();
            prop_assert!([-32700, -32600, -32602].contains(&code), "code {}", code);
            prop_assert!(reply["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
            Ok(())
        }

        proptest! {
            #![proptest_config(crate::planning::fuzz_config(1))]

            #[test]
            fn any_bytes_get_an_error_answer_or_are_accepted(
                bytes in proptest::collection::vec(any::<u8>(), 0..300),
                initialized in any::<bool>(),
            ) {
                if let Screened::Answer(reply) = screen(&bytes, initialized) {
                    assert_error(&reply)?;
                }
            }

            #[test]
            fn a_request_is_always_answered_with_its_own_id(
                id in id(),
                method in method(),
                params in proptest::option::of(json_value()),
                initialized in any::<bool>(),
                cut in proptest::option::of(1usize..200),
            ) {
                let mut request = json!({ "jsonrpc": "2.0", "id": id, "method": method });
                if let Some(params) = params {
                    request["params"] = params;
                }
                let mut line = serde_json::to_vec(&request).unwrap();
                // A request cut short is not JSON any more: still answered, with its id when
                // the id came before the cut.
                if let Some(cut) = cut.filter(|c| *c < line.len()) {
                    line.truncate(cut);
                }
                match screen(&line, initialized) {
                    Screened::Ignore => prop_assert!(false, "a request went unanswered"),
                    Screened::Accept { .. } => prop_assert!(cut.is_none_or(|c| c >= line.len())),
                    Screened::Answer(reply) => {
                        assert_error(&reply)?;
                        if reply["error"]["code"] != -32700 {
                            prop_assert_eq!(&reply["id"], &id);
                        }
                    }
                }
            }
        }
    }
}
