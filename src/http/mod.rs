//! The REST API (one module per resource, each with its own `router()`), operations endpoints,
//! and the web UI.

pub mod auth;
pub mod bots;
pub mod calls;
pub mod extract;
pub mod files;
pub mod invites;
pub mod me;
pub mod members;
pub mod messages;
pub mod moderation;
pub mod openapi;
mod openapi_rules;
pub mod ops;
pub mod paging;
pub mod people;
pub mod rooms;
pub mod search;
pub mod threads;
pub mod ui;
pub mod unread;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Request, Uri};
use axum::Router;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::state::AppState;

/// The Content-Security-Policy of every answer: scripts, styles, fonts and connections from this
/// origin only (`'self'` covers the same-origin `ws:`/`wss:` socket in CSP 3 browsers), images also as `data:` URLs (the favicon), no
/// inline script or style, no plugins, no framing, no `<base>`, forms post here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The security headers set on every answer (UI files, API, errors, `/docs`, `/metrics`, …),
/// unless a handler set its own.
pub fn security_headers() -> Vec<(HeaderName, HeaderValue)> {
    vec![
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        // The old spelling of `frame-ancestors 'none'`, for browsers without CSP 2.
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ]
}

/// Largest REST request body, in bytes. Every API body is small (a message is at most 4000
/// characters); larger ones are `payload_too_large` (413) before they are parsed.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The request span of the trace layer: method, path and query with any `token` parameter's
/// value replaced by `REDACTED` (the socket's `?token=` must not reach the logs), and version.
fn request_span(request: &Request<axum::body::Body>) -> Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        uri = %redacted(request.uri()),
        version = ?request.version(),
    )
}

/// The request's path and query, with every `token=` value replaced.
pub fn redacted(uri: &Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_string();
    };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if name.eq_ignore_ascii_case("token") => format!("{name}=REDACTED"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), query.join("&"))
}

/// The layer that logs every request (at debug level), without its secrets.
pub type Trace =
    TraceLayer<SharedClassifier<ServerErrorsAsFailures>, fn(&Request<axum::body::Body>) -> Span>;

pub fn trace_layer() -> Trace {
    TraceLayer::new_for_http()
        .make_span_with(request_span as fn(&Request<axum::body::Body>) -> Span)
}

/// The whole HTTP surface; the root stays a table of contents.
pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .merge(auth::router())
        .merge(me::router())
        .merge(people::router())
        .merge(rooms::router())
        .merge(members::router())
        .merge(invites::router())
        .merge(messages::router())
        .merge(threads::router())
        .merge(bots::router())
        .merge(webhooks::router())
        .merge(moderation::router())
        .merge(unread::router())
        .merge(search::router())
        .merge(files::router())
        .merge(calls::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(crate::gateway::router())
        .merge(ui::router())
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    for (name, value) in security_headers() {
        router = router.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    router
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn the_token_in_a_query_never_reaches_the_log() {
        let uri = "/ws?token=s3cr3t&x=1&TOKEN=again".parse().unwrap();
        assert_eq!(redacted(&uri), "/ws?token=REDACTED&x=1&TOKEN=REDACTED");
        assert_eq!(redacted(&"/api/rooms".parse().unwrap()), "/api/rooms");
        assert_eq!(redacted(&"/a?tokens=1".parse().unwrap()), "/a?tokens=1");
    }
}
