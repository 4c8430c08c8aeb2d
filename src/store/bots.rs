//! Bot accounts: users (`users.bot`) owned by a person, each with a token (a session that never
//! expires, stored only as its hash) and, when limited, the rooms that token may reach; and the
//! room scope of any bot-like user ([`BotStore::scope`]), which the access gate asks.

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn};
use super::events::append;
use super::rooms::{join_in, lock_room};
use super::rows::{self, user_columns};
use super::{new_id, now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{Bot, EventKind, User};

/// Which rooms a bot-like user may reach at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Not limited: the access policy alone decides.
    Everywhere,
    /// Only these rooms (a limited bot's list, a webhook's room; none for a deleted bot).
    Rooms(Vec<String>),
}

/// A bot to create.
#[derive(Debug, Clone, Copy)]
pub struct NewBot<'a> {
    pub username: &'a str,
    pub owner_id: &'a str,
    /// `Some`: the token reaches only these rooms, and the bot joins each.
    pub room_ids: Option<&'a [String]>,
    /// The hash of its first token.
    pub token_hash: &'a str,
}

/// Bot accounts and their tokens.
#[async_trait]
pub trait BotStore: Send + Sync + 'static {
    /// The bot, its token and, in one transaction, a `member.joined` event in each listed room
    /// (`RoomNotFound` when one is gone, `UsernameTaken` when the name is).
    async fn create_bot(&self, bot: NewBot<'_>) -> Result<(Bot, Vec<StoredEvent>)>;
    /// The owner's bots, oldest first.
    async fn bots_of(&self, owner_id: &str) -> Result<Vec<Bot>>;
    /// The bot's owner; `None` when there is no such (live) bot.
    async fn bot_owner(&self, bot_id: &str) -> Result<Option<String>>;
    /// Deletes the bot's tokens and scope, and it leaves every room (a `member.left` event in
    /// each), in one transaction: the revoked token hashes and the events. The user stays (its
    /// past messages keep their author).
    async fn delete_bot(&self, bot_id: &str) -> Result<(Vec<String>, Vec<StoredEvent>)>;
    /// Replaces every token of the bot with one: the revoked hashes.
    async fn replace_bot_token(&self, bot_id: &str, token_hash: &str) -> Result<Vec<String>>;
    /// The rooms a bot-like user may reach: a bot's list (or everywhere), a webhook's room, no
    /// room for a deleted bot.
    async fn scope(&self, user_id: &str) -> Result<Scope>;
}

/// Inserts a bot-like user (no password, not a guest): `UsernameTaken` when the name is.
pub(crate) async fn insert_bot_user<C: Conn>(conn: &mut C, username: &str) -> Result<User> {
    let user = User {
        id: new_id(),
        username: username.to_string(),
        guest: false,
        admin: false,
        display_name: None,
        bot: true,
    };
    let sql = sql!(
        "INSERT INTO users (id, username, username_key, password_hash, guest, created_at, bot) \
         VALUES ($1, $2, $3, NULL, " FALSE ", $4, " TRUE ")"
    );
    let (key, at) = (super::accounts::username_key(username), now());
    let args = [
        Arg::Text(&user.id),
        Arg::Text(&user.username),
        Arg::Text(&key),
        Arg::Text(&at),
    ];
    dialect::execute(conn, &sql, &args)
        .await
        .map_err(|err| err.unique_or(Error::UsernameTaken))?;
    Ok(user)
}

/// Locks each room (in id order, so two such transactions never wait on each other) and joins
/// the user: the `member.joined` events.
pub(crate) async fn join_rooms<C: Conn>(
    conn: &mut C,
    room_ids: &[String],
    user: &User,
) -> Result<Vec<StoredEvent>> {
    let mut sorted: Vec<&String> = room_ids.iter().collect();
    sorted.sort();
    sorted.dedup();
    let mut events = Vec::new();
    for room_id in sorted {
        lock_room(conn, room_id).await?;
        events.extend(join_in(conn, room_id, user).await?);
    }
    Ok(events)
}

/// Removes the user from every room it is in (locking each in id order): the `member.left`
/// events.
pub(crate) async fn leave_all<C: Conn>(conn: &mut C, user: &User) -> Result<Vec<StoredEvent>> {
    let sql = sql!("SELECT room_id FROM members WHERE user_id = $1 ORDER BY room_id");
    let rooms = dialect::fetch_all(conn, &sql, &[Arg::Text(&user.id)], |row| row.text(0)).await?;
    let mut events = Vec::new();
    for room_id in rooms {
        lock_room(conn, &room_id).await?;
        let sql = sql!("DELETE FROM members WHERE room_id = $1 AND user_id = $2");
        let args = [Arg::Text(&room_id), Arg::Text(&user.id)];
        if dialect::execute(conn, &sql, &args).await? > 0 {
            let kind = EventKind::MemberLeft { user: user.clone() };
            events.push(append(conn, &room_id, kind, None).await?);
        }
    }
    Ok(events)
}

/// Deletes every session of the user: their hashes.
pub(crate) async fn delete_sessions<C: Conn>(conn: &mut C, user_id: &str) -> Result<Vec<String>> {
    let sql = sql!("SELECT token_hash FROM sessions WHERE user_id = $1 ORDER BY token_hash");
    let hashes = dialect::fetch_all(conn, &sql, &[Arg::Text(user_id)], |row| row.text(0)).await?;
    let sql = sql!("DELETE FROM sessions WHERE user_id = $1");
    dialect::execute(conn, &sql, &[Arg::Text(user_id)]).await?;
    Ok(hashes)
}

/// A never-expiring session (a bot's token).
async fn insert_token<C: Conn>(conn: &mut C, token_hash: &str, user_id: &str) -> Result<()> {
    let sql = sql!("INSERT INTO sessions (token_hash, user_id, created_at) VALUES ($1, $2, $3)");
    let at = now();
    let args = [Arg::Text(token_hash), Arg::Text(user_id), Arg::Text(&at)];
    dialect::execute(conn, &sql, &args).await?;
    Ok(())
}

/// A user by id.
pub(crate) async fn user_in<C: Conn>(conn: &mut C, user_id: &str) -> Result<Option<User>> {
    let sql = sql!("SELECT " user_columns!() " FROM users u WHERE u.id = $1");
    dialect::fetch_optional(conn, &sql, &[Arg::Text(user_id)], |row| rows::user(row, 0)).await
}

#[async_trait]
impl<B: Backend> BotStore for B {
    async fn create_bot(&self, bot: NewBot<'_>) -> Result<(Bot, Vec<StoredEvent>)> {
        let mut tx = self.begin().await?;
        let user = insert_bot_user(&mut *tx, bot.username).await?;
        let at = now();
        let sql = sql!(
            "INSERT INTO bots (user_id, owner_id, scoped, created_at) VALUES ($1, $2, $3, $4)"
        );
        let args = [
            Arg::Text(&user.id),
            Arg::Text(bot.owner_id),
            Arg::Bool(bot.room_ids.is_some()),
            Arg::Text(&at),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        insert_token(&mut *tx, bot.token_hash, &user.id).await?;
        let mut events = Vec::new();
        let mut room_ids = None;
        if let Some(rooms) = bot.room_ids {
            let mut listed: Vec<String> = rooms.to_vec();
            listed.sort();
            listed.dedup();
            // The rooms' locks first (in PostgreSQL a row that references a room takes a share
            // lock on it, which two such transactions could not both upgrade).
            events = join_rooms(&mut *tx, &listed, &user).await?;
            let sql = sql!("INSERT INTO bot_rooms (bot_id, room_id) VALUES ($1, $2)");
            for room_id in &listed {
                dialect::execute(&mut *tx, &sql, &[Arg::Text(&user.id), Arg::Text(room_id)])
                    .await?;
            }
            room_ids = Some(listed);
        }
        B::commit(tx).await?;
        Ok((
            Bot {
                user,
                room_ids,
                created_at: at,
            },
            events,
        ))
    }

    async fn bots_of(&self, owner_id: &str) -> Result<Vec<Bot>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT " user_columns!() ", b.scoped, b.created_at FROM bots b \
             JOIN users u ON u.id = b.user_id WHERE b.owner_id = $1 ORDER BY b.created_at, u.id"
        );
        let mut bots = dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(owner_id)], |row| {
            let scoped = row.flag(rows::USER_COLUMNS)?;
            Ok(Bot {
                user: rows::user(row, 0)?,
                room_ids: scoped.then(Vec::new),
                created_at: row.text(rows::USER_COLUMNS + 1)?,
            })
        })
        .await?;
        let sql = sql!(
            "SELECT br.bot_id, br.room_id FROM bot_rooms br JOIN bots b ON b.user_id = br.bot_id \
             WHERE b.owner_id = $1 ORDER BY br.room_id"
        );
        let listed = dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(owner_id)], |row| {
            Ok((row.text(0)?, row.text(1)?))
        })
        .await?;
        for (bot_id, room_id) in listed {
            if let Some(rooms) = bots
                .iter_mut()
                .find(|b| b.user.id == bot_id)
                .and_then(|b| b.room_ids.as_mut())
            {
                rooms.push(room_id);
            }
        }
        Ok(bots)
    }

    async fn bot_owner(&self, bot_id: &str) -> Result<Option<String>> {
        let mut conn = self.read().await?;
        let sql = sql!("SELECT owner_id FROM bots WHERE user_id = $1");
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(bot_id)], |row| row.text(0)).await
    }

    async fn delete_bot(&self, bot_id: &str) -> Result<(Vec<String>, Vec<StoredEvent>)> {
        let mut tx = self.begin().await?;
        let sql = sql!("DELETE FROM bot_rooms WHERE bot_id = $1");
        dialect::execute(&mut *tx, &sql, &[Arg::Text(bot_id)]).await?;
        let sql = sql!("DELETE FROM bots WHERE user_id = $1");
        if dialect::execute(&mut *tx, &sql, &[Arg::Text(bot_id)]).await? == 0 {
            return Err(Error::BotNotFound);
        }
        let user = user_in(&mut *tx, bot_id).await?.ok_or(Error::BotNotFound)?;
        let hashes = delete_sessions(&mut *tx, bot_id).await?;
        let events = leave_all(&mut *tx, &user).await?;
        B::commit(tx).await?;
        Ok((hashes, events))
    }

    async fn replace_bot_token(&self, bot_id: &str, token_hash: &str) -> Result<Vec<String>> {
        let mut tx = self.begin().await?;
        let sql = sql!("SELECT 1 FROM bots WHERE user_id = $1" FOR_UPDATE);
        dialect::fetch_optional(&mut *tx, &sql, &[Arg::Text(bot_id)], |_| Ok(()))
            .await?
            .ok_or(Error::BotNotFound)?;
        let hashes = delete_sessions(&mut *tx, bot_id).await?;
        insert_token(&mut *tx, token_hash, bot_id).await?;
        B::commit(tx).await?;
        Ok(hashes)
    }

    async fn scope(&self, user_id: &str) -> Result<Scope> {
        let mut conn = self.read().await?;
        let sql = sql!("SELECT scoped FROM bots WHERE user_id = $1");
        let args = [Arg::Text(user_id)];
        let rooms = match dialect::fetch_optional(&mut *conn, &sql, &args, |r| r.flag(0)).await? {
            Some(false) => return Ok(Scope::Everywhere),
            Some(true) => sql!("SELECT room_id FROM bot_rooms WHERE bot_id = $1 ORDER BY room_id"),
            None => sql!("SELECT room_id FROM webhooks WHERE user_id = $1 ORDER BY room_id"),
        };
        let rooms = dialect::fetch_all(&mut *conn, &rooms, &args, |row| row.text(0)).await?;
        Ok(Scope::Rooms(rooms))
    }
}
