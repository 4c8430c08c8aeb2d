//! Read markers, unread counts, notification levels and notifications (issue #10).
//!
//! A read marker only moves forward: `PUT …/read` (or the socket's `read` frame) with a seq at
//! or below the stored one changes nothing and tells nobody; a seq past the room's last one is
//! clamped to it. When it moves, every socket of that person, on every node, gets
//! `{type: "read_marker", room_id, seq}`.
//!
//! After a message is committed, whom it notifies is decided off the send path (a task of its
//! own; at most [`NOTIFY_IN_FLIGHT`] at once per node, past which notifications are dropped
//! rather than slowing sends): the people it mentions whose level in the room is not `nothing`,
//! and the members whose level is `all` — never its author. Each gets
//! `{type: "notification", room_id, message}` on every socket, and a Web Push to each of their
//! subscriptions. An edit notifies only the people it newly mentions.

use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::Result;
use crate::protocol::{Message, NotificationLevel, PushPayload, ServerFrame, UnreadEntry, User};
use crate::store::unread::default_level;

use super::Chat;

/// Notifications being worked out at once, per node.
pub const NOTIFY_IN_FLIGHT: usize = 256;

/// Characters of a body a push carries.
const EXCERPT_CHARS: usize = 200;

impl Chat {
    /// Moves the caller's read marker of the room forward to `seq` (see the module's doc).
    pub async fn mark_read(&self, user: &User, room_id: &str, seq: u64) -> Result<()> {
        self.gate.read(user, room_id).await?;
        if let Some(seq) = self.store.mark_read(&user.id, room_id, seq).await? {
            let frame = ServerFrame::ReadMarker {
                room_id: room_id.to_string(),
                seq,
            };
            self.hub.send_to_users(
                std::slice::from_ref(&user.id),
                Utf8Bytes::from(frame.encode()),
            );
        }
        Ok(())
    }

    /// The caller's marker, unread and mention counts and level in every room they are a
    /// member of (and may still read).
    pub async fn unread(&self, user: &User) -> Result<Vec<UnreadEntry>> {
        let entries = self.store.unread(&user.id).await?;
        self.gate.readable_memberships(user, entries).await
    }

    /// Sets the caller's notification level in the room.
    pub async fn set_notifications(
        &self,
        user: &User,
        room_id: &str,
        level: NotificationLevel,
    ) -> Result<()> {
        self.gate.read(user, room_id).await?;
        self.limits.room_change(&user.id)?;
        self.store.set_notifications(&user.id, room_id, level).await
    }

    /// Works out, in a task of its own, whom a committed message notifies, and notifies them.
    /// `mentioned`: the people to notify for a mention (all of `message.mentions` for a new
    /// message; those newly mentioned for an edit); `every`: whether members whose level is
    /// `all` are notified too (a new message).
    pub(super) fn notify_later(
        self: &Arc<Self>,
        message: Message,
        mentioned: Vec<String>,
        every: bool,
    ) {
        let Ok(permit) = self.notifying.clone().try_acquire_owned() else {
            tracing::warn!("too many notifications in flight: one dropped");
            return;
        };
        let chat = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(err) = chat.notify(&message, &mentioned, every).await {
                err.log_if_internal();
            }
        });
    }

    async fn notify(&self, message: &Message, mentioned: &[String], every: bool) -> Result<()> {
        let author = &message.author.id;
        let mentioned: Vec<String> = mentioned
            .iter()
            .filter(|id| *id != author)
            .cloned()
            .collect();
        let kind = self.gate.room_kind(&message.room_id).await?;
        let mut targets: Vec<(String, bool)> = Vec::new();
        if !mentioned.is_empty() {
            let levels = self
                .store
                .notification_levels(&message.room_id, &mentioned)
                .await?;
            for id in mentioned {
                let level = levels.get(&id).copied().unwrap_or(default_level(kind));
                if level != NotificationLevel::Nothing {
                    targets.push((id, true));
                }
            }
        }
        if every {
            for id in self
                .store
                .notify_all_members(&message.room_id, kind, author)
                .await?
            {
                if !targets.iter().any(|(t, _)| *t == id) {
                    targets.push((id, false));
                }
            }
        }
        if targets.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = targets.iter().map(|(id, _)| id.clone()).collect();
        let frame = ServerFrame::Notification {
            room_id: message.room_id.clone(),
            message: message.clone(),
        };
        self.hub
            .send_to_users(&ids, Utf8Bytes::from(frame.encode()));
        let room = self.store.get_room(&message.room_id).await?;
        let payload = |mention: bool| PushPayload {
            room_id: message.room_id.clone(),
            room_name: room.name.clone(),
            message_id: message.id.clone(),
            seq: message.seq,
            author: message
                .author
                .display_name
                .clone()
                .unwrap_or_else(|| message.author.username.clone()),
            body: message.body.chars().take(EXCERPT_CHARS).collect(),
            mention,
        };
        for mention in [true, false] {
            let group: Vec<String> = targets
                .iter()
                .filter(|(_, m)| *m == mention)
                .map(|(id, _)| id.clone())
                .collect();
            if !group.is_empty() {
                self.push_to(&group, payload(mention)).await?;
            }
        }
        Ok(())
    }
}
