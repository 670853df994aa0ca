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
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
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
        .route_layer(axum::middleware::from_fn_with_state(port, only_loopback_names))
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

/// Refuses a request whose Host is not this server's loopback name, or whose Origin (when a
/// browser sends one) is not a loopback page: a DNS-rebinding page cannot open a session.
async fn only_loopback_names(State(port): State<u16>, request: Request, next: Next) -> Response {
    match loopback_refusal(request.headers(), port) {
        Some(why) => (StatusCode::FORBIDDEN, format!("cw: {why}\n")).into_response(),
        None => next.run(request).await,
    }
}

/// Why the Host or Origin header is not allowed, if it is not.
fn loopback_refusal(headers: &HeaderMap, port: u16) -> Option<&'static str> {
    let loopback = |host: &str| {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1"
    };
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    let authority = host.and_then(|host| host.parse::<axum::http::uri::Authority>().ok());
    match authority {
        Some(a) if loopback(a.host()) && a.port_u16().is_none_or(|p| p == port) => {}
        _ => {
            return Some("the Host header must name this loopback server (127.0.0.1 or localhost)");
        }
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().ok().and_then(|value| value.parse::<axum::http::Uri>().ok());
    match origin {
        Some(uri) if uri.scheme_str() == Some("http") && uri.host().is_some_and(loopback) => None,
        _ => Some("requests from other origins are refused (DNS-rebinding protection)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs.iter().map(|(name, value)| (name.clone(), value.parse().unwrap())).collect()
    }

    #[test]
    fn only_this_servers_loopback_names_and_pages_are_let_in() {
        let ok = [
            headers(&[(header::HOST, "127.0.0.1:4000")]),
            headers(&[(header::HOST, "localhost:4000"), (header::ORIGIN, "http://localhost:3000")]),
            headers(&[(header::HOST, "localhost")]),
        ];
        for case in ok {
            assert_eq!(loopback_refusal(&case, 4000), None, "{case:?}");
        }
        let refused = [
            headers(&[]),
            headers(&[(header::HOST, "evil.example:4000")]),
            headers(&[(header::HOST, "127.0.0.1:4001")]),
            headers(&[(header::HOST, "127.0.0.1:4000"), (header::ORIGIN, "http://evil.example")]),
            headers(&[(header::HOST, "127.0.0.1:4000"), (header::ORIGIN, "null")]),
            headers(&[(header::HOST, "127.0.0.1:4000"), (header::ORIGIN, "https://127.0.0.1")]),
        ];
        for case in refused {
            assert!(loopback_refusal(&case, 4000).is_some(), "{case:?}");
        }
    }

    #[test]
    fn the_session_id_is_read_from_either_spelling() {
        assert_eq!(query_session_id(Some("sessionId=ab12")), Some("ab12"));
        assert_eq!(query_session_id(Some("x=1&session_id=cd")), Some("cd"));
        assert_eq!(query_session_id(Some("sessionId=")), None);
        assert_eq!(query_session_id(None), None);
        assert_eq!(session_id().unwrap().len(), 32);
    }
}
