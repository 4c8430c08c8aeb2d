//! Operations: liveness, readiness and Prometheus metrics: on a listener of their own when
//! `PALAVER_METRICS_LISTEN` is set ([`metrics_router`]; then the main listener answers 404), else
//! on the main listener, behind a bearer token when `PALAVER_METRICS_TOKEN` is set.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "The process is alive")))]
async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store and the bus answer; 503 otherwise (a load balancer stops sending here).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "Store and bus reachable"), (status = 503, description = "Store or bus unreachable, or shutting down")))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (store, bus) = state.chat.ready().await;
    let ok = store.is_ok() && bus.is_ok() && !state.shutdown.is_cancelled();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ready" } else { "unavailable" },
        "store": if store.is_ok() { "ok" } else { "unreachable" },
        "bus": if bus.is_ok() { "ok" } else { "unreachable" },
        "shutting_down": state.shutdown.is_cancelled(),
    });
    (status, Json(body))
}

/// The router of the separate metrics listener: `/metrics`, no token (who can reach that address
/// is the access control).
pub fn metrics_router() -> Router<AppState> {
    Router::new().route("/metrics", get(render))
}

#[utoipa::path(get, path = "/metrics", tag = "operations", security((), ("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 401, description = "unauthenticated: PALAVER_METRICS_TOKEN is set and the request's bearer token is not it", body = crate::protocol::ErrorBody),
        (status = 404, description = "not_found: PALAVER_METRICS_LISTEN is set, so metrics are served only on that address", body = crate::protocol::ErrorBody)))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<impl IntoResponse> {
    if state.config.metrics_listen.is_some() {
        return Err(Error::NotFound);
    }
    if let Some(expected) = &state.config.metrics_token {
        let given = crate::auth::bearer_token(&headers).unwrap_or("");
        // Compare digests, so the time taken does not tell how much of the token was right.
        if Sha256::digest(given.as_bytes()) != Sha256::digest(expected.as_bytes()) {
            return Err(Error::Unauthenticated);
        }
    }
    Ok(render(State(state)).await)
}

async fn render(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.hub),
    )
}
