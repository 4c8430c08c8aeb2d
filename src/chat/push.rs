//! Web Push (issue #10): the server's VAPID key, people's push subscriptions, and sending.
//!
//! The VAPID key pair is made on the first start and kept in the store (`server_keys`), so
//! every node of a cluster signs with the same one and subscriptions made through one node work
//! through any. Pushes are sent off the send path: [`Pusher::push`] only queues (a bounded
//! number in flight; past it a push is dropped and counted in the log), and a slow or dead push
//! service never slows a send. A push service answering 404 or 410 (the subscription is gone)
//! deletes the subscription.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OnceCell, Semaphore};

use super::webpush::{self, BrowserKeys, Vapid};
use super::Chat;
use crate::error::{Error, Result};
use crate::protocol::{PushKey, PushPayload, PushSubscriptionRequest, User};
use crate::store::{PushSubscription, Store};

/// Longest endpoint URL accepted.
pub const ENDPOINT_MAX: usize = 1024;
/// Pushes in flight at once, per node; more are dropped.
const IN_FLIGHT: usize = 64;
/// How long one push request may take.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a push service keeps a message for an offline browser (seconds).
const TTL_SECS: u64 = 24 * 3600;

/// How Web Push is configured.
#[derive(Debug, Clone)]
pub struct PushSettings {
    /// The VAPID `sub` claim: a `mailto:` or `https:` contact for push services.
    pub subject: String,
    /// Accept `http://` endpoints and endpoints on loopback or private addresses (tests, a
    /// local push service). Off: only `https://` to a public host name or address.
    pub allow_insecure: bool,
}

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            subject: "mailto:admin@localhost".into(),
            allow_insecure: false,
        }
    }
}

/// Sends pushes: the HTTP client, the key, and the bound on what is in flight.
pub struct Pusher {
    settings: PushSettings,
    vapid: OnceCell<Vapid>,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
}

impl Pusher {
    pub fn new(settings: PushSettings) -> Pusher {
        let http = reqwest::Client::builder()
            .timeout(PUSH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Pusher {
            settings,
            vapid: OnceCell::new(),
            http,
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
        }
    }

    /// The key pair: the stored one, or one made and stored now.
    async fn vapid(&self, store: &dyn Store) -> Result<&Vapid> {
        self.vapid
            .get_or_try_init(|| async {
                let stored = store.server_key("vapid", &Vapid::generate()).await?;
                Vapid::from_stored(&stored)
                    .ok_or_else(|| anyhow::anyhow!("the stored VAPID key is unreadable").into())
            })
            .await
    }

    /// Checks an endpoint: an absolute `https://` URL (or `http://` when insecure endpoints are
    /// allowed), not to a loopback, private or link-local address unless they are allowed.
    fn check_endpoint(&self, endpoint: &str) -> Result<reqwest::Url> {
        let bad = |why: &str| Error::InvalidRequest(format!("endpoint: {why}"));
        if endpoint.len() > ENDPOINT_MAX {
            return Err(bad(&format!("at most {ENDPOINT_MAX} characters")));
        }
        let url = reqwest::Url::parse(endpoint).map_err(|_| bad("not a URL"))?;
        let insecure = self.settings.allow_insecure;
        match url.scheme() {
            "https" => {}
            "http" if insecure => {}
            _ => return Err(bad("must be an https URL")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("no credentials in the URL"));
        }
        let private = match url.host() {
            None => return Err(bad("no host")),
            Some(url::Host::Domain(name)) => {
                let name = name.to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost") || !name.contains('.')
            }
            Some(url::Host::Ipv4(ip)) => {
                ip.is_loopback()
                    || ip.is_private()
                    || ip.is_link_local()
                    || ip.is_unspecified()
                    || ip.is_broadcast()
            }
            Some(url::Host::Ipv6(ip)) => {
                ip.is_loopback() || ip.is_unspecified() || (ip.segments()[0] & 0xfe00) == 0xfc00
            }
        };
        if private && !insecure {
            return Err(bad("must be a public host"));
        }
        Ok(url)
    }

    /// Queues a push of `payload` to each subscription; answers at once.
    fn push(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        subscriptions: Vec<PushSubscription>,
        payload: PushPayload,
    ) {
        if subscriptions.is_empty() {
            return;
        }
        let Ok(permit) = self.permits.clone().try_acquire_many_owned(1) else {
            tracing::warn!("too many pushes in flight: one dropped");
            return;
        };
        let me = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let vapid = match me.vapid(store.as_ref()).await {
                Ok(vapid) => vapid.clone(),
                Err(err) => return err.log_if_internal(),
            };
            let body = serde_json::to_vec(&payload).expect("a payload serialises");
            for subscription in subscriptions {
                if let Err(err) = me
                    .send_one(store.as_ref(), &vapid, &subscription, &body)
                    .await
                {
                    tracing::info!(error = %err, "a push was not delivered");
                }
            }
        });
    }

    async fn send_one(
        &self,
        store: &dyn Store,
        vapid: &Vapid,
        subscription: &PushSubscription,
        body: &[u8],
    ) -> anyhow::Result<()> {
        let url = self.check_endpoint(&subscription.endpoint)?;
        let keys = BrowserKeys::parse(&subscription.p256dh, &subscription.auth)?;
        let encrypted =
            webpush::encrypt(&keys, body).ok_or_else(|| anyhow::anyhow!("payload too large"))?;
        let origin = url.origin().ascii_serialization();
        let expires = chrono::Utc::now().timestamp() + 12 * 3600;
        let authorization = vapid.authorization(&origin, &self.settings.subject, expires);
        let response = self
            .http
            .post(url)
            .header("TTL", TTL_SECS.to_string())
            .header("Content-Encoding", "aes128gcm")
            .header("Content-Type", "application/octet-stream")
            .header("Urgency", "normal")
            .header("Authorization", authorization)
            .body(encrypted)
            .send()
            .await?;
        let status = response.status().as_u16();
        if status == 404 || status == 410 {
            store.forget_push_endpoint(&subscription.endpoint).await?;
            anyhow::bail!("the subscription is gone ({status}): deleted");
        }
        if !response.status().is_success() {
            anyhow::bail!("the push service answered {status}");
        }
        Ok(())
    }
}

impl Chat {
    /// The VAPID public key (made and stored on first use; the server asks at start).
    pub async fn push_key(&self) -> Result<PushKey> {
        let vapid = self.pusher.vapid(self.store.as_ref()).await?;
        Ok(PushKey {
            public_key: vapid.public_key.clone(),
        })
    }

    /// Stores a browser's push subscription for the caller.
    pub async fn subscribe_push(
        &self,
        user: &User,
        request: &PushSubscriptionRequest,
    ) -> Result<()> {
        self.pusher.check_endpoint(&request.endpoint)?;
        if request.keys.p256dh.len() > 200 || request.keys.auth.len() > 100 {
            return Err(Error::InvalidRequest("keys too long".into()));
        }
        BrowserKeys::parse(&request.keys.p256dh, &request.keys.auth)
            .map_err(|err| Error::InvalidRequest(format!("keys: {err}")))?;
        self.limits.room_change(&user.id)?;
        self.store
            .add_push_subscription(&PushSubscription {
                endpoint: request.endpoint.clone(),
                user_id: user.id.clone(),
                p256dh: request.keys.p256dh.clone(),
                auth: request.keys.auth.clone(),
            })
            .await
    }

    /// Deletes the caller's subscription of `endpoint`, if they have one (idempotent: the
    /// server may already have deleted it when the push service said it was gone).
    pub async fn unsubscribe_push(&self, user: &User, endpoint: &str) -> Result<()> {
        if endpoint.len() > ENDPOINT_MAX {
            return Err(Error::InvalidRequest(format!(
                "endpoint: at most {ENDPOINT_MAX} characters"
            )));
        }
        self.store
            .remove_push_subscription(&user.id, endpoint)
            .await?;
        Ok(())
    }

    /// Pushes `payload` to every subscription of these people, in the background.
    pub(super) async fn push_to(&self, user_ids: &[String], payload: PushPayload) -> Result<()> {
        let subscriptions = self.store.push_subscriptions(user_ids).await?;
        self.pusher.push(self.store.clone(), subscriptions, payload);
        Ok(())
    }
}
