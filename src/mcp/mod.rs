//! The MCP server: one handler (`CwServer`) with the agent and operator tools, served on stdio
//! (`cw mcp`), streamable HTTP and the legacy HTTP+SSE transport (`cw run`).
//!
//! Owns: the rmcp handler and routers, parameter types, mapping a token to its caller, error
//! mapping, the transports, HTTP authentication and DNS-rebinding protection.
//! Must not: hold business rules (the service does), write SQL, touch git.

mod hosts;
mod http;
mod lines;
mod params;
mod results;
mod server;
mod sse;
mod stdio;
mod tools;

use std::sync::Arc;

use rmcp::ServiceExt;
use tokio_util::sync::CancellationToken;

pub use hosts::routes as host_routes;
pub use http::{HttpServer, bind};
pub use server::{CwServer, Identity, McpSettings};

use crate::service::Service;

/// Why a transport stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot start the MCP server: {0}")]
    Start(String),
    #[error("the MCP connection failed: {0}")]
    Transport(String),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
}

/// Serves MCP on stdin/stdout until the client closes stdin or `shutdown` fires.
pub async fn serve_stdio(
    service: Arc<Service>,
    identity: Identity,
    settings: McpSettings,
    shutdown: CancellationToken,
) -> Result<(), McpError> {
    let server = CwServer::new(service, identity, settings, shutdown.clone());
    let (read, write) = stdio::streams();
    let running = server
        .serve_with_ct(lines::LineTransport::new(read, write), shutdown.child_token())
        .await
        .map_err(|err| McpError::Start(err.to_string()))?;
    running.waiting().await.map_err(|err| McpError::Transport(err.to_string()))?;
    Ok(())
}
