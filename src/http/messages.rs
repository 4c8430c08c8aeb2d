//! A room's messages and events: history pages, send, edit, delete, move, clear, the event log
//! (with long-polling), and typing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{Error, Result};
use crate::protocol::{
    EditMessageRequest, EventPage, Message, MessagePage, MoveMessageRequest, SendMessageRequest,
};

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
    limit: Option<u32>,
}

async fn history(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<MessagePage>> {
    let limit = query.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(Error::InvalidRequest("limit is 1 to 200".into()));
    }
    let page = state
        .chat
        .messages(&room_id, query.before.as_deref(), limit)
        .await?;
    Ok(Json(MessagePage {
        messages: page.messages,
        has_more: page.has_more,
    }))
}

async fn send(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<SendMessageRequest>,
) -> Result<(StatusCode, Json<Message>)> {
    let (message, created) = state
        .chat
        .send(&auth.user, &room_id, &body.client_id, &body.body)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}

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
}

async fn events(
    State(state): State<AppState>,
    _auth: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventPage>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(Error::InvalidRequest("limit is 1 to 1000".into()));
    }
    if query.wait > 30 {
        return Err(Error::InvalidRequest("wait is at most 30 seconds".into()));
    }
    let (events, last_seq) = state.chat.events(&room_id, query.after, limit).await?;
    Ok(Json(EventPage { events, last_seq }))
}

async fn typing(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<StatusCode> {
    state.chat.get_room(&room_id).await?;
    state.chat.typing(&auth.user, &room_id).await;
    Ok(StatusCode::NO_CONTENT)
}
