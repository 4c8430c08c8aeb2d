//! Messages: sending (see [`super::sends`] for the procedure), editing, deleting, moving,
//! clearing a room, and history pages.

use async_trait::async_trait;

use super::audit::{record_audit, NewAudit};
use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn};
use super::events::{self, append, Carrying};
use super::file_rows::{self as files, Detach};
use super::rooms::{lock_room, room_in};
use super::rows::{self, message_columns};
use super::StoredEvent;
use super::{now, position, MessagesPage, Publisher, SendOutcome, SendRequest, SendTicket};
use crate::error::{Error, Result};
use crate::protocol::{AuditAction, EventKind, Message, User};

/// A room's messages.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a message after the room's last one, joining the author to the room if needed.
    /// Idempotent by `(author, client_id)`.
    async fn send_message(
        &self,
        room_id: &str,
        author: &User,
        client_id: &str,
        body: &str,
    ) -> Result<SendOutcome> {
        self.submit_send(SendRequest {
            room_id: room_id.to_string(),
            author: author.clone(),
            client_id: client_id.to_string(),
            body: body.to_string(),
            attachments: Vec::new(),
        })
        .await
    }
    /// Takes a send now and answers it when it is committed. Sends submitted one after another
    /// are stored in that order (within a room), whether or not the caller awaits each answer
    /// before submitting the next: this is what lets one connection pipeline its sends.
    fn submit_send(&self, request: SendRequest) -> SendTicket;
    /// From now on, hands the events of every send this store commits to `publish`, in commit
    /// order and before the send is answered, from wherever the commit ran: the fan-out of a
    /// send then starts at its commit, without waiting for the task that awaits its answer to be
    /// scheduled. `false` (a publisher is already installed): the caller publishes on its own.
    fn publish_sends(&self, publish: Publisher) -> bool;
    /// `MessageNotFound` when the message is not in this room (or was deleted).
    async fn get_message(&self, room_id: &str, message_id: &str) -> Result<Message>;
    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<(Message, StoredEvent)>;
    /// Deletes the message and erases its body from the store, earlier events included.
    async fn delete_message(&self, room_id: &str, message_id: &str) -> Result<StoredEvent>;
    /// Moves the message to just after `after` (`None`: to the top). The events: possibly
    /// several `message.moved` when the room's positions had to be respaced, the moved one last.
    async fn move_message(
        &self,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<(Message, Vec<StoredEvent>)>;
    /// Deletes every message of the room (bodies erased) and appends one `room.cleared` event;
    /// audited (`clear`).
    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent>;
    /// The page of messages just before `before` (a position), or the last page.
    async fn messages_before(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage>;
}

/// The live message of the room.
async fn message_in<C: Conn>(conn: &mut C, room_id: &str, message_id: &str) -> Result<Message> {
    let sql = sql!(
        "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.id = $1 AND m.room_id = $2 AND m.deleted = " FALSE
    );
    let args = [Arg::Text(message_id), Arg::Text(room_id)];
    dialect::fetch_optional(conn, &sql, &args, rows::message)
        .await?
        .ok_or(Error::MessageNotFound)
}

/// Gives the message its new position.
async fn place<C: Conn>(conn: &mut C, message_id: &str, key: &str) -> Result<()> {
    let sql = sql!("UPDATE messages SET position = $1 WHERE id = $2");
    dialect::execute(conn, &sql, &[Arg::Text(key), Arg::Text(message_id)]).await?;
    Ok(())
}

/// A position for `message_id` just after `after` (`None`: the top): between that message and
/// the one below it, not counting the message being moved.
async fn key_after<C: Conn>(
    conn: &mut C,
    room_id: &str,
    message_id: &str,
    after: Option<&str>,
) -> Result<String> {
    let low = match after {
        Some(after_id) => Some(message_in(conn, room_id, after_id).await?.position),
        None => None,
    };
    let sql = sql!(
        "SELECT MIN(position) FROM messages WHERE room_id = $1 AND deleted = " FALSE
        " AND id <> $2 AND (CAST($3 AS TEXT) IS NULL OR position > $3)"
    );
    let args = [
        Arg::Text(room_id),
        Arg::Text(message_id),
        Arg::OptText(low.as_deref()),
    ];
    let high = dialect::fetch_optional(conn, &sql, &args, |row| row.opt_text(0)).await?;
    Ok(position::between(low.as_deref(), high.flatten().as_deref()))
}

/// Gives every live message of the room a fresh, short key in its current order, appending a
/// `message.moved` event for each one whose key changed.
async fn respace<C: Conn>(conn: &mut C, room_id: &str) -> Result<Vec<StoredEvent>> {
    let sql = sql!(
        "SELECT id, position FROM messages WHERE room_id = $1 AND deleted = " FALSE
        " ORDER BY position"
    );
    let found = dialect::fetch_all(conn, &sql, &[Arg::Text(room_id)], |row| {
        Ok((row.text(0)?, row.text(1)?))
    })
    .await?;
    let keys = position::spread(found.len());
    // Park every key out of the way first: the unique index must hold after each statement.
    let park = sql!(
        "UPDATE messages SET position = '~' || position WHERE room_id = $1 AND deleted = " FALSE
    );
    dialect::execute(conn, &park, &[Arg::Text(room_id)]).await?;
    let mut moved = Vec::new();
    let mut previous: Option<String> = None;
    for ((id, old), key) in found.into_iter().zip(keys) {
        place(conn, &id, &key).await?;
        if old != key {
            let kind = EventKind::MessageMoved {
                message_id: id.clone(),
                position: key,
                after: previous.clone(),
            };
            moved.push(append(conn, room_id, kind, None).await?);
        }
        previous = Some(id);
    }
    Ok(moved)
}

/// Deletes a live message of the (locked) room and erases its text: the `message.deleted`
/// event and the message's author.
pub(super) async fn delete_in<C: Conn>(
    conn: &mut C,
    room_id: &str,
    message_id: &str,
) -> Result<(StoredEvent, String)> {
    let message = message_in(conn, room_id, message_id).await?;
    events::erase_bodies(conn, Carrying::Message(message_id)).await?;
    files::detach_in(conn, Detach::Message(message_id)).await?;
    let sql = sql!(
        "UPDATE messages SET body = '', attachments = NULL, deleted = " TRUE " WHERE id = $1"
    );
    dialect::execute(conn, &sql, &[Arg::Text(message_id)]).await?;
    let kind = EventKind::MessageDeleted {
        message_id: message_id.to_string(),
    };
    let event = append(conn, room_id, kind, None).await?;
    Ok((event, message.author.id))
}

#[async_trait]
impl<B: Backend> MessageStore for B {
    fn submit_send(&self, request: SendRequest) -> SendTicket {
        Backend::submit_send(self, request)
    }

    fn publish_sends(&self, publish: Publisher) -> bool {
        Backend::publish_sends(self, publish)
    }

    async fn get_message(&self, room_id: &str, message_id: &str) -> Result<Message> {
        let mut conn = self.read().await?;
        message_in(&mut *conn, room_id, message_id).await
    }

    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<(Message, StoredEvent)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let mut message = message_in(&mut *tx, room_id, message_id).await?;
        message.body = body.to_string();
        message.edited_at = Some(now());
        let sql = sql!("UPDATE messages SET body = $1, edited_at = $2 WHERE id = $3");
        let args = [
            Arg::Text(body),
            Arg::OptText(message.edited_at.as_deref()),
            Arg::Text(message_id),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let kind = EventKind::MessageEdited {
            message: message.clone(),
        };
        let event = append(&mut *tx, room_id, kind, Some(message_id)).await?;
        B::commit(tx).await?;
        Ok((message, event))
    }

    async fn delete_message(&self, room_id: &str, message_id: &str) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let (event, _) = delete_in(&mut *tx, room_id, message_id).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn move_message(
        &self,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<(Message, Vec<StoredEvent>)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let mut message = message_in(&mut *tx, room_id, message_id).await?;
        if after == Some(message_id) {
            return Err(Error::InvalidRequest(
                "a message can't move after itself".into(),
            ));
        }
        let mut moved = Vec::new();
        let mut key = key_after(&mut *tx, room_id, message_id, after).await?;
        if key.len() > position::MAX_KEY_LEN {
            // Moves into the same gap have made keys long: respace the whole room (one
            // `message.moved` per message that changes place) and compute the key again.
            moved = respace(&mut *tx, room_id).await?;
            key = key_after(&mut *tx, room_id, message_id, after).await?;
        }
        place(&mut *tx, message_id, &key).await?;
        message.position = key.clone();
        let kind = EventKind::MessageMoved {
            message_id: message_id.to_string(),
            position: key,
            after: after.map(str::to_string),
        };
        moved.push(append(&mut *tx, room_id, kind, None).await?);
        B::commit(tx).await?;
        Ok((message, moved))
    }

    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        events::erase_bodies(&mut *tx, Carrying::LiveIn(room_id)).await?;
        files::detach_in(&mut *tx, Detach::Room(room_id)).await?;
        let sql = sql!(
            "UPDATE messages SET body = '', attachments = NULL, deleted = " TRUE
            " WHERE room_id = $1 AND deleted = " FALSE
        );
        dialect::execute(&mut *tx, &sql, &[Arg::Text(room_id)]).await?;
        let kind = EventKind::RoomCleared { by: by.clone() };
        let event = append(&mut *tx, room_id, kind, None).await?;
        let audit = NewAudit {
            actor_id: &by.id,
            action: AuditAction::Clear,
            room_id: Some(room_id),
            target_user_id: None,
            detail: serde_json::json!({}),
        };
        record_audit(&mut *tx, &audit).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn messages_before(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let sql = sql!(
            "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
             WHERE m.room_id = $1 AND m.deleted = " FALSE
            " AND (CAST($2 AS TEXT) IS NULL OR m.position < $2) \
             ORDER BY m.position DESC LIMIT $3"
        );
        let args = [
            Arg::Text(room_id),
            Arg::OptText(before),
            Arg::Int(limit as i64 + 1),
        ];
        let mut messages = dialect::fetch_all(&mut *conn, &sql, &args, rows::message).await?;
        let has_more = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        messages.reverse();
        Ok(MessagesPage { messages, has_more })
    }
}
