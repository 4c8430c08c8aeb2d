//! Rooms and their members: list, create, change, delete, join, leave, subscribe.
//!
//! Room changes take from the user's room-change bucket and membership changes that write an
//! event from their membership bucket (see [`super::limits`]); a join of a room one is already
//! in (every socket resume subscribes again) writes nothing and takes nothing.

use crate::error::{Error, Result};
use crate::protocol::{
    Member, MentionEveryone, Rearrange, Role, Room, RoomKind, RoomListChange, User,
};
use crate::store::page::{Page, Paged};
use crate::store::RoomPatch;

use super::access::Need;
use super::{names, validate, Admission, Chat};

impl Chat {
    fn with_presence(&self, mut room: Room) -> Room {
        room.online_count = self.hub.online_count(&room.id);
        room
    }

    /// The room as the caller sees it: with presence, and whether they are a member and their
    /// role (`role`: their membership as the store has it).
    pub(super) fn for_caller(&self, room: Room, role: Option<Role>) -> Room {
        Room {
            member: role.is_some(),
            my_role: role,
            ..self.with_presence(room)
        }
    }

    /// The room, as the caller sees it, read fresh from the store.
    pub(super) async fn room_for(&self, user: &User, room_id: &str) -> Result<Room> {
        let room = self.store.get_room(room_id).await?;
        let role = self.store.role(room_id, &user.id).await?;
        Ok(self.for_caller(room, role))
    }

    /// A page of the rooms the user may read (every public room, and their private rooms and
    /// DMs) in list order, and the next page's cursor. The cursor follows the store's rows, so a
    /// page the gate thinned is shorter, never a gap.
    pub async fn list_rooms(&self, user: &User, page: &Page) -> Result<Paged<Room>> {
        let Paged { items, next } = self.store.rooms_page_for(&user.id, page).await?;
        let rooms = self.gate.readable(user, items).await?;
        let items = rooms
            .into_iter()
            .map(|(room, role)| self.for_caller(room, role))
            .collect();
        Ok(Paged { items, next })
    }

    pub async fn get_room(&self, user: &User, room_id: &str) -> Result<Room> {
        self.gate.read(user, room_id).await?;
        self.room_for(user, room_id).await
    }

    /// Creates a public room, owned by the caller.
    pub async fn create_room(&self, user: &User, name: &str, topic: Option<&str>) -> Result<Room> {
        self.create_room_of_kind(user, name, topic, None).await
    }

    /// Creates a public or private room, owned by the caller (`kind` "direct" is refused: DMs
    /// come from [`Chat::open_dm`]).
    pub async fn create_room_of_kind(
        &self,
        user: &User,
        name: &str,
        topic: Option<&str>,
        kind: Option<RoomKind>,
    ) -> Result<Room> {
        if self.gate.scopes().limited(user).await? {
            return Err(Error::Forbidden(
                "a bot limited to chosen rooms can't create rooms",
            ));
        }
        let kind = kind.unwrap_or_default();
        if kind == RoomKind::Direct {
            return Err(Error::InvalidRequest(
                "kind is public or private; a DM is opened with POST /api/dms".into(),
            ));
        }
        let name = validate::room_name(name)?;
        names::room_name_free(self.store.as_ref(), &name, None).await?;
        let topic = validate::topic(topic.unwrap_or(""))?;
        let max = self.limits.max_rooms_per_user;
        let owned = self
            .store
            .list_rooms()
            .await?
            .iter()
            .filter(|r| r.owner_id.as_deref() == Some(user.id.as_str()))
            .count();
        if owned >= max {
            return Err(Error::TooManyRooms { max });
        }
        self.limits.room_change(&user.id)?;
        let (room, events) = self
            .store
            .create_room_of_kind(&name, topic, user, kind)
            .await?;
        self.publish(&events);
        self.room_list(RoomListChange::Created, room.clone()).await;
        Ok(self.for_caller(room, Some(Role::Owner)))
    }

    /// Changes a room's settings (name, topic, who may rearrange, pin and mention everyone):
    /// one `room.updated` event for the whole change.
    pub async fn update_room(
        &self,
        user: &User,
        room_id: &str,
        change: &crate::protocol::UpdateRoomRequest,
    ) -> Result<Room> {
        let name = change.name.as_deref();
        let topic = change.topic.as_deref();
        let rearrange = change.rearrange.as_deref();
        let pins = change.pins.as_deref();
        let mention_everyone = change.mention_everyone.as_deref();
        let patch = RoomPatch {
            pins: pins
                .map(|p| {
                    crate::protocol::PinPolicy::parse(p).ok_or_else(|| {
                        Error::InvalidRequest("pins is one of anyone, moderators".into())
                    })
                })
                .transpose()?,
            name: name.map(validate::room_name).transpose()?,
            topic: topic.map(validate::topic).transpose()?.map(str::to_string),
            rearrange: rearrange
                .map(|r| {
                    Rearrange::parse(r).ok_or_else(|| {
                        Error::InvalidRequest(
                            "rearrange is one of anyone, moderators, nobody".into(),
                        )
                    })
                })
                .transpose()?,
            mention_everyone: mention_everyone
                .map(|r| {
                    MentionEveryone::parse(r).ok_or_else(|| {
                        Error::InvalidRequest(
                            "mention_everyone is one of anyone, moderators".into(),
                        )
                    })
                })
                .transpose()?,
        };
        self.gate
            .require(
                user,
                room_id,
                Need::Moderate,
                "only the room's owner or an admin can change it",
            )
            .await?;
        if let Some(name) = &patch.name {
            names::room_name_free(self.store.as_ref(), name, Some(room_id)).await?;
        }
        self.limits.room_change(&user.id)?;
        let (room, event) = self.store.update_room(room_id, &patch).await?;
        self.publish(std::slice::from_ref(&event));
        // Coalesced with the room's count updates: however fast its owner changes it, every
        // socket gets at most one `room_list` for it per flush, with its state at that moment.
        self.room_list_soon(room_id);
        let role = self.store.role(room_id, &user.id).await?;
        Ok(self.for_caller(room, role))
    }

    pub async fn delete_room(&self, user: &User, room_id: &str) -> Result<()> {
        let admitted = self
            .gate
            .require(
                user,
                room_id,
                Need::Own,
                "only the room's owner can delete it",
            )
            .await?;
        let room = match admitted.room {
            Some(room) => room,
            None => self.store.get_room(room_id).await?,
        };
        self.limits.room_change(&user.id)?;
        // Who may read it is decided before it is gone.
        let audience = self.gate.audience(&room).await?;
        let event = self.store.delete_room(room_id, user).await?;
        self.gate.forget(room_id);
        self.publish(std::slice::from_ref(&event));
        self.room_list_to(RoomListChange::Deleted, room, Some(user), &audience);
        // Files (#12): the room's files are gone; their blobs too unless shared.
        self.empty_trash().await;
        Ok(())
    }

    pub async fn join(&self, user: &User, room_id: &str) -> Result<Room> {
        self.become_member(user, room_id).await?;
        self.room_for(user, room_id).await
    }

    /// A socket's subscribe: the caller must be able to read the room, and subscribing makes
    /// them a member (which also checks that the room exists). A member's subscribe (a resume)
    /// writes nothing and is never rate limited. The answer is the gate's yes, for the replay.
    pub async fn subscribe(&self, user: &User, room_id: &str) -> Result<Admission> {
        self.become_member(user, room_id).await?;
        Ok(Admission {
            user_id: user.id.clone(),
            room_id: room_id.to_string(),
        })
    }

    /// Asks the gate again for a subscription admitted a moment ago: for when something may
    /// have changed in between (see the gateway's subscribe).
    pub async fn readmit(&self, user: &User, admission: &Admission) -> Result<()> {
        if admission.user_id != user.id {
            return Err(Error::RoomNotFound);
        }
        self.gate.read(user, &admission.room_id).await.map(|_| ())
    }

    /// Joins the user to the room unless they are a member already. Only a join that writes an
    /// event takes from the membership bucket; an unknown room is `room_not_found` and takes
    /// nothing.
    async fn become_member(&self, user: &User, room_id: &str) -> Result<()> {
        let admitted = self
            .gate
            .require(user, room_id, Need::Join, "you can't join this room")
            .await?;
        // The store's membership (read with the standing), not the gate's role (which says
        // `Owner` for an owner who left).
        if admitted.member.is_some() {
            return Ok(());
        }
        if admitted.room.is_none() {
            self.store.get_room(room_id).await?;
        }
        self.limits.membership(&user.id)?;
        if let Some(event) = self.store.join_room(room_id, user).await? {
            self.publish(std::slice::from_ref(&event));
        }
        Ok(())
    }

    /// Leaves the room; a leave that writes an event (the user was a member) takes from the
    /// membership bucket, a silent one (they were not) takes nothing.
    pub async fn leave(&self, user: &User, room_id: &str) -> Result<()> {
        let admitted = self.gate.read(user, room_id).await?;
        if self.kind_of(&admitted, room_id).await? == RoomKind::Direct {
            return Err(Error::Forbidden(
                "a DM's people are fixed: nobody leaves or joins it",
            ));
        }
        if self.store.role(room_id, &user.id).await?.is_some() {
            self.limits.membership(&user.id)?;
        }
        if let Some(event) = self.store.leave_room(room_id, user).await? {
            self.publish(std::slice::from_ref(&event));
        }
        Ok(())
    }

    /// The room's kind: what the gate found, or the store's answer when the policy needed none.
    pub(super) async fn kind_of(
        &self,
        admitted: &super::access::Admitted,
        room_id: &str,
    ) -> Result<RoomKind> {
        match admitted.kind {
            Some(kind) => Ok(kind),
            None => Ok(self.store.get_room(room_id).await?.kind),
        }
    }

    /// A page of the room's members in join order, and the next page's cursor.
    pub async fn members(&self, user: &User, room_id: &str, page: &Page) -> Result<Paged<Member>> {
        self.gate.read(user, room_id).await?;
        let members = self.store.members_page(room_id, page).await?;
        Ok(members.map(|(user, role)| Member {
            online: self.hub.is_online(room_id, &user.id),
            user,
            role,
        }))
    }
}
