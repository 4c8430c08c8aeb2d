//! Invites: `POST /api/rooms/{room_id}/invites`, `GET /api/invites/{code}`,
//! `POST /api/invites/{code}/accept`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{CreateInviteRequest, InviteCreated, InvitePreview, Room};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{room_id}/invites", post(create))
        .route("/api/invites/{code}", get(preview))
        .route("/api/invites/{code}/accept", post(accept))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/invites", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = CreateInviteRequest,
    responses((status = 201, description = "The new invite; its code is shown only here", body = InviteCreated),
        (status = 400, description = "invalid_request (max_uses 1–100000, expires_in_secs 1–2592000)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (a private room: moderators only; a DM: never), cross_origin", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<CreateInviteRequest>,
) -> Result<(StatusCode, Json<InviteCreated>)> {
    let invite = state
        .chat
        .create_invite(&auth.user, &room_id, body.max_uses, body.expires_in_secs)
        .await?;
    Ok((StatusCode::CREATED, Json(invite)))
}

#[utoipa::path(get, path = "/api/invites/{code}", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("code" = String, Path, description = "The invite code")),
    responses((status = 200, description = "The room a live code leads to", body = InvitePreview),
        (status = 404, description = "invite_not_found", body = crate::protocol::ErrorBody),
        (status = 410, description = "invite_expired (expired or used up)", body = crate::protocol::ErrorBody)))]
async fn preview(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(code): Path<String>,
) -> Result<Json<InvitePreview>> {
    Ok(Json(state.chat.preview_invite(&auth.user, &code).await?))
}

#[utoipa::path(post, path = "/api/invites/{code}/accept", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("code" = String, Path, description = "The invite code")),
    responses((status = 200, description = "The room, joined (member.joined; a member already in it uses nothing)", body = Room),
        (status = 404, description = "invite_not_found", body = crate::protocol::ErrorBody),
        (status = 410, description = "invite_expired (expired or used up)", body = crate::protocol::ErrorBody)))]
async fn accept(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(code): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.accept_invite(&auth.user, &code).await?))
}
