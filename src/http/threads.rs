//! Replies, threads, reactions and pins over REST (issue #10): a thread's pages, adding and
//! removing reactions, pinning and unpinning, and a room's pins. (Replies and thread replies
//! are sent with `POST …/messages`, in [`super::messages`].)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::ApiQuery;
use crate::auth::AuthUser;
use crate::chat::validate;
use crate::error::Result;
use crate::protocol::{ErrorBody, Message, MessagePage};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/rooms/{room_id}/threads/{message_id}/messages",
            get(thread),
        )
        .route(
            "/api/rooms/{room_id}/messages/{message_id}/reactions/{emoji}",
            put(react).delete(unreact),
        )
        .route(
            "/api/rooms/{room_id}/messages/{message_id}/pin",
            post(pin).delete(unpin),
        )
        .route("/api/rooms/{room_id}/pins", get(pins))
}

#[derive(Deserialize)]
struct ThreadQuery {
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/threads/{message_id}/messages", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("message_id" = String, Path, description = "The thread's first message (a top-level message)"),
        ("before" = Option<String>, Query, description = "A position: the page just before it; omit for the last page"),
        ("limit" = Option<u32>, Query, description = "Replies per page")),
    responses((status = 200, description = "The thread's replies in display order, without its first message", body = MessagePage),
        (status = 404, description = "room_not_found, message_not_found (no such live top-level message in the room)", body = ErrorBody)))]
async fn thread(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<ThreadQuery>,
) -> Result<Json<MessagePage>> {
    let limit = validate::limit(
        query.limit,
        validate::THREAD_LIMIT_DEFAULT,
        validate::THREAD_LIMIT_MAX,
    )?;
    let page = state
        .chat
        .thread_messages(
            &auth.user,
            &room_id,
            &message_id,
            query.before.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(MessagePage {
        messages: page.messages,
        has_more: page.has_more,
        has_newer: page.has_newer,
    }))
}

#[utoipa::path(put, path = "/api/rooms/{room_id}/messages/{message_id}/reactions/{emoji}", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("message_id" = String, Path), ("emoji" = String, Path, description = "The emoji, percent-encoded: one emoji or a :shortcode:")),
    responses((status = 204, description = "Reacted: a reaction.added event; a repeat changes nothing and makes no event"),
        (status = 400, description = "invalid_emoji", body = ErrorBody),
        (status = 403, description = "muted, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, message_not_found", body = ErrorBody),
        (status = 409, description = "too_many_reactions (the message has the most different emoji it may)", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn react(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id, emoji)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    state
        .chat
        .react(&auth.user, &room_id, &message_id, &emoji)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/messages/{message_id}/reactions/{emoji}", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("message_id" = String, Path), ("emoji" = String, Path, description = "The emoji, percent-encoded")),
    responses((status = 204, description = "Reaction removed: a reaction.removed event; when there was none, nothing changes and no event is made"),
        (status = 400, description = "invalid_emoji", body = ErrorBody),
        (status = 403, description = "muted, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, message_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn unreact(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id, emoji)): Path<(String, String, String)>,
) -> Result<StatusCode> {
    state
        .chat
        .unreact(&auth.user, &room_id, &message_id, &emoji)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/pin", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 204, description = "Pinned: a message.pinned event; pinning a pinned message changes nothing and makes no event"),
        (status = 403, description = "forbidden (the room's pins setting: moderators), muted, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, message_not_found", body = ErrorBody),
        (status = 409, description = "too_many_pins (the room has the most pinned messages it may)", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn pin(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.chat.pin(&auth.user, &room_id, &message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/messages/{message_id}/pin", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 204, description = "Unpinned: a message.unpinned event; when it was not pinned, nothing changes and no event is made"),
        (status = 403, description = "forbidden (the room's pins setting: moderators), muted, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, message_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn unpin(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.chat.unpin(&auth.user, &room_id, &message_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/pins", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path)),
    responses((status = 200, description = "The room's pinned messages, the newest pin first", body = [Message]),
        (status = 404, description = "room_not_found", body = ErrorBody)))]
async fn pins(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<Message>>> {
    Ok(Json(state.chat.pins(&auth.user, &room_id).await?))
}
