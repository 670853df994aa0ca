//! Streamable HTTP: `http://127.0.0.1:<port>/mcp` (and the legacy SSE transport at `/sse`,
//! `sse.rs`), loopback only, bearer tokens, Host and
//! Origin checks against DNS rebinding, TCP_NODELAY, a header-read timeout (a client that sends
//! its request head slower than `HEADER_READ_TIMEOUT` is dropped), a body that is not JSON-RPC
//! answered 400, and a two-phase graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::{CwServer, Identity, McpError, McpSettings};
use crate::service::{Caller, Service};

/// The largest request body accepted (tool arguments are small; this bounds abuse).
pub(super) const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// How long a client may take to send a request's head (slowloris clients are dropped).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an authenticated token is trusted without looking again (an exited agent's token is
/// retired in the database; this is how long a running server may still accept it).
const TOKEN_CACHE: Duration = Duration::from_secs(2);

/// A bound, not yet serving, HTTP endpoint.
pub struct HttpServer {
    listener: TcpListener,
    address: SocketAddr,
}

/// Binds 127.0.0.1:`port` (0 = any free port). Never another interface.
pub async fn bind(port: u16) -> Result<HttpServer, McpError> {
    let address = format!("127.0.0.1:{port}");
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| McpError::Bind { address: address.clone(), source })?;
    let address = listener.local_addr().map_err(|source| McpError::Bind { address, source })?;
    Ok(HttpServer { listener, address })
}

impl HttpServer {
    /// The MCP endpoint URL.
    pub fn url(&self) -> String {
        format!("http://{}/mcp", self.address)
    }

    /// The legacy SSE transport's URL.
    pub fn sse_url(&self) -> String {
        format!("http://{}/sse", self.address)
    }

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `transport` is cancelled. Cancel `shutdown` first (blocked tools then answer
    /// "shutting down"), then `transport` a moment later so those answers reach their clients.
    /// `beside` is served on the same port with its own access rules (the dashboard); the
    /// bearer-token check covers MCP's routes only.
    pub async fn serve(
        self,
        service: Arc<Service>,
        settings: McpSettings,
        shutdown: CancellationToken,
        transport: CancellationToken,
        beside: axum::Router,
    ) -> Result<(), McpError> {
        let server = CwServer::new(service.clone(), Identity::FromHttp, settings, shutdown);
        let port = self.address.port();
        let config = StreamableHttpServerConfig::default()
            .with_allowed_hosts([
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                format!("localhost:{port}"),
                format!("127.0.0.1:{port}"),
            ])
            .with_allowed_origins(["http://localhost:*", "http://127.0.0.1:*"])
            .with_max_request_body_bytes(MAX_REQUEST_BYTES)
            .with_cancellation_token(transport.child_token());
        let sse = super::sse::routes(server.clone(), port, transport.clone());
        let sessions = Arc::new(LocalSessionManager::default());
        let mcp = StreamableHttpService::new(move || Ok(server.clone()), sessions.clone(), config);
        let mcp = axum::Router::new()
            .fallback_service(mcp)
            .layer(axum::middleware::from_fn_with_state(sessions, end_sessions_plainly));
        let auth = Arc::new(Authenticator {
            service,
            known: std::sync::Mutex::new(std::collections::HashMap::new()),
        });
        let app = axum::Router::new()
            .nest_service("/mcp", mcp)
            .merge(sse)
            .layer(axum::middleware::from_fn(refuse_bodies_that_are_not_json_rpc))
            .layer(axum::middleware::from_fn_with_state(auth, authenticate))
            .merge(beside);
        serve_connections(self.listener, app, transport).await;
        Ok(())
    }
}

/// Accepts connections until `transport` is cancelled, then lets open ones finish (each ends
/// once its pending responses are sent; streams end with the transport's cancellation).
async fn serve_connections(listener: TcpListener, app: axum::Router, transport: CancellationToken) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = transport.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                // Out of file descriptors and the like: wait a moment instead of spinning.
                tracing::warn!(cause = %err, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Without TCP_NODELAY, Node clients pay ~40 ms of Nagle + delayed ACK on every call.
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(TokioIo::new(stream), service);
        tokio::spawn(graceful.watch(connection));
    }
    // Streams end with the transport's cancellation; a client that keeps a connection open
    // past that does not hold the shutdown up.
    if tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await.is_err() {
        tracing::warn!("HTTP connections still open after 5 s; closing them");
    }
}

/// rmcp answers a body that is not JSON with 415 (as if the Content-Type were wrong); a body
/// that is not JSON, or not a JSON-RPC message, is a bad request: 400 with a JSON-RPC error.
async fn refuse_bodies_that_are_not_json_rpc(request: Request, next: Next) -> Response {
    let json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.trim_start().to_ascii_lowercase().starts_with("application/json")
        });
    if request.method() != axum::http::Method::POST || !json {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        let message = format!("cw: the request body is over {MAX_REQUEST_BYTES} bytes\n");
        return (StatusCode::PAYLOAD_TOO_LARGE, message).into_response();
    };
    let refusal = match serde_json::from_slice::<serde_json::Value>(&bytes) {
        Err(err) => Some((-32700, format!("Parse error: {err}"))),
        Ok(value) => serde_json::from_value::<rmcp::model::ClientJsonRpcMessage>(value)
            .err()
            .map(|err| (-32600, format!("Invalid request: {err}"))),
    };
    if let Some((code, message)) = refusal {
        let body = serde_json::json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": { "code": code, "message": message },
        });
        let json = [(header::CONTENT_TYPE, "application/json")];
        return (StatusCode::BAD_REQUEST, json, body.to_string()).into_response();
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(bytes))).await
}

/// 401 with the reason as a JSON-RPC error (the SDKs show its message) and a bearer challenge
/// that names no authorization server: there is no OAuth to discover, only cw's own tokens.
fn unauthorized(why: &str) -> Response {
    let message = format!(
        "cw: {why}; use a bearer token from `cw agent register --json` or the operator token in .cw/operator.token"
    );
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": -32001, "message": message },
    });
    let challenge = r#"Bearer realm="cw", error="invalid_token""#;
    let headers =
        [(header::WWW_AUTHENTICATE, challenge), (header::CONTENT_TYPE, "application/json")];
    (StatusCode::UNAUTHORIZED, headers, body.to_string()).into_response()
}

/// A session's `DELETE` answers 204 when it ends the session and 404 when there is none (rmcp
/// answers 202 to both, which SDKs log as a failed termination).
async fn end_sessions_plainly(
    State(sessions): State<Arc<LocalSessionManager>>,
    request: Request,
    next: Next,
) -> Response {
    use rmcp::transport::streamable_http_server::SessionManager;
    if request.method() != axum::http::Method::DELETE {
        return next.run(request).await;
    }
    let id = request.headers().get("mcp-session-id").and_then(|v| v.to_str().ok());
    let Some(id) = id.map(|id| std::sync::Arc::<str>::from(id.to_owned())) else {
        return next.run(request).await;
    };
    if !sessions.has_session(&id).await.unwrap_or(false) {
        let message = format!("cw: no MCP session {id} (it has ended)\n");
        return (StatusCode::NOT_FOUND, message).into_response();
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::ACCEPTED {
        return StatusCode::NO_CONTENT.into_response();
    }
    response
}

/// The hash of the token a request came with (set beside its `Caller`): an SSE session belongs
/// to the token that opened it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TokenKey(String);

/// Resolves tokens to callers, remembering the ones it has seen for a moment (a token never
/// changes owner, but an agent's token is retired when it exits), so a burst of requests costs
/// one database read for authentication.
struct Authenticator {
    service: Arc<Service>,
    /// Keyed by the token's hash, never the token itself; each entry trusted for `TOKEN_CACHE`.
    known: std::sync::Mutex<std::collections::HashMap<String, (Caller, Instant)>>,
}

/// Resolves `Authorization: Bearer <token>` to a caller for the tools, or refuses the request.
/// Tokens are never logged.
async fn authenticate(
    State(auth): State<Arc<Authenticator>>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return unauthorized("missing `Authorization: Bearer <token>`");
    };
    let key = crate::service::token_hash(&token);
    let known = auth
        .known
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(&key)
        .filter(|(_, at)| at.elapsed() < TOKEN_CACHE)
        .map(|(caller, _)| caller.clone());
    if let Some(caller) = known {
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(TokenKey(key));
        return next.run(request).await;
    }
    let service = auth.service.clone();
    match tokio::task::spawn_blocking(move || service.caller_for(Some(&token), false)).await {
        Ok(Ok(caller)) => {
            auth.known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key.clone(), (caller.clone(), Instant::now()));
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(TokenKey(key));
            next.run(request).await
        }
        Ok(Err(err)) => unauthorized(&err.to_string()),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
