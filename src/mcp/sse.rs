//! The legacy HTTP+SSE transport (MCP 2024-11-05) beside streamable HTTP: `GET /sse` opens a
//! session's event stream and names its `endpoint`, `POST /messages?sessionId=…` carries the
//! client's messages, and every answer and notification comes back on the stream.
//!
//! rmcp 3.9 has no SSE server, so this is a thin transport under the same `CwServer` (no second
//! tool implementation): each session is one rmcp service over a pair of channels. Tokens, body
//! limits and the JSON-RPC check are the HTTP server's own layers; the Host and Origin checks
//! against DNS rebinding are the same rules rmcp applies to `/mcp`. A session belongs to the
//! token that opened it: a POST with another token is refused even with the right session id.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use rmcp::model::{ClientJsonRpcMessage, GetExtensions, ServerJsonRpcMessage};
use rmcp::service::{RoleServer, ServiceExt};
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use super::CwServer;
use super::http::{MAX_REQUEST_BYTES, TokenKey};

/// Open SSE sessions at once; each holds a task and two small queues. Editors open one or two.
const MAX_SESSIONS: usize = 64;
/// Messages queued per direction before a sender waits.
const QUEUE: usize = 32;

/// The SSE sessions of one HTTP server.
pub(super) struct SseSessions {
    server: CwServer,
    /// Cancelled at shutdown: every session's service ends and its stream closes.
    transport: CancellationToken,
    open: Mutex<HashMap<String, Session>>,
}

struct Session {
    to_server: mpsc::Sender<ClientJsonRpcMessage>,
    /// The hash of the token that opened the session.
    owner: TokenKey,
}

/// The `/sse` and `/messages` routes, with the Host and Origin checks for `port`.
pub(super) fn routes(server: CwServer, port: u16, transport: CancellationToken) -> axum::Router {
    let sessions = Arc::new(SseSessions { server, transport, open: Mutex::new(HashMap::new()) });
    axum::Router::new()
        .route("/sse", axum::routing::get(open_stream))
        .route("/messages", axum::routing::post(deliver))
        .with_state(sessions)
        .route_layer(axum::middleware::from_fn_with_state(port, crate::loopback::only_loopback))
}

impl SseSessions {
    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `GET /sse`: a new session, its service started, its stream returned with the `endpoint`
/// event first.
async fn open_stream(State(sse): State<Arc<SseSessions>>, request: Request) -> Response {
    let Some(owner) = request.extensions().get::<TokenKey>().cloned() else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let id = match session_id() {
        Ok(id) => id,
        Err(err) => {
            tracing::error!(cause = %err, "no randomness for an SSE session id");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let (to_server, from_client) = mpsc::channel(QUEUE);
    let (to_client, from_server) = mpsc::channel(QUEUE);
    {
        let mut open = sse.sessions();
        if open.len() >= MAX_SESSIONS {
            let message = format!(
                "cw: {MAX_SESSIONS} SSE sessions are open already; close one, or use streamable HTTP at /mcp\n"
            );
            return (StatusCode::SERVICE_UNAVAILABLE, message).into_response();
        }
        open.insert(id.clone(), Session { to_server, owner });
    }
    let cancel = sse.transport.child_token();
    let transport = ChannelTransport { to_client, from_client };
    let server = sse.server.clone();
    let (sessions, session) = (Arc::clone(&sse), id.clone());
    let serving = cancel.clone();
    tokio::spawn(async move {
        match server.serve_with_ct(transport, serving).await {
            Ok(running) => {
                let _ = running.waiting().await;
            }
            Err(err) => tracing::debug!(cause = %err, "an SSE session ended before it began"),
        }
        sessions.sessions().remove(&session);
    });
    // The client hanging up drops the stream, and with it this guard: the session ends.
    let guard = SessionGuard { sessions: Arc::clone(&sse), id: id.clone(), cancel };
    let endpoint = Event::default().event("endpoint").data(format!("/messages?sessionId={id}"));
    let messages = ReceiverStream::new(from_server).map(move |message| {
        let _ = &guard;
        let data = serde_json::to_string(&message).unwrap_or_default();
        Ok::<_, std::convert::Infallible>(Event::default().event("message").data(data))
    });
    let stream = tokio_stream::once(Ok(endpoint)).chain(messages);
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// `POST /messages?sessionId=…`: one client message into its session; accepted with 202, the
/// answer goes out on the stream.
async fn deliver(State(sse): State<Arc<SseSessions>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Some(id) = query_session_id(parts.uri.query()).map(str::to_owned) else {
        let message =
            "cw: POST /messages needs ?sessionId=… as the endpoint event of GET /sse names it\n";
        return (StatusCode::BAD_REQUEST, message).into_response();
    };
    let session = sse.sessions().get(&id).map(|s| (s.to_server.clone(), s.owner.clone()));
    let Some((to_server, owner)) = session else {
        return gone(&id);
    };
    if parts.extensions.get::<TokenKey>() != Some(&owner) {
        let message =
            "cw: this SSE session was opened with another token; open your own with GET /sse\n";
        return (StatusCode::FORBIDDEN, message).into_response();
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        let message = format!("cw: the request body is over {MAX_REQUEST_BYTES} bytes\n");
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    };
    let mut message = match serde_json::from_slice::<ClientJsonRpcMessage>(&bytes) {
        Ok(message) => message,
        Err(err) => {
            let message = format!("cw: the body is not a JSON-RPC message: {err}\n");
            return (StatusCode::BAD_REQUEST, message).into_response();
        }
    };
    // The tools find their caller in the request's parts, as over streamable HTTP.
    match &mut message {
        ClientJsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => {}
    }
    if to_server.send(message).await.is_err() {
        return gone(&id);
    }
    (StatusCode::ACCEPTED, "Accepted").into_response()
}

fn gone(id: &str) -> Response {
    let message = format!("cw: no SSE session {id} (it ended); open a new one with GET /sse\n");
    (StatusCode::NOT_FOUND, message).into_response()
}

/// `sessionId` (or `session_id`) from a query string; ids are hex, so nothing is decoded.
fn query_session_id(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| {
            pair.strip_prefix("sessionId=").or_else(|| pair.strip_prefix("session_id="))
        })
        .filter(|id| !id.is_empty())
}

/// 128 random bits, in hex.
fn session_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Ends a session when its stream is dropped (the client hung up, or the server stops).
struct SessionGuard {
    sessions: Arc<SseSessions>,
    id: String,
    cancel: CancellationToken,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.cancel.cancel();
        // Dropping the sender also ends a service still waiting for `initialize`.
        self.sessions.sessions().remove(&self.id);
    }
}

/// One session's side of the two queues, as an rmcp transport.
struct ChannelTransport {
    to_client: mpsc::Sender<ServerJsonRpcMessage>,
    from_client: mpsc::Receiver<ClientJsonRpcMessage>,
}

impl rmcp::transport::Transport<RoleServer> for ChannelTransport {
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let to_client = self.to_client.clone();
        async move {
            to_client.send(item).await.map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the SSE stream is closed")
            })
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        self.from_client.recv().await
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.from_client.close();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_id_is_read_from_either_spelling() {
        assert_eq!(query_session_id(Some("sessionId=ab12")), Some("ab12"));
        assert_eq!(query_session_id(Some("x=1&session_id=cd")), Some("cd"));
        assert_eq!(query_session_id(Some("sessionId=")), None);
        assert_eq!(query_session_id(None), None);
        assert_eq!(session_id().unwrap().len(), 32);
    }
}
