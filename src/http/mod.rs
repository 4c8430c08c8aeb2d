//! The REST API (one module per resource, each with its own `router()`), operations endpoints,
//! and the web UI.

pub mod auth;
pub mod extract;
pub mod messages;
pub mod openapi;
pub mod ops;
pub mod rooms;
pub mod ui;

use axum::Router;

use crate::app::AppState;

/// The whole HTTP surface; the root stays a table of contents.
pub fn router() -> Router<AppState> {
    Router::new()
        .merge(auth::router())
        .merge(rooms::router())
        .merge(messages::router())
        .merge(ops::router())
        .merge(openapi::router())
        .merge(crate::gateway::router())
        .merge(ui::router())
}
