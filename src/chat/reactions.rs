//! Reactions (issue #10): who may react (whoever may post: a muted person may not, a banned
//! one gets `banned`), the emoji rule ([`validate::emoji`]) and the per-message cap. Adding a
//! reaction that is there, or removing one that is not, changes nothing and publishes nothing.

use crate::error::Result;
use crate::protocol::User;

use super::access::Need;
use super::{validate, Chat};

impl Chat {
    /// Adds the caller's reaction: whether it is new (a `reaction.added` event).
    pub async fn react(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        emoji: &str,
    ) -> Result<bool> {
        self.gate
            .require(user, room_id, Need::Post, "you can't react in this room")
            .await?;
        let emoji = validate::emoji(emoji)?;
        self.limits.message(&user.id)?;
        let add = self.store.add_reaction(
            room_id,
            message_id,
            emoji,
            user,
            validate::REACTIONS_PER_MESSAGE_MAX,
        );
        let event = self.timed("react", add).await?;
        if let Some(event) = &event {
            self.publish(std::slice::from_ref(event));
        }
        Ok(event.is_some())
    }

    /// Takes the caller's reaction off: whether there was one (a `reaction.removed` event).
    pub async fn unreact(
        &self,
        user: &User,
        room_id: &str,
        message_id: &str,
        emoji: &str,
    ) -> Result<bool> {
        self.gate
            .require(user, room_id, Need::Post, "you can't react in this room")
            .await?;
        let emoji = validate::emoji(emoji)?;
        self.limits.message(&user.id)?;
        let remove = self.store.remove_reaction(room_id, message_id, emoji, user);
        let event = self.timed("unreact", remove).await?;
        if let Some(event) = &event {
            self.publish(std::slice::from_ref(event));
        }
        Ok(event.is_some())
    }
}
