//! Who is calling: the extractor that turns a request's cookie or bearer header into the
//! current user (a cookie-signed state change must also prove its origin: [`csrf`]), and the
//! session cookie. (Hashing and tokens are in [`crate::credentials`].)

pub mod csrf;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::credentials::token_hash;
use crate::error::{Error, Result};
use crate::protocol::User;
use crate::state::AppState;

/// The name of the browser's session cookie.
pub const SESSION_COOKIE: &str = "palaver_session";

/// The token of an `Authorization: Bearer …` header (the scheme in any case, RFC 9110 §11.1).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// How a request is signed in: the `Authorization: Bearer` header wins over the cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Bearer,
    Cookie,
}

/// Which credential a request carries, if any.
pub fn credential(headers: &HeaderMap) -> Option<Credential> {
    if bearer_token(headers).is_some() {
        Some(Credential::Bearer)
    } else if session_cookie_value(headers).is_some() {
        Some(Credential::Cookie)
    } else {
        None
    }
}

/// The token a request carries: `Authorization: Bearer`, else the session cookie.
pub fn token_from_headers(headers: &HeaderMap) -> Option<String> {
    if let Some(bearer) = bearer_token(headers) {
        return Some(bearer.to_string());
    }
    session_cookie_value(headers)
}

fn session_cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The `Set-Cookie` value that signs the browser in, for as long as the session lives.
/// `Secure` when Palaver is served over TLS (`PALAVER_SECURE_COOKIES`).
pub fn session_cookie(token: &str, secure: bool, max_age_secs: u64) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    )
}

/// The `Set-Cookie` value that signs the browser out.
pub fn clear_session_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

/// The signed-in caller. Add this as a parameter to a handler to require a session;
/// without one the request is answered 401 `unauthenticated`. A state change signed in by the
/// cookie without proof of same origin is answered 403 `cross_origin` ([`csrf`]).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user: User,
    /// The hash of the token used, so logout can revoke exactly this session.
    pub token_hash: String,
    /// When the session stops working (RFC 3339); `None`: never.
    pub expires_at: Option<String>,
}

impl AuthUser {
    /// Resolves a raw token to its user, or `None` when it is unknown, revoked or expired.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Option<AuthUser>> {
        let hash = token_hash(token);
        Ok(state.chat.session(&hash).await?.map(|session| AuthUser {
            user: session.user,
            token_hash: hash,
            expires_at: session.expires_at,
        }))
    }
}

impl AuthUser {
    /// [`AuthUser::from_token`] for a long-poll: a session read a moment ago for a poll and not
    /// revoked since is taken from the hub rather than the store (a client polling in a loop
    /// would otherwise read it on every answer).
    pub async fn from_token_for_poll(state: &AppState, token: &str) -> Result<Option<AuthUser>> {
        let hash = token_hash(token);
        if let Some(session) = state.hub.cached_session(&hash) {
            let now = crate::store::timestamp(chrono::Utc::now());
            if session.expires_at.as_ref().is_none_or(|at| *at > now) {
                return Ok(Some(AuthUser {
                    user: session.user,
                    token_hash: hash,
                    expires_at: session.expires_at,
                }));
            }
        }
        let revocations = state.hub.session_revocations();
        let found = Self::from_token(state, token).await?;
        if let Some(auth) = &found {
            let session = crate::hub::CachedSession {
                user: auth.user.clone(),
                expires_at: auth.expires_at.clone(),
            };
            state.hub.keep_session(&hash, session, revocations);
        }
        Ok(found)
    }
}

/// The token of a request, once its same-origin proof (if signed in by cookie) is checked.
fn request_token(parts: &Parts, state: &AppState) -> Result<String> {
    let token = token_from_headers(&parts.headers).ok_or(Error::Unauthenticated)?;
    if let Some(credential) = credential(&parts.headers) {
        csrf::check(
            &parts.method,
            &parts.headers,
            credential,
            &state.config.allowed_origins,
        )?;
    }
    Ok(token)
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = request_token(parts, state)?;
        AuthUser::from_token(state, &token)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

/// The signed-in caller of a long-poll (`GET …/events`): [`AuthUser`], with the session taken
/// from the hub when a poll read it a moment ago (see [`AuthUser::from_token_for_poll`]).
#[derive(Debug, Clone)]
pub struct PollUser(pub AuthUser);

impl FromRequestParts<AppState> for PollUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = request_token(parts, state)?;
        AuthUser::from_token_for_poll(state, &token)
            .await?
            .map(PollUser)
            .ok_or(Error::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_header_wins_over_the_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "a=b; palaver_session=fromcookie".parse().unwrap(),
        );
        assert_eq!(token_from_headers(&headers).as_deref(), Some("fromcookie"));
        headers.insert(header::AUTHORIZATION, "Bearer frombearer".parse().unwrap());
        assert_eq!(token_from_headers(&headers).as_deref(), Some("frombearer"));
        assert_eq!(credential(&headers), Some(Credential::Bearer));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        for value in ["bearer t1", "BEARER t1", "Bearer   t1 ", "bEaReR t1"] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&headers), Some("t1"), "{value}");
        }
        for value in ["Basic t1", "Bearer", "Bearert1", "Bearer  "] {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, value.parse().unwrap());
            assert_eq!(bearer_token(&headers), None, "{value}");
        }
    }

    #[test]
    fn the_session_cookie_is_secure_only_when_configured() {
        let plain = session_cookie("t", false, 60);
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(plain.contains("Max-Age=60") && !plain.contains("Secure"));
        assert!(session_cookie("t", true, 60).ends_with("; Secure"));
        assert!(clear_session_cookie(true).ends_with("; Secure"));
    }
}
