//! Moderation over REST: kick, bans, mutes, reports, and the audit log.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::extract::{ApiJson, ApiQuery};
use crate::auth::AuthUser;
use crate::error::Result;
use crate::protocol::{
    AuditEntry, ErrorBody, Report, ReportRequest, Sanction, SanctionRequest, TargetRequest,
};
use crate::state::AppState;
use crate::store::moderation::SanctionKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{room_id}/kick", post(kick))
        .route("/api/rooms/{room_id}/bans", get(bans).post(ban))
        .route("/api/rooms/{room_id}/bans/{user_id}", delete(unban))
        .route("/api/rooms/{room_id}/mutes", get(mutes).post(mute))
        .route("/api/rooms/{room_id}/mutes/{user_id}", delete(unmute))
        .route(
            "/api/rooms/{room_id}/messages/{message_id}/report",
            post(report),
        )
        .route("/api/rooms/{room_id}/reports", get(reports))
        .route("/api/admin/audit", get(audit))
}

/// `?before=&limit=` of the reports and the audit log.
#[derive(Deserialize)]
struct PageQuery {
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/kick", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = TargetRequest,
    responses((status = 204, description = "Removed: a member.kicked event; their sockets get `removed` (reason kicked); they may join again"),
        (status = 400, description = "cannot_moderate_self", body = ErrorBody),
        (status = 403, description = "forbidden (moderators only), cannot_moderate_user (the owner, a site admin, or a moderator when you are not the owner), banned", body = ErrorBody),
        (status = 404, description = "room_not_found, user_not_found, member_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn kick(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<TargetRequest>,
) -> Result<StatusCode> {
    state.chat.kick(&auth.user, &room_id, &body.user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/bans", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = SanctionRequest,
    responses((status = 201, description = "Banned (again: the new expiry replaces the old): a member.banned event; the membership ends; their sockets get `removed` (reason banned); every path of the room answers them 403 banned", body = Sanction),
        (status = 400, description = "cannot_moderate_self, invalid_request (expires_in_secs out of range)", body = ErrorBody),
        (status = 403, description = "forbidden, cannot_moderate_user, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, user_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn ban(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<SanctionRequest>,
) -> Result<(StatusCode, Json<Sanction>)> {
    sanction(state, auth, room_id, body, SanctionKind::Ban).await
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/mutes", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")), request_body = SanctionRequest,
    responses((status = 201, description = "Muted (again: the new expiry replaces the old): a member.muted event; they may read but posting (send, edit, delete, move, typing) answers 403 muted", body = Sanction),
        (status = 400, description = "cannot_moderate_self, invalid_request (expires_in_secs out of range)", body = ErrorBody),
        (status = 403, description = "forbidden, cannot_moderate_user, banned", body = ErrorBody),
        (status = 404, description = "room_not_found, user_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited", body = ErrorBody)))]
async fn mute(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiJson(body): ApiJson<SanctionRequest>,
) -> Result<(StatusCode, Json<Sanction>)> {
    sanction(state, auth, room_id, body, SanctionKind::Mute).await
}

async fn sanction(
    state: AppState,
    auth: AuthUser,
    room_id: String,
    body: SanctionRequest,
    kind: SanctionKind,
) -> Result<(StatusCode, Json<Sanction>)> {
    let sanction = state
        .chat
        .sanction(
            &auth.user,
            &room_id,
            kind,
            &body.user_id,
            body.expires_in_secs,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(sanction)))
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/bans/{user_id}", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"), ("user_id" = String, Path, description = "The banned person's id")),
    responses((status = 204, description = "Lifted: a member.unbanned event"),
        (status = 403, description = "forbidden (moderators only)", body = ErrorBody),
        (status = 404, description = "room_not_found, user_not_found, ban_not_found (no live ban)", body = ErrorBody)))]
async fn unban(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let chat = &state.chat;
    chat.lift(&auth.user, &room_id, SanctionKind::Ban, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/rooms/{room_id}/mutes/{user_id}", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"), ("user_id" = String, Path, description = "The muted person's id")),
    responses((status = 204, description = "Lifted: a member.unmuted event"),
        (status = 403, description = "forbidden (moderators only)", body = ErrorBody),
        (status = 404, description = "room_not_found, user_not_found, mute_not_found (no live mute)", body = ErrorBody)))]
async fn unmute(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, user_id)): Path<(String, String)>,
) -> Result<StatusCode> {
    let chat = &state.chat;
    chat.lift(&auth.user, &room_id, SanctionKind::Mute, &user_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/bans", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 200, description = "The live bans, oldest first", body = Vec<Sanction>),
        (status = 403, description = "forbidden (moderators only)", body = ErrorBody),
        (status = 404, description = "room_not_found", body = ErrorBody)))]
async fn bans(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<Sanction>>> {
    let chat = &state.chat;
    Ok(Json(
        chat.sanctions(&auth.user, &room_id, SanctionKind::Ban)
            .await?,
    ))
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/mutes", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id")),
    responses((status = 200, description = "The live mutes, oldest first", body = Vec<Sanction>),
        (status = 403, description = "forbidden (moderators only)", body = ErrorBody),
        (status = 404, description = "room_not_found", body = ErrorBody)))]
async fn mutes(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
) -> Result<Json<Vec<Sanction>>> {
    let chat = &state.chat;
    Ok(Json(
        chat.sanctions(&auth.user, &room_id, SanctionKind::Mute)
            .await?,
    ))
}

#[utoipa::path(post, path = "/api/rooms/{room_id}/messages/{message_id}/report", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"), ("message_id" = String, Path, description = "The message's id")),
    request_body = ReportRequest,
    responses((status = 201, description = "Stored; the room's moderators' sockets get a `report` frame", body = Report),
        (status = 400, description = "invalid_reason (1–500 characters)", body = ErrorBody),
        (status = 403, description = "banned", body = ErrorBody),
        (status = 404, description = "room_not_found, message_not_found", body = ErrorBody),
        (status = 429, description = "rate_limited (10 reports a minute)", body = ErrorBody)))]
async fn report(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((room_id, message_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<ReportRequest>,
) -> Result<(StatusCode, Json<Report>)> {
    let report = state
        .chat
        .report(&auth.user, &room_id, &message_id, &body.reason)
        .await?;
    Ok((StatusCode::CREATED, Json(report)))
}

#[utoipa::path(get, path = "/api/rooms/{room_id}/reports", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("room_id" = String, Path, description = "The room's id"),
        ("before" = Option<String>, Query, description = "A report's id: the page of older ones"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1–200, default 50")),
    responses((status = 200, description = "The room's reports, newest first", body = Vec<Report>),
        (status = 400, description = "invalid_request (limit)", body = ErrorBody),
        (status = 403, description = "forbidden (moderators only)", body = ErrorBody),
        (status = 404, description = "room_not_found", body = ErrorBody)))]
async fn reports(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(room_id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<Report>>> {
    let reports = state
        .chat
        .reports(&auth.user, &room_id, query.before.as_deref(), query.limit)
        .await?;
    Ok(Json(reports))
}

#[utoipa::path(get, path = "/api/admin/audit", tag = "moderation", security(("bearer" = []), ("cookie" = [])),
    params(("before" = Option<String>, Query, description = "An entry's id: the page of older ones"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200, description = "1–200, default 50")),
    responses((status = 200, description = "Moderation actions, newest first", body = Vec<AuditEntry>),
        (status = 400, description = "invalid_request (limit)", body = ErrorBody),
        (status = 401, description = "unauthenticated", body = ErrorBody),
        (status = 403, description = "forbidden (site admins only)", body = ErrorBody)))]
async fn audit(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<Vec<AuditEntry>>> {
    let entries = state
        .chat
        .audit(&auth.user, query.before.as_deref(), query.limit)
        .await?;
    Ok(Json(entries))
}
