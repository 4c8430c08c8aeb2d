//! Bot accounts: a person (not a guest, not a bot) owns up to `PALAVER_MAX_BOTS_PER_USER`
//! bots. A bot is a user with `bot: true` and no password that signs in with its token (shown
//! once, stored only as its hash). Given `room_ids`, the token reaches only those rooms (the
//! gate's scope check, [`super::scope`]) and the bot joins each; the owner must be able to read
//! each room, and a private room takes its moderator (as adding a person would); no bot joins a
//! direct conversation. Deleting a bot revokes its token everywhere and it leaves every room.

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::{Bot, RoomKind, User};
use crate::store::NewBot;

use super::access::Need;
use super::{validate, Chat};

/// Most rooms one bot's token may be limited to.
pub const MAX_BOT_ROOMS: usize = 50;

impl Chat {
    /// A new bot of `owner`'s and its token (shown this once).
    pub async fn create_bot(
        &self,
        owner: &User,
        username: &str,
        room_ids: Option<&[String]>,
    ) -> Result<(Bot, String)> {
        if owner.guest {
            return Err(Error::Forbidden(
                "guests can't own bots: sign up for an account first",
            ));
        }
        if owner.bot {
            return Err(Error::Forbidden("a bot can't own bots"));
        }
        let username = validate::username(username)?;
        if let Some(rooms) = room_ids {
            if rooms.is_empty() || rooms.len() > MAX_BOT_ROOMS {
                return Err(Error::InvalidRequest(format!(
                    "room_ids lists 1 to {MAX_BOT_ROOMS} rooms; omit it for a bot not limited to rooms"
                )));
            }
            for room_id in rooms {
                self.may_add_bot(owner, room_id).await?;
            }
        }
        let max = self.limits.max_bots_per_user;
        if self.store.bots_of(&owner.id).await?.len() >= max {
            return Err(Error::TooManyBots { max });
        }
        // Bots may not take the names reserved for the staff, as guests may not.
        self.usernames
            .free(self.store.as_ref(), username, true)
            .await?;
        self.limits.room_change(&owner.id)?;
        let token = credentials::new_token();
        let hash = credentials::token_hash(&token);
        let (bot, events) = self
            .store
            .create_bot(NewBot {
                username,
                owner_id: &owner.id,
                room_ids,
                token_hash: &hash,
            })
            .await?;
        self.publish(&events);
        Ok((bot, token))
    }

    /// Whether `owner` may put a bot in the room: they may read it (else `room_not_found`); in a
    /// private room they moderate it; never a direct conversation.
    async fn may_add_bot(&self, owner: &User, room_id: &str) -> Result<()> {
        let admitted = self.gate.read(owner, room_id).await?;
        let room = match admitted.room {
            Some(room) => room,
            None => self.store.get_room(room_id).await?,
        };
        match room.kind {
            RoomKind::Public => Ok(()),
            RoomKind::Direct => Err(Error::Forbidden("a bot can't join a direct conversation")),
            RoomKind::Private => self
                .gate
                .require(
                    owner,
                    room_id,
                    Need::Moderate,
                    "only the room's moderators can add a bot to a private room",
                )
                .await
                .map(drop),
        }
    }

    /// The caller's bots.
    pub async fn bots(&self, owner: &User) -> Result<Vec<Bot>> {
        self.store.bots_of(&owner.id).await
    }

    /// `bot_not_found` unless the caller owns this bot.
    async fn own_bot(&self, owner: &User, bot_id: &str) -> Result<()> {
        match self.store.bot_owner(bot_id).await? {
            Some(id) if id == owner.id => Ok(()),
            _ => Err(Error::BotNotFound),
        }
    }

    /// Deletes the caller's bot: its token stops working at once (REST, and its sockets close on
    /// every node), and it leaves every room.
    pub async fn delete_bot(&self, owner: &User, bot_id: &str) -> Result<()> {
        self.own_bot(owner, bot_id).await?;
        let (revoked, events) = self.store.delete_bot(bot_id).await?;
        for hash in &revoked {
            self.hub.revoke_session(hash);
        }
        self.gate.scopes().forget(bot_id);
        self.publish(&events);
        Ok(())
    }

    /// A new token for the caller's bot; every earlier one stops working.
    pub async fn rotate_bot_token(&self, owner: &User, bot_id: &str) -> Result<String> {
        self.own_bot(owner, bot_id).await?;
        let token = credentials::new_token();
        let revoked = self
            .store
            .replace_bot_token(bot_id, &credentials::token_hash(&token))
            .await?;
        for hash in &revoked {
            self.hub.revoke_session(hash);
        }
        Ok(token)
    }
}
