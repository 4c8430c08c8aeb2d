//! The one gate: who may read, post in, join, moderate and own a room.
//!
//! Every path that reads or changes a room asks [`Gate`] first: REST history, events, members
//! and long-poll; the socket's subscribe and replay; room lists and room-list frames; every
//! write. The gate fetches the facts a decision needs (the room, the caller's role), asks the
//! [`Policy`], and answers in one way for everyone:
//! - a caller who may not **read** a room gets `room_not_found`, whatever they asked: to them the
//!   room does not exist, so its existence doesn't leak;
//! - a caller who may read but not do the rest gets `forbidden`, with a message saying who may.
//!
//! The policy says up front which facts it needs ([`Policy::lookup`]), so a decision that needs
//! none (today's: every room is public, anyone may read, post and join) costs no store round
//! trip, and the send path stays as fast as it was.

use crate::error::{Error, Result};
use crate::protocol::{Role, Room, User};
use crate::store::Store;

/// What a caller wants to do in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// See the room at all: its history, events, members, presence, typing, its room-list entry.
    Read,
    /// Change its messages: send, edit, delete one's own, move, type.
    Post,
    /// Become a member (join, or subscribe, which joins).
    Join,
    /// Act on others' messages and the room's settings: clear, update, rearrange when limited.
    Moderate,
    /// Delete the room.
    Own,
}

/// The facts a policy decision needs fetched first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Nothing: the decision depends on the user alone.
    Nothing,
    /// The room and the caller's role in it (owner, admin, member, or none).
    RoomAndRole,
}

/// What the gate knows when it asks the policy.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub user: &'a User,
    pub room_id: &'a str,
    /// Fetched when the policy asked for [`Lookup::RoomAndRole`].
    pub room: Option<&'a Room>,
    /// The caller's role; `Owner` for the room's owner. `None`: not a member (or not fetched).
    pub role: Option<Role>,
}

/// The rules of access. [`OpenRooms`] is Palaver's; tests install others to prove the gate is
/// asked on every path.
pub trait Policy: Send + Sync + 'static {
    /// Which facts [`Policy::allows`] needs for this kind of request.
    fn lookup(&self, need: Need) -> Lookup;
    /// Whether the request is allowed, given the facts [`Policy::lookup`] asked for.
    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool;
}

/// Every room is public: anyone signed in may read, post and join; the owner and admins
/// moderate, and so do site admins (`user.admin`) in every room; only the owner deletes.
#[derive(Debug, Default, Clone, Copy)]
pub struct OpenRooms;

impl Policy for OpenRooms {
    fn lookup(&self, need: Need) -> Lookup {
        match need {
            Need::Read | Need::Post | Need::Join => Lookup::Nothing,
            Need::Moderate | Need::Own => Lookup::RoomAndRole,
        }
    }

    fn allows(&self, need: Need, facts: &Facts<'_>) -> bool {
        match need {
            Need::Read | Need::Post | Need::Join => true,
            Need::Moderate => {
                facts.user.admin || matches!(facts.role, Some(Role::Owner | Role::Admin))
            }
            Need::Own => facts.role == Some(Role::Owner),
        }
    }
}

/// What the gate fetched on its way to a yes; `None` when the policy needed nothing.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    pub room: Option<Room>,
    pub role: Option<Role>,
}

/// The one place access is decided.
pub struct Gate {
    store: std::sync::Arc<dyn Store>,
    policy: std::sync::Arc<dyn Policy>,
}

impl Gate {
    pub fn new(store: std::sync::Arc<dyn Store>, policy: std::sync::Arc<dyn Policy>) -> Self {
        Gate { store, policy }
    }

    /// Allows the request or refuses it: `room_not_found` when the caller may not read the room
    /// (or it doesn't exist and the policy looked), `forbidden` with `what` otherwise.
    pub async fn require(
        &self,
        user: &User,
        room_id: &str,
        need: Need,
        what: &'static str,
    ) -> Result<Admitted> {
        let lookup = match (self.policy.lookup(need), need) {
            // A refusal must know whether the caller may read, so fetch what reading needs too.
            (Lookup::RoomAndRole, _) => Lookup::RoomAndRole,
            (Lookup::Nothing, Need::Read) => Lookup::Nothing,
            (Lookup::Nothing, _) => self.policy.lookup(Need::Read),
        };
        let admitted = match lookup {
            Lookup::Nothing => Admitted::default(),
            Lookup::RoomAndRole => self.room_and_role(user, room_id).await?,
        };
        let facts = Facts {
            user,
            room_id,
            room: admitted.room.as_ref(),
            role: admitted.role,
        };
        if !self.policy.allows(Need::Read, &facts) {
            return Err(Error::RoomNotFound);
        }
        if need != Need::Read && !self.policy.allows(need, &facts) {
            return Err(Error::Forbidden(what));
        }
        Ok(admitted)
    }

    /// [`Gate::require`] for reading.
    pub async fn read(&self, user: &User, room_id: &str) -> Result<Admitted> {
        self.require(user, room_id, Need::Read, "").await
    }

    /// Keeps the rooms of `rooms` the user may read, in order.
    pub async fn readable(&self, user: &User, rooms: Vec<Room>) -> Result<Vec<Room>> {
        let mut kept = Vec::with_capacity(rooms.len());
        for room in rooms {
            let role = match self.policy.lookup(Need::Read) {
                Lookup::Nothing => None,
                Lookup::RoomAndRole => self.role_in(user, &room).await?,
            };
            let facts = Facts {
                user,
                room_id: &room.id,
                room: Some(&room),
                role,
            };
            if self.policy.allows(Need::Read, &facts) {
                kept.push(room);
            }
        }
        Ok(kept)
    }

    /// Who may read `room`, as a test on each user, for frames that go to every connection (a
    /// room-list update). Fetches the room's members once when the policy needs roles.
    pub async fn audience(&self, room: &Room) -> Result<Audience> {
        let roles = match self.policy.lookup(Need::Read) {
            Lookup::Nothing => None,
            Lookup::RoomAndRole => Some(
                self.store
                    .members(&room.id)
                    .await?
                    .into_iter()
                    .map(|(user, role)| (user.id, role))
                    .collect(),
            ),
        };
        Ok(Audience {
            policy: self.policy.clone(),
            room: room.clone(),
            roles,
        })
    }

    async fn room_and_role(&self, user: &User, room_id: &str) -> Result<Admitted> {
        let room = self.store.get_room(room_id).await?;
        let role = self.role_in(user, &room).await?;
        Ok(Admitted {
            room: Some(room),
            role,
        })
    }

    async fn role_in(&self, user: &User, room: &Room) -> Result<Option<Role>> {
        if room.owner_id.as_deref() == Some(user.id.as_str()) {
            return Ok(Some(Role::Owner));
        }
        self.store.role(&room.id, &user.id).await
    }
}

/// The readers of one room, decided per user without a store round trip.
pub struct Audience {
    policy: std::sync::Arc<dyn Policy>,
    room: Room,
    /// Members and their roles, when the policy decides by role.
    roles: Option<std::collections::HashMap<String, Role>>,
}

impl Audience {
    pub fn includes(&self, user: &User) -> bool {
        let role = match &self.roles {
            None => None,
            Some(_) if self.room.owner_id.as_deref() == Some(user.id.as_str()) => Some(Role::Owner),
            Some(roles) => roles.get(&user.id).copied(),
        };
        self.policy.allows(
            Need::Read,
            &Facts {
                user,
                room_id: &self.room.id,
                room: Some(&self.room),
                role,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            username: id.into(),
            guest: false,
            admin: false,
            display_name: None,
        }
    }

    fn facts<'a>(user: &'a User, role: Option<Role>) -> Facts<'a> {
        Facts {
            user,
            room_id: "r",
            room: None,
            role,
        }
    }

    #[test]
    fn open_rooms_let_anyone_read_post_and_join_but_only_owners_and_admins_moderate() {
        let alice = user("alice");
        let policy = OpenRooms;
        for need in [Need::Read, Need::Post, Need::Join] {
            assert_eq!(policy.lookup(need), Lookup::Nothing);
            assert!(policy.allows(need, &facts(&alice, None)));
        }
        assert!(!policy.allows(Need::Moderate, &facts(&alice, None)));
        assert!(!policy.allows(Need::Moderate, &facts(&alice, Some(Role::Member))));
        assert!(policy.allows(Need::Moderate, &facts(&alice, Some(Role::Admin))));
        assert!(policy.allows(Need::Moderate, &facts(&alice, Some(Role::Owner))));
        let site_admin = User {
            admin: true,
            ..user("root")
        };
        assert!(policy.allows(Need::Moderate, &facts(&site_admin, None)));
        assert!(!policy.allows(Need::Own, &facts(&site_admin, None)));
        assert!(!policy.allows(Need::Own, &facts(&alice, Some(Role::Admin))));
        assert!(policy.allows(Need::Own, &facts(&alice, Some(Role::Owner))));
    }
}
