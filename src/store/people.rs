//! People: the first site admin, profiles, the directory, passwords, a person's sessions, and
//! accounts that end (deleted, or guests whose name was freed).
//!
//! An ended account keeps its row (its messages stay attributed to it) with `retired_at` set and
//! `username_key` replaced by `'~' || id`, so the unique key no longer holds the name.

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::events::append;
use super::rooms::lock_room;
use super::rows::{self, message_columns, user_columns};
use super::{now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{
    EventKind, ExportExtras, ExportFile, ExportPushSubscription, ExportReaction, ExportReadState,
    Message, User,
};

/// What the profile page shows besides the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub user: User,
    pub bio: String,
    pub timezone: Option<String>,
    pub created_at: String,
    /// The account ended (deleted, or an expired guest).
    pub retired: bool,
}

/// One live session of a person, as they see it (and the token hash, to revoke it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: String,
    pub token_hash: String,
    pub created_at: String,
    pub last_seen_at: Option<String>,
    pub expires_at: Option<String>,
}

/// A change to a profile: `None` leaves a field as it is (`Some(None)` clears it). Written in one
/// statement, so two changes at once never undo each other's fields.
#[derive(Debug, Clone, Default)]
pub struct ProfileFields {
    pub display_name: Option<Option<String>>,
    pub bio: Option<String>,
    pub timezone: Option<Option<String>>,
}

/// How an account ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The person deleted it: anonymised (`deleted-…`, shown as "Deleted user"), profile,
    /// password and admin erased.
    Deleted,
    /// A guest with no session left whose name was released before `cutoff` (RFC 3339): the
    /// name is freed, the rest kept.
    GuestExpired { cutoff: String },
}

/// What ending an account did, all in one transaction.
#[derive(Debug, Clone)]
pub struct EndedAccount {
    /// The user as it now is (anonymised, for a deletion).
    pub user: User,
    /// The token hashes of the sessions deleted: their sockets are to be closed.
    pub revoked: Vec<String>,
    /// A `member.left` event for every room the user was in, each with that room's next seq.
    pub events: Vec<StoredEvent>,
}

/// The name a deleted account is shown under.
pub const DELETED_DISPLAY_NAME: &str = "Deleted user";

#[async_trait]
pub trait PeopleStore: Send + Sync + 'static {
    /// A registered account; `true` when it is this install's first (non-guest) account, which
    /// is made a site admin. Decided under a lock: of concurrent first sign-ups exactly one is.
    async fn register_user(&self, username: &str, password_hash: &str) -> Result<(User, bool)>;
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>>;
    async fn update_profile(&self, user_id: &str, fields: &ProfileFields) -> Result<User>;
    /// Live accounts whose username or display name starts with `prefix` (lowercase), by
    /// username.
    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>>;
    async fn password_hash(&self, user_id: &str) -> Result<Option<String>>;
    /// Sets the password and deletes every other session: answers their token hashes.
    async fn set_password(&self, user_id: &str, hash: &str, keep: &str) -> Result<Vec<String>>;
    /// The person's live sessions, newest first.
    async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>>;
    /// Deletes the person's session with this public id: its token hash, `None` if none.
    async fn delete_session_by_id(&self, user_id: &str, id: &str) -> Result<Option<String>>;
    /// Notes the session's use at `at` unless it was noted after `since`.
    async fn touch_session(&self, token_hash: &str, at: &str, since: &str) -> Result<()>;
    /// The rooms the person is a member of.
    async fn member_room_ids(&self, user_id: &str) -> Result<Vec<String>>;
    /// The rest of the person's export: reactions on live messages, read state, uploads and
    /// push subscriptions.
    async fn export_extras(&self, user_id: &str) -> Result<ExportExtras>;
    /// Up to `limit` live messages the person wrote with an id after `after`, in id order.
    async fn messages_by(&self, user_id: &str, after: &str, limit: u32) -> Result<Vec<Message>>;
    /// `UserNotFound` for an unknown or ended account.
    async fn set_admin(&self, username: &str, admin: bool) -> Result<User>;
    /// A guest becomes an account with this password; `NotAGuest` for an account.
    async fn claim_guest(&self, user_id: &str, hash: &str) -> Result<User>;
    /// Ends the account (see [`Ending`]), deletes its sessions and ends its memberships (a
    /// `member.left` event each), in one transaction; `None` when it had already ended or (a
    /// guest) may not yet.
    async fn end_account(&self, user_id: &str, ending: &Ending) -> Result<Option<EndedAccount>>;
    /// Marks guests (one, or all) with no live session as released now, if not yet: the grace of
    /// their name starts.
    async fn release_idle_guests(&self, user_id: Option<&str>) -> Result<u64>;
    /// Up to `limit` live guests released at or before `cutoff`.
    async fn releasable_guests(&self, cutoff: &str, limit: u32) -> Result<Vec<String>>;
}

/// `LIKE` with `\` escaping: `_` and `%` are literal in usernames.
fn like_prefix(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[async_trait]
impl<B: Backend> PeopleStore for B {
    async fn register_user(&self, username: &str, password_hash: &str) -> Result<(User, bool)> {
        let mut tx = self.begin().await?;
        // PostgreSQL: concurrent sign-ups queue here, so only one sees no account yet. SQLite
        // has one writer.
        let lock = dialect::Sql {
            sqlite: "SELECT 1",
            postgres: "SELECT pg_advisory_xact_lock(7011965)",
        };
        dialect::fetch_optional(&mut *tx, &lock, &[], |_| Ok(())).await?;
        // Bots and webhook posters are not people: a guest's webhook made before the first
        // sign-up must not take the admin's place.
        let any = sql!("SELECT 1 FROM users WHERE guest = " FALSE " AND bot = " FALSE " LIMIT 1");
        let first = dialect::fetch_optional(&mut *tx, &any, &[], |_| Ok(()))
            .await?
            .is_none();
        let user =
            super::accounts::insert_user(&mut *tx, username, Some(password_hash), false, first)
                .await?;
        B::commit(tx).await?;
        Ok((user, first))
    }

    async fn profile(&self, user_id: &str) -> Result<Option<Profile>> {
        let sql = sql!(
            "SELECT " user_columns!() ", u.bio, u.timezone, u.created_at, u.retired_at \
             FROM users u WHERE u.id = $1"
        );
        let mut conn = self.read().await?;
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(user_id)], |row| {
            let at = rows::USER_COLUMNS;
            Ok(Profile {
                user: rows::user(row, 0)?,
                bio: row.text(at)?,
                timezone: row.opt_text(at + 1)?,
                created_at: row.text(at + 2)?,
                retired: row.opt_text(at + 3)?.is_some(),
            })
        })
        .await
    }

    async fn update_profile(&self, user_id: &str, fields: &ProfileFields) -> Result<User> {
        // Each field is set only when the change names it ($1, $4, $6 say which).
        let sql = sql!(
            "UPDATE users SET \
             display_name = CASE WHEN $1 = 1 THEN $2 ELSE display_name END, \
             display_key = CASE WHEN $1 = 1 THEN $3 ELSE display_key END, \
             bio = CASE WHEN $4 = 1 THEN $5 ELSE bio END, \
             timezone = CASE WHEN $6 = 1 THEN $7 ELSE timezone END \
             WHERE id = $8 AND retired_at IS NULL"
        );
        let display_name = fields.display_name.clone().flatten();
        let key = display_name.as_deref().map(str::to_lowercase);
        let timezone = fields.timezone.clone().flatten();
        let args = [
            Arg::Int(fields.display_name.is_some() as i64),
            Arg::OptText(display_name.as_deref()),
            Arg::OptText(key.as_deref()),
            Arg::Int(fields.bio.is_some() as i64),
            Arg::Text(fields.bio.as_deref().unwrap_or("")),
            Arg::Int(fields.timezone.is_some() as i64),
            Arg::OptText(timezone.as_deref()),
            Arg::Text(user_id),
        ];
        let mut conn = self.write().await?;
        if dialect::execute(&mut *conn, &sql, &args).await? == 0 {
            return Err(Error::UserNotFound);
        }
        drop(conn);
        self.profile(user_id)
            .await?
            .map(|p| p.user)
            .ok_or(Error::UserNotFound)
    }

    async fn search_users(&self, prefix: &str, limit: u32) -> Result<Vec<User>> {
        let sql = sql!(
            "SELECT " user_columns!() " FROM users u WHERE u.retired_at IS NULL \
             AND (u.username_key LIKE $1 ESCAPE '\\' OR u.display_key LIKE $1 ESCAPE '\\') \
             ORDER BY u.username_key LIMIT $2"
        );
        let pattern = like_prefix(prefix);
        let args = [Arg::Text(&pattern), Arg::Int(i64::from(limit))];
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &args, |row| rows::user(row, 0)).await
    }

    async fn password_hash(&self, user_id: &str) -> Result<Option<String>> {
        let sql = sql!("SELECT password_hash FROM users WHERE id = $1 AND retired_at IS NULL");
        let mut conn = self.read().await?;
        let found = dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(user_id)], |row| {
            row.opt_text(0)
        })
        .await?;
        Ok(found.flatten())
    }

    async fn set_password(&self, user_id: &str, hash: &str, keep: &str) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let sql = sql!("UPDATE users SET password_hash = $1 WHERE id = $2 AND retired_at IS NULL");
        if dialect::execute(&mut *tx, &sql, &[Arg::Text(hash), Arg::Text(user_id)]).await? == 0 {
            return Err(Error::UserNotFound);
        }
        let others =
            sql!("SELECT token_hash FROM sessions WHERE user_id = $1 AND token_hash <> $2");
        let args = [Arg::Text(user_id), Arg::Text(keep)];
        let revoked = dialect::fetch_all(&mut *tx, &others, &args, |row| row.text(0)).await?;
        let delete = sql!("DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2");
        dialect::execute(&mut *tx, &delete, &args).await?;
        B::commit(tx).await?;
        Ok(revoked)
    }

    async fn user_sessions(&self, user_id: &str) -> Result<Vec<SessionInfo>> {
        let sql = sql!(
            "SELECT id, token_hash, created_at, last_seen_at, expires_at FROM sessions \
             WHERE user_id = $1 AND (expires_at IS NULL OR expires_at > $2) \
             ORDER BY created_at DESC, id"
        );
        let at = now();
        let mut conn = self.read().await?;
        let args = [Arg::Text(user_id), Arg::Text(&at)];
        dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok(SessionInfo {
                id: row.text(0)?,
                token_hash: row.text(1)?,
                created_at: row.text(2)?,
                last_seen_at: row.opt_text(3)?,
                expires_at: row.opt_text(4)?,
            })
        })
        .await
    }

    async fn delete_session_by_id(&self, user_id: &str, id: &str) -> Result<Option<String>> {
        if id.is_empty() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let find = sql!("SELECT token_hash FROM sessions WHERE user_id = $1 AND id = $2");
        let args = [Arg::Text(user_id), Arg::Text(id)];
        let hash = dialect::fetch_optional(&mut *tx, &find, &args, |row| row.text(0)).await?;
        if let Some(hash) = &hash {
            let delete = sql!("DELETE FROM sessions WHERE token_hash = $1");
            dialect::execute(&mut *tx, &delete, &[Arg::Text(hash)]).await?;
        }
        B::commit(tx).await?;
        Ok(hash)
    }

    async fn touch_session(&self, token_hash: &str, at: &str, since: &str) -> Result<()> {
        let sql = sql!(
            "UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2 \
             AND (last_seen_at IS NULL OR last_seen_at < $3)"
        );
        let mut conn = self.write().await?;
        let args = [Arg::Text(at), Arg::Text(token_hash), Arg::Text(since)];
        dialect::execute(&mut *conn, &sql, &args).await?;
        Ok(())
    }

    async fn member_room_ids(&self, user_id: &str) -> Result<Vec<String>> {
        let sql = sql!(
            "SELECT mb.room_id FROM members mb JOIN rooms r ON r.id = mb.room_id \
             WHERE mb.user_id = $1 AND r.deleted = " FALSE " ORDER BY mb.joined_at, mb.room_id"
        );
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(user_id)], |row| row.text(0)).await
    }

    async fn export_extras(&self, user_id: &str) -> Result<ExportExtras> {
        let args = [Arg::Text(user_id)];
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT x.room_id, x.message_id, x.emoji FROM reactions x \
             JOIN messages m ON m.id = x.message_id \
             WHERE x.user_id = $1 AND m.deleted = " FALSE " ORDER BY x.room_id, x.seq"
        );
        let reactions = dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok(ExportReaction {
                room_id: row.text(0)?,
                message_id: row.text(1)?,
                emoji: row.text(2)?,
            })
        })
        .await?;
        let sql = sql!(
            "SELECT room_id, last_read_seq, notifications FROM read_state \
             WHERE user_id = $1 ORDER BY room_id"
        );
        let read_state = dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok(ExportReadState {
                room_id: row.text(0)?,
                last_read_seq: row.int(1)? as u64,
                notifications: row.opt_text(2)?,
            })
        })
        .await?;
        let sql = sql!(
            "SELECT id, name, size, content_type, room_id, message_id, created_at FROM files \
             WHERE owner_id = $1 ORDER BY created_at, id"
        );
        let files = dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok(ExportFile {
                id: row.text(0)?,
                name: row.text(1)?,
                size: row.int(2)? as u64,
                content_type: row.text(3)?,
                room_id: row.opt_text(4)?,
                message_id: row.opt_text(5)?,
                created_at: row.text(6)?,
            })
        })
        .await?;
        let sql = sql!(
            "SELECT endpoint, created_at FROM push_subscriptions WHERE user_id = $1 \
             ORDER BY created_at, endpoint"
        );
        let push_subscriptions = dialect::fetch_all(&mut *conn, &sql, &args, |row| {
            Ok(ExportPushSubscription {
                endpoint: row.text(0)?,
                created_at: row.text(1)?,
            })
        })
        .await?;
        Ok(ExportExtras {
            reactions,
            read_state,
            files,
            push_subscriptions,
        })
    }

    async fn messages_by(&self, user_id: &str, after: &str, limit: u32) -> Result<Vec<Message>> {
        let sql = sql!(
            "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
             WHERE m.author_id = $1 AND m.id > $2 AND m.deleted = " FALSE
            " ORDER BY m.id LIMIT $3"
        );
        let args = [
            Arg::Text(user_id),
            Arg::Text(after),
            Arg::Int(i64::from(limit)),
        ];
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &args, rows::message).await
    }

    async fn set_admin(&self, username: &str, admin: bool) -> Result<User> {
        let sql =
            sql!("UPDATE users SET admin = $1 WHERE username_key = $2 AND retired_at IS NULL");
        let key = super::accounts::username_key(username);
        let mut conn = self.write().await?;
        if dialect::execute(&mut *conn, &sql, &[Arg::Bool(admin), Arg::Text(&key)]).await? == 0 {
            return Err(Error::UserNotFound);
        }
        drop(conn);
        let record = super::AccountStore::find_user_by_name(self, username).await?;
        record.map(|r| r.user).ok_or(Error::UserNotFound)
    }

    async fn claim_guest(&self, user_id: &str, hash: &str) -> Result<User> {
        let sql = sql!(
            "UPDATE users SET guest = " FALSE ", password_hash = $1, released_at = NULL \
             WHERE id = $2 AND guest = " TRUE " AND retired_at IS NULL"
        );
        let mut conn = self.write().await?;
        if dialect::execute(&mut *conn, &sql, &[Arg::Text(hash), Arg::Text(user_id)]).await? == 0 {
            return Err(Error::NotAGuest);
        }
        drop(conn);
        self.profile(user_id)
            .await?
            .map(|p| p.user)
            .ok_or(Error::UserNotFound)
    }

    async fn end_account(&self, user_id: &str, ending: &Ending) -> Result<Option<EndedAccount>> {
        let mut tx = self.begin().await?;
        let at = now();
        let changed = match ending {
            Ending::Deleted => {
                let sql = sql!(
                    "UPDATE users SET username = $1, username_key = '~' || id, \
                     password_hash = NULL, admin = " FALSE ", display_name = $2, \
                     display_key = NULL, bio = '', timezone = NULL, retired_at = $3 \
                     WHERE id = $4 AND retired_at IS NULL"
                );
                let short = &user_id[user_id.len().saturating_sub(8)..];
                let name = format!("deleted-{short}");
                let args = [
                    Arg::Text(&name),
                    Arg::Text(DELETED_DISPLAY_NAME),
                    Arg::Text(&at),
                    Arg::Text(user_id),
                ];
                dialect::execute(&mut *tx, &sql, &args).await?
            }
            Ending::GuestExpired { cutoff } => {
                let sql = sql!(
                    "UPDATE users SET username_key = '~' || id, retired_at = $1 \
                     WHERE id = $2 AND guest = " TRUE " AND retired_at IS NULL \
                     AND released_at IS NOT NULL AND released_at <= $3 \
                     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id \
                     AND (s.expires_at IS NULL OR s.expires_at > $1))"
                );
                let args = [Arg::Text(&at), Arg::Text(user_id), Arg::Text(cutoff)];
                dialect::execute(&mut *tx, &sql, &args).await?
            }
        };
        if changed == 0 {
            return Ok(None);
        }
        let args = [Arg::Text(user_id)];
        let find = sql!("SELECT token_hash FROM sessions WHERE user_id = $1");
        let hashes = dialect::fetch_all(&mut *tx, &find, &args, |row| row.text(0)).await?;
        let delete = sql!("DELETE FROM sessions WHERE user_id = $1");
        dialect::execute(&mut *tx, &delete, &args).await?;
        // Its browsers: a deleted account, or a guest with no session left (who can never sign
        // in again), is pushed nothing again.
        let forget = sql!("DELETE FROM push_subscriptions WHERE user_id = $1");
        dialect::execute(&mut *tx, &forget, &args).await?;
        let sql = sql!("SELECT " user_columns!() " FROM users u WHERE u.id = $1");
        let user = dialect::fetch_optional(&mut *tx, &sql, &args, |row| rows::user(row, 0))
            .await?
            .ok_or(Error::UserNotFound)?;
        // Rooms in id order: two accounts ending at once lock shared rooms in the same order.
        let rooms = sql!("SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id");
        let rooms = dialect::fetch_all(&mut *tx, &rooms, &args, |row| row.text(0)).await?;
        let leave = sql!("DELETE FROM members WHERE room_id = $1 AND user_id = $2");
        let mut events = Vec::new();
        for room_id in rooms {
            let live = match lock_room(&mut *tx, &room_id).await {
                Ok(()) => true,
                Err(Error::RoomNotFound) => false,
                Err(err) => return Err(err),
            };
            dialect::execute(&mut *tx, &leave, &[Arg::Text(&room_id), Arg::Text(user_id)]).await?;
            if live {
                let kind = EventKind::MemberLeft { user: user.clone() };
                events.push(append(&mut *tx, &room_id, kind, None).await?);
            }
        }
        B::commit(tx).await?;
        Ok(Some(EndedAccount {
            user,
            revoked: hashes,
            events,
        }))
    }

    async fn release_idle_guests(&self, user_id: Option<&str>) -> Result<u64> {
        let at = now();
        let mut conn = self.write().await?;
        match user_id {
            Some(id) => {
                let sql = sql!(
                    "UPDATE users SET released_at = $1 WHERE id = $2 AND guest = " TRUE
                    " AND retired_at IS NULL AND released_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id \
                     AND (s.expires_at IS NULL OR s.expires_at > $1))"
                );
                Ok(dialect::execute(&mut *conn, &sql, &[Arg::Text(&at), Arg::Text(id)]).await?)
            }
            None => {
                let sql = sql!(
                    "UPDATE users SET released_at = $1 WHERE guest = " TRUE
                    " AND retired_at IS NULL AND released_at IS NULL \
                     AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id \
                     AND (s.expires_at IS NULL OR s.expires_at > $1))"
                );
                Ok(dialect::execute(&mut *conn, &sql, &[Arg::Text(&at)]).await?)
            }
        }
    }

    async fn releasable_guests(&self, cutoff: &str, limit: u32) -> Result<Vec<String>> {
        let sql = sql!(
            "SELECT id FROM users WHERE guest = " TRUE " AND retired_at IS NULL \
             AND released_at IS NOT NULL AND released_at <= $1 ORDER BY released_at LIMIT $2"
        );
        let args = [Arg::Text(cutoff), Arg::Int(i64::from(limit))];
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &args, |row| row.text(0)).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_wildcards_are_literal() {
        assert_eq!(super::like_prefix("a_b%c\\"), "a\\_b\\%c\\\\%");
        assert_eq!(super::like_prefix(""), "%");
    }
}
