//! Invites and added members: the two ways into a private room. An invite code is 256 random
//! bits, URL-safe; the store keeps only its hash, so the code is shown once, when made.

use chrono::Utc;

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::{InviteCreated, InvitePreview, Member, Room, RoomKind, RoomListChange, User};
use crate::store::timestamp;

use super::access::Need;
use super::Chat;

/// Longest an invite may live: 30 days.
pub const INVITE_MAX_SECS: u64 = 30 * 24 * 3600;

/// Most uses an invite may allow.
pub const INVITE_MAX_USES: u32 = 100_000;

/// The store's key of a code the caller holds; `InviteNotFound` for what can't be one.
fn code_hash(code: &str) -> Result<String> {
    let plausible = !code.is_empty()
        && code.len() <= 128
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Err(Error::InviteNotFound);
    }
    Ok(credentials::token_hash(code))
}

impl Chat {
    /// A new invite to the room: in a public room anyone who may read it invites; in a private
    /// room only its moderators; a DM takes nobody new.
    pub async fn create_invite(
        &self,
        user: &User,
        room_id: &str,
        max_uses: Option<u32>,
        expires_in_secs: Option<u64>,
    ) -> Result<InviteCreated> {
        if max_uses.is_some_and(|n| n == 0 || n > INVITE_MAX_USES) {
            return Err(Error::InvalidRequest(format!(
                "max_uses is 1 to {INVITE_MAX_USES}"
            )));
        }
        if expires_in_secs.is_some_and(|s| s == 0 || s > INVITE_MAX_SECS) {
            return Err(Error::InvalidRequest(format!(
                "expires_in_secs is 1 to {INVITE_MAX_SECS}"
            )));
        }
        let admitted = self.gate.read(user, room_id).await?;
        match self.kind_of(&admitted, room_id).await? {
            RoomKind::Public => {}
            RoomKind::Private => {
                self.gate
                    .require(
                        user,
                        room_id,
                        Need::Moderate,
                        "only the room's moderators can invite to a private room",
                    )
                    .await?;
            }
            RoomKind::Direct => {
                return Err(Error::Forbidden(
                    "a DM's people are fixed: open a new DM instead",
                ))
            }
        }
        self.limits.room_change(&user.id)?;
        let code = credentials::new_token();
        let expires_at = expires_in_secs
            .map(|secs| timestamp(Utc::now() + chrono::Duration::seconds(secs as i64)));
        self.store
            .create_invite(
                &credentials::token_hash(&code),
                room_id,
                user,
                expires_at.as_deref(),
                max_uses.unwrap_or(0),
            )
            .await?;
        Ok(InviteCreated {
            url: format!("/invite/{code}"),
            code,
            expires_at,
            max_uses,
        })
    }

    /// What a live code leads to, for whoever holds it.
    pub async fn preview_invite(&self, user: &User, code: &str) -> Result<InvitePreview> {
        let invite = self
            .store
            .invite(&code_hash(code)?)
            .await?
            .ok_or(Error::InviteNotFound)?;
        if !invite.live(&timestamp(Utc::now())) {
            return Err(Error::InviteExpired);
        }
        Ok(InvitePreview {
            code: code.to_string(),
            room: self.room_for(user, &invite.room_id).await?,
            expires_at: invite.expires_at,
            max_uses: (invite.max_uses > 0).then_some(invite.max_uses),
            uses: invite.uses,
        })
    }

    /// Joins the invite's room (`member.joined`), counting one use; a member already in it
    /// uses nothing.
    pub async fn accept_invite(&self, user: &User, code: &str) -> Result<Room> {
        let hash = code_hash(code)?;
        self.limits.membership(&user.id)?;
        let (room_id, event) = self.store.accept_invite(&hash, user).await?;
        let room = self.room_for(user, &room_id).await?;
        if let Some(event) = event {
            self.publish(std::slice::from_ref(&event));
            self.room_list_to_user(RoomListChange::Created, room.clone(), &user.id);
        }
        Ok(room)
    }

    /// A moderator adds someone to the room (`member.joined`); `(member, false)` when they
    /// already were one. A DM takes nobody new.
    pub async fn add_member(
        &self,
        user: &User,
        room_id: &str,
        username: &str,
    ) -> Result<(Member, bool)> {
        let admitted = self
            .gate
            .require(
                user,
                room_id,
                Need::Moderate,
                "only the room's moderators can add people",
            )
            .await?;
        if self.kind_of(&admitted, room_id).await? == RoomKind::Direct {
            return Err(Error::Forbidden(
                "a DM's people are fixed: open a new DM instead",
            ));
        }
        let target = self
            .store
            .find_user_by_name(username.trim())
            .await?
            .ok_or(Error::UserNotFound)?
            .user;
        self.limits.membership(&user.id)?;
        let event = self.store.join_room(room_id, &target).await?;
        let added = event.is_some();
        if let Some(event) = event {
            self.publish(std::slice::from_ref(&event));
            let room = self.room_for(&target, room_id).await?;
            self.room_list_to_user(RoomListChange::Created, room, &target.id);
        }
        let role = self
            .store
            .role(room_id, &target.id)
            .await?
            .unwrap_or(crate::protocol::Role::Member);
        Ok((
            Member {
                online: self.hub.is_online(room_id, &target.id),
                user: target,
                role,
            },
            added,
        ))
    }
}
