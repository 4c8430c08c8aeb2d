//! Accounts and sessions: register, sign in, guests, sign out.

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::User;
use crate::store::SessionRecord;

use super::{validate, Chat};

/// A signed-in session: the user and the token that was issued.
pub struct Session {
    pub user: User,
    pub token: String,
}

impl Chat {
    pub async fn register(&self, username: &str, password: &str) -> Result<Session> {
        let username = validate::username(username)?;
        let password = validate::password(password, username)?;
        self.usernames
            .free(self.store.as_ref(), username, false)
            .await?;
        let hash = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
            .await
            .map_err(|err| Error::Internal(err.into()))??;
        let user = self.store.create_user(username, Some(&hash), false).await?;
        self.start_session(user).await
    }

    /// Checks a password. Limited per username and per address (failed attempts count; see
    /// [`super::limits`]). An unknown name or a guest costs the same argon2 work as a wrong
    /// password, so the answer's timing does not tell which names exist.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: std::net::IpAddr,
    ) -> Result<Session> {
        let attempt = self.limits.login(username, address)?;
        if validate::username(username).is_err() {
            // No account can have this name: a failed attempt, without asking the store.
            return Err(Error::InvalidCredentials);
        }
        let record = self.store.find_user_by_name(username).await?;
        let (user, hash) = match record {
            Some(record) => match record.password_hash {
                Some(hash) => (Some(record.user), hash),
                None => (None, credentials::decoy_hash().to_string()),
            },
            None => (None, credentials::decoy_hash().to_string()),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            credentials::verify_typed_password(&hash, &password)
        })
        .await
        .map_err(|err| Error::Internal(err.into()))?;
        match user {
            Some(user) if ok => {
                self.limits.login_succeeded(attempt);
                self.start_session(user).await
            }
            _ => Err(Error::InvalidCredentials),
        }
    }

    pub async fn guest(&self, username: &str) -> Result<Session> {
        if !self.allow_guests {
            return Err(Error::GuestsDisabled);
        }
        let username = validate::username(username)?;
        self.usernames
            .free(self.store.as_ref(), username, true)
            .await?;
        let user = self.store.create_user(username, None, true).await?;
        self.start_session(user).await
    }

    /// A fresh token (never one the client brought), valid for the session lifetime.
    async fn start_session(&self, user: User) -> Result<Session> {
        let token = credentials::new_token();
        let ttl = chrono::Duration::from_std(self.limits.session_ttl)
            .unwrap_or(chrono::Duration::MAX)
            .min(chrono::Duration::days(365 * 100));
        let expires_at = crate::store::timestamp(chrono::Utc::now() + ttl);
        self.store
            .create_session_until(&credentials::token_hash(&token), &user.id, &expires_at)
            .await?;
        Ok(Session { user, token })
    }

    /// The session with this token hash: its user and expiry; `None` when unknown, revoked or
    /// expired.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let session = self.store.session(token_hash).await?;
        if let Some(session) = &session {
            // A bot's room scope, read now, so room-list frames can be filtered for its sockets.
            self.gate.scopes().load(&session.user).await?;
        }
        Ok(session)
    }

    /// Revokes the session everywhere: REST at once, and its open sockets are closed.
    pub async fn logout(&self, token_hash: &str) -> Result<()> {
        self.store.delete_session(token_hash).await?;
        self.hub.revoke_session(token_hash);
        Ok(())
    }
}
