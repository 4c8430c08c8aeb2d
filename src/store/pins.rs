//! Pins (issue #10): a room's pinned messages, each pinned or unpinned with its event
//! (`message.pinned` / `message.unpinned`) in one transaction. A repeat changes nothing and
//! appends no event.

use async_trait::async_trait;

use super::backend::Backend;
use super::decorations;
use super::dialect::{self, sql, Arg};
use super::events::{self, next_seq};
use super::messages::message_in;
use super::rooms::{lock_room, room_in};
use super::rows::{self, message_columns};
use super::{now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{EventKind, Message, User};

/// A room's pinned messages.
#[async_trait]
pub trait PinStore: Send + Sync + 'static {
    /// Pins the live message: its `message.pinned` event, or `None` when it was pinned already.
    /// `TooManyPins` when the room has `max` pinned messages.
    async fn pin(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
        max: usize,
    ) -> Result<Option<StoredEvent>>;
    /// Unpins the live message: its `message.unpinned` event, or `None` when it was not pinned.
    async fn unpin(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
    ) -> Result<Option<StoredEvent>>;
    /// The room's pinned live messages, the newest pin first.
    async fn pins(&self, room_id: &str) -> Result<Vec<Message>>;
}

#[async_trait]
impl<B: Backend> PinStore for B {
    async fn pin(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
        max: usize,
    ) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let message = message_in(&mut *tx, room_id, message_id).await?;
        if message.pinned {
            return Ok(None);
        }
        let sql = sql!("SELECT COUNT(*) FROM pins WHERE room_id = $1");
        let pinned =
            dialect::fetch_optional(&mut *tx, &sql, &[Arg::Text(room_id)], |row| row.int(0))
                .await?
                .unwrap_or(0);
        if pinned as usize >= max {
            return Err(Error::TooManyPins { max });
        }
        let seq = next_seq(&mut *tx, room_id).await?;
        let at = now();
        let sql = sql!(
            "INSERT INTO pins (message_id, room_id, by_id, pinned_at, seq) \
             VALUES ($1, $2, $3, $4, $5)"
        );
        let args = [
            Arg::Text(message_id),
            Arg::Text(room_id),
            Arg::Text(&by.id),
            Arg::Text(&at),
            Arg::Int(seq as i64),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let kind = EventKind::MessagePinned {
            message_id: message_id.to_string(),
            by: by.clone(),
        };
        let event = events::insert(&mut *tx, &rows::event(room_id, seq, at, kind), None).await?;
        B::commit(tx).await?;
        Ok(Some(event))
    }

    async fn unpin(
        &self,
        room_id: &str,
        message_id: &str,
        by: &User,
    ) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        message_in(&mut *tx, room_id, message_id).await?;
        let sql = sql!("DELETE FROM pins WHERE message_id = $1 AND room_id = $2");
        let args = [Arg::Text(message_id), Arg::Text(room_id)];
        if dialect::execute(&mut *tx, &sql, &args).await? == 0 {
            return Ok(None);
        }
        let kind = EventKind::MessageUnpinned {
            message_id: message_id.to_string(),
            by: by.clone(),
        };
        let event = events::append(&mut *tx, room_id, kind, None).await?;
        B::commit(tx).await?;
        Ok(Some(event))
    }

    async fn pins(&self, room_id: &str) -> Result<Vec<Message>> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let sql = sql!(
            "SELECT " message_columns!() " FROM pins p JOIN messages m ON m.id = p.message_id \
             JOIN users u ON u.id = m.author_id WHERE p.room_id = $1 AND m.deleted = " FALSE
            " ORDER BY p.seq DESC"
        );
        let mut messages =
            dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], rows::message).await?;
        decorations::attach(&mut *conn, &mut messages).await?;
        Ok(messages)
    }
}
