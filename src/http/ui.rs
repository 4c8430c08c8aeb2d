//! The web UI, built by Vite into `web/dist` and embedded in the binary (in debug builds it is
//! read from disk, so a rebuilt UI shows without recompiling). Paths that are not files fall back
//! to `index.html` for the client-side router. Until a UI is built, `/` explains where it is.
//! Paths with `..` or `.` segments, backslashes or NULs are `not_found` (never a file outside
//! `web/dist`, never the fallback page).

use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Router;
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "web/dist"]
#[allow_missing = true]
struct Assets;

pub fn router() -> Router<AppState> {
    Router::new().fallback(serve)
}

async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") || !safe_path(path) {
        return crate::error::Error::NotFound.into_response();
    }
    if let Some(file) = Assets::get(path).filter(|_| !path.is_empty()) {
        let cache = if path.starts_with("assets/") {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        return (
            [
                (header::CONTENT_TYPE, file.metadata.mimetype().to_string()),
                (header::CACHE_CONTROL, cache.to_string()),
            ],
            file.data,
        )
            .into_response();
    }
    match Assets::get("index.html") {
        Some(index) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            index.data,
        )
            .into_response(),
        // An invite link (`/invite/{code}`, a page of the UI) answers even before a UI is built.
        None if path.is_empty() || path.starts_with("invite/") => Html(PLACEHOLDER).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Whether a request path may name a UI file: no `..` or `.` segment, no backslash, no NUL.
/// (Escapes are not decoded: `%2e%2e` is looked up literally and names no file.) The embedded
/// lookup would refuse to leave `web/dist` anyway; this refuses before it is asked.
fn safe_path(path: &str) -> bool {
    !path.contains(['\\', '\0'])
        && path
            .split('/')
            .all(|segment| segment != ".." && segment != ".")
}

const PLACEHOLDER: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Palaver</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/docs/style.css"></head>
<body><main>
<h1>Palaver is running</h1>
<p>This build has no web UI yet (build it with <code>scripts/build-web.sh</code>). The server is
ready for any client: see <code>docs/protocol.md</code> for the WebSocket protocol and the REST API.</p>
<p><a href="/healthz">/healthz</a> · <a href="/readyz">/readyz</a> · <a href="/metrics">/metrics</a></p>
</main></body></html>"#;

#[cfg(test)]
mod tests {
    use super::safe_path;

    #[test]
    fn only_plain_relative_paths_are_safe() {
        for ok in [
            "",
            "index.html",
            "assets/app-1234.js",
            "rooms/general",
            "a//b",
            "%2e%2e",
        ] {
            assert!(safe_path(ok), "{ok}");
        }
        for bad in [
            "..",
            "../Cargo.toml",
            "assets/../../Cargo.toml",
            "./index.html",
            "assets\\..\\x",
            "a\0b",
        ] {
            assert!(!safe_path(bad), "{bad}");
        }
    }
}
