//! People and their own accounts: profiles, the directory, password changes, a person's
//! sessions, the export, deleting an account and claiming a guest name.

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::{
    AccountExport, ExportMembership, Message, SessionView, UpdateProfileRequest, User, UserProfile,
};
use crate::store::people::{EndedAccount, Ending, ProfileFields};

use super::{validate, Chat};

/// Directory answers: at most this many, `DIRECTORY_DEFAULT` when not asked.
pub const DIRECTORY_MAX: u32 = 50;
pub const DIRECTORY_DEFAULT: u32 = 20;

/// Messages read from the store per page of the export.
pub const EXPORT_PAGE: u32 = 500;

/// Checks a typed password against a stored hash, off the async threads (argon2 is slow on
/// purpose). An account without a password (a guest) never matches.
async fn password_matches(hash: Option<String>, typed: &str) -> Result<bool> {
    let Some(hash) = hash else { return Ok(false) };
    let typed = typed.to_string();
    tokio::task::spawn_blocking(move || credentials::verify_typed_password(&hash, &typed))
        .await
        .map_err(|err| Error::Internal(err.into()))
}

/// A new password for `username`, checked like on sign-up and hashed (argon2id).
async fn new_password_hash(raw: &str, username: &str) -> Result<String> {
    let password = validate::password(raw, username)?;
    tokio::task::spawn_blocking(move || credentials::hash_password(&password))
        .await
        .map_err(|err| Error::Internal(err.into()))?
}

impl Chat {
    /// A person's public profile; `user_not_found` for an unknown id.
    pub async fn profile(&self, user_id: &str) -> Result<UserProfile> {
        let profile = self
            .store
            .profile(user_id)
            .await?
            .ok_or(Error::UserNotFound)?;
        Ok(UserProfile {
            user: profile.user,
            bio: profile.bio,
            timezone: profile.timezone,
            created_at: profile.created_at,
        })
    }

    /// `PATCH /api/me`: absent fields stay, `null` or `""` clears one.
    pub async fn update_profile(&self, user: &User, patch: &UpdateProfileRequest) -> Result<User> {
        // Only the fields the patch names change, in one statement: a time zone sent by one tab
        // never undoes the name another tab saved at the same moment.
        let fields = ProfileFields {
            display_name: patch
                .display_name
                .as_ref()
                .map(|raw| validate::display_name(raw.as_deref()))
                .transpose()?,
            bio: patch
                .bio
                .as_ref()
                .map(|raw| validate::bio(raw.as_deref().unwrap_or("")))
                .transpose()?,
            timezone: patch
                .timezone
                .as_ref()
                .map(|raw| validate::timezone(raw.as_deref()))
                .transpose()?,
        };
        let updated = self.store.update_profile(&user.id, &fields).await?;
        // Sockets keep the user they signed in as: from now on they speak as this one.
        self.hub.profile_changed(&updated);
        Ok(updated)
    }

    /// `GET /api/users?q=&limit=`: live accounts (guests too) whose username or display name
    /// starts with `q`, ignoring case, by username.
    pub async fn search_users(&self, q: &str, limit: Option<u32>) -> Result<Vec<User>> {
        let limit = limit.unwrap_or(DIRECTORY_DEFAULT);
        if !(1..=DIRECTORY_MAX).contains(&limit) {
            return Err(Error::InvalidRequest(format!(
                "limit is 1 to {DIRECTORY_MAX}"
            )));
        }
        let q = q.trim();
        if q.chars().count() > validate::DISPLAY_NAME_MAX {
            return Err(Error::InvalidRequest(
                "q is at most 64 characters".to_string(),
            ));
        }
        use unicode_normalization::UnicodeNormalization;
        let prefix: String = q.nfc().collect::<String>().to_lowercase();
        self.store.search_users(&prefix, limit).await
    }

    /// Checks the person's current password. Wrong guesses count like failed logins (per
    /// username and per address, [`super::limits`]): a stolen session can't be used to guess
    /// the password faster than the login form allows.
    async fn check_current_password(
        &self,
        user: &User,
        typed: &str,
        address: std::net::IpAddr,
    ) -> Result<()> {
        let attempt = self.limits.login(&user.username, address)?;
        let hash = self.store.password_hash(&user.id).await?;
        if !password_matches(hash, typed).await? {
            return Err(Error::InvalidPassword);
        }
        self.limits.login_succeeded(attempt);
        Ok(())
    }

    /// Changes the password; every other session of the person is revoked (their sockets
    /// closed), the one making the change stays.
    pub async fn change_password(
        &self,
        user: &User,
        current_session: &str,
        current: &str,
        new: &str,
        address: std::net::IpAddr,
    ) -> Result<()> {
        if user.guest {
            return Err(Error::Forbidden(
                "guests have no password: claim the name first (POST /api/me/claim)",
            ));
        }
        self.check_current_password(user, current, address).await?;
        let hash = new_password_hash(new, &user.username).await?;
        let revoked = self
            .store
            .set_password(&user.id, &hash, current_session)
            .await?;
        for token_hash in revoked {
            self.hub.revoke_session(&token_hash);
        }
        Ok(())
    }

    /// The person's live sessions, newest first; `current` marks the one asking.
    pub async fn sessions_of(&self, user: &User, current: &str) -> Result<Vec<SessionView>> {
        let sessions = self.store.user_sessions(&user.id).await?;
        Ok(sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.token_hash == current,
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.expires_at,
            })
            .collect())
    }

    /// Revokes one of the person's sessions by its public id, everywhere (its sockets close);
    /// `session_not_found` for an id that is not one of theirs.
    pub async fn revoke_session_id(&self, user: &User, id: &str) -> Result<()> {
        let hash = self
            .store
            .delete_session_by_id(&user.id, id)
            .await?
            .ok_or(Error::SessionNotFound)?;
        self.hub.revoke_session(&hash);
        if user.guest {
            self.guest_session_ended(&user.id).await;
        }
        Ok(())
    }

    /// The export without its messages (which [`Chat::export_messages`] pages through).
    pub async fn export_head(&self, user: &User, current: &str) -> Result<AccountExport> {
        let profile = self
            .store
            .profile(&user.id)
            .await?
            .ok_or(Error::UserNotFound)?;
        let mut memberships = Vec::new();
        for room_id in self.store.member_room_ids(&user.id).await? {
            let room = match self.store.get_room(&room_id).await {
                Ok(room) => room,
                Err(Error::RoomNotFound) => continue,
                Err(err) => return Err(err),
            };
            let Some(role) = self.store.role(&room_id, &user.id).await? else {
                continue;
            };
            memberships.push(ExportMembership {
                room_id,
                room_name: room.name,
                kind: room.kind,
                role,
            });
        }
        let extras = self.store.export_extras(&user.id).await?;
        Ok(AccountExport {
            exported_at: crate::store::timestamp(chrono::Utc::now()),
            user: profile.user,
            bio: profile.bio,
            timezone: profile.timezone,
            created_at: profile.created_at,
            memberships,
            sessions: self.sessions_of(user, current).await?,
            reactions: extras.reactions,
            read_state: extras.read_state,
            files: extras.files,
            push_subscriptions: extras.push_subscriptions,
            messages: Vec::new(),
        })
    }

    /// The next page of the person's own live messages, after the message id `after` (`""`:
    /// from the first), oldest first; fewer than [`EXPORT_PAGE`] means the last page.
    pub async fn export_messages(&self, user: &User, after: &str) -> Result<Vec<Message>> {
        self.store.messages_by(&user.id, after, EXPORT_PAGE).await
    }

    /// Deletes the account (see docs/security.md, "Deleting an account"): anonymised in place,
    /// every session revoked, every membership ended with a `member.left` event; the messages
    /// stay, shown as the anonymised user's. An account needs its password; a guest none.
    pub async fn delete_account(
        &self,
        user: &User,
        password: Option<&str>,
        address: std::net::IpAddr,
    ) -> Result<()> {
        if !user.guest {
            let Some(password) = password else {
                return Err(Error::InvalidRequest(
                    "password is required to delete an account".to_string(),
                ));
            };
            self.check_current_password(user, password, address).await?;
        }
        let Some(ended) = self.store.end_account(&user.id, &Ending::Deleted).await? else {
            return Err(Error::UserNotFound);
        };
        self.account_ended(ended);
        self.usernames.forget_all().await;
        Ok(())
    }

    /// A guest keeps their name as an account with this password (checked like on sign-up);
    /// `not_a_guest` for an account.
    pub async fn claim(&self, user: &User, password: &str) -> Result<User> {
        if !user.guest {
            return Err(Error::NotAGuest);
        }
        let hash = new_password_hash(password, &user.username).await?;
        self.store.claim_guest(&user.id, &hash).await
    }

    /// After an account ended (in one transaction): close its sessions' sockets everywhere and
    /// publish the `member.left` events.
    pub(super) fn account_ended(&self, ended: EndedAccount) {
        for token_hash in &ended.revoked {
            self.hub.revoke_session(token_hash);
        }
        self.publish(&ended.events);
    }
}
