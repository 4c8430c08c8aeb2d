//! Reactions (issue #10): one row per (message, emoji, person), each added or removed with its
//! event (`reaction.added` / `reaction.removed`) in one transaction. A repeat changes nothing
//! and appends no event. Messages handed out carry their reactions, read by
//! [`super::decorations::attach`].

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::events::{self, next_seq};
use super::messages::message_in;
use super::rooms::lock_room;
use super::{now, rows, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{EventKind, User};

/// A message's reactions.
#[async_trait]
pub trait ReactionStore: Send + Sync + 'static {
    /// Adds `user`'s `emoji` to the live message: its `reaction.added` event, or `None` when the
    /// reaction was there already. `TooManyReactions` when the message has `max_emoji`
    /// different emoji and this is a new one.
    async fn add_reaction(
        &self,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        user: &User,
        max_emoji: usize,
    ) -> Result<Option<StoredEvent>>;
    /// Takes `user`'s `emoji` off the live message: its `reaction.removed` event, or `None`
    /// when there was no such reaction.
    async fn remove_reaction(
        &self,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        user: &User,
    ) -> Result<Option<StoredEvent>>;
}

#[async_trait]
impl<B: Backend> ReactionStore for B {
    async fn add_reaction(
        &self,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        user: &User,
        max_emoji: usize,
    ) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        message_in(&mut *tx, room_id, message_id).await?;
        let sql = sql!("SELECT emoji, user_id FROM reactions WHERE message_id = $1");
        let existing = dialect::fetch_all(&mut *tx, &sql, &[Arg::Text(message_id)], |row| {
            Ok((row.text(0)?, row.text(1)?))
        })
        .await?;
        if existing.iter().any(|(e, u)| e == emoji && *u == user.id) {
            return Ok(None);
        }
        let mut distinct: Vec<&str> = existing.iter().map(|(e, _)| e.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if !distinct.contains(&emoji) && distinct.len() >= max_emoji {
            return Err(Error::TooManyReactions { max: max_emoji });
        }
        let seq = next_seq(&mut *tx, room_id).await?;
        let sql = sql!(
            "INSERT INTO reactions (message_id, emoji, user_id, room_id, seq) \
             VALUES ($1, $2, $3, $4, $5)"
        );
        let args = [
            Arg::Text(message_id),
            Arg::Text(emoji),
            Arg::Text(&user.id),
            Arg::Text(room_id),
            Arg::Int(seq as i64),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let kind = EventKind::ReactionAdded {
            message_id: message_id.to_string(),
            emoji: emoji.to_string(),
            user: user.clone(),
        };
        let event = events::insert(&mut *tx, &rows::event(room_id, seq, now(), kind), None).await?;
        B::commit(tx).await?;
        Ok(Some(event))
    }

    async fn remove_reaction(
        &self,
        room_id: &str,
        message_id: &str,
        emoji: &str,
        user: &User,
    ) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        message_in(&mut *tx, room_id, message_id).await?;
        let sql =
            sql!("DELETE FROM reactions WHERE message_id = $1 AND emoji = $2 AND user_id = $3");
        let args = [Arg::Text(message_id), Arg::Text(emoji), Arg::Text(&user.id)];
        if dialect::execute(&mut *tx, &sql, &args).await? == 0 {
            return Ok(None);
        }
        let kind = EventKind::ReactionRemoved {
            message_id: message_id.to_string(),
            emoji: emoji.to_string(),
            user: user.clone(),
        };
        let event = events::append(&mut *tx, room_id, kind, None).await?;
        B::commit(tx).await?;
        Ok(Some(event))
    }
}
