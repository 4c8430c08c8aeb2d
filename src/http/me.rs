//! `/api/me/*`: the caller's own account: profile, password, sessions, export, deletion, and a
//! guest claiming their name. (`GET /api/me`'s handler is in [`super::auth`].)

use axum::body::{Body, Bytes};
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};

use super::auth::client_address;
use super::extract::ApiJson;
use crate::auth::{clear_session_cookie, AuthUser};
use crate::chat::people::EXPORT_PAGE;
use crate::error::{Error, Result};
use crate::protocol::{
    AccountExport, ClaimRequest, DeleteAccountRequest, PasswordChange, SessionView,
    UpdateProfileRequest, User,
};
use crate::state::AppState;

/// `/api/me` (GET answered by [`super::auth::me`]) and the caller's own account.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/me",
            get(super::auth::me)
                .patch(update_profile)
                .delete(delete_account),
        )
        .route("/api/me/password", post(change_password))
        .route("/api/me/sessions", get(sessions))
        .route("/api/me/sessions/{session_id}", delete(revoke_session))
        .route("/api/me/export", get(export))
        .route("/api/me/claim", post(claim))
}

#[utoipa::path(patch, path = "/api/me", tag = "people", security(("bearer" = []), ("cookie" = [])),
    request_body = UpdateProfileRequest,
    responses((status = 200, description = "The updated user", body = User),
        (status = 400, description = "invalid_profile (display name 1–64 characters, bio ≤ 500, timezone an IANA name), invalid_json", body = crate::protocol::ErrorBody),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
async fn update_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<UpdateProfileRequest>,
) -> Result<Json<User>> {
    Ok(Json(state.chat.update_profile(&auth.user, &body).await?))
}

#[utoipa::path(delete, path = "/api/me", tag = "people", security(("bearer" = []), ("cookie" = [])),
    request_body(content = DeleteAccountRequest, description = "The password (a guest may send no body)"),
    responses((status = 204, description = "The account is anonymised: shown as \"Deleted user\", the username freed, every session revoked, every membership ended; its messages stay"),
        (status = 400, description = "invalid_request (no password), invalid_json", body = crate::protocol::ErrorBody),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 403, description = "invalid_password", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (wrong passwords count as failed logins)", body = crate::protocol::ErrorBody)))]
async fn delete_account(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    auth: AuthUser,
    body: Bytes,
) -> Result<Response> {
    let body: DeleteAccountRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteAccountRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| Error::InvalidJson(err.to_string()))?
    };
    state
        .chat
        .delete_account(
            &auth.user,
            body.password.as_deref(),
            client_address(&state, peer, &headers),
        )
        .await?;
    let cookie = clear_session_cookie(state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(post, path = "/api/me/password", tag = "people", security(("bearer" = []), ("cookie" = [])),
    request_body = PasswordChange,
    responses((status = 204, description = "Changed; every other session of the account is revoked (its sockets close with 1008), this one stays"),
        (status = 400, description = "weak_password, invalid_request", body = crate::protocol::ErrorBody),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 403, description = "invalid_password (the current password is wrong); forbidden (a guest has none)", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (wrong passwords count as failed logins)", body = crate::protocol::ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    auth: AuthUser,
    ApiJson(body): ApiJson<PasswordChange>,
) -> Result<StatusCode> {
    state
        .chat
        .change_password(
            &auth.user,
            &auth.token_hash,
            &body.current_password,
            &body.new_password,
            client_address(&state, peer, &headers),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/sessions", tag = "people", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The caller's live sessions, newest first", body = [SessionView]),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
async fn sessions(State(state): State<AppState>, auth: AuthUser) -> Result<Json<Vec<SessionView>>> {
    Ok(Json(
        state.chat.sessions_of(&auth.user, &auth.token_hash).await?,
    ))
}

#[utoipa::path(delete, path = "/api/me/sessions/{session_id}", tag = "people", security(("bearer" = []), ("cookie" = [])),
    params(("session_id" = String, Path, description = "A session's public id")),
    responses((status = 204, description = "Revoked everywhere; its sockets close with 1008 on every node"),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 404, description = "session_not_found (not one of the caller's live sessions)", body = crate::protocol::ErrorBody)))]
async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(session_id): Path<String>,
) -> Result<StatusCode> {
    state
        .chat
        .revoke_session_id(&auth.user, &session_id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/me/export", tag = "people", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "Everything the server holds about the caller, streamed (messages last, read a page at a time); no password or token hashes", body = AccountExport),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
async fn export(State(state): State<AppState>, auth: AuthUser) -> Result<Response> {
    let head = state.chat.export_head(&auth.user, &auth.token_hash).await?;
    let mut json = serde_json::to_string(&head).map_err(|err| Error::Internal(err.into()))?;
    // `"messages":[]}` is the end of the head: the messages are streamed into it.
    let tail = "\"messages\":[]}";
    if !json.ends_with(tail) {
        return Err(Error::Internal(anyhow::anyhow!(
            "the export head does not end with its messages"
        )));
    }
    json.truncate(json.len() - "]}".len());
    let user = auth.user;
    let stream = export_stream(state, user, json);
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"palaver-export.json\"",
        ),
    ];
    Ok((headers, Body::from_stream(stream)).into_response())
}

/// The export's bytes: the head, then the messages a page at a time, then the closing brackets.
/// A store failure midway ends the stream with an error (the client sees a cut-off body).
fn export_stream(
    state: AppState,
    user: User,
    head: String,
) -> impl futures_util::Stream<Item = std::result::Result<Bytes, std::io::Error>> {
    struct Cursor {
        state: AppState,
        user: User,
        after: Option<String>,
        first: bool,
        head: Option<String>,
    }
    let cursor = Cursor {
        state,
        user,
        after: Some(String::new()),
        first: true,
        head: Some(head),
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        if let Some(head) = c.head.take() {
            return Some((Ok(Bytes::from(head)), c));
        }
        let after = c.after.take()?;
        let page = match c.state.chat.export_messages(&c.user, &after).await {
            Ok(page) => page,
            Err(err) => {
                err.log_if_internal();
                return Some((Err(std::io::Error::other("the export failed")), c));
            }
        };
        let mut out = String::new();
        for message in &page {
            if !c.first {
                out.push(',');
            }
            c.first = false;
            match serde_json::to_string(message) {
                Ok(json) => out.push_str(&json),
                Err(err) => {
                    tracing::error!(%err, "a message of the export did not serialise");
                    return Some((Err(std::io::Error::other("the export failed")), c));
                }
            }
        }
        if page.len() as u32 == EXPORT_PAGE {
            c.after = page.last().map(|m| m.id.clone());
        } else {
            out.push_str("]}");
        }
        Some((Ok(Bytes::from(out)), c))
    })
}

#[utoipa::path(post, path = "/api/me/claim", tag = "people", security(("bearer" = []), ("cookie" = [])),
    request_body = ClaimRequest,
    responses((status = 200, description = "The guest is now an account with the same name (user.guest = false); the session stays", body = User),
        (status = 400, description = "weak_password", body = crate::protocol::ErrorBody),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 409, description = "not_a_guest", body = crate::protocol::ErrorBody)))]
async fn claim(
    State(state): State<AppState>,
    auth: AuthUser,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<Json<User>> {
    Ok(Json(state.chat.claim(&auth.user, &body.password).await?))
}
