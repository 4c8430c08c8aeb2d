//! Incoming webhooks: a room's moderators (and, in a room nobody owns, the site admins) make
//! one; it posts into that room as its own bot-like user (named after it), authenticated by the
//! secret in its URL alone, limited per webhook. The secret is stored only as its hash; a wrong
//! one, a deleted webhook or a deleted room all answer `webhook_not_found`. The posts go through
//! the same send as everyone's, so the gate (the poster's scope is its room), the body rules and
//! idempotency apply to them too.

use std::sync::Arc;

use crate::credentials;
use crate::error::{Error, Result};
use crate::protocol::{CreatedWebhook, Message, User, Webhook};

use super::access::Need;
use super::{validate, Chat};

/// Most webhooks one room may have.
pub const MAX_WEBHOOKS_PER_ROOM: usize = 20;

/// Equal strings, compared in time that doesn't depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Chat {
    /// `room_not_found` unless the caller may read the room; `forbidden` unless they moderate it
    /// (or it has no owner and they are a site admin).
    async fn may_manage_webhooks(&self, user: &User, room_id: &str) -> Result<()> {
        let admitted = self.gate.read(user, room_id).await?;
        let room = match admitted.room {
            Some(room) => room,
            None => self.store.get_room(room_id).await?,
        };
        if room.owner_id.is_none() && user.admin {
            return Ok(());
        }
        self.gate
            .require(
                user,
                room_id,
                Need::Moderate,
                "only the room's moderators can manage its webhooks",
            )
            .await
            .map(drop)
    }

    pub async fn create_webhook(
        &self,
        user: &User,
        room_id: &str,
        name: &str,
    ) -> Result<CreatedWebhook> {
        self.may_manage_webhooks(user, room_id).await?;
        let name = validate::username(name)?;
        if self.store.webhooks(room_id).await?.len() >= MAX_WEBHOOKS_PER_ROOM {
            return Err(Error::TooManyWebhooks {
                max: MAX_WEBHOOKS_PER_ROOM,
            });
        }
        self.usernames.free(self.store.as_ref(), name, true).await?;
        self.limits.room_change(&user.id)?;
        let secret = credentials::new_token();
        let (hook, events) = self
            .store
            .create_webhook(room_id, name, &user.id, &credentials::token_hash(&secret))
            .await?;
        self.publish(&events);
        Ok(CreatedWebhook {
            url: format!("/hooks/{}/{secret}", hook.id),
            id: hook.id,
            room_id: hook.room_id,
            name: hook.name,
            user: hook.user,
            created_at: hook.created_at,
        })
    }

    pub async fn webhooks(&self, user: &User, room_id: &str) -> Result<Vec<Webhook>> {
        self.may_manage_webhooks(user, room_id).await?;
        self.store.webhooks(room_id).await
    }

    /// Deletes the webhook: its URL answers `webhook_not_found` from now on, and its poster
    /// leaves the room.
    pub async fn delete_webhook(&self, user: &User, room_id: &str, id: &str) -> Result<()> {
        self.may_manage_webhooks(user, room_id).await?;
        let events = self.store.delete_webhook(room_id, id).await?;
        self.publish(&events);
        Ok(())
    }

    /// A post to a webhook's URL: the message as its poster; `(message, true)` when new,
    /// `(original, false)` for a retried `client_id`.
    pub async fn post_webhook(
        self: &Arc<Self>,
        id: &str,
        secret: &str,
        body: &str,
        client_id: Option<&str>,
    ) -> Result<(Message, bool)> {
        let record = self
            .store
            .webhook(id)
            .await?
            .ok_or(Error::WebhookNotFound)?;
        if !same(&credentials::token_hash(secret), &record.secret_hash) {
            return Err(Error::WebhookNotFound);
        }
        self.limits.webhook(id)?;
        let fresh;
        let client_id = match client_id {
            Some(client_id) => client_id,
            None => {
                fresh = format!("hook-{}", credentials::new_token());
                &fresh
            }
        };
        let hook = record.webhook;
        self.send(&hook.user, &hook.room_id, client_id, body).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_compares_whole_strings() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
    }
}
