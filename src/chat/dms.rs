//! DMs and member roles: opening the one DM of a set of people, and the owner making members
//! moderators (and back).

use crate::error::{Error, Result};
use crate::protocol::{Member, Role, Room, RoomListChange, User};

use super::access::Need;
use super::Chat;

/// Most people in a DM, the caller included.
pub const DM_MAX_PEOPLE: usize = 8;

impl Chat {
    /// The DM of the caller and the people named: `(room, true)` when made now, `(room,
    /// false)` when these people already had one (the same set, in any order, any case).
    pub async fn open_dm(&self, user: &User, usernames: &[String]) -> Result<(Room, bool)> {
        if usernames.is_empty() {
            return Err(Error::InvalidRequest(
                "name at least one other person in usernames".into(),
            ));
        }
        if usernames.len() > 4 * DM_MAX_PEOPLE {
            return Err(Error::TooManyMembers { max: DM_MAX_PEOPLE });
        }
        let mut people = vec![user.clone()];
        for name in usernames {
            let found = self
                .store
                .find_user_by_name(name.trim())
                .await?
                .ok_or(Error::UserNotFound)?;
            if !people.iter().any(|p| p.id == found.user.id) {
                people.push(found.user);
            }
        }
        if people.len() < 2 {
            return Err(Error::InvalidRequest(
                "a DM needs someone besides you".into(),
            ));
        }
        if people.len() > DM_MAX_PEOPLE {
            return Err(Error::TooManyMembers { max: DM_MAX_PEOPLE });
        }
        people.sort_by(|a, b| {
            (a.username.to_lowercase(), &a.username).cmp(&(b.username.to_lowercase(), &b.username))
        });
        let name = people
            .iter()
            .map(|p| p.username.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut ids: Vec<&str> = people.iter().map(|p| p.id.as_str()).collect();
        ids.sort_unstable();
        let key = ids.join(",");
        if let Some(room) = self.store.find_dm(&key).await? {
            return Ok((self.for_caller(room, Some(Role::Member)), false));
        }
        self.limits.room_change(&user.id)?;
        let (room, events, created) = self.store.open_dm(&key, &name, &people).await?;
        self.publish(&events);
        if created {
            self.room_list(RoomListChange::Created, room.clone()).await;
        }
        Ok((self.for_caller(room, Some(Role::Member)), created))
    }

    /// The owner makes a member a moderator, or a moderator a member again: the
    /// `member.role_changed` event (none when the role already was that one).
    pub async fn set_role(
        &self,
        user: &User,
        room_id: &str,
        member_id: &str,
        role: &str,
    ) -> Result<Member> {
        let role = match role {
            "moderator" => Role::Moderator,
            "member" => Role::Member,
            _ => return Err(Error::InvalidRole("role is moderator or member")),
        };
        self.gate
            .require(
                user,
                room_id,
                Need::Own,
                "only the room's owner can change roles",
            )
            .await?;
        let (target, current) = self
            .store
            .members(room_id)
            .await?
            .into_iter()
            .find(|(member, _)| member.id == member_id)
            .ok_or(Error::UserNotFound)?;
        if current == Role::Owner {
            return Err(Error::InvalidRole("the owner's role doesn't change"));
        }
        self.limits.room_change(&user.id)?;
        if let Some(event) = self.store.set_role(room_id, &target, role, user).await? {
            self.publish(std::slice::from_ref(&event));
        }
        Ok(Member {
            online: self.hub.is_online(room_id, &target.id),
            user: target,
            role,
        })
    }
}
