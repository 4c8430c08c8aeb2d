//! Accounts and sessions: register, sign in, guests, sign out.

use std::sync::Arc;

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::User;
use crate::store::{NewGuest, SessionRecord, Store};

use super::gather::{failed, Batch, Gathered};
use super::{validate, Chat};

/// Guest sign-ins written at once: a crowd signing in pays a commit for many, not one each.
pub type GuestSignups = Gathered<GuestBatch>;

pub fn guest_signups(store: Arc<dyn Store>) -> GuestSignups {
    // Two writes at once (SQLite has one writer; PostgreSQL commits the two side by side), of
    // up to 256 guests each.
    Gathered::new(GuestBatch(store), 2, 256)
}

/// Writes many guests and their first sessions in one transaction.
pub struct GuestBatch(Arc<dyn Store>);

impl Batch for GuestBatch {
    type Item = NewGuest;
    type Answer = User;

    async fn run(&self, guests: Vec<NewGuest>) -> Vec<Result<User>> {
        match self.0.create_guests_with_sessions(&guests).await {
            Ok(answers) => answers,
            Err(err) => failed(&err, guests.len(), "a guest sign-in"),
        }
    }
}

/// A signed-in session: the user and the token that was issued.
pub struct Session {
    pub user: User,
    pub token: String,
    /// This sign-up made the install's first site admin.
    pub first_admin: bool,
}

/// Least time between two notes of one session's use (`sessions.last_seen_at`): a write per
/// active session every five minutes at most (once a minute was 1,700 writes a second for
/// 100,000 people active, for a "last active" shown to the minute).
pub const SEEN_EVERY: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

impl Chat {
    pub async fn register(&self, username: &str, password: &str) -> Result<Session> {
        let username = validate::username(username)?;
        let password = validate::password(password, username)?;
        self.name_free(username, false).await?;
        let hash = tokio::task::spawn_blocking(move || credentials::hash_password(&password))
            .await
            .map_err(|err| Error::Internal(err.into()))??;
        let (user, first_admin) = self.store.register_user(username, &hash).await?;
        if first_admin {
            tracing::info!(username, "the first account is this install's site admin");
        }
        let mut session = self.start_session(user).await?;
        session.first_admin = first_admin;
        Ok(session)
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
        self.name_free(username, true).await?;
        let token = credentials::new_token();
        let user = self
            .guest_signups
            .ask(NewGuest {
                username: username.to_string(),
                token_hash: credentials::token_hash(&token),
                expires_at: self.session_end(),
            })
            .await?;
        Ok(Session {
            user,
            token,
            first_admin: false,
        })
    }

    /// When a session started now ends.
    fn session_end(&self) -> String {
        let ttl = chrono::Duration::from_std(self.limits.session_ttl)
            .unwrap_or(chrono::Duration::MAX)
            .min(chrono::Duration::days(365 * 100));
        crate::store::timestamp(chrono::Utc::now() + ttl)
    }

    /// A fresh token (never one the client brought), valid for the session lifetime.
    async fn start_session(&self, user: User) -> Result<Session> {
        let token = credentials::new_token();
        let expires_at = self.session_end();
        self.store
            .create_session_until(&credentials::token_hash(&token), &user.id, &expires_at)
            .await?;
        Ok(Session {
            user,
            token,
            first_admin: false,
        })
    }

    /// The session with this token hash: its user and expiry; `None` when unknown, revoked or
    /// expired.
    ///
    /// Its use is noted (`last_seen_at`) at most every five minutes, not on every request.
    pub async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let record = self.sessions.ask(token_hash.to_string()).await?;
        if let Some(record) = &record {
            let now = chrono::Utc::now();
            let since = crate::store::timestamp(now - SEEN_EVERY);
            if record
                .last_seen_at
                .as_deref()
                .is_none_or(|at| at < since.as_str())
            {
                let at = crate::store::timestamp(now);
                // A note that fails is not worth failing the request over.
                if let Err(err) = self.store.touch_session(token_hash, &at, &since).await {
                    err.log_if_internal();
                }
            }
            // A bot's room scope, read now, so room-list frames can be filtered for its sockets.
            self.gate.scopes().load(&record.user).await?;
        }
        Ok(record)
    }

    /// Revokes the session everywhere: REST at once, and its open sockets are closed. A guest
    /// whose last session this was starts the grace of their name.
    pub async fn logout(&self, token_hash: &str) -> Result<()> {
        let user = self.store.session(token_hash).await?.map(|s| s.user);
        self.store.delete_session(token_hash).await?;
        self.hub.revoke_session(token_hash);
        if let Some(user) = user.filter(|u| u.guest) {
            self.guest_session_ended(&user.id).await;
        }
        Ok(())
    }
}
