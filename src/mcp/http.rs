//! Streamable HTTP: `http://127.0.0.1:<port>/mcp`, loopback only, bearer tokens, Host and
//! Origin checks against DNS rebinding, TCP_NODELAY, and a two-phase graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

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
const MAX_REQUEST_BYTES: usize = 1024 * 1024;

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

    /// The bound address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Serves until `transport` is cancelled. Cancel `shutdown` first (blocked tools then answer
    /// "shutting down"), then `transport` a moment later so those answers reach their clients.
    pub async fn serve(
        self,
        service: Arc<Service>,
        settings: McpSettings,
        shutdown: CancellationToken,
        transport: CancellationToken,
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
        let mcp = StreamableHttpService::new(
            move || Ok(server.clone()),
            LocalSessionManager::default().into(),
            config,
        );
        let auth = Arc::new(Authenticator {
            service,
            known: std::sync::Mutex::new(std::collections::HashMap::new()),
        });
        let app = axum::Router::new()
            .nest_service("/mcp", mcp)
            .layer(axum::middleware::from_fn_with_state(auth, authenticate));
        // Without TCP_NODELAY, Node clients pay ~40 ms of Nagle + delayed ACK on every call.
        let listener = axum::serve::ListenerExt::tap_io(
            self.listener,
            |stream: &mut tokio::net::TcpStream| {
                let _ = stream.set_nodelay(true);
            },
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { transport.cancelled().await })
            .await
            .map_err(|err| McpError::Transport(err.to_string()))
    }
}

/// Resolves tokens to callers, remembering the ones it has seen (a token never changes owner), so
/// a request costs no database read for authentication.
struct Authenticator {
    service: Arc<Service>,
    /// Keyed by the token's hash, never the token itself.
    known: std::sync::Mutex<std::collections::HashMap<String, Caller>>,
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
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "cw: missing `Authorization: Bearer <token>`; use an agent token from `cw agent register --json` or the operator token in .cw/operator.token\n",
        )
            .into_response();
    };
    let key = crate::service::token_hash(&token);
    let known =
        auth.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
    if let Some(caller) = known {
        request.extensions_mut().insert(caller);
        return next.run(request).await;
    }
    let service = auth.service.clone();
    match tokio::task::spawn_blocking(move || service.caller_for(Some(&token), false)).await {
        Ok(Ok(caller)) => {
            auth.known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .insert(key, caller.clone());
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(Err(err)) => (StatusCode::FORBIDDEN, format!("cw: {err}\n")).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}
