//! `/api/bots`: a person's bot accounts: create (the token shown once), list, delete, new token.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{AuthResponse, Bot, BotToken, CreateBotRequest};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/bots", get(list).post(create))
        .route("/api/bots/{user_id}", delete(remove))
        .route("/api/bots/{user_id}/token", post(rotate))
}

#[utoipa::path(post, path = "/api/bots", tag = "bots", security(("bearer" = []), ("cookie" = [])), request_body = CreateBotRequest,
    responses((status = 201, description = "The bot (user.bot = true) and its token, shown only this once; with room_ids it joins each (member.joined) and its token reaches only those rooms", body = AuthResponse),
        (status = 400, description = "invalid_username, invalid_request (room_ids empty or over 50)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (guests and bots can't own bots; a private room needs its moderator; no direct rooms), too_many_bots, cross_origin", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found (a listed room the caller can't read)", body = crate::protocol::ErrorBody),
        (status = 409, description = "username_taken (that name, ignoring case, or a look-alike)", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<CreateBotRequest>,
) -> Result<(StatusCode, Json<AuthResponse>)> {
    let (bot, token) = state
        .chat
        .create_bot(&auth.user, &body.username, body.room_ids.as_deref())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            user: bot.user,
            token,
            first_admin: false,
        }),
    ))
}

#[utoipa::path(get, path = "/api/bots", tag = "bots", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The caller's bots, oldest first (no tokens)", body = Vec<Bot>),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
async fn list(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<Bot>>> {
    Ok(Json(state.chat.bots(&auth.user).await?))
}

#[utoipa::path(delete, path = "/api/bots/{user_id}", tag = "bots", security(("bearer" = []), ("cookie" = [])), params(("user_id" = String, Path, description = "The bot's user id")),
    responses((status = 204, description = "Deleted: its token stops working (its sockets close) and it leaves every room"),
        (status = 404, description = "bot_not_found (no bot of the caller's with that id)", body = crate::protocol::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.delete_bot(&auth.user, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/bots/{user_id}/token", tag = "bots", security(("bearer" = []), ("cookie" = [])), params(("user_id" = String, Path, description = "The bot's user id")),
    responses((status = 201, description = "A new token, shown only this once; every earlier one stops working", body = BotToken),
        (status = 404, description = "bot_not_found", body = crate::protocol::ErrorBody)))]
async fn rotate(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(user_id): Path<String>,
) -> Result<(StatusCode, Json<BotToken>)> {
    let token = state.chat.rotate_bot_token(&auth.user, &user_id).await?;
    Ok((StatusCode::CREATED, Json(BotToken { token })))
}
