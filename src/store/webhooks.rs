//! Incoming webhooks: each posts into one room as its own bot-like user; the secret in its URL
//! is stored only as its hash.

use async_trait::async_trait;

use super::backend::Backend;
use super::bots::{insert_bot_user, join_rooms};
use super::dialect::{self, sql, Arg, ReadRow};
use super::events::append;
use super::rooms::lock_room;
use super::rows::{self, user_columns};
use super::{new_id, now, StoredEvent};
use crate::error::{Error, Result};
use crate::protocol::{EventKind, Webhook};

/// A webhook with the hash its secret must match.
#[derive(Debug, Clone)]
pub struct WebhookRecord {
    pub webhook: Webhook,
    pub secret_hash: String,
}

/// A webhook's columns: `w.id, w.room_id, w.name, w.created_at`, then the user's.
macro_rules! webhook_columns {
    () => {
        concat!("w.id, w.room_id, w.name, w.created_at, ", user_columns!())
    };
}

fn webhook(row: &dyn ReadRow) -> Result<Webhook> {
    Ok(Webhook {
        id: row.text(0)?,
        room_id: row.text(1)?,
        name: row.text(2)?,
        created_at: row.text(3)?,
        user: rows::user(row, 4)?,
    })
}

/// Incoming webhooks.
#[async_trait]
pub trait WebhookStore: Send + Sync + 'static {
    /// The webhook and its user (named `name`: `UsernameTaken` when that is taken), which joins
    /// the room (`member.joined`), in one transaction.
    async fn create_webhook(
        &self,
        room_id: &str,
        name: &str,
        created_by: &str,
        secret_hash: &str,
    ) -> Result<(Webhook, Vec<StoredEvent>)>;
    /// The room's webhooks, oldest first.
    async fn webhooks(&self, room_id: &str) -> Result<Vec<Webhook>>;
    /// The webhook of a live room, with its secret's hash; `None` otherwise.
    async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>>;
    /// Deletes the room's webhook (`WebhookNotFound` when it has none with that id); its user
    /// leaves the room (`member.left`) in the same transaction.
    async fn delete_webhook(&self, room_id: &str, id: &str) -> Result<Vec<StoredEvent>>;
}

#[async_trait]
impl<B: Backend> WebhookStore for B {
    async fn create_webhook(
        &self,
        room_id: &str,
        name: &str,
        created_by: &str,
        secret_hash: &str,
    ) -> Result<(Webhook, Vec<StoredEvent>)> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let user = insert_bot_user(&mut *tx, name).await?;
        let (id, at) = (new_id(), now());
        let sql = sql!(
            "INSERT INTO webhooks (id, room_id, user_id, name, secret_hash, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)"
        );
        let args = [
            Arg::Text(&id),
            Arg::Text(room_id),
            Arg::Text(&user.id),
            Arg::Text(name),
            Arg::Text(secret_hash),
            Arg::Text(created_by),
            Arg::Text(&at),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let events = join_rooms(&mut *tx, &[room_id.to_string()], &user).await?;
        B::commit(tx).await?;
        let hook = Webhook {
            id,
            room_id: room_id.to_string(),
            name: name.to_string(),
            user,
            created_at: at,
        };
        Ok((hook, events))
    }

    async fn webhooks(&self, room_id: &str) -> Result<Vec<Webhook>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT " webhook_columns!() " FROM webhooks w JOIN users u ON u.id = w.user_id \
             WHERE w.room_id = $1 ORDER BY w.created_at, w.id"
        );
        dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(room_id)], webhook).await
    }

    async fn webhook(&self, id: &str) -> Result<Option<WebhookRecord>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT " webhook_columns!() ", w.secret_hash FROM webhooks w \
             JOIN users u ON u.id = w.user_id JOIN rooms r ON r.id = w.room_id \
             WHERE w.id = $1 AND r.deleted = " FALSE
        );
        dialect::fetch_optional(&mut *conn, &sql, &[Arg::Text(id)], |row| {
            Ok(WebhookRecord {
                webhook: webhook(row)?,
                secret_hash: row.text(4 + rows::USER_COLUMNS)?,
            })
        })
        .await
    }

    async fn delete_webhook(&self, room_id: &str, id: &str) -> Result<Vec<StoredEvent>> {
        let mut tx = self.begin().await?;
        lock_room(&mut *tx, room_id).await?;
        let sql = sql!(
            "SELECT " webhook_columns!() " FROM webhooks w JOIN users u ON u.id = w.user_id \
             WHERE w.id = $1 AND w.room_id = $2"
        );
        let args = [Arg::Text(id), Arg::Text(room_id)];
        let hook = dialect::fetch_optional(&mut *tx, &sql, &args, webhook)
            .await?
            .ok_or(Error::WebhookNotFound)?;
        let sql = sql!("DELETE FROM webhooks WHERE id = $1");
        dialect::execute(&mut *tx, &sql, &[Arg::Text(id)]).await?;
        let sql = sql!("DELETE FROM members WHERE room_id = $1 AND user_id = $2");
        let args = [Arg::Text(room_id), Arg::Text(&hook.user.id)];
        let mut events = Vec::new();
        if dialect::execute(&mut *tx, &sql, &args).await? > 0 {
            let kind = EventKind::MemberLeft { user: hook.user };
            events.push(append(&mut *tx, room_id, kind, None).await?);
        }
        B::commit(tx).await?;
        Ok(events)
    }
}
