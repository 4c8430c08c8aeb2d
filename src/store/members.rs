//! DMs and member roles: opening the one DM of a set of people, and changing a member's role.

use async_trait::async_trait;

use super::audit::{record_audit, NewAudit};
use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::events::append;
use super::rooms::{lock_room, room_in};
use super::rows::{self, room_columns};
use super::{new_id, now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{AuditAction, EventKind, Role, Room, User};

/// DMs and roles.
#[async_trait]
pub trait MemberStore: Send + Sync + 'static {
    /// The live DM of exactly these people (`key`: their ids, sorted, joined by `,`).
    async fn find_dm(&self, key: &str) -> Result<Option<Room>>;
    /// The DM of these people: `(room, events, true)` when made now (its `member.joined`
    /// events, one per person), `(room, [], false)` when they already had one. Two racing
    /// opens make one room (the unique key decides).
    async fn open_dm(
        &self,
        key: &str,
        name: &str,
        people: &[User],
    ) -> Result<(Room, Vec<StoredEvent>, bool)>;
    /// Sets a member's role and appends `member.role_changed`; `None` when the role already
    /// was that one (nothing changes, no event). `UserNotFound` when not a member.
    async fn set_role(
        &self,
        room_id: &str,
        user: &User,
        role: Role,
        by: &User,
    ) -> Result<Option<StoredEvent>>;
}

#[async_trait]
impl<B: Backend> MemberStore for B {
    async fn find_dm(&self, key: &str) -> Result<Option<Room>> {
        let sql = sql!(
            "SELECT " room_columns!() " FROM rooms r WHERE r.dm_key = $1 AND r.deleted = " FALSE
        );
        let mut conn = self.read().await?;
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(key)], rows::room).await
    }

    async fn open_dm(
        &self,
        key: &str,
        name: &str,
        people: &[User],
    ) -> Result<(Room, Vec<StoredEvent>, bool)> {
        if let Some(room) = self.find_dm(key).await? {
            return Ok((room, Vec::new(), false));
        }
        let mut tx = self.begin().await?;
        let (id, at) = (new_id(), now());
        let name_key = super::rooms::name_key(&id, name, crate::protocol::RoomKind::Direct);
        let sql = sql!(
            "INSERT INTO rooms (id, name, name_key, topic, owner_id, created_at, kind, dm_key, \
             pins) VALUES ($1, $2, $3, '', NULL, $4, 'direct', $5, 'anyone')"
        );
        let args = [
            Arg::Text(&id),
            Arg::Text(name),
            Arg::Text(&name_key),
            Arg::Text(&at),
            Arg::Text(key),
        ];
        match dialect::execute(&mut *tx, &sql, &args).await {
            Ok(_) => {}
            Err(err) if err.unique => {
                // Another open of the same DM committed first: it is the one.
                drop(tx);
                let room = self.find_dm(key).await?.ok_or(Error::RoomNotFound)?;
                return Ok((room, Vec::new(), false));
            }
            Err(err) => return Err(err.into()),
        }
        let mut events = Vec::with_capacity(people.len());
        let insert = sql!(
            "INSERT INTO members (room_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3)"
        );
        for person in people {
            let args = [Arg::Text(&id), Arg::Text(&person.id), Arg::Text(&at)];
            dialect::execute(&mut *tx, &insert, &args).await?;
            let kind = EventKind::MemberJoined {
                user: person.clone(),
            };
            events.push(append(&mut *tx, &id, kind, None).await?);
        }
        let room = room_in(&mut *tx, &id).await?;
        B::commit(tx).await?;
        Ok((room, events, true))
    }

    async fn set_role(
        &self,
        room_id: &str,
        user: &User,
        role: Role,
        by: &User,
    ) -> Result<Option<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let sql = sql!("SELECT role FROM members WHERE room_id = $1 AND user_id = $2");
        let args = [Arg::Text(room_id), Arg::Text(&user.id)];
        let current = dialect::fetch_optional(&mut *tx, &sql, &args, |row| row.text(0))
            .await?
            .ok_or(Error::UserNotFound)?;
        if Role::parse(&current) == Some(role) {
            return Ok(None);
        }
        let sql = sql!("UPDATE members SET role = $1 WHERE room_id = $2 AND user_id = $3");
        let args = [
            Arg::Text(role.as_str()),
            Arg::Text(room_id),
            Arg::Text(&user.id),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let entry = NewAudit {
            actor_id: &by.id,
            action: AuditAction::Role,
            room_id: Some(room_id),
            target_user_id: Some(&user.id),
            detail: serde_json::json!({"role": role.as_str(), "was": current}),
        };
        record_audit(&mut *tx, &entry).await?;
        let kind = EventKind::MemberRoleChanged {
            user: user.clone(),
            role,
            by: by.clone(),
        };
        let event = append(&mut *tx, room_id, kind, None).await?;
        B::commit(tx).await?;
        Ok(Some(event))
    }
}
