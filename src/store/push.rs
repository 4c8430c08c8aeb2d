//! Web Push (issue #10): the browsers' push subscriptions, and the keys every node of a
//! cluster shares (the VAPID key pair), made once by whichever node starts first.

use async_trait::async_trait;

use super::backend::Backend;
use super::dialect::{self, sql, Arg};
use super::now;
use crate::error::Result;

/// A browser's push subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushSubscription {
    pub endpoint: String,
    pub user_id: String,
    /// base64url of the browser's P-256 public key.
    pub p256dh: String,
    /// base64url of the authentication secret.
    pub auth: String,
}

/// Most subscriptions one person keeps (one per browser); the oldest go past it.
pub const SUBSCRIPTIONS_PER_USER: i64 = 20;

#[async_trait]
pub trait PushStore: Send + Sync + 'static {
    /// Stores a subscription (again: its keys and owner are replaced), keeping each person's
    /// newest [`SUBSCRIPTIONS_PER_USER`].
    async fn add_push_subscription(&self, subscription: &PushSubscription) -> Result<()>;
    /// Deletes the person's subscription of this endpoint: whether there was one.
    async fn remove_push_subscription(&self, user_id: &str, endpoint: &str) -> Result<bool>;
    /// Deletes a subscription whoever has it (the push service said it is gone).
    async fn forget_push_endpoint(&self, endpoint: &str) -> Result<()>;
    /// The subscriptions of these people.
    async fn push_subscriptions(&self, user_ids: &[String]) -> Result<Vec<PushSubscription>>;
    /// The shared key named `name`: the stored one, else `make()` stored now (when two nodes
    /// race, the first one stored wins and both answer it).
    async fn server_key(&self, name: &str, made: &str) -> Result<String>;
}

#[async_trait]
impl<B: Backend> PushStore for B {
    async fn add_push_subscription(&self, s: &PushSubscription) -> Result<()> {
        let mut tx = self.begin().await?;
        let sql = sql!(
            "INSERT INTO push_subscriptions (endpoint, user_id, p256dh, auth, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (endpoint) DO UPDATE SET \
             user_id = excluded.user_id, p256dh = excluded.p256dh, auth = excluded.auth, \
             created_at = excluded.created_at"
        );
        let at = now();
        let args = [
            Arg::Text(&s.endpoint),
            Arg::Text(&s.user_id),
            Arg::Text(&s.p256dh),
            Arg::Text(&s.auth),
            Arg::Text(&at),
        ];
        dialect::execute(&mut *tx, &sql, &args).await?;
        let trim = sql!(
            "DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint NOT IN \
             (SELECT endpoint FROM push_subscriptions WHERE user_id = $1 \
              ORDER BY created_at DESC, endpoint LIMIT $2)"
        );
        let args = [Arg::Text(&s.user_id), Arg::Int(SUBSCRIPTIONS_PER_USER)];
        dialect::execute(&mut *tx, &trim, &args).await?;
        B::commit(tx).await
    }

    async fn remove_push_subscription(&self, user_id: &str, endpoint: &str) -> Result<bool> {
        let mut conn = self.write().await?;
        let sql = sql!("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2");
        let args = [Arg::Text(user_id), Arg::Text(endpoint)];
        Ok(dialect::execute(&mut *conn, &sql, &args).await? > 0)
    }

    async fn forget_push_endpoint(&self, endpoint: &str) -> Result<()> {
        let mut conn = self.write().await?;
        let sql = sql!("DELETE FROM push_subscriptions WHERE endpoint = $1");
        dialect::execute(&mut *conn, &sql, &[Arg::Text(endpoint)]).await?;
        Ok(())
    }

    async fn push_subscriptions(&self, user_ids: &[String]) -> Result<Vec<PushSubscription>> {
        let mut conn = self.read().await?;
        let sql = sql!(
            "SELECT endpoint, user_id, p256dh, auth FROM push_subscriptions WHERE user_id = $1"
        );
        let mut out = Vec::new();
        for user_id in user_ids {
            let found = dialect::fetch_all(&mut *conn, &sql, &[Arg::Text(user_id)], |row| {
                Ok(PushSubscription {
                    endpoint: row.text(0)?,
                    user_id: row.text(1)?,
                    p256dh: row.text(2)?,
                    auth: row.text(3)?,
                })
            })
            .await?;
            out.extend(found);
        }
        Ok(out)
    }

    async fn server_key(&self, name: &str, made: &str) -> Result<String> {
        let mut conn = self.write().await?;
        let at = now();
        let insert = sql!(
            "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING"
        );
        let args = [Arg::Text(name), Arg::Text(made), Arg::Text(&at)];
        dialect::execute(&mut *conn, &insert, &args).await?;
        let select = sql!("SELECT value FROM server_keys WHERE name = $1");
        dialect::fetch_optional(&mut *conn, &select, &[Arg::Text(name)], |row| row.text(0))
            .await?
            .ok_or_else(|| anyhow::anyhow!("the server key {name} was not stored").into())
    }
}
