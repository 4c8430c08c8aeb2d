//! `/api/rooms`: list, create, get, change, delete, join, leave, members.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::extract::{ApiJson, ApiQuery};
use super::paging::{self, ListQuery};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{CreateRoomRequest, Member, Room, UpdateRoomRequest};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route(
            "/api/rooms/{room_id}",
            get(show).patch(update).delete(remove),
        )
        .route("/api/rooms/{room_id}/join", post(join))
        .route("/api/rooms/{room_id}/leave", post(leave))
        .route(
            "/api/rooms/{room_id}/members",
            get(members).post(super::members::add_member),
        )
}

#[utoipa::path(get, path = "/api/rooms", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("limit" = Option<u32>, Query, description = "Rooms per page (default 500)"),
        ("after" = Option<String>, Query, description = "The cursor of the next page, from the Link header of the previous one")),
    responses((status = 200, description = "A page of every public room and the caller's private rooms and DMs (with member and my_role for the caller), in creation order; a `Link: <…>; rel=\"next\"` header when there are more", body = Vec<Room>),
        (status = 400, description = "invalid_request (limit out of range, an after that is not a cursor)", body = crate::protocol::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    uri: Uri,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<Room>>)> {
    let page = query.page()?;
    let rooms = state.chat.list_rooms(&auth.user, &page).await?;
    Ok(paging::answer(&uri, &page, rooms))
}

#[utoipa::path(post, path = "/api/rooms", tag = "rooms", security(("bearer" = []), ("cookie" = [])), request_body = CreateRoomRequest,
    responses((status = 201, description = "The new room (public or private); the caller owns it", body = Room),
        (status = 400, description = "invalid_room_name, invalid_request (kind direct: DMs come from /api/dms)", body = crate::protocol::ErrorBody), (status = 403, description = "too_many_rooms", body = crate::protocol::ErrorBody),
        (status = 409, description = "room_name_taken", body = crate::protocol::ErrorBody), (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<Room>)> {
    let room = state
        .chat
        .create_room_of_kind(&auth.user, &body.name, body.topic.as_deref(), body.kind)
        .await?;
    Ok((StatusCode::CREATED, Json(room)))
}

#[utoipa::path(get, path = "/api/rooms/{room_id}", tag = "rooms", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 200, description = "The room", body = Room), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn show(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.get_room(&auth.user, &room_id).await?))
}

#[utoipa::path(patch, path = "/api/rooms/{room_id}", tag = "rooms", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")), request_body = UpdateRoomRequest,
    responses((status = 200, description = "The changed room; a room.updated event", body = Room),
        (status = 400, description = "invalid_room_name, invalid_request (unknown rearrange or pins)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (owner or admin only), cross_origin", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 409, description = "room_name_taken (that name, ignoring case, or a look-alike)", body = crate::protocol::ErrorBody), (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<UpdateRoomRequest>,
) -> Result<Json<Room>> {
    let room = state
        .chat
        .update_room_with_pins(
            &auth.user,
            &room_id,
            body.name.as_deref(),
            body.topic.as_deref(),
            body.rearrange.as_deref(),
            body.pins.as_deref(),
        )
        .await?;
    Ok(Json(room))
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}", tag = "rooms", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 204, description = "Deleted; subscribers get room.deleted"),
        (status = 403, description = "forbidden (owner only)", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.delete_room(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/join", tag = "rooms", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 200, description = "The room; member.joined the first time", body = Room), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn join(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.join(&auth.user, &room_id).await?))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/leave", tag = "rooms", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 204, description = "Left; member.left if the caller was a member"), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn leave(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.leave(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/members", tag = "rooms", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"),
        ("limit" = Option<u32>, Query, description = "Members per page (default 500)"),
        ("after" = Option<String>, Query, description = "The cursor of the next page, from the Link header of the previous one")),
    responses((status = 200, description = "A page of the members in join order, with role and whether online; a `Link: <…>; rel=\"next\"` header when there are more", body = Vec<Member>),
        (status = 400, description = "invalid_request (limit out of range, an after that is not a cursor)", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn members(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    uri: Uri,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<(HeaderMap, Json<Vec<Member>>)> {
    let page = query.page()?;
    let members = state.chat.members(&auth.user, &room_id, &page).await?;
    Ok(paging::answer(&uri, &page, members))
}
