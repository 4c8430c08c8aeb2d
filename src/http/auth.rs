//! `/api/auth/*` and `/api/me`: register, login, guest sign-in, logout.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::app::AppState;
use crate::auth::{clear_session_cookie, session_cookie, AuthUser};
use crate::chat::Session;
use crate::error::Result;
use crate::protocol::{AuthResponse, Credentials, GuestRequest, User};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/logout", post(logout))
        .route("/api/me", get(me))
}

fn signed_in(state: &AppState, status: StatusCode, session: Session) -> Response {
    let cookie = session_cookie(&session.token, state.config.secure_cookies);
    let body = AuthResponse {
        user: session.user,
        token: session.token,
    };
    (status, [(header::SET_COOKIE, cookie)], Json(body)).into_response()
}

#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response> {
    let session = state.chat.register(&body.username, &body.password).await?;
    Ok(signed_in(&state, StatusCode::CREATED, session))
}

#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response> {
    let session = state.chat.login(&body.username, &body.password).await?;
    Ok(signed_in(&state, StatusCode::OK, session))
}

#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn guest(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GuestRequest>,
) -> Result<Response> {
    let session = state.chat.guest(&body.username).await?;
    Ok(signed_in(&state, StatusCode::CREATED, session))
}

async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<Response> {
    state.chat.logout(&auth.token_hash).await?;
    let cookie = clear_session_cookie(state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

async fn me(auth: AuthUser) -> Json<User> {
    Json(auth.user)
}
