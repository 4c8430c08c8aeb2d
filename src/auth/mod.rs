//! Who is calling: password hashing (argon2id), opaque session tokens, and the extractors that
//! turn a request's cookie or bearer header into the current user (a cookie-signed state change
//! must also prove its origin: [`csrf`]).
//!
//! Tokens are 32 random bytes, given to the client once and stored only as their SHA-256, so a
//! leaked database holds no usable session. Logout deletes the hash: the token stops working on
//! REST and on the socket at once.

pub mod csrf;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::app::AppState;
use crate::error::{Error, Result};
use crate::protocol::User;

/// The name of the browser's session cookie.
pub const SESSION_COOKIE: &str = "palaver_session";

/// Hashes a password with argon2id. CPU-heavy: call it from `spawn_blocking`.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| Error::Internal(anyhow::anyhow!("hashing failed: {err}")))
}

/// Checks a password against a stored hash. CPU-heavy: call it from `spawn_blocking`.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Checks a password as typed at login: prepared as on register (RFC 8265 OpaqueString, see
/// `chat::validate::prepare_password`); a password set before preparation existed, and typed
/// the same way again, still verifies as it was (a second check, only when preparing changed it).
pub fn verify_typed_password(hash: &str, typed: &str) -> bool {
    let prepared = crate::chat::validate::prepare_password(typed);
    verify_password(hash, &prepared) || (prepared != typed && verify_password(hash, typed))
}

/// A real argon2id hash of a random password, checked when the username is unknown (or a guest),
/// so that a login costs the same time whether the name exists or not.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&new_token()).expect("hashing a random password works"))
}

/// A fresh opaque session token (URL-safe, 43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps of a token.
pub fn token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

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
        Ok(state.store.session(&hash).await?.map(|session| AuthUser {
            user: session.user,
            token_hash: hash,
            expires_at: session.expires_at,
        }))
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = token_from_headers(&parts.headers).ok_or(Error::Unauthenticated)?;
        if let Some(credential) = credential(&parts.headers) {
            csrf::check(
                &parts.method,
                &parts.headers,
                credential,
                &state.config.allowed_origins,
            )?;
        }
        AuthUser::from_token(state, &token)
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_hash_only() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "correct horse"));
        assert!(!verify_password(&hash, "wrong horse"));
        assert!(!verify_password("not a hash", "correct horse"));
    }

    #[test]
    fn a_typed_password_is_prepared_and_an_unprepared_old_one_still_verifies() {
        let nfc = hash_password("caf\u{e9} noir").unwrap();
        assert!(verify_typed_password(&nfc, "cafe\u{301} noir"));
        let old = hash_password("caf\u{e9}\u{a0}noir").unwrap();
        assert!(verify_typed_password(&old, "caf\u{e9}\u{a0}noir"));
        assert!(!verify_typed_password(&old, "caf\u{e9} noire"));
    }

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

    #[test]
    fn tokens_are_random_and_hashes_are_stable() {
        assert_ne!(new_token(), new_token());
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_eq!(token_hash("x").len(), 64);
    }
}
