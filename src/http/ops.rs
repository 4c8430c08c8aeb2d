//! Operations: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

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

#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.hub),
    )
}
