//! Users and sessions.

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn, RowsSql};
use super::rows::{self, user_columns};
use super::{new_id, now, SessionRecord, UserRecord};
use crate::error::{Error, Result};
use crate::protocol::User;

/// The usernames of the users after an id, in id order (the name check's incremental read).
///
/// Bounded on both sides: with only `id > $1`, PostgreSQL's plan for a prepared statement,
/// made without the arguments, reckons a third of the table and scans all of it. On a table not
/// analysed since it grew (a burst of sign-ups on a new server, each node reading the others'
/// new users several times a second), every read then walked every user, so the reads cost
/// grew with the square of the sign-ups (seen in a profile of 30,000 guests signing in on
/// three nodes). A range on both sides is reckoned narrow and read from the primary key (a unit
/// test reads the plan).
const USERNAMES_AFTER: dialect::Sql = sql!(
    "SELECT id, username FROM users WHERE id > $1 AND id < $2 AND retired_at IS NULL ORDER BY id"
);

/// Above every user id: ids are lower-case hex (UUIDs, simple form), and `g` sorts after every
/// hex digit in any collation.
const ABOVE_EVERY_ID: &str = "g";

/// Most token hashes one statement of [`AccountStore::sessions`] reads (SQLite takes at most
/// 32,766 arguments a statement; a bigger batch is read in several).
const SESSIONS_PER_READ: usize = 500;

static SESSIONS: RowsSql = RowsSql::new(
    sql!(
        "SELECT " user_columns!() ", s.expires_at, s.id, s.last_seen_at, s.token_hash \
         FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash IN ("
    ),
    1,
    sql!(")"),
);

/// Most guests one statement of [`AccountStore::create_guests_with_sessions`] writes: 7
/// arguments a user, far below SQLite's 32,766 a statement.
const GUESTS_PER_WRITE: usize = 500;

/// New users; a name already held (ignoring case) is skipped, and the ids written come back.
static NEW_USERS: RowsSql = RowsSql::new(
    sql!("INSERT INTO users (id, username, username_key, password_hash, guest, created_at, admin) VALUES "),
    7,
    sql!(" ON CONFLICT (username_key) DO NOTHING RETURNING id"),
);

static NEW_SESSIONS: RowsSql = RowsSql::new(
    sql!("INSERT INTO sessions (token_hash, user_id, created_at, expires_at, id) VALUES "),
    5,
    sql!(""),
);

/// A guest to sign up, with their first session: see [`AccountStore::create_guests_with_sessions`].
#[derive(Debug, Clone)]
pub struct NewGuest {
    pub username: String,
    pub token_hash: String,
    /// When the session ends (RFC 3339 UTC with milliseconds).
    pub expires_at: String,
}

/// The sessions of these token hashes, expired or not, each with its hash.
async fn sessions_in<C: Conn>(
    conn: &mut C,
    token_hashes: &[String],
) -> Result<Vec<(String, SessionRecord)>> {
    let args: Vec<Arg> = token_hashes.iter().map(|hash| Arg::Text(hash)).collect();
    let sql = SESSIONS.text(C::DIALECT, token_hashes.len());
    dialect::fetch_all_text(conn, &sql, &args, |row| {
        Ok((row.text(rows::USER_COLUMNS + 3)?, session_record(row)?))
    })
    .await
}

/// What a username is unique by (`users.username_key`): the name ignoring case. Every write
/// and lookup of a name goes through this one rule.
pub fn username_key(username: &str) -> String {
    username.to_lowercase()
}

/// A session read with the user's columns, then `expires_at, id, last_seen_at`.
fn session_record(row: &dyn dialect::ReadRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        user: rows::user(row, 0)?,
        expires_at: row.opt_text(rows::USER_COLUMNS)?,
        id: row.text(rows::USER_COLUMNS + 1)?,
        last_seen_at: row.opt_text(rows::USER_COLUMNS + 2)?,
    })
}

/// Users and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// `UsernameTaken` when the name is in use, ignoring case.
    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        guest: bool,
    ) -> Result<User>;
    /// A new guest and their first session (ending at `expires_at`), in one transaction: one
    /// commit per guest sign-in, not two. `UsernameTaken` as [`Self::create_user`].
    async fn create_guest_with_session(
        &self,
        username: &str,
        token_hash: &str,
        expires_at: &str,
    ) -> Result<User> {
        let guest = NewGuest {
            username: username.to_string(),
            token_hash: token_hash.to_string(),
            expires_at: expires_at.to_string(),
        };
        let mut answers = self
            .create_guests_with_sessions(std::slice::from_ref(&guest))
            .await?;
        answers
            .pop()
            .unwrap_or_else(|| Err(Error::Internal(anyhow::anyhow!("no answer for the guest"))))
    }
    /// Many [`Self::create_guest_with_session`] in one transaction, a few statements whatever
    /// their number: one answer per guest, in order. A name already held, or asked for earlier
    /// in the same call (ignoring case), is `UsernameTaken`, and the others are written all the
    /// same. An error of the whole call wrote none of them.
    async fn create_guests_with_sessions(&self, guests: &[NewGuest]) -> Result<Vec<Result<User>>>;
    async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    /// The users whose id sorts after `after` (`""`: every user), in id order: `(id, username)`.
    /// Ids are UUIDv7, so they sort by creation time: the look-alike check on sign-up
    /// (`chat::names`) reads only the users created since it last looked.
    async fn usernames_after(&self, after: &str) -> Result<Vec<(String, String)>>;
    /// A session that never expires (kept for callers that predate expiry).
    async fn create_session(&self, token_hash: &str, user_id: &str) -> Result<()>;
    /// A session that stops working at `expires_at` (RFC 3339 UTC with milliseconds).
    async fn create_session_until(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: &str,
    ) -> Result<()>;
    /// The session's user; `None` when unknown, revoked or expired.
    async fn session_user(&self, token_hash: &str) -> Result<Option<User>> {
        Ok(self.session(token_hash).await?.map(|s| s.user))
    }
    /// The session's user and expiry; `None` when unknown, revoked or expired.
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>>;
    /// [`Self::session`] of many token hashes in one read: the live ones, each with its hash,
    /// in no particular order (an unknown, revoked or expired one is left out).
    async fn sessions(&self, token_hashes: &[String]) -> Result<Vec<(String, SessionRecord)>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Deletes every expired session, and releases each guest whose last live session that was
    /// (see [`crate::store::PeopleStore::release_idle_guests`]); answers how many there were.
    async fn delete_expired_sessions(&self) -> Result<u64>;
}

/// A new user (not a bot); `UsernameTaken` when the name is in use, ignoring case.
pub(super) async fn insert_user<C: Conn>(
    conn: &mut C,
    username: &str,
    password_hash: Option<&str>,
    guest: bool,
    admin: bool,
) -> Result<User> {
    let user = User {
        id: new_id(),
        username: username.to_string(),
        guest,
        admin,
        display_name: None,
        bot: false,
    };
    let sql = sql!(
        "INSERT INTO users (id, username, username_key, password_hash, guest, created_at, admin) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    );
    let (key, at) = (username_key(username), now());
    let args = [
        Arg::Text(&user.id),
        Arg::Text(&user.username),
        Arg::Text(&key),
        Arg::OptText(password_hash),
        Arg::Bool(guest),
        Arg::Text(&at),
        Arg::Bool(admin),
    ];
    dialect::execute(conn, &sql, &args)
        .await
        .map_err(|err| err.unique_or(Error::UsernameTaken))?;
    Ok(user)
}

/// Guests' users, skipping a name already held: the ids written.
async fn insert_guests<C: Conn>(
    conn: &mut C,
    users: &[&(User, String)],
    at: &str,
) -> Result<Vec<String>> {
    let mut args = Vec::with_capacity(users.len() * 7);
    for (user, key) in users {
        args.extend([
            Arg::Text(&user.id),
            Arg::Text(&user.username),
            Arg::Text(key),
            Arg::OptText(None),
            Arg::Bool(true),
            Arg::Text(at),
            Arg::Bool(false),
        ]);
    }
    let sql = NEW_USERS.text(C::DIALECT, users.len());
    dialect::fetch_all_text(conn, &sql, &args, |row| row.text(0)).await
}

/// The guests' first sessions: `(guest, their user, the session's id)`.
async fn insert_guest_sessions<C: Conn>(
    conn: &mut C,
    sessions: &[(&NewGuest, &User, String)],
    at: &str,
) -> Result<()> {
    let mut args = Vec::with_capacity(sessions.len() * 5);
    for (guest, user, id) in sessions {
        args.extend([
            Arg::Text(&guest.token_hash),
            Arg::Text(&user.id),
            Arg::Text(at),
            Arg::OptText(Some(&guest.expires_at)),
            Arg::Text(id),
        ]);
    }
    let sql = NEW_SESSIONS.text(C::DIALECT, sessions.len());
    conn.execute(&sql, &args).await?;
    Ok(())
}

/// A new session of the user, ending at `expires_at` (`None`: never).
async fn insert_session<C: Conn>(
    conn: &mut C,
    token_hash: &str,
    user_id: &str,
    expires_at: Option<&str>,
) -> Result<()> {
    let sql = sql!(
        "INSERT INTO sessions (token_hash, user_id, created_at, expires_at, id) \
         VALUES ($1, $2, $3, $4, $5)"
    );
    let (at, id) = (now(), new_id());
    let args = [
        Arg::Text(token_hash),
        Arg::Text(user_id),
        Arg::Text(&at),
        Arg::OptText(expires_at),
        Arg::Text(&id),
    ];
    dialect::execute(conn, &sql, &args).await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> AccountStore for B {
    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        guest: bool,
    ) -> Result<User> {
        let mut conn = self.write().await?;
        insert_user(&mut *conn, username, password_hash, guest, false).await
    }

    async fn create_guests_with_sessions(&self, guests: &[NewGuest]) -> Result<Vec<Result<User>>> {
        let mut keys = std::collections::HashSet::new();
        // Each guest's user, or `None` when an earlier guest of the call asked for the name.
        let users: Vec<Option<(User, String)>> = guests
            .iter()
            .map(|guest| {
                let key = username_key(&guest.username);
                keys.insert(key.clone()).then(|| {
                    let user = User {
                        id: new_id(),
                        username: guest.username.clone(),
                        guest: true,
                        admin: false,
                        display_name: None,
                        bot: false,
                    };
                    (user, key)
                })
            })
            .collect();
        let at = now();
        let mut tx = self.begin().await?;
        let mut written = std::collections::HashSet::new();
        // In the names' order: two calls at once (two runners, two nodes) that ask for some of
        // the same names wait on each other's rows in one order, never in a cycle.
        let mut asked: Vec<&(User, String)> = users.iter().flatten().collect();
        asked.sort_unstable_by(|a, b| a.1.cmp(&b.1));
        for chunk in asked.chunks(GUESTS_PER_WRITE) {
            written.extend(insert_guests(&mut *tx, chunk, &at).await?);
        }
        let sessions: Vec<(&NewGuest, &User, String)> = guests
            .iter()
            .zip(&users)
            .filter_map(|(guest, user)| {
                let (user, _) = user.as_ref()?;
                written.contains(&user.id).then(|| (guest, user, new_id()))
            })
            .collect();
        for chunk in sessions.chunks(GUESTS_PER_WRITE) {
            insert_guest_sessions(&mut *tx, chunk, &at).await?;
        }
        B::commit(tx).await?;
        Ok(users
            .into_iter()
            .map(|user| match user {
                Some((user, _)) if written.contains(&user.id) => Ok(user),
                _ => Err(Error::UsernameTaken),
            })
            .collect())
    }

    async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRecord>> {
        let sql = sql!(
            "SELECT " user_columns!() ", u.password_hash FROM users u WHERE u.username_key = $1"
        );
        let key = username_key(username);
        let mut conn = self.read().await?;
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(&key)], |row| {
            Ok(UserRecord {
                user: rows::user(row, 0)?,
                password_hash: row.opt_text(rows::USER_COLUMNS)?,
            })
        })
        .await
    }

    async fn usernames_after(&self, after: &str) -> Result<Vec<(String, String)>> {
        let mut conn = self.read().await?;
        dialect::fetch_all(
            &mut *conn,
            &USERNAMES_AFTER,
            &[Arg::Text(after), Arg::Text(ABOVE_EVERY_ID)],
            |row| Ok((row.text(0)?, row.text(1)?)),
        )
        .await
    }

    async fn create_session(&self, token_hash: &str, user_id: &str) -> Result<()> {
        let mut conn = self.write().await?;
        insert_session(&mut *conn, token_hash, user_id, None).await
    }

    async fn create_session_until(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: &str,
    ) -> Result<()> {
        let mut conn = self.write().await?;
        insert_session(&mut *conn, token_hash, user_id, Some(expires_at)).await
    }

    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>> {
        let sql = sql!(
            "SELECT " user_columns!() ", s.expires_at, s.id, s.last_seen_at FROM sessions s \
             JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND (s.expires_at IS NULL OR s.expires_at > $2)"
        );
        let at = now();
        let mut conn = self.read().await?;
        let args = [Arg::Text(token_hash), Arg::Text(&at)];
        dialect::fetch_optional(&mut *conn, &sql, &args, session_record).await
    }

    async fn sessions(&self, token_hashes: &[String]) -> Result<Vec<(String, SessionRecord)>> {
        let at = now();
        let mut found = Vec::with_capacity(token_hashes.len());
        let mut conn = self.read().await?;
        for chunk in token_hashes.chunks(SESSIONS_PER_READ) {
            let rows = sessions_in(&mut *conn, chunk).await?;
            // Expiry as `session` checks it, on the same text (RFC 3339 UTC sorts as it reads).
            found.extend(rows.into_iter().filter(|(_, session)| {
                session
                    .expires_at
                    .as_deref()
                    .is_none_or(|expires| expires > at.as_str())
            }));
        }
        Ok(found)
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        let sql = sql!("DELETE FROM sessions WHERE token_hash = $1");
        let mut conn = self.write().await?;
        dialect::execute(&mut *conn, &sql, &[Arg::Text(token_hash)]).await?;
        Ok(())
    }

    async fn delete_expired_sessions(&self) -> Result<u64> {
        let at = now();
        let mut tx = self.begin().await?;
        // The guests whose last live session is among the expired ones are released (the grace
        // of their name starts) with the deletion, so that the sweep reads only the sessions
        // that expired, not every guest.
        let release = sql!(
            "UPDATE users SET released_at = $1 WHERE id IN \
             (SELECT user_id FROM sessions WHERE expires_at <= $1) \
             AND guest = " TRUE " AND retired_at IS NULL AND released_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = users.id \
             AND (s.expires_at IS NULL OR s.expires_at > $1))"
        );
        dialect::execute(&mut *tx, &release, &[Arg::Text(&at)]).await?;
        let delete = sql!("DELETE FROM sessions WHERE expires_at <= $1");
        let deleted = dialect::execute(&mut *tx, &delete, &[Arg::Text(&at)]).await?;
        B::commit(tx).await?;
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The name check's read on a users table that grew without being analysed (a new server's
    /// first burst of sign-ups), in the plan a prepared statement gets after its first
    /// executions: it must read a range of the primary key, not scan every user.
    #[tokio::test]
    async fn postgres_reads_new_usernames_from_the_primary_key_before_any_analyse() {
        use sqlx::Connection;
        let scratch = crate::store::ScratchPostgres::new().await;
        let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        // No autovacuum on the table: no analyse may happen while the test reads the plan.
        sqlx::query("ALTER TABLE users SET (autovacuum_enabled = false)")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO users (id, username, username_key, guest, created_at) \
             SELECT lpad(to_hex(g), 12, '0') || '7' || substr(md5(g::text), 1, 19), \
             'guest' || g, 'guest' || g, TRUE, '2026-12-06T00:00:00.000Z' \
             FROM generate_series(1, 30000) g",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query("SET plan_cache_mode = force_generic_plan")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query(&format!("PREPARE names AS {}", USERNAMES_AFTER.postgres))
            .execute(&mut conn)
            .await
            .unwrap();
        let after = format!("{:012x}8", 29_990);
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN EXECUTE names('{after}', '{ABOVE_EVERY_ID}')"
        ))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        // And the read itself: the ten newest, in id order.
        let read = scratch.store.usernames_after(&after).await.unwrap();
        conn.close().await.unwrap();
        scratch.drop_now().await;
        assert!(
            plan.iter().any(|line| line.contains("users_pkey"))
                && !plan.iter().any(|line| line.contains("Seq Scan")),
            "the read scans the table: {plan:#?}"
        );
        let names: Vec<&str> = read.iter().map(|(_, name)| name.as_str()).collect();
        let want: Vec<String> = (29_991..=30_000).map(|g| format!("guest{g}")).collect();
        assert_eq!(names, want);
    }
}
