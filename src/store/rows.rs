//! Where rows become [`User`], [`Message`], [`Room`] and [`StoredEvent`], and where new messages
//! and events are made: the one place that knows both a column list and the struct it fills.
//!
//! Each `*_columns!()` macro is a column list for [`sql!`](super::dialect::sql) statements; the
//! function of the same name reads a row of it, column by column in that order.

use super::dialect::ReadRow;
use super::page::Key;
use super::{SendRequest, StoredEvent};
use crate::error::Result;
use crate::protocol::{
    Event, EventKind, MentionEveryone, Message, PinPolicy, Rearrange, Role, Room, RoomKind,
    ThreadSummary, User,
};

/// A user's columns under the table alias `$a` (`"u"`: `u.id, u.username, u.guest, u.admin,
/// u.display_name, u.bot`): the one list, for statements that join `users` more than once.
macro_rules! user_columns_of {
    ($a:literal) => {
        concat!(
            $a,
            ".id, ",
            $a,
            ".username, ",
            $a,
            ".guest, ",
            $a,
            ".admin, ",
            $a,
            ".display_name, ",
            $a,
            ".bot"
        )
    };
}
pub(crate) use user_columns_of;

/// A user (`users u`): [`user_columns_of!`] with the alias `u`.
macro_rules! user_columns {
    () => {
        $crate::store::rows::user_columns_of!("u")
    };
}
pub(crate) use user_columns;

/// The number of columns [`user_columns!`] names.
pub const USER_COLUMNS: usize = 6;

/// Reads the columns of [`user_columns!`] from `at` on.
pub fn user(row: &dyn ReadRow, at: usize) -> Result<User> {
    Ok(User {
        id: row.text(at)?,
        username: row.text(at + 1)?,
        guest: row.flag(at + 2)?,
        admin: row.flag(at + 3)?,
        display_name: row.opt_text(at + 4)?,
        bot: row.flag(at + 5)?,
    })
}

/// A message joined with its author (`messages m JOIN users u`), then its reply, thread and pin
/// columns (issue #10); its reactions are another table's rows, added by
/// [`super::decorations::attach`].
macro_rules! message_columns {
    () => {
        concat!(
            "m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, m.edited_at, m.position, ",
            $crate::store::rows::user_columns_of!("u"),
            // Mentions and files (read by `message_at`), then replies, threads and pins (#10).
            ", m.mentions, m.attachments",
            ", m.reply_to, m.thread_id, m.reply_count, m.last_reply_at, \
             EXISTS (SELECT 1 FROM pins pn WHERE pn.message_id = m.id)"
        )
    };
}
pub(crate) use message_columns;

/// Reads the columns of [`message_columns!`].
pub fn message(row: &dyn ReadRow) -> Result<Message> {
    let mut message = message_at(row, 0)?;
    let at = 10 + USER_COLUMNS;
    message.reply_to = row.opt_text(at)?;
    message.thread_id = row.opt_text(at + 1)?;
    message.thread = thread_summary(row.int(at + 2)?, row.opt_text(at + 3)?);
    message.pinned = row.flag(at + 4)?;
    Ok(message)
}

/// A thread's summary from its first message's `reply_count` and `last_reply_at`.
pub fn thread_summary(reply_count: i64, last_reply_at: Option<String>) -> Option<ThreadSummary> {
    match (reply_count, last_reply_at) {
        (count, Some(last_reply_at)) if count > 0 => Some(ThreadSummary {
            reply_count: count as u64,
            last_reply_at,
        }),
        _ => None,
    }
}

/// Reads a message's first columns (those before the reply and thread columns of
/// [`message_columns!`]) from `at` on: the message with its author, not yet its replies,
/// thread, reactions or pin.
pub fn message_at(row: &dyn ReadRow, at: usize) -> Result<Message> {
    Ok(Message {
        id: row.text(at)?,
        room_id: row.text(at + 1)?,
        seq: row.int(at + 2)? as u64,
        body: row.text(at + 3)?,
        client_id: row.text(at + 4)?,
        created_at: row.text(at + 5)?,
        edited_at: row.opt_text(at + 6)?,
        position: row.text(at + 7)?,
        author: user(row, at + 8)?,
        reply_to: None,
        thread_id: None,
        thread: None,
        reactions: Vec::new(),
        pinned: false,
        mentions: mention_ids(&row.text(at + 8 + USER_COLUMNS)?),
        attachments: attachments(row.opt_text(at + 9 + USER_COLUMNS)?)?,
    })
}

/// The column `messages.mentions` (ids separated by spaces) as the wire's list.
pub fn mention_ids(column: &str) -> Vec<String> {
    column
        .split_ascii_whitespace()
        .map(str::to_string)
        .collect()
}

/// The wire's list of mentioned ids as the column `messages.mentions`.
pub fn mentions_column(ids: &[String]) -> String {
    ids.join(" ")
}

/// Files (#12): a message's `attachments` column (a JSON array of file objects, or NULL).
pub fn attachments(json: Option<String>) -> Result<Vec<crate::protocol::FileInfo>> {
    match json {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(&json).map_err(|err| {
            crate::error::Error::Internal(anyhow::anyhow!("unreadable attachments: {err}"))
        }),
    }
}

/// A room (`rooms r`) with its member count.
macro_rules! room_columns {
    () => {
        "r.id, r.name, r.topic, r.owner_id, r.rearrange, r.last_seq, r.created_at, \
         (SELECT COUNT(*) FROM members mb WHERE mb.room_id = r.id), r.kind, r.pins, \
         r.mention_everyone"
    };
}
pub(crate) use room_columns;

/// The number of columns [`room_columns!`] names.
pub const ROOM_COLUMNS: usize = 11;

/// Rooms handed out have `online_count` 0: presence is not the store's business.
pub fn room(row: &dyn ReadRow) -> Result<Room> {
    Ok(Room {
        id: row.text(0)?,
        name: row.text(1)?,
        topic: row.text(2)?,
        owner_id: row.opt_text(3)?,
        rearrange: Rearrange::parse(&row.text(4)?).unwrap_or(Rearrange::Anyone),
        last_seq: row.int(5)? as u64,
        created_at: row.text(6)?,
        member_count: row.int(7)? as u64,
        online_count: 0,
        kind: RoomKind::parse(&row.text(8)?).unwrap_or_default(),
        member: false,
        my_role: None,
        pins: PinPolicy::parse(&row.text(9)?).unwrap_or_default(),
        mention_everyone: MentionEveryone::parse(&row.text(10)?).unwrap_or_default(),
    })
}

/// A member: [`user_columns!`], then `mb.role`.
pub fn member(row: &dyn ReadRow) -> Result<(User, Role)> {
    let role = row.text(USER_COLUMNS)?;
    Ok((user(row, 0)?, Role::parse(&role).unwrap_or(Role::Member)))
}

/// A room and its place in the room list (`room_columns!()`).
pub fn keyed_room(row: &dyn ReadRow) -> Result<(Key, Room)> {
    let room = self::room(row)?;
    let key = Key {
        at: room.created_at.clone(),
        id: room.id.clone(),
    };
    Ok((key, room))
}

/// A member and their place in the member list: [`user_columns!`], `mb.role`, `mb.joined_at`.
pub fn keyed_member(row: &dyn ReadRow) -> Result<(Key, (User, Role))> {
    let (user, role) = member(row)?;
    let key = Key {
        at: row.text(USER_COLUMNS + 1)?,
        id: user.id.clone(),
    };
    Ok((key, (user, role)))
}

/// An event of the log: `room_id, seq, payload`.
pub fn stored_event(row: &dyn ReadRow) -> Result<StoredEvent> {
    Ok(StoredEvent::from_log(
        row.text(0)?,
        row.int(1)? as u64,
        row.text(2)?,
    ))
}

/// A new event of the room.
pub fn event(room_id: &str, seq: u64, at: String, kind: EventKind) -> Event {
    Event {
        room_id: room_id.to_string(),
        seq,
        at,
        kind,
    }
}

/// The message a send makes.
pub fn new_message(request: &SendRequest, seq: u64, position: String, at: &str) -> Message {
    Message {
        id: super::new_id(),
        room_id: request.room_id.clone(),
        seq,
        author: request.author.clone(),
        body: request.body.clone(),
        client_id: request.client_id.clone(),
        created_at: at.to_string(),
        edited_at: None,
        position,
        reply_to: request.reply_to.clone(),
        thread_id: request.thread_id.clone(),
        thread: None,
        reactions: Vec::new(),
        pinned: false,
        mentions: request.mentions.clone(),
        attachments: Vec::new(),
    }
}
