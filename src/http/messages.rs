//! A room's messages and events: history pages, send, edit, delete, move, clear, the event log
//! (with long-polling), and typing.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::{AuthUser, PollUser};
use crate::chat::messages::Poll;
use crate::chat::validate;
use crate::error::{Error, Result};
use crate::protocol::{
    EditMessageRequest, EventPage, Message, MessagePage, MoveMessageRequest, SendMessageRequest,
};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{room_id}/messages", get(history).post(send))
        .route(
            "/api/rooms/{room_id}/messages/{message_id}",
            patch(edit).delete(remove),
        )
        .route(
            "/api/rooms/{room_id}/messages/{message_id}/move",
            post(move_message),
        )
        .route("/api/rooms/{room_id}/clear", post(clear))
        .route("/api/rooms/{room_id}/events", get(events))
        .route("/api/rooms/{room_id}/typing", post(typing))
}

#[derive(Deserialize)]
struct HistoryQuery {
    before: Option<String>,
    around: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/messages", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("before" = Option<String>, Query, description = "A position: the page just before it; omit for the last page"),
        ("around" = Option<String>, Query, description = "A message id: a window of `limit` messages around it (about half older, the rest newer; a thread reply stands for its thread's first message), with `has_newer`"),
        ("after" = Option<String>, Query, description = "A position: the page just after it, with `has_newer` (paging forward from an `around` window)"),
        ("limit" = Option<u32>, Query, description = "Messages per page")),
    responses((status = 200, description = "Messages in display (position) order; thread replies are not among them", body = MessagePage),
        (status = 400, description = "invalid_request (a bad limit, or more than one of before, around and after)", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found; message_not_found (around names no live message of the room)", body = crate::protocol::ErrorBody)))]
async fn history(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessagePage>> {
    let limit = validate::limit(
        query.limit,
        validate::HISTORY_LIMIT_DEFAULT,
        validate::HISTORY_LIMIT_MAX,
    )?;
    let chat = &state.chat;
    let page = match (&query.before, &query.around, &query.after) {
        (before, None, None) => {
            chat.messages(&auth.user, &room_id, before.as_deref(), limit)
                .await?
        }
        (None, Some(around), None) => {
            chat.messages_around(&auth.user, &room_id, around, limit)
                .await?
        }
        (None, None, Some(after)) => {
            chat.messages_after(&auth.user, &room_id, after, limit)
                .await?
        }
        _ => {
            return Err(Error::InvalidRequest(
                "before, around and after are different pages: give at most one".into(),
            ))
        }
    };
    Ok(Json(MessagePage {
        messages: page.messages,
        has_more: page.has_more,
        has_newer: page.has_newer,
    }))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/messages", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")), request_body = SendMessageRequest,
    responses((status = 201, description = "Stored (committed); a message.created event", body = Message),
        (status = 200, description = "A retry of this client_id: the original message", body = Message),
        (status = 400, description = "body_empty, body_too_long, invalid_client_id, invalid_attachments", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found; message_not_found (reply_to or thread_id names no live message of the room); file_not_found (an attachment that is not one of your uploads)", body = crate::protocol::ErrorBody), (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody),
        (status = 503, description = "unavailable: the store could not commit; retry with the same client_id", body = crate::protocol::ErrorBody)))]
async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<Message>)> {
    let threading = crate::chat::threads::Threading {
        reply_to: body.reply_to,
        thread_id: body.thread_id,
    };
    let (message, created) = state
        .chat
        .send_in(
            &auth.user,
            &room_id,
            &body.client_id,
            &body.body,
            threading,
            body.attachments,
        )
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}

#[utoipa::path(patch, path = "/api/rooms/{room_id}/messages/{message_id}", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path), ("message_id" = String, Path)), request_body = EditMessageRequest,
    responses((status = 200, description = "The edited message; a message.edited event", body = Message),
        (status = 403, description = "forbidden (author only)", body = crate::protocol::ErrorBody), (status = 404, description = "message_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn edit(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<EditMessageRequest>,
) -> Result<Json<Message>> {
    Ok(Json(
        state
            .chat
            .edit(&auth.user, &room_id, &message_id, &body.body)
            .await?,
    ))
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/messages/{message_id}", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path), ("message_id" = String, Path)),
    responses((status = 204, description = "Deleted, its text erased; a message.deleted event"),
        (status = 403, description = "forbidden (author, owner or admin)", body = crate::protocol::ErrorBody), (status = 404, description = "message_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state
        .chat
        .delete_message(&auth.user, &room_id, &message_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/move", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path), ("message_id" = String, Path)), request_body = MoveMessageRequest,
    responses((status = 200, description = "The moved message with its new position; a message.moved event", body = Message),
        (status = 400, description = "thread_order (thread replies keep their order: they can't be moved, nor a message after one)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (the room's rearrange setting)", body = crate::protocol::ErrorBody), (status = 404, description = "message_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn move_message(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<MoveMessageRequest>,
) -> Result<Json<Message>> {
    let message = state
        .chat
        .move_message(&auth.user, &room_id, &message_id, body.after.as_deref())
        .await?;
    Ok(Json(message))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/clear", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 204, description = "Every message removed for everyone; one room.cleared event"),
        (status = 403, description = "forbidden (owner or admin)", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn clear(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.clear(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct EventsQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
    #[serde(default)]
    wait: u64,
    live: Option<String>,
}

/// The longest `live` token accepted (the server's are 16 hex digits).
const LIVE_TOKEN_MAX: usize = 64;

#[utoipa::path(get, path = "/api/rooms/{room_id}/events", tag = "messages", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path), ("after" = Option<u64>, Query, description = "Events with seq > after"),
        ("limit" = Option<u32>, Query, description = "Events per answer"),
        ("wait" = Option<u64>, Query, description = "Long-poll up to this many seconds for an event"),
        ("live" = Option<String>, Query, description = "A live poll: the answer also says who is online and typing (`online`, `typing`) and a token (`live`) to pass next time; the poll answers early when that changes, and keeps the reader online in the room. Empty at first.")),
    responses((status = 200, description = "Events in seq order and the room's last seq", body = EventPage),
        (status = 400, description = "invalid_request", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn events(
    State(state): State<AppState>,
    PollUser(auth): PollUser,
    Path(room_id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response> {
    let limit = validate::limit(
        query.limit,
        validate::EVENTS_LIMIT_DEFAULT,
        validate::EVENTS_LIMIT_MAX,
    )?;
    if query.wait > validate::WAIT_MAX_SECS {
        return Err(Error::InvalidRequest(format!(
            "wait is at most {} seconds",
            validate::WAIT_MAX_SECS
        )));
    }
    validate::after_seq(query.after)?;
    if query
        .live
        .as_ref()
        .is_some_and(|t| t.len() > LIVE_TOKEN_MAX)
    {
        return Err(Error::InvalidRequest(format!(
            "live is at most {LIVE_TOKEN_MAX} characters"
        )));
    }
    // Long-poll: wait until the room has an event after `after` (or, for a live poll, its
    // online or typing state changes), `wait` seconds pass, or the server shuts down.
    let poll = Poll {
        after: query.after,
        limit,
        wait: Duration::from_secs(query.wait),
        live: query.live,
    };
    let page = state
        .chat
        .poll_events(&auth.user, &room_id, poll, state.shutdown.cancelled())
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], page).into_response())
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/typing", tag = "messages", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 204, description = "Relayed to the room's subscribers as a typing frame (at most one per 2 s)"),
        (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn typing(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.get_room(&auth.user, &room_id).await?;
    state.chat.typing(&auth.user, &room_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
