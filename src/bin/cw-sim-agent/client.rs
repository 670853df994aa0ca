//! A small MCP client over stdio: how the scripted agent talks to `cw mcp`, as Claude Code does
//! (it starts the server from the per-agent MCP config and calls tools).

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::Value;

/// The server could not be started, or the connection failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum McpError {
    #[error("cannot start the MCP server: {0}")]
    Start(String),
    #[error("the MCP connection failed: {0}")]
    Transport(String),
}

/// A connected client.
pub(crate) struct McpClient {
    running: RunningService<rmcp::RoleClient, ClientConfig>,
}

/// A tool's answer: its structured content (or text), and whether it was a tool error.
#[derive(Debug, Clone)]
pub(crate) struct ToolAnswer {
    pub(crate) value: Value,
    pub(crate) is_error: bool,
}

impl McpClient {
    /// Starts `program args` with `env` and completes the MCP handshake.
    pub(crate) async fn connect_stdio(
        program: &Path,
        args: &[OsString],
        env: &[(OsString, OsString)],
        name: &str,
    ) -> Result<McpClient, McpError> {
        let mut command = cw::process::piped_command(program, args, env);
        command.stderr(Stdio::inherit());
        let transport = TokioChildProcess::new(command)
            .map_err(|err| McpError::Start(format!("{}: {err}", program.display())))?;
        let config = ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new(name, env!("CARGO_PKG_VERSION")),
        );
        let running =
            config.serve(transport).await.map_err(|err| McpError::Start(err.to_string()))?;
        Ok(McpClient { running })
    }

    /// Calls `tool` with `arguments` (an object or null).
    pub(crate) async fn call(&self, tool: &str, arguments: Value) -> Result<ToolAnswer, McpError> {
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Value::Object(map) = arguments {
            params = params.with_arguments(map);
        }
        let result = self
            .running
            .call_tool(params)
            .await
            .map_err(|err| McpError::Transport(err.to_string()))?;
        let is_error = result.is_error.unwrap_or(false);
        let value = match result.structured_content {
            Some(value) => value,
            None => Value::String(
                result
                    .content
                    .iter()
                    .filter_map(|c| c.as_text().map(|t| t.text.clone()))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        };
        Ok(ToolAnswer { value, is_error })
    }

    /// Closes the connection; the server exits when its stdin closes.
    pub(crate) async fn close(self) {
        let _ = self.running.cancel().await;
    }
}
