//! `/api/rooms`: list, create, get, change, delete, join, leave, members.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{CreateRoomRequest, Member, Room, UpdateRoomRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms", get(list).post(create))
        .route(
            "/api/rooms/{room_id}",
            get(show).patch(update).delete(remove),
        )
        .route("/api/rooms/{room_id}/join", post(join))
        .route("/api/rooms/{room_id}/leave", post(leave))
        .route("/api/rooms/{room_id}/members", get(members))
}

async fn list(State(state): State<AppState>, _auth: AuthUser) -> Result<Json<Vec<Room>>> {
    Ok(Json(state.chat.list_rooms().await?))
}

async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CreateRoomRequest>,
) -> Result<(StatusCode, Json<Room>)> {
    let room = state
        .chat
        .create_room(&auth.user, &body.name, body.topic.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(room)))
}

async fn show(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.get_room(&room_id).await?))
}

async fn update(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<UpdateRoomRequest>,
) -> Result<Json<Room>> {
    let room = state
        .chat
        .update_room(
            &auth.user,
            &room_id,
            body.name.as_deref(),
            body.topic.as_deref(),
            body.rearrange.as_deref(),
        )
        .await?;
    Ok(Json(room))
}

async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.delete_room(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn join(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Room>> {
    Ok(Json(state.chat.join(&auth.user, &room_id).await?))
}

async fn leave(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.leave(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn members(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<Member>>> {
    Ok(Json(state.chat.members(&room_id).await?))
}
