//! Where rows become [`User`], [`Message`], [`Room`] and [`StoredEvent`], and where new messages
//! and events are made: the one place that knows both a column list and the struct it fills.
//!
//! Each `*_columns!()` macro is a column list for [`sql!`](super::dialect::sql) statements; the
//! function of the same name reads a row of it, column by column in that order.

use super::dialect::ReadRow;
use super::page::Key;
use super::{SendRequest, StoredEvent};
use crate::error::Result;
use crate::protocol::{Event, EventKind, Message, Rearrange, Role, Room, RoomKind, User};

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

/// A message joined with its author (`messages m JOIN users u`).
macro_rules! message_columns {
    () => {
        concat!(
            "m.id, m.room_id, m.seq, m.body, m.client_id, m.created_at, m.edited_at, m.position, ",
            $crate::store::rows::user_columns_of!("u"),
            // Files (#12).
            ", m.attachments"
        )
    };
}
pub(crate) use message_columns;

pub fn message(row: &dyn ReadRow) -> Result<Message> {
    message_at(row, 0)
}

/// Reads the columns of [`message_columns!`] from `at` on.
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
        attachments: attachments(row.opt_text(at + 8 + USER_COLUMNS)?)?,
    })
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
         (SELECT COUNT(*) FROM members mb WHERE mb.room_id = r.id), r.kind"
    };
}
pub(crate) use room_columns;

/// The number of columns [`room_columns!`] names.
pub const ROOM_COLUMNS: usize = 9;

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
        attachments: Vec::new(),
    }
}
