//! The HTTP upgrade to a WebSocket, and the connection's setup: the `Origin` check (a foreign
//! origin gets 403 `cross_origin`, before any upgrade), the session check (a refused socket gets
//! its error frame and close code), the hub's per-user connection cap,
//! the `hello`, then the writer task and the reader until the connection closes, and the hub
//! forgetting the connection at the end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tracing::instrument::WithSubscriber;

use super::frames;
use super::reader::Reader;
use super::socket::{self, close_frame, Socket};
use super::writer::write_loop;
use crate::auth::{self, AuthUser};
use crate::error::Error;
use crate::hub::{Closer, Connection, Outbound, OutboundQueue};
use crate::protocol::{close_code, ServerFrame, PROTOCOL_VERSION};
use crate::state::AppState;

/// The socket's read buffer: small, because most frames are small and there may be many sockets
/// (a bigger frame is read in several pieces). 1 KiB instead of 4 took an idle socket from 24.0
/// to 19.1 KiB of server RSS (`palaver-bench idle`, 19,800 sockets).
const READ_BUFFER: usize = 1024;

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// The `/ws` route.
pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Deserialize)]
struct WsParams {
    token: Option<String>,
}

/// Whether a browser's `Origin` may open a socket: the origin the server was reached at, or one
/// configured. Programs that send no `Origin` pass (their token still has to be valid).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    mut request: Request,
) -> Response {
    // A browser page of another site must not open a socket with the visitor's cookie (cross-
    // site WebSocket hijacking): refused with 403 before the upgrade, so no socket ever opens.
    if !origin_allowed(request.headers(), &state.config.allowed_origins) {
        return Error::CrossOrigin("this origin may not open a socket here").into_response();
    }
    let (response, on_upgrade) = match socket::accept(&mut request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let headers = request.headers();
    let config = &state.config;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.ws_max_message_bytes))
        .max_frame_size(Some(config.ws_max_message_bytes));
    let verdict = {
        match params.token.or_else(|| auth::token_from_headers(headers)) {
            None => Err((
                close_code::POLICY,
                "unauthenticated",
                Some(Error::Unauthenticated),
            )),
            Some(token) => match AuthUser::from_token(&state, &token).await {
                Ok(Some(user)) => Ok(user),
                Ok(None) => Err((
                    close_code::POLICY,
                    "unauthenticated",
                    Some(Error::Unauthenticated),
                )),
                Err(err) => {
                    err.log_if_internal();
                    Err((1013, "try again later", None))
                }
            },
        }
    };
    let tracker = state.tracker.clone();
    let live = state.live.clone();
    let connection = async move {
        let Some(mut socket) = socket::socket(on_upgrade, ws_config).await else {
            return;
        };
        match verdict {
            Ok(user) => serve(state, socket, user).await,
            Err((code, reason, error)) => {
                if let Some(error) = error {
                    let frame = frames::error(&error, None, None);
                    let _ = socket.send(Message::Text(frame)).await;
                }
                let _ = socket
                    .send(Message::Close(Some(close_frame(code, reason))))
                    .await;
            }
        }
    };
    // The socket runs on the main runtime, apart from the intake where this request is answered
    // (see `serve::intake`), logging where this request logs.
    live.spawn(tracker.track_future(connection.with_current_subscriber()));
    response
}

/// Runs one signed-in connection until it closes.
async fn serve(state: AppState, socket: Socket, auth: AuthUser) {
    let (sink, stream) = socket.split();
    let conn = Arc::new(Connection {
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        user: auth.user,
        token_hash: auth.token_hash,
        expires_at: auth
            .expires_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc)),
        queue: OutboundQueue::new(state.config.ws_outbound_queue.max(8)),
        closer: Closer::default(),
        metrics: state.metrics.clone(),
    });
    if !state
        .hub
        .add_connection(conn.clone(), state.chat.limits().max_connections_per_user)
    {
        let mut sink = sink;
        let frame = frames::error(&Error::TooManyConnections, None, None);
        let _ = sink.send(Message::Text(frame)).await;
        let close = close_frame(close_code::POLICY, "too many connections");
        let _ = sink.send(Message::Close(Some(close))).await;
        return;
    }
    state.metrics.connections_opened.inc();
    conn.push(Outbound::Frame(Utf8Bytes::from(
        ServerFrame::Hello {
            user: conn.user.clone(),
            protocol: PROTOCOL_VERSION,
            node_id: state.node_id.clone(),
        }
        .encode(),
    )));
    let ping_every = Duration::from_secs(state.config.ws_ping_secs.max(1));
    let writer = tokio::spawn(write_loop(sink, conn.clone(), ping_every));
    let mut reader = Reader::new(state.clone(), conn.clone());
    reader.run(stream).await;
    state
        .hub
        .remove_connection(conn.id, reader.take_subscribed());
    let _ = writer.await;
}
