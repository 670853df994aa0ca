//! `POST /hosts/hello` on `cw run`'s port: a worker (`cw worker`) trades its host token for
//! where the shared state is. Loopback only, like every route here: a worker on another machine
//! reaches it through an SSH tunnel (README), which also carries the token encrypted.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;

use crate::service::{Service, ServiceError};
use crate::wire::WorkerHelloJson;

#[derive(Clone)]
struct Hosts {
    service: Arc<Service>,
    port: u16,
}

/// The route, for `HttpServer::serve`'s `beside`.
pub fn routes(service: Arc<Service>, port: u16) -> axum::Router {
    axum::Router::new().route("/hosts/hello", post(hello)).with_state(Hosts { service, port })
}

async fn hello(State(hosts): State<Hosts>, headers: HeaderMap) -> Response {
    if let Some(why) = crate::loopback::loopback_refusal(&headers, hosts.port) {
        return (StatusCode::FORBIDDEN, format!("cw: {why}\n")).into_response();
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    let Some(token) = token else {
        return (StatusCode::UNAUTHORIZED, "cw: a host token is needed (cw worker add)\n")
            .into_response();
    };
    let service = hosts.service.clone();
    match tokio::task::spawn_blocking(move || service.greet_worker(&token)).await {
        Ok(Ok(hello)) => match serde_json::to_string(&WorkerHelloJson::from(hello)) {
            Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "cw: the greeting failed\n").into_response()
            }
        },
        Ok(Err(ServiceError::UnknownToken)) => (
            StatusCode::UNAUTHORIZED,
            "cw: this is not a host token of this repository (cw worker add)\n",
        )
            .into_response(),
        Ok(Err(err)) => (StatusCode::CONFLICT, format!("cw: {err}\n")).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "cw: the greeting failed\n").into_response(),
    }
}
