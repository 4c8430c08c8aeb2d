//! Incoming webhooks: `/api/rooms/{room_id}/webhooks` (create, list, delete; the room's
//! moderators) and the webhook URL itself, `POST /hooks/{id}/{secret}`, which needs nothing but
//! the secret in its path: it reads no cookie and no bearer token (so it needs no proof of
//! origin either: there is no ambient credential for another site's page to borrow).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{CreateWebhookRequest, CreatedWebhook, Message, Webhook, WebhookPost};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{room_id}/webhooks", get(list).post(create))
        .route("/api/rooms/{room_id}/webhooks/{id}", delete(remove))
        .route("/hooks/{id}/{secret}", post(hook))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/webhooks", tag = "webhooks", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")), request_body = CreateWebhookRequest,
    responses((status = 201, description = "The webhook; its url holds the secret and is shown only this once; its poster joins the room (member.joined)", body = CreatedWebhook),
        (status = 400, description = "invalid_username (the name follows the username rules)", body = crate::protocol::ErrorBody),
        (status = 403, description = "forbidden (the room's moderators; site admins in a room nobody owns), too_many_webhooks, cross_origin", body = crate::protocol::ErrorBody),
        (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody),
        (status = 409, description = "username_taken (the name is a user's, or looks like one)", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited", body = crate::protocol::ErrorBody)))]
async fn create(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<CreateWebhookRequest>,
) -> Result<(StatusCode, Json<CreatedWebhook>)> {
    let hook = state
        .chat
        .create_webhook(&auth.user, &room_id, &body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(hook)))
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/webhooks", tag = "webhooks", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 200, description = "The room's webhooks, without their secrets", body = Vec<Webhook>),
        (status = 403, description = "forbidden", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found", body = crate::protocol::ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<Webhook>>> {
    Ok(Json(state.chat.webhooks(&auth.user, &room_id).await?))
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/webhooks/{id}", tag = "webhooks", security(("bearer" = []), ("cookie" = [])), params(("room_id" = String, Path, description = "The room's id"), ("id" = String, Path, description = "The webhook's id")),
    responses((status = 204, description = "Deleted: its url answers webhook_not_found from now on; its poster leaves the room (member.left)"),
        (status = 403, description = "forbidden", body = crate::protocol::ErrorBody), (status = 404, description = "room_not_found, webhook_not_found", body = crate::protocol::ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, id)): Path<(String, String)>,
) -> Result<StatusCode> {
    state.chat.delete_webhook(&auth.user, &room_id, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/hooks/{id}/{secret}", tag = "webhooks", params(("id" = String, Path, description = "The webhook's id"), ("secret" = String, Path, description = "The webhook's secret (from its url)")), request_body = WebhookPost,
    responses((status = 201, description = "Posted into the webhook's room as its poster; a message.created event", body = Message),
        (status = 200, description = "A retry of this client_id: the original message", body = Message),
        (status = 400, description = "body_empty, body_too_long, invalid_client_id, invalid_json", body = crate::protocol::ErrorBody),
        (status = 404, description = "webhook_not_found (unknown id, wrong secret, deleted webhook or room)", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (per webhook: PALAVER_WEBHOOK_RATE_BURST, PALAVER_WEBHOOK_RATE_PER_MIN)", body = crate::protocol::ErrorBody)))]
async fn hook(
    State(state): State<AppState>,
    Path((id, secret)): Path<(String, String)>,
    ApiJson(body): ApiJson<WebhookPost>,
) -> Result<(StatusCode, Json<Message>)> {
    let (message, created) = state
        .chat
        .post_webhook(&id, &secret, &body.body, body.client_id.as_deref())
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(message)))
}
