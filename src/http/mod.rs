//! The REST API (one module per resource, each with its own `router()`), operations endpoints,
//! and the web UI.

pub mod auth;
pub mod extract;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod rooms;
pub mod ui;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::state::AppState;

/// The Content-Security-Policy of every answer: scripts, styles, fonts and connections from this
/// origin only (sockets may use `ws:`/`wss:`), images also as `data:` URLs (the favicon), no
/// inline script or style, no plugins, no framing, no `<base>`, forms post here only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; font-src 'self'; \
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

/// The whole HTTP surface; the root stays a table of contents.
pub fn router() -> Router<AppState> {
    let mut router = Router::new()
        .merge(auth::router())
        .merge(rooms::router())
        .merge(messages::router())
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
