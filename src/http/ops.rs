//! Operations: liveness, readiness and Prometheus metrics.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store and the bus answer; 503 otherwise (a load balancer stops sending here).
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let store = state.store.ping().await;
    let bus = state.chat.bus.ping().await;
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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, help: &str, kind: &str, value: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    };
    counter(
        "palaver_connections",
        "Open WebSocket connections on this node.",
        "gauge",
        state.hub.connection_count() as u64,
    );
    counter(
        "palaver_connections_opened_total",
        "WebSocket connections opened since start.",
        "counter",
        m.connections_opened.load(Ordering::Relaxed),
    );
    counter(
        "palaver_messages_sent_total",
        "Messages sent over the socket since start.",
        "counter",
        m.messages_sent.load(Ordering::Relaxed),
    );
    counter(
        "palaver_slow_consumer_closes_total",
        "Connections closed with 4008 for falling behind.",
        "counter",
        m.slow_consumers.load(Ordering::Relaxed),
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out)
}
