//! Credentials: password preparation (RFC 8265 OpaqueString) and hashing (argon2id), and opaque
//! session tokens.
//!
//! Tokens are 32 random bytes, given to the client once and stored only as their SHA-256, so a
//! leaked database holds no usable session. Logout deletes the hash: the token stops working on
//! REST and on the socket at once.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

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

/// RFC 8265's OpaqueString preparation and enforcement, as used on register and on login:
/// every space separator becomes U+0020, then NFC. (A password registered in NFC works when typed
/// in NFD, and the other way round.)
pub fn prepare_password(raw: &str) -> String {
    raw.chars()
        .map(|c| {
            if c.is_whitespace() && !c.is_control() {
                ' '
            } else {
                c
            }
        })
        .nfc()
        .collect()
}

/// Checks a password as typed at login: prepared as on register ([`prepare_password`]); a
/// password set before preparation existed, and typed the same way again, still verifies as it
/// was (a second check, only when preparing changed it).
pub fn verify_typed_password(hash: &str, typed: &str) -> bool {
    let prepared = prepare_password(typed);
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
    fn tokens_are_random_and_hashes_are_stable() {
        assert_ne!(new_token(), new_token());
        assert_eq!(token_hash("x"), token_hash("x"));
        assert_eq!(token_hash("x").len(), 64);
    }
}
