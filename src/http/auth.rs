//! `/api/auth/*` and `GET /api/me`: register, login, guest sign-in, logout, who am I. (The path
//! `/api/me` is routed in [`super::me`] with the rest of the caller's own account.)

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::extract::ApiJson;
use crate::auth::{clear_session_cookie, session_cookie, token_from_headers, AuthUser};
use crate::chat::accounts::Session;
use crate::credentials::token_hash;
use crate::error::Result;
use crate::protocol::{AuthResponse, Credentials, GuestRequest, User};
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/guest", post(guest))
        .route("/api/auth/logout", post(logout))
}

/// Answers a sign-in: the new token in the body and the cookie. Rotation: a session the request
/// already carried (cookie or bearer) is revoked, its sockets closed — a sign-in never keeps
/// or reuses a token the client brought.
async fn signed_in(
    state: &AppState,
    headers: &HeaderMap,
    status: StatusCode,
    session: Session,
) -> Result<Response> {
    if let Some(old) = token_from_headers(headers) {
        let old_hash = token_hash(&old);
        if state.chat.session(&old_hash).await?.is_some() {
            state.chat.logout(&old_hash).await?;
        }
    }
    let cookie = session_cookie(
        &session.token,
        state.config.secure_cookies,
        state.chat.limits().session_ttl.as_secs(),
    );
    let body = AuthResponse {
        user: session.user,
        token: session.token,
        first_admin: session.first_admin,
    };
    Ok((status, [(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

/// The caller's address: the socket's peer, or, when Palaver is configured to trust its proxy,
/// the last `X-Forwarded-For` hop: the address the proxy itself saw. (Earlier hops come from the
/// client and can be anything; with nginx's `$proxy_add_x_forwarded_for` a client that sends its
/// own header would otherwise pick the address its attempts are counted under.)
pub fn client_address(state: &AppState, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    if state.config.trust_proxy {
        if let Some(ip) = forwarded_for(headers) {
            return ip;
        }
    }
    peer.ip()
}

/// The last hop of the (last) `X-Forwarded-For` header.
fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
}

#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = Credentials,
    responses((status = 201, description = "Signed up and signed in; sets the palaver_session cookie. `first_admin` is true on the sign-up that made this install's first site admin", body = AuthResponse),
        (status = 400, description = "invalid_username, weak_password, invalid_request", body = crate::protocol::ErrorBody),
        (status = 409, description = "username_taken", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (sign-ins per address)", body = crate::protocol::ErrorBody)))]
#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn register(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response> {
    state
        .chat
        .limits()
        .sign_in_from(client_address(&state, peer, &headers))?;
    let session = state.chat.register(&body.username, &body.password).await?;
    signed_in(&state, &headers, StatusCode::CREATED, session).await
}

#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, description = "Signed in with a new token; sets the palaver_session cookie and revokes the session the request carried, if any", body = AuthResponse),
        (status = 400, description = "invalid_json, invalid_request", body = crate::protocol::ErrorBody),
        (status = 401, description = "invalid_credentials", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (failed logins per username, or failed logins, registrations and guest sign-ins per address)", body = crate::protocol::ErrorBody)))]
#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response> {
    let address = client_address(&state, peer, &headers);
    let session = state
        .chat
        .login(&body.username, &body.password, address)
        .await?;
    signed_in(&state, &headers, StatusCode::OK, session).await
}

#[utoipa::path(post, path = "/api/auth/guest", tag = "auth", request_body = GuestRequest,
    responses((status = 201, description = "A guest session (user.guest = true)", body = AuthResponse),
        (status = 400, description = "invalid_username", body = crate::protocol::ErrorBody),
        (status = 403, description = "guests_disabled", body = crate::protocol::ErrorBody),
        (status = 409, description = "username_taken", body = crate::protocol::ErrorBody),
        (status = 429, description = "rate_limited (sign-ins per address; guest sign-ins per address and per server)", body = crate::protocol::ErrorBody)))]
#[tracing::instrument(skip_all, fields(username = %body.username))]
async fn guest(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<GuestRequest>,
) -> Result<Response> {
    let address = client_address(&state, peer, &headers);
    state.chat.limits().sign_in_from(address)?;
    state.chat.limits().guest_from(address)?;
    let session = state.chat.guest(&body.username).await?;
    signed_in(&state, &headers, StatusCode::CREATED, session).await
}

#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 204, description = "The token no longer works anywhere; its sockets close with 1008 on every node"),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody),
        (status = 403, description = "cross_origin (signed in by cookie without proof of same origin)", body = crate::protocol::ErrorBody)))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> Result<Response> {
    state.chat.logout(&auth.token_hash).await?;
    let cookie = clear_session_cookie(state.config.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[utoipa::path(get, path = "/api/me", tag = "auth", security(("bearer" = []), ("cookie" = [])),
    responses((status = 200, description = "The signed-in user", body = User),
        (status = 401, description = "unauthenticated", body = crate::protocol::ErrorBody)))]
pub async fn me(auth: AuthUser) -> Json<User> {
    Json(auth.user)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_address_is_the_hop_the_proxy_added() {
        let mut headers = HeaderMap::new();
        assert_eq!(forwarded_for(&headers), None);
        headers.insert("x-forwarded-for", "6.6.6.6, 10.0.0.7".parse().unwrap());
        assert_eq!(forwarded_for(&headers), Some("10.0.0.7".parse().unwrap()));
        headers.insert("x-forwarded-for", " 2001:db8::1 ".parse().unwrap());
        assert_eq!(
            forwarded_for(&headers),
            Some("2001:db8::1".parse().unwrap())
        );
        headers.insert("x-forwarded-for", "not-an-address".parse().unwrap());
        assert_eq!(forwarded_for(&headers), None);
    }
}
