//! DMs and members: `POST /api/dms`, `POST /api/rooms/{room_id}/members` (the route is
//! registered with the members list in [`super::rooms`]) and
//! `PATCH /api/rooms/{room_id}/members/{user_id}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{patch, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{AddMemberRequest, ChangeRoleRequest, Member, OpenDmRequest, Room};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dms", post(open_dm))
        .route("/api/rooms/{room_id}/members/{user_id}", patch(set_role))
}

#[utoipa::path(post, path = "/api/dms", tag = "rooms", security(("bearer" = []), ("cookie" = [])), request_body = OpenDmRequest,
    responses((status = 201, description = "The new DM (kind direct) of the caller and the people named", body = Room),
        (status = 200, description = "These people's existing DM", body = Room),
        (status = 400, description = "too_many_members (more than 8 people), invalid_request (nobody besides the caller)", body = crate::protocol::ErrorBody),
        (status = 404, description = "user_not_found", body = crate::protocol::ErrorBody)))]
async fn open_dm(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<OpenDmRequest>,
) -> Result<(StatusCode, Json<Room>)> {
    let (room, created) = state.chat.open_dm(&auth.user, &body.usernames).await?;
    let status = match created {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    Ok((status, Json(room)))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/members", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = AddMemberRequest,
    responses((status = 201, description = "Added: member.joined", body = Member),
        (status = 200, description = "Already a member", body = Member),
        (status = 403, description = "forbidden (moderators only; a DM takes nobody new)", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found, user_not_found", body = crate::protocol::ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<AddMemberRequest>,
) -> Result<(StatusCode, Json<Member>)> {
    let (member, added) = state
        .chat
        .add_member(&auth.user, &room_id, &body.username)
        .await?;
    let status = match added {
        true => StatusCode::CREATED,
        false => StatusCode::OK,
    };
    Ok((status, Json(member)))
}

#[utoipa::path(patch, path = "/api/rooms/{room_id}/members/{user_id}", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"), ("user_id" = String, Path, description = "The member's user id")),
    request_body = ChangeRoleRequest,
    responses((status = 200, description = "The member with the new role: member.role_changed", body = Member),
        (status = 400, description = "invalid_role (moderator or member; the owner's role doesn't change)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (the owner only)", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found, user_not_found (not a member)", body = crate::protocol::ErrorBody)))]
async fn set_role(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, user_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ChangeRoleRequest>,
) -> Result<Json<Member>> {
    let member = state
        .chat
        .set_role(&auth.user, &room_id, &user_id, &body.role)
        .await?;
    Ok(Json(member))
}
