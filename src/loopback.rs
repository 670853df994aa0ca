//! Which HTTP requests may reach cw's loopback server: its Host must name this server
//! (127.0.0.1 or localhost, this port) and an Origin, when a browser sends one, a loopback page.
//! A DNS-rebinding page (evil.example resolving to 127.0.0.1) is refused on both counts. The
//! legacy SSE transport and the dashboard apply it; rmcp applies the same rules to `/mcp`.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Refuses a request whose Host is not this server's loopback name, or whose Origin (when a
/// browser sends one) is not a loopback page: a DNS-rebinding page cannot open a session.
pub(crate) async fn only_loopback(
    State(port): State<u16>,
    request: Request,
    next: Next,
) -> Response {
    match loopback_refusal(request.headers(), port) {
        Some(why) => (StatusCode::FORBIDDEN, format!("cw: {why}\n")).into_response(),
        None => next.run(request).await,
    }
}

/// Why the Host or Origin header is not allowed, if it is not.
pub(crate) fn loopback_refusal(headers: &HeaderMap, port: u16) -> Option<&'static str> {
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
}
