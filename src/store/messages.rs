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
use super::{decorations, now, position};
use super::{MessagesPage, Publisher, SendOutcome, SendRequest, SendTicket};
use crate::error::{Error, Result};
use crate::protocol::{AuditAction, EventKind, Message, ThreadSummary, User};

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
            reply_to: None,
            thread_id: None,
            mentions: Vec::new(),
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
    /// Replaces the body and whom the message mentions.
    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
        mentions: &[String],
    ) -> Result<(Message, StoredEvent)>;
    /// Deletes the message and erases its body from the store, earlier events included.
    async fn delete_message(&self, room_id: &str, message_id: &str) -> Result<StoredEvent>;
    /// Moves the message to just after `after` (`None`: to the top). The events: possibly
    /// several `message.moved` when the room's positions had to be respaced, the moved one last;
    /// each names `by` as who moved it.
    async fn move_message(
        &self,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
        by: &User,
    ) -> Result<(Message, Vec<StoredEvent>)>;
    /// Deletes every message of the room (bodies erased) and appends one `room.cleared` event;
    /// audited (`clear`).
    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent>;
    /// The page of messages just before `before` (a position), or the last page; thread
    /// replies are not in it.
    async fn messages_before(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage>;
    /// A window of at most `limit` top-level messages around `message_id` (a live message of
    /// the room, else `MessageNotFound`; a thread reply stands for its thread's first message,
    /// which is where it shows in the room): about half older, the message, the rest newer;
    /// when one side runs out the other fills the window. Two index seeks on
    /// `(room_id, position)` whatever the room's size.
    async fn messages_around(
        &self,
        room_id: &str,
        message_id: &str,
        limit: u32,
    ) -> Result<MessagesPage>;
    /// The page of top-level messages just after `after` (a position), oldest first: how a
    /// client pages forward from a window made by [`MessageStore::messages_around`].
    async fn messages_after(&self, room_id: &str, after: &str, limit: u32) -> Result<MessagesPage>;
    /// The page of a thread's replies just before `before` (a position), or the last page,
    /// without its first message `root_id` (a live top-level message of the room, else
    /// `MessageNotFound`).
    async fn thread_messages_before(
        &self,
        room_id: &str,
        root_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage>;
}

/// A page from `limit + 1` messages read newest first: in display order, with their reactions.
async fn page<C: Conn>(
    conn: &mut C,
    mut messages: Vec<Message>,
    limit: u32,
) -> Result<MessagesPage> {
    let has_more = messages.len() > limit as usize;
    messages.truncate(limit as usize);
    messages.reverse();
    decorations::attach(conn, &mut messages).await?;
    Ok(MessagesPage {
        messages,
        has_more,
        has_newer: None,
    })
}

/// The room's newest live top-level messages, newest first (a room's last page).
const NEWEST: dialect::Sql = sql!(
    "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
     WHERE m.room_id = $1 AND m.deleted = " FALSE " AND m.thread_id IS NULL \
     ORDER BY m.position DESC LIMIT $2"
);

/// The room's live top-level messages just older than a position, newest first. A statement of
/// its own rather than `($2 IS NULL OR m.position < $2)` in [`NEWEST`]: SQLite (and PostgreSQL's
/// generic plan) can't make an index range of such an `OR`, so a page `d` messages deep walked
/// the `d` newer rows of `messages_position` first (a 1M-message room's oldest pages took
/// seconds; see docs/benchmarks.md, "Long history").
const OLDER_THAN: dialect::Sql = sql!(
    "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
     WHERE m.room_id = $1 AND m.deleted = " FALSE " AND m.thread_id IS NULL \
     AND m.position < $2 ORDER BY m.position DESC LIMIT $3"
);

/// The room's live top-level messages just newer than a position, oldest first.
const NEWER_THAN: dialect::Sql = sql!(
    "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
     WHERE m.room_id = $1 AND m.deleted = " FALSE " AND m.thread_id IS NULL \
     AND m.position > $2 ORDER BY m.position LIMIT $3"
);

/// A thread's newest live replies, newest first.
const THREAD_NEWEST: dialect::Sql = sql!(
    "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
     WHERE m.thread_id = $1 AND m.room_id = $2 AND m.deleted = " FALSE
    " ORDER BY m.position DESC LIMIT $3"
);

/// A thread's live replies just older than a position, newest first (one range of
/// `messages_thread`, as [`OLDER_THAN`] is of `messages_position`).
const THREAD_OLDER_THAN: dialect::Sql = sql!(
    "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
     WHERE m.thread_id = $1 AND m.room_id = $2 AND m.deleted = " FALSE
    " AND m.position < $3 ORDER BY m.position DESC LIMIT $4"
);

/// The room's live top-level messages just older than `position` (`None`: the newest), newest
/// first, at most `n`: room history pages and the older side of a window. Either way one range
/// of the index on `(room_id, position)`, whatever the depth.
async fn older_than<C: Conn>(
    conn: &mut C,
    room_id: &str,
    position: Option<&str>,
    n: u32,
) -> Result<Vec<Message>> {
    let n = Arg::Int(n as i64);
    match position {
        Some(position) => {
            let args = [Arg::Text(room_id), Arg::Text(position), n];
            dialect::fetch_all(conn, &OLDER_THAN, &args, rows::message).await
        }
        None => dialect::fetch_all(conn, &NEWEST, &[Arg::Text(room_id), n], rows::message).await,
    }
}

/// The room's live top-level messages just newer than `position`, oldest first, at most `n`.
async fn newer_than<C: Conn>(
    conn: &mut C,
    room_id: &str,
    position: &str,
    n: u32,
) -> Result<Vec<Message>> {
    let args = [Arg::Text(room_id), Arg::Text(position), Arg::Int(n as i64)];
    dialect::fetch_all(conn, &NEWER_THAN, &args, rows::message).await
}

/// How many of the `older` and `newer` messages available a window of `limit` (the middle one
/// included) keeps: half of the rest older (rounded up), the others newer, and when one side has
/// fewer than its share the other takes the room left.
fn window_split(limit: u32, older: usize, newer: usize) -> (usize, usize) {
    let rest = limit.saturating_sub(1) as usize;
    let older_share = rest.div_ceil(2);
    let keep_newer = newer.min(rest - older_share.min(older));
    let keep_older = older.min(rest - keep_newer);
    (keep_older, keep_newer)
}

/// The live message of the room, with its reactions.
pub(super) async fn message_in<C: Conn>(
    conn: &mut C,
    room_id: &str,
    message_id: &str,
) -> Result<Message> {
    let sql = sql!(
        "SELECT " message_columns!() " FROM messages m JOIN users u ON u.id = m.author_id \
         WHERE m.id = $1 AND m.room_id = $2 AND m.deleted = " FALSE
    );
    let args = [Arg::Text(message_id), Arg::Text(room_id)];
    let mut message = dialect::fetch_optional(conn, &sql, &args, rows::message)
        .await?
        .ok_or(Error::MessageNotFound)?;
    decorations::attach(conn, std::slice::from_mut(&mut message)).await?;
    Ok(message)
}

/// Sets a thread's first message's summary from its live replies; the new summary.
pub(super) async fn resum_thread<C: Conn>(
    conn: &mut C,
    root_id: &str,
) -> Result<Option<ThreadSummary>> {
    let sql = sql!(
        "SELECT COUNT(*), MAX(created_at) FROM messages WHERE thread_id = $1 AND deleted = " FALSE
    );
    let (count, last) = dialect::fetch_optional(conn, &sql, &[Arg::Text(root_id)], |row| {
        Ok((row.int(0)?, row.opt_text(1)?))
    })
    .await?
    .unwrap_or((0, None));
    let sql = sql!("UPDATE messages SET reply_count = $1, last_reply_at = $2 WHERE id = $3");
    let args = [
        Arg::Int(count),
        Arg::OptText(last.as_deref()),
        Arg::Text(root_id),
    ];
    dialect::execute(conn, &sql, &args).await?;
    Ok(rows::thread_summary(count, last))
}

/// Gives the message its new position.
async fn place<C: Conn>(conn: &mut C, message_id: &str, key: &str) -> Result<()> {
    let sql = sql!("UPDATE messages SET position = $1 WHERE id = $2");
    dialect::execute(conn, &sql, &[Arg::Text(key), Arg::Text(message_id)]).await?;
    Ok(())
}

/// The room's first key, but `$2`'s.
const KEY_FIRST: dialect::Sql = sql!(
    "SELECT MIN(position) FROM messages WHERE room_id = $1 AND deleted = " FALSE " AND id <> $2"
);

/// The room's first key after `$3`, but `$2`'s.
const KEY_NEXT: dialect::Sql = sql!(
    "SELECT MIN(position) FROM messages WHERE room_id = $1 AND deleted = " FALSE
    " AND id <> $2 AND position > $3"
);

/// A position for `message_id` just after `after` (`None`: the top): between that message and
/// the one below it, not counting the message being moved.
async fn key_after<C: Conn>(
    conn: &mut C,
    room_id: &str,
    message_id: &str,
    after: Option<&str>,
) -> Result<String> {
    let low = match after {
        Some(after_id) => {
            let after = message_in(conn, room_id, after_id).await?;
            if after.thread_id.is_some() {
                return Err(Error::ThreadOrder(
                    "a message can't move after a thread reply: thread replies keep their order",
                ));
            }
            Some(after.position)
        }
        None => None,
    };
    // Two statements, not `($3 IS NULL OR position > $3)`: that `OR` is no index range (see
    // [`OLDER_THAN`]), and the first key after a message deep in a long room would walk every
    // key before it.
    let high = match low.as_deref() {
        Some(low) => {
            let args = [Arg::Text(room_id), Arg::Text(message_id), Arg::Text(low)];
            dialect::fetch_optional(conn, &KEY_NEXT, &args, |row| row.opt_text(0)).await?
        }
        None => {
            let args = [Arg::Text(room_id), Arg::Text(message_id)];
            dialect::fetch_optional(conn, &KEY_FIRST, &args, |row| row.opt_text(0)).await?
        }
    };
    Ok(position::between(low.as_deref(), high.flatten().as_deref()))
}

/// Gives every live message of the room a fresh, short key in its current order, appending a
/// `message.moved` event for each one whose key changed. Thread replies hold keys of the
/// room's one order too (their thread's order); each one's `after` names the message before it
/// in its own thread (or, for a top-level message, before it at the top level). The events name
/// `by`, whose move made the respacing necessary.
async fn respace<C: Conn>(conn: &mut C, room_id: &str, by: &User) -> Result<Vec<StoredEvent>> {
    let sql = sql!(
        "SELECT id, position, thread_id FROM messages WHERE room_id = $1 AND deleted = " FALSE
        " ORDER BY position"
    );
    let found = dialect::fetch_all(conn, &sql, &[Arg::Text(room_id)], |row| {
        Ok((row.text(0)?, row.text(1)?, row.opt_text(2)?))
    })
    .await?;
    let keys = position::spread(found.len());
    // Park every key out of the way first: the unique index must hold after each statement.
    let park = sql!(
        "UPDATE messages SET position = '~' || position WHERE room_id = $1 AND deleted = " FALSE
    );
    dialect::execute(conn, &park, &[Arg::Text(room_id)]).await?;
    let mut moved = Vec::new();
    let mut previous: std::collections::HashMap<Option<String>, String> = Default::default();
    for ((id, old, thread), key) in found.into_iter().zip(keys) {
        place(conn, &id, &key).await?;
        if old != key {
            let kind = EventKind::MessageMoved {
                message_id: id.clone(),
                position: key,
                after: previous.get(&thread).cloned(),
                by: Some(by.clone()),
            };
            moved.push(append(conn, room_id, kind, None).await?);
        }
        previous.insert(thread, id);
    }
    Ok(moved)
}

/// Deletes a live message of the (locked) room and erases its text, with its reactions and
/// pin: the `message.deleted` event and the message's author. A thread's first message takes
/// its replies with it (their text erased too; the one event says it all); a thread reply's
/// deletion sets its thread's new summary, which the event carries.
pub(super) async fn delete_in<C: Conn>(
    conn: &mut C,
    room_id: &str,
    message_id: &str,
) -> Result<(StoredEvent, String)> {
    let message = message_in(conn, room_id, message_id).await?;
    let mut gone = vec![message_id.to_string()];
    if message.thread_id.is_none() {
        let sql = sql!("SELECT id FROM messages WHERE thread_id = $1 AND deleted = " FALSE);
        gone.extend(
            dialect::fetch_all(conn, &sql, &[Arg::Text(message_id)], |row| row.text(0)).await?,
        );
    }
    for id in &gone {
        events::erase_bodies(conn, Carrying::Message(id)).await?;
        files::detach_in(conn, Detach::Message(id)).await?;
        let sql = sql!(
            "UPDATE messages SET body = '', attachments = NULL, deleted = " TRUE " WHERE id = $1"
        );
        dialect::execute(conn, &sql, &[Arg::Text(id)]).await?;
        decorations::forget_reactions_of(conn, id).await?;
        decorations::forget_pin_of(conn, id).await?;
        // A deleted message mentions nobody any more (the unread counts read only `mentions`).
        let sql = sql!("DELETE FROM mentions WHERE message_id = $1");
        dialect::execute(conn, &sql, &[Arg::Text(id)]).await?;
    }
    let thread = match &message.thread_id {
        Some(root) => resum_thread(conn, root).await?,
        None => None,
    };
    let kind = EventKind::MessageDeleted {
        message_id: message_id.to_string(),
        thread_id: message.thread_id.clone(),
        thread,
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
        mentions: &[String],
    ) -> Result<(Message, StoredEvent)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let mut message = message_in(&mut *tx, room_id, message_id).await?;
        message.body = body.to_string();
        message.edited_at = Some(now());
        message.mentions = mentions.to_vec();
        let column = rows::mentions_column(mentions);
        let sql =
            sql!("UPDATE messages SET body = $1, edited_at = $2, mentions = $3 WHERE id = $4");
        let args = [
            Arg::Text(body),
            Arg::OptText(message.edited_at.as_deref()),
            Arg::Text(&column),
            Arg::Text(message_id),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        super::mention_rows::replace_mentions(&mut *tx, &message).await?;
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
        by: &User,
    ) -> Result<(Message, Vec<StoredEvent>)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let mut message = message_in(&mut *tx, room_id, message_id).await?;
        if message.thread_id.is_some() {
            return Err(Error::ThreadOrder(
                "thread replies keep their order: they can't be moved",
            ));
        }
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
            moved = respace(&mut *tx, room_id, by).await?;
            key = key_after(&mut *tx, room_id, message_id, after).await?;
        }
        place(&mut *tx, message_id, &key).await?;
        message.position = key.clone();
        let kind = EventKind::MessageMoved {
            message_id: message_id.to_string(),
            position: key,
            after: after.map(str::to_string),
            by: Some(by.clone()),
        };
        moved.push(append(&mut *tx, room_id, kind, None).await?);
        B::commit(tx).await?;
        Ok((message, moved))
    }

    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        events::erase_bodies(&mut *tx, Carrying::LiveIn(room_id)).await?;
        super::mention_rows::forget_room_mentions(&mut *tx, room_id).await?;
        files::detach_in(&mut *tx, Detach::Room(room_id)).await?;
        let sql = sql!(
            "UPDATE messages SET body = '', attachments = NULL, deleted = " TRUE
            " WHERE room_id = $1 AND deleted = " FALSE
        );
        dialect::execute(&mut *tx, &sql, &[Arg::Text(room_id)]).await?;
        decorations::forget_reactions_in(&mut *tx, room_id).await?;
        decorations::forget_pins_in(&mut *tx, room_id).await?;
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
        let messages = older_than(&mut *conn, room_id, before, limit + 1).await?;
        page(&mut *conn, messages, limit).await
    }

    async fn messages_around(
        &self,
        room_id: &str,
        message_id: &str,
        limit: u32,
    ) -> Result<MessagesPage> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let mut middle = message_in(&mut *conn, room_id, message_id).await?;
        if let Some(root_id) = middle.thread_id.clone() {
            middle = message_in(&mut *conn, room_id, &root_id).await?;
        }
        // Each side reads up to a whole window and one more: enough to fill the window when the
        // other side runs short, and to tell whether more lie beyond.
        let mut older = older_than(&mut *conn, room_id, Some(&middle.position), limit + 1).await?;
        let mut newer = newer_than(&mut *conn, room_id, &middle.position, limit + 1).await?;
        let (keep_older, keep_newer) = window_split(limit, older.len(), newer.len());
        let has_more = older.len() > keep_older;
        let has_newer = newer.len() > keep_newer;
        older.truncate(keep_older);
        older.reverse();
        newer.truncate(keep_newer);
        let mut messages = older;
        messages.push(middle);
        messages.append(&mut newer);
        decorations::attach(&mut *conn, &mut messages).await?;
        Ok(MessagesPage {
            messages,
            has_more,
            has_newer: Some(has_newer),
        })
    }

    async fn messages_after(&self, room_id: &str, after: &str, limit: u32) -> Result<MessagesPage> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let mut messages = newer_than(&mut *conn, room_id, after, limit + 1).await?;
        let has_newer = messages.len() > limit as usize;
        messages.truncate(limit as usize);
        // Older ones exist when anything lies at or before `after` (the message it names may
        // have gone since).
        let first = messages.first().map_or(after, |m| m.position.as_str());
        let has_more = !older_than(&mut *conn, room_id, Some(first), 1)
            .await?
            .is_empty();
        decorations::attach(&mut *conn, &mut messages).await?;
        Ok(MessagesPage {
            messages,
            has_more,
            has_newer: Some(has_newer),
        })
    }

    async fn thread_messages_before(
        &self,
        room_id: &str,
        root_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let root = message_in(&mut *conn, room_id, root_id).await?;
        if root.thread_id.is_some() {
            // A reply is no thread's first message.
            return Err(Error::MessageNotFound);
        }
        let n = Arg::Int(limit as i64 + 1);
        let messages = match before {
            Some(before) => {
                let args = [Arg::Text(root_id), Arg::Text(room_id), Arg::Text(before), n];
                dialect::fetch_all(&mut *conn, &THREAD_OLDER_THAN, &args, rows::message).await?
            }
            None => {
                let args = [Arg::Text(root_id), Arg::Text(room_id), n];
                dialect::fetch_all(&mut *conn, &THREAD_NEWEST, &args, rows::message).await?
            }
        };
        page(&mut *conn, messages, limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every statement that reads a room's (or a thread's) messages from a position on, and the
    /// index range its plan must show, with its arguments. A filter on the position instead of a
    /// range would read every row between the end of the room and the position: a page deep in
    /// a long history would cost as much as the history is long.
    fn ranges() -> Vec<(
        &'static str,
        dialect::Sql,
        Vec<Arg<'static>>,
        [&'static str; 2],
    )> {
        let (room, id, at, n) = (
            Arg::Text("r"),
            Arg::Text("m"),
            Arg::Text("hi0000000"),
            Arg::Int(51),
        );
        vec![
            (
                "older_than",
                OLDER_THAN,
                vec![room, at, n],
                ["position<?", "position < $2"],
            ),
            (
                "newer_than",
                NEWER_THAN,
                vec![room, at, n],
                ["position>?", "position > $2"],
            ),
            (
                "thread_older_than",
                THREAD_OLDER_THAN,
                vec![id, room, at, n],
                ["position<?", "position < $3"],
            ),
            (
                "key_next",
                KEY_NEXT,
                vec![room, id, at],
                ["position>?", "position > $3"],
            ),
        ]
    }

    #[tokio::test]
    async fn sqlite_reads_from_a_position_as_one_index_range() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open_in(dir.path())
            .await
            .unwrap();
        let url = format!("sqlite://{}", dir.path().join("palaver.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for (name, sql, args, [range, _]) in ranges() {
            let explain = format!("EXPLAIN QUERY PLAN {}", sql.sqlite);
            let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&explain);
            for arg in args {
                query = match arg {
                    Arg::Text(v) => query.bind(v),
                    Arg::Int(v) => query.bind(v),
                    _ => unreachable!(),
                };
            }
            let plan: Vec<String> = query
                .fetch_all(&pool)
                .await
                .unwrap()
                .into_iter()
                .map(|row| row.3)
                .collect();
            assert!(
                plan.iter().any(|line| line.contains(range)),
                "{name}: no range on the position in {plan:?}"
            );
        }
        pool.close().await;
        store.close().await;
    }

    #[tokio::test]
    async fn postgres_reads_from_a_position_as_one_index_range_even_in_a_generic_plan() {
        use sqlx::Connection;
        let scratch = crate::store::ScratchPostgres::new().await;
        let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        // The plan a prepared statement gets after its first executions: made without the
        // arguments. On empty tables the planner would rather scan, so scans are priced out.
        for set in [
            "SET plan_cache_mode = force_generic_plan",
            "SET enable_seqscan = off",
            "SET enable_bitmapscan = off",
        ] {
            sqlx::query(set).execute(&mut conn).await.unwrap();
        }
        let mut failures = Vec::new();
        for (k, (name, sql, args, [_, range])) in ranges().into_iter().enumerate() {
            let prepare = format!("PREPARE p{k} AS {}", sql.postgres);
            sqlx::query(&prepare).execute(&mut conn).await.unwrap();
            let values: Vec<String> = args
                .iter()
                .map(|arg| match arg {
                    Arg::Text(v) => format!("'{v}'"),
                    Arg::Int(v) => v.to_string(),
                    _ => unreachable!(),
                })
                .collect();
            let explain = format!("EXPLAIN EXECUTE p{k}({})", values.join(", "));
            let plan: Vec<String> = sqlx::query_scalar(&explain)
                .fetch_all(&mut conn)
                .await
                .unwrap();
            let ranged = plan
                .iter()
                // PostgreSQL quotes the column (`"position"`, a keyword).
                .any(|line| line.contains("Index Cond") && line.replace('"', "").contains(range));
            if !ranged {
                failures.push(format!("{name}: no range on the position in {plan:#?}"));
            }
        }
        conn.close().await.unwrap();
        scratch.drop_now().await;
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn a_window_is_split_about_evenly_around_its_middle() {
        assert_eq!(window_split(50, 100, 100), (25, 24));
        assert_eq!(window_split(51, 100, 100), (25, 25));
        assert_eq!(window_split(1, 100, 100), (0, 0));
        assert_eq!(window_split(2, 100, 100), (1, 0));
    }

    #[test]
    fn a_short_side_leaves_its_room_to_the_other() {
        assert_eq!(window_split(50, 3, 100), (3, 46));
        assert_eq!(window_split(50, 100, 0), (49, 0));
        assert_eq!(window_split(50, 10, 10), (10, 10));
        assert_eq!(window_split(50, 0, 0), (0, 0));
    }
}
