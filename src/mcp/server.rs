//! The MCP handler: who is calling, which tools they see, and the mapping of service results
//! and errors onto tool results. One handler serves stdio and HTTP.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, DiscoverResult,
    Implementation, InitializeRequestParams, InitializeResult, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorKind, classify};
use crate::service::{Caller, Service, ServiceError};

/// How the caller of a connection is known.
#[derive(Debug, Clone)]
pub enum Identity {
    /// Decided once for the whole connection (stdio: from `CW_TOKEN`).
    Fixed(Caller),
    /// The token was refused; every call gets this message as a tool error.
    Refused(String),
    /// Per request, from the `Authorization` header checked by the HTTP middleware.
    FromHttp,
}

/// Timing of `ask_user`.
#[derive(Debug, Clone, Copy)]
pub struct McpSettings {
    /// How long `ask_user` blocks before answering `pending`.
    pub ask_wait: Duration,
    /// How often a blocked `ask_user` sends a progress notification.
    pub progress_every: Duration,
}

/// cw's MCP server: cheap to clone (one per HTTP session).
#[derive(Clone)]
pub struct CwServer {
    pub(super) service: Arc<Service>,
    identity: Identity,
    pub(super) shutdown: CancellationToken,
    pub(super) settings: McpSettings,
    agent_tools: Arc<ToolRouter<CwServer>>,
    operator_tools: Arc<ToolRouter<CwServer>>,
}

/// How the server greets clients: the workflow in three lines.
const INSTRUCTIONS: &str = "cw coordinates agents on one git repository. Agents: call claim_task first, \
work in the worktree it names, commit, then report_done and request_merge; use ask_user when only a human \
can unblock you. Operators: status, list_questions, answer_question.";

impl CwServer {
    /// A server over `service` for callers known by `identity`.
    pub fn new(
        service: Arc<Service>,
        identity: Identity,
        settings: McpSettings,
        shutdown: CancellationToken,
    ) -> CwServer {
        CwServer {
            service,
            identity,
            shutdown,
            settings,
            agent_tools: Arc::new(compact(Self::agent_router())),
            operator_tools: Arc::new(compact(Self::operator_router())),
        }
    }

    /// The tools an agent sees, and the operator's (for the contract snapshot and token counts).
    pub fn tool_lists() -> (Vec<rmcp::model::Tool>, Vec<rmcp::model::Tool>) {
        (compact(Self::agent_router()).list_all(), compact(Self::operator_router()).list_all())
    }

    /// The caller of this request.
    pub(super) fn caller(&self, ctx: &RequestContext<RoleServer>) -> Result<Caller, String> {
        match &self.identity {
            Identity::Fixed(caller) => Ok(caller.clone()),
            Identity::Refused(message) => Err(message.clone()),
            Identity::FromHttp => ctx
                .extensions
                .get::<axum::http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Caller>())
                .cloned()
                .ok_or_else(|| ServiceError::MissingToken.to_string()),
        }
    }

    /// Runs a blocking service call and turns its result into a tool result: structured JSON on
    /// success, a tool error the model can act on otherwise. Over HTTP the call runs on tokio's
    /// blocking pool, so one client's database or git work never holds up the others. On stdio
    /// there is one client, on a current-thread runtime, and a service call is a few short
    /// transactions (waits, such as `ask_user`'s, are async): it runs right here, which spares
    /// every agent's `cw mcp` a blocking-pool thread and two thread hand-offs per call.
    pub(super) async fn respond<T, F>(
        &self,
        ctx: &RequestContext<RoleServer>,
        call: F,
    ) -> CallToolResult
    where
        T: Serialize + Send + 'static,
        F: FnOnce(&Service, &Caller) -> Result<T, ServiceError> + Send + 'static,
    {
        let caller = match self.caller(ctx) {
            Ok(caller) => caller,
            Err(message) => return error_result(&message),
        };
        // The operator's errors name MCP tools where the service names CLI verbs.
        let operator = matches!(caller, Caller::Operator(_));
        let service = self.service.clone();
        let outcome = match self.identity {
            Identity::FromHttp => tokio::task::spawn_blocking(move || call(&service, &caller))
                .await
                .map_err(|join| join.to_string()),
            Identity::Fixed(_) | Identity::Refused(_) => {
                std::panic::catch_unwind(AssertUnwindSafe(|| call(&service, &caller)))
                    .map_err(|_| "a panic".to_owned())
            }
        };
        match outcome {
            Ok(Ok(value)) => structured(&value),
            Ok(Err(err)) if operator => in_mcp_terms(service_error(&err)),
            Ok(Err(err)) => service_error(&err),
            Err(cause) => {
                tracing::error!(%cause, "tool call panicked");
                error_result("internal error: the tool call failed; try again")
            }
        }
    }
}

/// A router whose input schemas say only what a client needs: the tool list is read into every
/// model's context, so the `$schema` line (2020-12 is MCP's default), `"default": null` and
/// integer `format`s (which some validators warn about) are left out.
fn compact(mut router: ToolRouter<CwServer>) -> ToolRouter<CwServer> {
    for route in router.map.values_mut() {
        let schema = Arc::make_mut(&mut route.attr.input_schema);
        schema.remove("$schema");
        let properties = schema.get_mut("properties").and_then(|p| p.as_object_mut());
        for property in properties.into_iter().flat_map(|p| p.values_mut()) {
            let Some(property) = property.as_object_mut() else { continue };
            if property.get("default").is_some_and(serde_json::Value::is_null) {
                property.remove("default");
            }
            if property
                .get("format")
                .and_then(|f| f.as_str())
                .is_some_and(|f| f.starts_with("uint"))
            {
                property.remove("format");
            }
        }
    }
    router
}

/// The largest result a tool sends. It goes out twice (structured content and its text), and
/// must stay far below what clients read as one message (rmcp and cw mcp: 16 MiB a line);
/// the service's own limits keep real results far below it.
const MAX_RESULT_BYTES: usize = 4 * 1024 * 1024;

impl CwServer {
    fn refuse_unknown_caller(&self) -> Result<(), ErrorData> {
        match &self.identity {
            Identity::Refused(message) => Err(ErrorData::invalid_request(message.clone(), None)),
            Identity::Fixed(_) | Identity::FromHttp => Ok(()),
        }
    }
}

/// A tool result carrying `value` as structured content (and as its JSON text), or a tool error
/// when it would be too big to send.
pub(super) fn structured<T: Serialize>(value: &T) -> CallToolResult {
    let value = match serde_json::to_value(value) {
        Ok(value) => value,
        Err(err) => {
            return error_result(&format!("internal error: cannot encode the result: {err}"));
        }
    };
    let size = serde_json::to_vec(&value).map_or(0, |bytes| bytes.len());
    if size > MAX_RESULT_BYTES {
        tracing::error!(size, "a tool result over the limit was not sent");
        return error_result(&format!(
            "the result is {size} bytes, more than one MCP answer may carry ({MAX_RESULT_BYTES}); nothing was sent (tell the human: a stored text is too big)"
        ));
    }
    CallToolResult::structured(value)
}

/// A tool error with `message` for the model.
pub(super) fn error_result(message: &str) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.to_owned())])
}

/// Every service error is a tool error the model reads; internal ones are also logged.
/// The operator tools that do what a CLI verb in an error's hint does.
const MCP_FOR_CLI: &[(&str, &str)] = &[
    ("cw task list", "list_tasks"),
    ("cw task show", "show_task"),
    ("cw task retry", "retry_task"),
    ("cw task cancel", "cancel_task"),
    ("cw agent list", "list_agents"),
    ("cw agent stop", "stop_agent"),
    ("cw agent restart", "restart_agent"),
    ("cw inbox show", "list_questions"),
    ("cw inbox", "list_questions"),
    ("cw answer", "answer_question"),
    ("cw status", "status"),
];

/// A tool error whose hint names a CLI verb (`cw task list`) named in MCP terms instead (the
/// `list_tasks` tool), its arguments kept: "`retry_task` t5".
fn in_mcp_terms(mut result: CallToolResult) -> CallToolResult {
    for content in &mut result.content {
        if let Some(text) = content.as_text().map(|t| t.text.clone()) {
            *content = rmcp::model::ContentBlock::text(mcp_terms(&text));
        }
    }
    result
}

fn mcp_terms(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("`cw ") {
        let Some(len) = rest[start + 1..].find('`') else { break };
        let span = &rest[start + 1..start + 1 + len];
        out.push_str(&rest[..start]);
        match MCP_FOR_CLI
            .iter()
            .find(|(verb, _)| span == *verb || span.starts_with(&format!("{verb} ")))
        {
            Some((verb, tool)) => {
                let args = span[verb.len()..].trim();
                out.push_str(&format!("`{tool}`"));
                if !args.is_empty() {
                    out.push_str(&format!(" {args}"));
                }
            }
            None => out.push_str(&format!("`{span}`")),
        }
        rest = &rest[start + len + 2..];
    }
    out.push_str(rest);
    out
}

pub(super) fn service_error(err: &ServiceError) -> CallToolResult {
    if classify(err) == ErrorKind::Internal {
        tracing::error!(cause = ?err, "tool call failed");
    }
    error_result(&err.to_string())
}

impl ServerHandler for CwServer {
    /// A refused token fails the connection here, at the handshake, so clients (`claude mcp
    /// list`) show the server as failed with the reason instead of connecting to tools that
    /// all fail.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        self.refuse_unknown_caller()?;
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn discover(
        &self,
        _context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, ErrorData> {
        self.refuse_unknown_caller()?;
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("cw", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let tools = match self.caller(&ctx) {
            Ok(Caller::Operator(_)) => self.operator_tools.list_all(),
            // Agents, and callers still to be refused, see the agent tools.
            _ => self.agent_tools.list_all(),
        };
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if self.shutdown.is_cancelled() {
            return Ok(service_error(&ServiceError::ShuttingDown).into());
        }
        let name = request.name.to_string();
        let caller = match self.caller(&ctx) {
            Ok(caller) => caller,
            Err(message) => return Ok(error_result(&message).into()),
        };
        let (own, other) = match caller {
            Caller::Operator(_) => (&self.operator_tools, &self.agent_tools),
            Caller::Agent(_) => (&self.agent_tools, &self.operator_tools),
        };
        if !own.has_route(&name) && other.has_route(&name) {
            let refusal = match caller {
                Caller::Operator(_) => ServiceError::AgentOnly,
                Caller::Agent(agent) => ServiceError::OperatorOnly { agent: agent.id },
            };
            return Ok(service_error(&refusal).into());
        }
        own.call(ToolCallContext::new(self, request, ctx)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_too_big_for_the_transport_becomes_a_tool_error() {
        let small = structured(&serde_json::json!({ "text": "x".repeat(1000) }));
        assert_eq!(small.is_error, Some(false));
        let big = structured(&serde_json::json!({ "text": "x".repeat(MAX_RESULT_BYTES) }));
        assert_eq!(big.is_error, Some(true));
        let text = format!("{:?}", big.content);
        assert!(text.contains("more than one MCP answer may carry"), "{text}");
    }

    #[test]
    fn cli_verbs_in_hints_become_tool_names() {
        assert_eq!(
            mcp_terms("task t9 does not exist (see `cw task list`)"),
            "task t9 does not exist (see `list_tasks`)"
        );
        assert_eq!(mcp_terms("run `cw task retry t5` first"), "run `retry_task` t5 first");
        assert_eq!(mcp_terms("`cw gc` then `cw inbox`"), "`cw gc` then `list_questions`");
        assert_eq!(mcp_terms("an unclosed `cw task"), "an unclosed `cw task");
    }
}
