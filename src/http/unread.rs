//! Read markers, unread counts, notification levels and Web Push subscriptions over REST
//! (issue #10).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{
    ErrorBody, NotificationsRequest, PushKey, PushSubscriptionRequest, PushUnsubscribeRequest,
    ReadRequest, UnreadEntry,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{room_id}/read", put(mark_read))
        .route("/api/rooms/{room_id}/notifications", put(set_notifications))
        .route("/api/me/unread", get(unread))
        .route("/api/push/key", get(push_key))
        .route(
            "/api/push/subscriptions",
            post(subscribe).delete(unsubscribe),
        )
}

#[utoipa::path(put, path = "/api/rooms/{room_id}/read", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = ReadRequest,
    responses((status = 204, description = "The caller's read marker is at `seq` (clamped to the room's last seq) or was already further (nothing changes). When it moved, every socket of the caller gets `read_marker`"),
        (status = 404, description = "room_not_found", body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<ReadRequest>,
) -> Result<StatusCode> {
    state.chat.mark_read(&auth.user, &room_id, body.seq).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/unread", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Every room the caller is a member of (public rooms joined, private rooms, DMs), by id: the read marker, others' unread messages (among the room's last 1000 events), unread mentions of the caller, the room's last seq and the caller's notification level", body = [UnreadEntry])))]
async fn unread(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<UnreadEntry>>> {
    Ok(Json(state.chat.unread(&auth.user).await?))
}

#[utoipa::path(put, path = "/api/rooms/{room_id}/notifications", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = NotificationsRequest,
    responses((status = 204, description = "Set: `all` (every message of others), `mentions` (those that mention the caller), `nothing`. The default is `mentions` in rooms, `all` in DMs"),
        (status = 404, description = "room_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn set_notifications(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<NotificationsRequest>,
) -> Result<StatusCode> {
    let chat = &state.chat;
    chat.set_notifications(&auth.user, &room_id, body.level)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/push/key", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The server's VAPID public key (base64url of the uncompressed P-256 point): the `applicationServerKey` of `PushManager.subscribe`", body = PushKey)))]
async fn push_key(State(state): State<AppState>, _auth: AuthUser) -> Result<Json<PushKey>> {
    Ok(Json(state.chat.push_key().await?))
}

#[utoipa::path(post, path = "/api/push/subscriptions", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    request_body = PushSubscriptionRequest,
    responses((status = 201, description = "Stored (again: its keys are replaced, and it is the caller's). Messages that notify the caller are pushed to it; a push service answering 404 or 410 deletes it. A person keeps their newest 20"),
        (status = 400, description = "invalid_request (not an https endpoint, a private host, keys that are not a P-256 point and a 16-byte secret)", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn subscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<PushSubscriptionRequest>,
) -> Result<StatusCode> {
    state.chat.subscribe_push(&auth.user, &body).await?;
    Ok(StatusCode::CREATED)
}

#[utoipa::path(delete, path = "/api/push/subscriptions", tag = "unread", security(("bearer" = []), ("cookie" = [])),
    request_body = PushUnsubscribeRequest,
    responses((status = 204, description = "The caller has no subscription of this endpoint (any they had is deleted)"),
        (status = 400, description = "invalid_request", body = ErrorBody)))]
async fn unsubscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<PushUnsubscribeRequest>,
) -> Result<StatusCode> {
    state
        .chat
        .unsubscribe_push(&auth.user, &body.endpoint)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
