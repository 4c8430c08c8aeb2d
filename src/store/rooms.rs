//! Rooms and their members.

use async_trait::async_trait;

use super::audit::{record_audit, NewAudit};
use super::backend::Backend;
use super::dialect::{self, sql, Arg, Conn};
use super::events::{self, append};
use super::page::{Page, Paged};
use super::rows::{self, room_columns, user_columns};
use super::{new_id, now, RoomPatch, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{AuditAction, EventKind, Role, Room, RoomKind, User};

/// Rooms and who is in them. Rooms handed out have `online_count` 0: presence is not the store's
/// business.
#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    /// Create the default rooms if this store has never had a room.
    async fn seed_default_rooms(&self, names: &[&str]) -> Result<()>;
    /// Every live room, of every kind.
    async fn list_rooms(&self) -> Result<Vec<Room>>;
    /// One page of the rooms a user may find, in list order (creation time, then id): every
    /// public room, and the private rooms and DMs the user is a member (or the owner) of; each
    /// with the user's role (`None`: not a member).
    async fn rooms_page_for(
        &self,
        user_id: &str,
        page: &Page,
    ) -> Result<Paged<(Room, Option<Role>)>>;
    /// `RoomNotFound` for a missing or deleted room.
    async fn get_room(&self, room_id: &str) -> Result<Room>;
    /// The new public room, owned by `owner`, and the `member.joined` event of its owner.
    async fn create_room(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
    ) -> Result<(Room, Vec<StoredEvent>)> {
        self.create_room_of_kind(name, topic, owner, RoomKind::Public)
            .await
    }
    /// The new room (public or private), owned by `owner`, and the `member.joined` event of its
    /// owner.
    async fn create_room_of_kind(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
        kind: RoomKind,
    ) -> Result<(Room, Vec<StoredEvent>)>;
    async fn update_room(&self, room_id: &str, patch: &RoomPatch) -> Result<(Room, StoredEvent)>;
    /// Removes the room's members and messages and appends the final `room.deleted` event;
    /// audited (`delete_room`, by `by`).
    async fn delete_room(&self, room_id: &str, by: &User) -> Result<StoredEvent>;
    /// The `member.joined` event, or `None` when the user already was a member.
    async fn join_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>>;
    /// The `member.left` event, or `None` when the user was not a member.
    async fn leave_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>>;
    async fn members(&self, room_id: &str) -> Result<Vec<(User, Role)>>;
    /// One page of the room's members in join order (then user id); `RoomNotFound` for a missing
    /// or deleted room.
    async fn members_page(&self, room_id: &str, page: &Page) -> Result<Paged<(User, Role)>>;
    /// The user's role in the room, `None` when not a member.
    async fn role(&self, room_id: &str, user_id: &str) -> Result<Option<Role>>;
}

/// Takes the room for the rest of the transaction: `RoomNotFound` when it is missing or deleted.
/// In PostgreSQL this locks the room's row, so the writers of one room (on any node) queue here
/// and what they read (the last position, an existing `client_id`) is what they write after;
/// SQLite has one writer, so there it only checks.
///
/// **The rule the send path relies on:** a writer that changes a room's messages' positions or its
/// members appends an event in the same transaction ([`super::events::next_seq`]), so its commit
/// moves `rooms.last_seq` and the log together. The send procedure locks and reads in one
/// statement and tells by that whether a writer committed while it waited (see
/// `sends::group_rooms`).
pub async fn lock_room<C: Conn>(conn: &mut C, room_id: &str) -> Result<()> {
    let sql = sql!("SELECT 1 FROM rooms WHERE id = $1 AND deleted = " FALSE FOR_UPDATE);
    dialect::fetch_optional(conn, &sql, &[Arg::Text(room_id)], |_| Ok(()))
        .await?
        .ok_or(Error::RoomNotFound)
}

/// The live room.
pub async fn room_in<C: Conn>(conn: &mut C, room_id: &str) -> Result<Room> {
    let sql =
        sql!("SELECT " room_columns!() " FROM rooms r WHERE r.id = $1 AND r.deleted = " FALSE);
    dialect::fetch_optional(conn, &sql, &[Arg::Text(room_id)], rows::room)
        .await?
        .ok_or(Error::RoomNotFound)
}

/// What a room's name is unique by: public rooms' names are unique ignoring case; private
/// rooms and DMs take no part (their key is made of their id), so a name never tells a stranger
/// that a private room exists.
pub fn name_key(id: &str, name: &str, kind: RoomKind) -> String {
    match kind {
        RoomKind::Public => name.to_lowercase(),
        RoomKind::Private | RoomKind::Direct => format!("{}:{id}", kind.as_str()),
    }
}

/// Adds the user to the (locked) room if needed: the `member.joined` event, or `None`.
pub async fn join_in<C: Conn>(
    conn: &mut C,
    room_id: &str,
    user: &User,
) -> Result<Option<StoredEvent>> {
    let sql = sql!(
        "INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3) \
         ON CONFLICT (room_id, user_id) DO NOTHING"
    );
    let at = now();
    let args = [Arg::Text(room_id), Arg::Text(&user.id), Arg::Text(&at)];
    if dialect::execute(conn, &sql, &args).await? == 0 {
        return Ok(None);
    }
    let kind = EventKind::MemberJoined { user: user.clone() };
    Ok(Some(append(conn, room_id, kind, None).await?))
}

#[async_trait]
impl<B: Backend> RoomStore for B {
    async fn seed_default_rooms(&self, names: &[&str]) -> Result<()> {
        let mut tx = self.begin().await?;
        // PostgreSQL: nodes starting together, one seeds, the others wait here and then see its
        // rooms. SQLite has one writer.
        let lock = dialect::Sql {
            sqlite: "SELECT 1",
            postgres: "SELECT pg_advisory_xact_lock(7011964)",
        };
        dialect::fetch_optional(&mut *tx, &lock, &[], |_| Ok(())).await?;
        let any = sql!("SELECT COUNT(*) FROM rooms");
        let count = dialect::fetch_optional(&mut *tx, &any, &[], |row| row.int(0)).await?;
        if count == Some(0) {
            let insert = sql!(
                "INSERT INTO rooms (id, name, name_key, topic, created_at) \
                 VALUES ($1, $2, $3, '', $4)"
            );
            for name in names {
                let (id, key, at) = (new_id(), name.to_lowercase(), now());
                let args = [
                    Arg::Text(&id),
                    Arg::Text(name),
                    Arg::Text(&key),
                    Arg::Text(&at),
                ];
                dialect::execute(&mut *tx, &insert, &args).await?;
            }
        }
        B::commit(tx).await
    }

    async fn list_rooms(&self) -> Result<Vec<Room>> {
        let sql = sql!(
            "SELECT " room_columns!() " FROM rooms r WHERE r.deleted = " FALSE
            " ORDER BY r.created_at, r.id"
        );
        let mut conn = self.read().await?;
        dialect::fetch_all(&mut *conn, &sql, &[], rows::room).await
    }

    async fn rooms_page_for(
        &self,
        user_id: &str,
        page: &Page,
    ) -> Result<Paged<(Room, Option<Role>)>> {
        // The order is the one the room list has always had, so the first page of an install
        // with fewer rooms than the limit is the whole list, as before. Who may find a room is a
        // condition of both statements, before the key.
        let first = sql!(
            "SELECT " room_columns!() ", mine.role FROM rooms r \
             LEFT JOIN members mine ON mine.room_id = r.id AND mine.user_id = $1 \
             WHERE r.deleted = " FALSE " AND (r.kind = 'public' OR mine.user_id IS NOT NULL \
             OR r.owner_id = $1) ORDER BY r.created_at, r.id LIMIT $2"
        );
        let after = sql!(
            "SELECT " room_columns!() ", mine.role FROM rooms r \
             LEFT JOIN members mine ON mine.room_id = r.id AND mine.user_id = $1 \
             WHERE r.deleted = " FALSE " AND (r.kind = 'public' OR mine.user_id IS NOT NULL \
             OR r.owner_id = $1) AND (r.created_at, r.id) > ($2, $3) \
             ORDER BY r.created_at, r.id LIMIT $4"
        );
        let more = i64::from(page.limit) + 1;
        let read = |row: &dyn dialect::ReadRow| {
            let (key, room) = rows::keyed_room(row)?;
            let role = row.opt_text(rows::ROOM_COLUMNS)?;
            Ok((key, (room, role.and_then(|r| Role::parse(&r)))))
        };
        let mut conn = self.read().await?;
        let rows = match &page.after {
            None => {
                let args = [Arg::Text(user_id), Arg::Int(more)];
                dialect::fetch_all(&mut *conn, &first, &args, read).await?
            }
            Some(key) => {
                let args = [
                    Arg::Text(user_id),
                    Arg::Text(&key.at),
                    Arg::Text(&key.id),
                    Arg::Int(more),
                ];
                dialect::fetch_all(&mut *conn, &after, &args, read).await?
            }
        };
        Ok(Paged::from_rows(rows, page.limit))
    }

    async fn get_room(&self, room_id: &str) -> Result<Room> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await
    }

    async fn create_room_of_kind(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
        kind: RoomKind,
    ) -> Result<(Room, Vec<StoredEvent>)> {
        if kind == RoomKind::Direct {
            return Err(Error::InvalidRequest(
                "a DM is opened with POST /api/dms".into(),
            ));
        }
        let mut tx = self.begin().await?;
        let id = new_id();
        let (key, at) = (name_key(&id, name, kind), now());
        let sql = sql!(
            "INSERT INTO rooms (id, name, name_key, topic, owner_id, created_at, kind) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        let args = [
            Arg::Text(&id),
            Arg::Text(name),
            Arg::Text(&key),
            Arg::Text(topic),
            Arg::Text(&owner.id),
            Arg::Text(&at),
            Arg::Text(kind.as_str()),
        ];
        dialect::execute(&mut *tx, &sql, &args)
            .await
            .map_err(|err| err.unique_or(Error::RoomNameTaken))?;
        let sql = sql!(
            "INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)"
        );
        let at = now();
        let args = [Arg::Text(&id), Arg::Text(&owner.id), Arg::Text(&at)];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let kind = EventKind::MemberJoined {
            user: owner.clone(),
        };
        let joined = append(&mut *tx, &id, kind, None).await?;
        let room = room_in(&mut *tx, &id).await?;
        B::commit(tx).await?;
        Ok((room, vec![joined]))
    }

    async fn update_room(&self, room_id: &str, patch: &RoomPatch) -> Result<(Room, StoredEvent)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let current = room_in(&mut *tx, room_id).await?;
        let name = patch.name.clone().unwrap_or(current.name);
        let key = name_key(room_id, &name, current.kind);
        let sql = sql!(
            "UPDATE rooms SET name = $1, name_key = $2, topic = $3, rearrange = $4, \
             mention_everyone = $5, pins = $7 WHERE id = $6"
        );
        let args = [
            Arg::Text(&name),
            Arg::Text(&key),
            Arg::Text(patch.topic.as_ref().unwrap_or(&current.topic)),
            Arg::Text(patch.rearrange.unwrap_or(current.rearrange).as_str()),
            Arg::Text(
                patch
                    .mention_everyone
                    .unwrap_or(current.mention_everyone)
                    .as_str(),
            ),
            Arg::Text(room_id),
            Arg::Text(patch.pins.unwrap_or(current.pins).as_str()),
        ];
        dialect::execute(&mut *tx, &sql, &args)
            .await
            .map_err(|err| err.unique_or(Error::RoomNameTaken))?;
        // The event's room carries the seq of the event itself.
        let seq = events::next_seq(&mut *tx, room_id).await?;
        let room = room_in(&mut *tx, room_id).await?;
        let kind = EventKind::RoomUpdated { room: room.clone() };
        let event = rows::event(room_id, seq, now(), kind);
        let stored = events::insert(&mut *tx, &event, None).await?;
        B::commit(tx).await?;
        Ok((room, stored))
    }

    async fn delete_room(&self, room_id: &str, by: &User) -> Result<StoredEvent> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let name = room_in(&mut *tx, room_id).await?.name;
        let audit = NewAudit {
            actor_id: &by.id,
            action: AuditAction::DeleteRoom,
            room_id: Some(room_id),
            target_user_id: None,
            detail: serde_json::json!({ "name": name }),
        };
        record_audit(&mut *tx, &audit).await?;
        super::mention_rows::forget_room_mentions(&mut *tx, room_id).await?;
        for sql in [
            sql!("DELETE FROM members WHERE room_id = $1"),
            sql!("DELETE FROM invites WHERE room_id = $1"),
            sql!("DELETE FROM events WHERE room_id = $1"),
            sql!(
                "UPDATE messages SET body = '', attachments = NULL, deleted = " TRUE
                " WHERE room_id = $1"
            ),
            sql!("DELETE FROM reactions WHERE room_id = $1"),
            sql!("DELETE FROM pins WHERE room_id = $1"),
        ] {
            dialect::execute(&mut *tx, &sql, &[Arg::Text(room_id)]).await?;
        }
        // Files (#12): the room's files go, their blobs to the trash.
        super::file_rows::detach_in(&mut *tx, super::file_rows::Detach::Room(room_id)).await?;
        let event = append(
            &mut *tx,
            room_id,
            EventKind::RoomDeleted {
                by: Some(by.clone()),
            },
            None,
        )
        .await?;
        let sql = sql!("UPDATE rooms SET deleted = " TRUE " WHERE id = $1");
        dialect::execute(&mut *tx, &sql, &[Arg::Text(room_id)]).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn join_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        // Most joins are of members already there: answer those without taking the write lock.
        if self.role(room_id, &user.id).await?.is_some() {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let event = join_in(&mut *tx, room_id, user).await?;
        B::commit(tx).await?;
        Ok(event)
    }

    async fn leave_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let sql = sql!("DELETE FROM members WHERE room_id = $1 AND user_id = $2");
        let args = [Arg::Text(room_id), Arg::Text(&user.id)];
        let event = match dialect::execute(&mut *tx, &sql, &args).await? {
            0 => None,
            _ => {
                let kind = EventKind::MemberLeft { user: user.clone() };
                Some(append(&mut *tx, room_id, kind, None).await?)
            }
        };
        B::commit(tx).await?;
        Ok(event)
    }

    async fn members(&self, room_id: &str) -> Result<Vec<(User, Role)>> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let sql = sql!(
            "SELECT " user_columns!() ", mb.role FROM members mb JOIN users u ON u.id = mb.user_id \
             WHERE mb.room_id = $1 ORDER BY mb.joined_at, u.id"
        );
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], rows::member).await
    }

    async fn members_page(&self, room_id: &str, page: &Page) -> Result<Paged<(User, Role)>> {
        let mut conn = self.read().await?;
        room_in(&mut *conn, room_id).await?;
        let first = sql!(
            "SELECT " user_columns!() ", mb.role, mb.joined_at FROM members mb \
             JOIN users u ON u.id = mb.user_id WHERE mb.room_id = $1 \
             ORDER BY mb.joined_at, mb.user_id LIMIT $2"
        );
        let after = sql!(
            "SELECT " user_columns!() ", mb.role, mb.joined_at FROM members mb \
             JOIN users u ON u.id = mb.user_id WHERE mb.room_id = $1 \
             AND (mb.joined_at, mb.user_id) > ($2, $3) ORDER BY mb.joined_at, mb.user_id LIMIT $4"
        );
        let more = i64::from(page.limit) + 1;
        let rows = match &page.after {
            None => {
                let args = [Arg::Text(room_id), Arg::Int(more)];
                dialect::fetch_all(&mut *conn, &first, &args, rows::keyed_member).await?
            }
            Some(key) => {
                let args = [
                    Arg::Text(room_id),
                    Arg::Text(&key.at),
                    Arg::Text(&key.id),
                    Arg::Int(more),
                ];
                dialect::fetch_all(&mut *conn, &after, &args, rows::keyed_member).await?
            }
        };
        Ok(Paged::from_rows(rows, page.limit))
    }

    async fn role(&self, room_id: &str, user_id: &str) -> Result<Option<Role>> {
        let sql = sql!("SELECT role FROM members WHERE room_id = $1 AND user_id = $2");
        let mut conn = self.read().await?;
        let args = [Arg::Text(room_id), Arg::Text(user_id)];
        let role = dialect::fetch_optional(&mut *conn, &sql, &args, |row| row.text(0)).await?;
        Ok(role.and_then(|r| Role::parse(&r)))
    }
}
