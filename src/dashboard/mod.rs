//! The web dashboard of `cw run`: the plan as a board, each task with its diff, each agent with
//! its transcript, what needs the human, and the operator's actions, served at `/` of the same
//! loopback HTTP server as MCP. It owns routes and rendering only: every figure is a `Service`
//! query and every action a `Service` use case called as the operator (`Via::Dashboard`), so a
//! refusal is the service's own message.
//!
//! Access: the URL `cw run` prints (and `cw dashboard`) carries this run's login token; the
//! page trades it for an HttpOnly, SameSite=Strict session cookie (derived from the operator
//! token, so it outlives a restart of `cw run` and dies with the token) and redirects to drop
//! it from the address bar. Every action is a POST with that cookie, the page's CSRF token and
//! a loopback Host and Origin (`loopback`). The Content-Security-Policy lets the page load its
//! own script and stylesheet only: nothing leaves the machine. Live parts arrive as
//! Server-Sent Events (`live`); the page never polls.

mod charts;
mod graph;
mod live;
mod render;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use maud::PreEscaped;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorKind, classify};
use crate::model::{AgentId, QuestionId, TaskId};
use crate::service::{AddTask, Caller, Service, ServiceError, Via};

/// The dashboard of one `cw run`.
struct Dashboard {
    service: Arc<Service>,
    access: Access,
    live: watch::Receiver<Arc<live::Parts>>,
    stop: CancellationToken,
}

/// Who may see the dashboard: whoever brings this run's login token once, then its cookie.
struct Access {
    login: String,
    session: String,
    csrf: String,
    /// Per port: cookies are shared by every port of 127.0.0.1.
    cookie: String,
}

/// The largest action body (a task's description is the biggest field).
const MAX_ACTION_BYTES: usize = 256 * 1024;
/// How many lines of an agent's transcript a page shows (the newest).
const TRANSCRIPT_LINES: usize = 400;
/// How many of a task's newest events its timeline shows.
const TIMELINE_EVENTS: u32 = 100;
/// How often an agent page re-reads a running agent's transcript (a file, not the database).
const TRANSCRIPT_EVERY: Duration = Duration::from_secs(1);

/// The dashboard's routes for the server on `port`, and the URL that signs a browser in.
pub fn routes(
    service: Arc<Service>,
    port: u16,
    stop: CancellationToken,
) -> Result<(axum::Router, String), ServiceError> {
    let access = Access {
        login: crate::service::new_secret("cwd_")?,
        session: service.operator_secret("dashboard session")?,
        csrf: service.operator_secret("dashboard csrf")?,
        cookie: format!("cw_{port}"),
    };
    let url = format!("http://127.0.0.1:{port}/?token={}", access.login);
    let live = live::start(Arc::clone(&service), stop.clone());
    let dashboard = Arc::new(Dashboard { service, access, live, stop });
    let router = axum::Router::new()
        .route("/", get(index))
        .route("/task/{id}", get(task_page))
        .route("/agent/{id}", get(agent_page))
        .route("/events", get(events))
        .route("/act/{verb}", post(act))
        .route("/assets/dashboard.js", get(script))
        .route("/assets/dashboard.css", get(style))
        .with_state(dashboard)
        .route_layer(from_fn_with_state(port, crate::loopback::only_loopback))
        .route_layer(from_fn(security_headers));
    Ok((router, url))
}

impl Dashboard {
    fn signed_in(&self, headers: &HeaderMap) -> bool {
        let cookies = headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok());
        cookies.flat_map(|line| line.split(';')).any(|pair| {
            pair.trim()
                .split_once('=')
                .is_some_and(|(k, v)| k == self.access.cookie && same(v, &self.access.session))
        })
    }

    /// Renders on the blocking pool (SQLite, git): a slow page never holds up MCP.
    async fn blocking<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Service) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let service = Arc::clone(&self.service);
        tokio::task::spawn_blocking(move || work(&service))
            .await
            .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "cw: the page failed").into_response())
    }

    /// The shared parts as they are now (the live thread renders only while pages follow).
    async fn fresh_parts(self: &Arc<Self>) -> Result<Arc<live::Parts>, Response> {
        match self.blocking(live::shared_parts).await? {
            Ok(parts) => Ok(Arc::new(parts)),
            Err(err) => {
                Err((StatusCode::INTERNAL_SERVER_ERROR, format!("cw: {err}\n")).into_response())
            }
        }
    }

    fn page(&self, title: &str, live: &str, parts: &live::Parts, body: &maud::Markup) -> Response {
        let run = PreEscaped(part(parts, "run"));
        Html(render::page(title, &self.access.csrf, live, &run, body).into_string()).into_response()
    }
}

/// Compares two secrets in time that does not depend on where they differ.
fn same(given: &str, secret: &str) -> bool {
    given.len() == secret.len()
        && given.bytes().zip(secret.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn part(parts: &live::Parts, id: &str) -> String {
    parts.get(id).and_then(|v| v.as_str()).unwrap_or_default().to_owned()
}

fn unauthorized() -> Response {
    let page = render::sign_in_needed().into_string();
    (StatusCode::UNAUTHORIZED, Html(page)).into_response()
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, format!("cw: {what}\n")).into_response()
}

/// `/`: the board. With `?token=` (the printed link) it signs the browser in and redirects.
async fn index(State(d): State<Arc<Dashboard>>, uri: Uri, headers: HeaderMap) -> Response {
    let token =
        uri.query().into_iter().flat_map(|q| q.split('&')).find_map(|p| p.strip_prefix("token="));
    if let Some(token) = token {
        if !same(token, &d.access.login) {
            return unauthorized();
        }
        let cookie =
            format!("{}={}; Path=/; HttpOnly; SameSite=Strict", d.access.cookie, d.access.session);
        let headers = [(header::LOCATION, "/".to_owned()), (header::SET_COOKIE, cookie)];
        return (StatusCode::SEE_OTHER, headers).into_response();
    }
    if !d.signed_in(&headers) {
        return unauthorized();
    }
    let parts = match d.fresh_parts().await {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let body = render::board_page(
        &PreEscaped(part(&parts, "board")),
        &PreEscaped(part(&parts, "needs")),
        &PreEscaped(part(&parts, "graph")),
        &PreEscaped(part(&parts, "charts")),
    );
    d.page("board", "board", &parts, &body)
}

/// `/task/t3`: one task, its diff, its actions.
async fn task_page(
    State(d): State<Arc<Dashboard>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !d.signed_in(&headers) {
        return unauthorized();
    }
    let Ok(id) = id.parse::<TaskId>() else { return not_found("no such task") };
    detail_page(d, "task", id.to_string(), move |service| task_part(service, id)).await
}

/// `/agent/a1`: one agent, its transcript, its actions.
async fn agent_page(
    State(d): State<Arc<Dashboard>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !d.signed_in(&headers) {
        return unauthorized();
    }
    let Ok(id) = id.parse::<AgentId>() else { return not_found("no such agent") };
    detail_page(d, "agent", id.to_string(), move |service| agent_part(service, id)).await
}

/// A page about one `kind` (`task`, `agent`) with its part rendered by `part`, kept live.
async fn detail_page(
    d: Arc<Dashboard>,
    kind: &str,
    id: String,
    part: impl FnOnce(&Service) -> Result<String, ServiceError> + Send + 'static,
) -> Response {
    let html = match d.blocking(part).await {
        Ok(Ok(html)) => html,
        Ok(Err(err)) => return not_found(&err.to_string()),
        Err(response) => return response,
    };
    let parts = match d.fresh_parts().await {
        Ok(parts) => parts,
        Err(response) => return response,
    };
    let body = maud::html! { section id=(kind) { (PreEscaped(html)) } };
    d.page(&id, &format!("{kind}-{id}"), &parts, &body)
}

fn task_part(service: &Service, id: TaskId) -> Result<String, ServiceError> {
    let detail = service.task(id)?;
    let events = service.task_events(id, TIMELINE_EVENTS)?;
    let caller = Caller::Operator(Via::Dashboard);
    // A task no agent has worked on has no diff yet.
    let diff = service.diff(&caller, &id.to_string()).ok().map(|(_, patch)| patch);
    Ok(render::task(&detail, &events, diff.as_deref(), service.now()).into_string())
}

fn agent_part(service: &Service, id: AgentId) -> Result<String, ServiceError> {
    let agent = service.agent(id)?;
    let path = service.workspace().agent_dir(id).join("stream.jsonl");
    let events = crate::agent::stream::StreamTail::new(&path).finish().unwrap_or_default();
    let lines: Vec<String> = events.iter().filter_map(crate::agent::stream::render).collect();
    let newest = &lines[lines.len().saturating_sub(TRANSCRIPT_LINES)..];
    Ok(render::agent(&agent, newest).into_string())
}

/// `/events?view=board|task-t3|agent-a1`: the live parts, pushed on every change (the shared ones, and the task or
/// agent the page shows). A reconnecting page gets the whole current set first.
async fn events(State(d): State<Arc<Dashboard>>, uri: Uri, headers: HeaderMap) -> Response {
    if !d.signed_in(&headers) {
        return unauthorized();
    }
    let view =
        uri.query().into_iter().flat_map(|q| q.split('&')).find_map(|p| p.strip_prefix("view="));
    let task = view.and_then(|v| v.strip_prefix("task-")).and_then(|t| t.parse::<TaskId>().ok());
    let agent = view.and_then(|v| v.strip_prefix("agent-")).and_then(|a| a.parse::<AgentId>().ok());
    let (send, receive) = mpsc::channel::<Result<Event, std::convert::Infallible>>(4);
    let mut shared = d.live.clone();
    tokio::spawn(async move {
        shared.mark_unchanged();
        // The first view is rendered now: the live thread renders only while pages follow.
        let mut first = d.fresh_parts().await.ok();
        loop {
            let mut parts = match first.take() {
                Some(parts) => parts.as_ref().clone(),
                None => (*shared.borrow_and_update()).as_ref().clone(),
            };
            if let Some(id) = task
                && let Ok(Ok(html)) = d.blocking(move |s| task_part(s, id)).await
            {
                parts.insert("task".to_owned(), html.into());
            }
            if let Some(id) = agent
                && let Ok(Ok(html)) = d.blocking(move |s| agent_part(s, id)).await
            {
                parts.insert("agent".to_owned(), html.into());
            }
            let data = serde_json::Value::Object(parts).to_string();
            if send.send(Ok(Event::default().event("update").data(data))).await.is_err() {
                return;
            }
            tokio::select! {
                changed = shared.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(TRANSCRIPT_EVERY), if agent.is_some() => {}
                () = d.stop.cancelled() => return,
            }
        }
    });
    Sse::new(ReceiverStream::new(receive)).keep_alive(KeepAlive::default()).into_response()
}

/// `POST /act/<verb>` with a JSON object of strings: one operator action through the service.
async fn act(
    State(d): State<Arc<Dashboard>>,
    Path(verb): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !d.signed_in(&headers) {
        return unauthorized();
    }
    let csrf = headers.get("x-cw-csrf").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !same(csrf, &d.access.csrf) || headers.get(header::ORIGIN).is_none() {
        return refused(
            StatusCode::FORBIDDEN,
            "cw: this request did not come from the dashboard page",
        );
    }
    if body.len() > MAX_ACTION_BYTES {
        return refused(StatusCode::PAYLOAD_TOO_LARGE, "cw: the request is too big");
    }
    let Ok(fields) = serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
    else {
        return refused(StatusCode::BAD_REQUEST, "cw: the request is not a JSON object");
    };
    let field = move |name: &str| {
        fields.get(name).and_then(|v| v.as_str()).unwrap_or_default().trim().to_owned()
    };
    let done = d.blocking(move |service| perform(service, &verb, &field)).await;
    match done {
        Ok(Ok(Some(message))) => {
            let body = serde_json::json!({ "message": message }).to_string();
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Ok(Ok(None)) => refused(StatusCode::NOT_FOUND, "cw: no such action"),
        Ok(Err(err)) => {
            let status = match classify(&err) {
                ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
                ErrorKind::User | ErrorKind::Usage => StatusCode::UNPROCESSABLE_ENTITY,
            };
            refused(status, &err.to_string())
        }
        Err(response) => response,
    }
}

fn refused(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "error": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Carries out `verb`; `None` for a verb there is not.
fn perform(
    service: &Service,
    verb: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<Option<String>, ServiceError> {
    let caller = Caller::Operator(Via::Dashboard);
    let task = || field("task").parse::<TaskId>().map_err(ServiceError::from);
    let agent = || field("agent").parse::<AgentId>().map_err(ServiceError::from);
    let message = match verb {
        "answer" => {
            let question = field("question").parse::<QuestionId>()?;
            service.answer(&caller, question, &field("answer"))?;
            format!("{question} answered")
        }
        "send" => {
            let agent = agent()?;
            service.send_message(&caller, agent, &field("text"))?;
            format!("message sent to {agent}")
        }
        "add" => {
            let after = field("after")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|id| !id.is_empty())
                .map(|id| id.parse::<TaskId>())
                .collect::<Result<Vec<_>, _>>()?;
            let request = AddTask {
                title: field("title"),
                description: field("description"),
                after,
                ..AddTask::default()
            };
            let task = service.add_task(&caller, &request)?;
            format!("added {}: {}", task.id, task.title)
        }
        "cancel" => {
            let change = service.cancel_task(&caller, task()?)?;
            format!("{} cancelled", change.task.id)
        }
        "retry" => {
            let change = service.retry_task(&caller, task()?)?;
            format!("{} is {} again", change.task.id, change.task.state)
        }
        "stop" => {
            let agent = agent()?;
            service.stop_agent(&caller, agent)?;
            format!("{agent} stopped; its task waits until you restart it")
        }
        "restart" => {
            let agent = agent()?;
            let task = service.request_restart(&caller, agent, "restarted from the dashboard")?;
            format!("{agent} continues {task} within seconds")
        }
        _ => return Ok(None),
    };
    Ok(Some(message))
}

async fn script() -> Response {
    let js = [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")];
    (js, include_str!("assets/dashboard.js")).into_response()
}

async fn style() -> Response {
    let css = [(header::CONTENT_TYPE, "text/css; charset=utf-8")];
    (css, include_str!("assets/dashboard.css")).into_response()
}

/// Every answer: load nothing from elsewhere, run no inline script, never be framed, keep no
/// copy, send no referrer.
async fn security_headers(request: axum::extract::Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        headers.insert(name, header::HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "no-referrer");
    set(headers, header::CACHE_CONTROL, "no-store");
    response
}
