//! Pins (issue #10): who may pin is the room's `pins` setting (`moderators`: the room's
//! moderators and owner; `anyone`: whoever may post), at most
//! [`validate::PINS_PER_ROOM_MAX`] per room. Pinning a pinned message, or unpinning one that is
//! not, changes nothing and publishes nothing.

use crate::error::Result;
use crate::protocol::{Message, PinPolicy, User};

use super::access::Need;
use super::{validate, Chat};

impl Chat {
    /// Whether the caller may pin and unpin in the room.
    async fn may_pin(&self, user: &User, room_id: &str) -> Result<()> {
        self.gate
            .require(user, room_id, Need::Post, "you can't pin in this room")
            .await?;
        let room = self.store.get_room(room_id).await?;
        if room.pins == PinPolicy::Moderators {
            self.gate
                .require(
                    user,
                    room_id,
                    Need::Moderate,
                    "only the room's moderators can pin in this room",
                )
                .await?;
        }
        Ok(())
    }

    /// Pins the message: whether it is newly pinned (a `message.pinned` event).
    pub async fn pin(&self, user: &User, room_id: &str, message_id: &str) -> Result<bool> {
        self.may_pin(user, room_id).await?;
        self.limits.message(&user.id)?;
        let pin = self
            .store
            .pin(room_id, message_id, user, validate::PINS_PER_ROOM_MAX);
        let event = self.timed("pin", pin).await?;
        if let Some(event) = &event {
            self.publish(std::slice::from_ref(event));
        }
        Ok(event.is_some())
    }

    /// Unpins the message: whether it was pinned (a `message.unpinned` event).
    pub async fn unpin(&self, user: &User, room_id: &str, message_id: &str) -> Result<bool> {
        self.may_pin(user, room_id).await?;
        self.limits.message(&user.id)?;
        let event = self
            .timed("unpin", self.store.unpin(room_id, message_id, user))
            .await?;
        if let Some(event) = &event {
            self.publish(std::slice::from_ref(event));
        }
        Ok(event.is_some())
    }

    /// The room's pinned messages, the newest pin first.
    pub async fn pins(&self, user: &User, room_id: &str) -> Result<Vec<Message>> {
        self.gate.read(user, room_id).await?;
        self.store.pins(room_id).await
    }
}
