//! Mentions, read markers and notification levels (issue #10): the mention rows a send or an
//! edit writes, each person's read marker and level per room, and the unread counts.
//!
//! The unread counts of `GET /api/me/unread` are one statement for all of a person's rooms:
//! per room, a count over the covering index `messages_unread (room_id, seq, author_id) WHERE
//! NOT deleted`, bounded to the room's last [`UNREAD_WINDOW`] events (so one room costs at most
//! that many index entries however far behind its reader is), and a count of the person's
//! mention rows (primary key `(user_id, room_id, seq)`) after their marker: a deleted
//! message's rows are deleted with it (and a cleared or deleted room's), so that count reads
//! nothing else.

use std::collections::HashMap;

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn, RowsSql};
use super::rows::{self, user_columns};
use super::sends::CHUNK;
use crate::error::Result;
use crate::protocol::{NotificationLevel, Role, RoomKind, UnreadEntry, User};

/// Unread messages are counted among a room's last this many events only.
pub const UNREAD_WINDOW: u64 = 1000;

/// Mentions, read markers, notification levels.
#[async_trait]
pub trait UnreadStore: Send + Sync + 'static {
    /// Moves the person's read marker of a live room forward to `seq`, clamped to the room's
    /// last seq. `Some(new marker)` when it moved; `None` when it was already there or
    /// further (nothing changes). `RoomNotFound` for a missing room.
    async fn mark_read(&self, user_id: &str, room_id: &str, seq: u64) -> Result<Option<u64>>;
    /// Every live room the person is a member of, with their marker and counts, and the
    /// room's kind and their role there (what the gate decides by).
    async fn unread(&self, user_id: &str) -> Result<Vec<(UnreadEntry, RoomKind, Role)>>;
    async fn set_notifications(
        &self,
        user_id: &str,
        room_id: &str,
        level: NotificationLevel,
    ) -> Result<()>;
    /// The members of the room whose level there is `all` (set, or a DM's default), but
    /// `except` (the author).
    async fn notify_all_members(
        &self,
        room_id: &str,
        kind: RoomKind,
        except: &str,
    ) -> Result<Vec<String>>;
    /// The levels these people set in the room (those who set none are missing).
    async fn notification_levels(
        &self,
        room_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, NotificationLevel>>;
    /// The live accounts with these username keys (lowercase), at most [`CHUNK`].
    async fn users_by_keys(&self, keys: &[String]) -> Result<Vec<User>>;
    /// The ids of the room's members.
    async fn member_ids(&self, room_id: &str) -> Result<Vec<String>>;
}

/// The level a person has when they set none.
pub fn default_level(kind: RoomKind) -> NotificationLevel {
    match kind {
        RoomKind::Direct => NotificationLevel::All,
        RoomKind::Public | RoomKind::Private => NotificationLevel::Mentions,
    }
}

fn unread_row(row: &dyn dialect::ReadRow) -> Result<(UnreadEntry, RoomKind, Role)> {
    let kind = RoomKind::parse(&row.text(3)?).unwrap_or_default();
    let level = row
        .opt_text(4)?
        .and_then(|l| NotificationLevel::parse(&l))
        .unwrap_or(default_level(kind));
    let entry = UnreadEntry {
        room_id: row.text(0)?,
        last_read_seq: row.int(1)? as u64,
        last_seq: row.int(2)? as u64,
        notifications: level,
        unread: row.int(5)? as u64,
        mentions: row.int(6)? as u64,
    };
    let role = Role::parse(&row.text(7)?).unwrap_or(Role::Member);
    Ok((entry, kind, role))
}

#[async_trait]
impl<B: Backend> UnreadStore for B {
    async fn mark_read(&self, user_id: &str, room_id: &str, seq: u64) -> Result<Option<u64>> {
        let mut conn = self.write().await?;
        let last = sql!("SELECT last_seq FROM rooms WHERE id = $1 AND deleted = " FALSE);
        let last_seq =
            dialect::fetch_optional(&mut *conn, &last, &[Arg::Text(room_id)], |r| r.int(0))
                .await?
                .ok_or(crate::error::Error::RoomNotFound)?;
        let seq = (seq.min(i64::MAX as u64) as i64).min(last_seq);
        if seq <= 0 {
            return Ok(None);
        }
        let sql = sql!(
            "INSERT INTO read_state (user_id, room_id, last_read_seq) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET last_read_seq = excluded.last_read_seq \
             WHERE read_state.last_read_seq < excluded.last_read_seq"
        );
        let args = [Arg::Text(user_id), Arg::Text(room_id), Arg::Int(seq)];
        let changed = dialect::execute(&mut *conn, &sql, &args).await?;
        Ok((changed > 0).then_some(seq as u64))
    }

    async fn unread(&self, user_id: &str) -> Result<Vec<(UnreadEntry, RoomKind, Role)>> {
        let mut conn = self.read().await?;
        // Thread replies are not unread room messages (nor their mentions): the first count skips
        // them (`m.thread_id IS NULL`, served by the partial index of migration 0012), and they
        // have no mention rows (`mention_rows::insert_mentions`).
        let sql = sql!(
            "SELECT mb.room_id, COALESCE(rs.last_read_seq, 0), r.last_seq, r.kind, \
             rs.notifications, \
             (SELECT COUNT(*) FROM messages m WHERE m.room_id = mb.room_id AND m.deleted = " FALSE
            " AND m.seq > " GREATEST "(COALESCE(rs.last_read_seq, 0), r.last_seq - $2) \
               AND m.author_id <> $1 AND m.thread_id IS NULL), \
             (SELECT COUNT(*) FROM mentions mn WHERE mn.user_id = $1 \
               AND mn.room_id = mb.room_id AND mn.seq > COALESCE(rs.last_read_seq, 0)), mb.role \
             FROM members mb JOIN rooms r ON r.id = mb.room_id AND r.deleted = " FALSE
            " LEFT JOIN read_state rs ON rs.user_id = mb.user_id AND rs.room_id = mb.room_id \
             WHERE mb.user_id = $1 ORDER BY mb.room_id"
        );
        let args = [Arg::Text(user_id), Arg::Int(UNREAD_WINDOW as i64)];
        dialect::fetch_all(&mut *conn, &sql, &args, unread_row).await
    }

    async fn set_notifications(
        &self,
        user_id: &str,
        room_id: &str,
        level: NotificationLevel,
    ) -> Result<()> {
        let mut conn = self.write().await?;
        let sql = sql!(
            "INSERT INTO read_state (user_id, room_id, notifications) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id, room_id) DO UPDATE SET notifications = excluded.notifications"
        );
        let args = [
            Arg::Text(user_id),
            Arg::Text(room_id),
            Arg::Text(level.as_str()),
        ];
        dialect::execute(&mut *conn, &sql, &args).await?;
        Ok(())
    }

    async fn notify_all_members(
        &self,
        room_id: &str,
        kind: RoomKind,
        except: &str,
    ) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        let map = |row: &dyn dialect::ReadRow| row.text(0);
        if kind == RoomKind::Direct {
            // Everyone but those who chose less.
            let sql = sql!(
                "SELECT mb.user_id FROM members mb LEFT JOIN read_state rs \
                 ON rs.user_id = mb.user_id AND rs.room_id = mb.room_id \
                 WHERE mb.room_id = $1 AND mb.user_id <> $2 \
                 AND COALESCE(rs.notifications, 'all') = 'all'"
            );
            let args = [Arg::Text(room_id), Arg::Text(except)];
            dialect::fetch_all(&mut *conn, &sql, &args, map).await
        } else {
            let sql = sql!(
                "SELECT rs.user_id FROM read_state rs JOIN members mb \
                 ON mb.room_id = rs.room_id AND mb.user_id = rs.user_id \
                 WHERE rs.room_id = $1 AND rs.notifications = 'all' AND rs.user_id <> $2"
            );
            let args = [Arg::Text(room_id), Arg::Text(except)];
            dialect::fetch_all(&mut *conn, &sql, &args, map).await
        }
    }

    async fn notification_levels(
        &self,
        room_id: &str,
        user_ids: &[String],
    ) -> Result<HashMap<String, NotificationLevel>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT user_id, notifications FROM read_state \
             WHERE room_id = $1 AND notifications IS NOT NULL"
        );
        let set = dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], |row| {
            Ok((row.text(0)?, row.text(1)?))
        })
        .await?;
        Ok(set
            .into_iter()
            .filter(|(id, _)| user_ids.contains(id))
            .filter_map(|(id, level)| Some((id, NotificationLevel::parse(&level)?)))
            .collect())
    }

    async fn users_by_keys(&self, keys: &[String]) -> Result<Vec<User>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.read().await?;
        users_by_keys_in(&mut *conn, &keys[..keys.len().min(CHUNK)]).await
    }

    async fn member_ids(&self, room_id: &str) -> Result<Vec<String>> {
        let mut conn = self.read().await?;
        let sql = sql!("SELECT user_id FROM members WHERE room_id = $1");
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], |row| row.text(0)).await
    }
}

static USERS_BY_KEYS: RowsSql = RowsSql::new(
    sql!(
        "SELECT " user_columns!() " FROM users u WHERE u.retired_at IS NULL \
         AND u.username_key IN ("
    ),
    1,
    sql!(")"),
);

async fn users_by_keys_in<C: Conn>(conn: &mut C, keys: &[String]) -> Result<Vec<User>> {
    let args: Vec<Arg> = keys.iter().map(|k| Arg::Text(k)).collect();
    let sql = USERS_BY_KEYS.text(C::DIALECT, keys.len());
    dialect::fetch_all_text(conn, &sql, &args, |row| rows::user(row, 0)).await
}
