//! The durable log: users, sessions, rooms, members, messages and every room's events.
//!
//! [`Store`] is the one interface the rest of Palaver writes through. Each change to a room is
//! committed together with its event, which takes the room's next `seq` in the same transaction
//! (`rooms.last_seq`, incremented under the write lock). `(author, client_id)` is unique, so a
//! retried send finds the original message instead of making a second one.
//!
//! The interface is one small trait per resource ([`AccountStore`], [`RoomStore`],
//! [`MemberStore`] (DMs, roles), [`InviteStore`], [`MessageStore`], [`EventLog`], [`BotStore`],
//! [`WebhookStore`]), each in its own module with its procedures, written once over
//! the dialect seam ([`dialect`]); [`Store`] combines them. `sqlite/` and `postgres/` hold only
//! what differs: connecting, the send path (group commit, lanes) and error mapping. The tables
//! are described once in [`schema`]; rows become protocol objects in one place (`rows`).
//!
//! The store knows nothing of HTTP, sockets or who may do what: callers (the `chat` module) check
//! permissions first; the store enforces only what must hold for the data to be correct.

pub mod accounts;
pub mod audit;
pub mod backend;
pub mod blobs;
pub mod bots;
pub mod copy;
mod decorations;
pub mod dialect;
pub mod events;
mod file_rows;
pub mod files;
pub mod invites;
pub mod members;
mod mention_rows;
pub mod messages;
pub mod moderation;
pub mod page;
pub mod people;
pub mod pins;
pub mod position;
pub mod postgres;
pub mod push;
pub mod reactions;
pub mod rooms;
mod rows;
pub mod s3blobs;
pub mod schema;
pub mod search;
mod sends;
pub mod sqlite;
pub mod unread;
pub mod webhooks;

pub use accounts::{AccountStore, NewGuest};
pub use bots::{BotStore, NewBot, Scope};
pub use events::EventLog;
pub use files::FileStore;
pub use invites::{InviteRecord, InviteStore};
pub use members::MemberStore;
pub use messages::MessageStore;
pub use moderation::ModerationStore;
pub use people::PeopleStore;
pub use pins::PinStore;
pub use push::{PushStore, PushSubscription};
pub use reactions::ReactionStore;
pub use rooms::RoomStore;
pub use search::{Phrase, SearchFilter, SearchPage, SearchStore};
pub use unread::UnreadStore;
pub use webhooks::{WebhookRecord, WebhookStore};

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::error::Result;
use crate::protocol::{Effects, Event, MentionEveryone, Message, Rearrange, User};

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: User,
    /// RFC 3339 UTC with milliseconds; `None`: never expires.
    pub expires_at: Option<String>,
    /// The session's public id (never the token or its hash).
    pub id: String,
    /// When the session was last used, to the minute; `None` before its first use was noted.
    pub last_seen_at: Option<String>,
}

/// Now, as the store writes times.
pub(crate) fn now() -> String {
    timestamp(chrono::Utc::now())
}

/// A new id: time-ordered (UUID v7), 32 hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// The store's clock as it writes times: RFC 3339 UTC with milliseconds, which sort as text.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An event as committed: its room, its `seq` and its JSON (the protocol's `Event` object).
///
/// The JSON is made once, when the event is committed, and reused for every delivery and replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub room_id: String,
    pub seq: u64,
    pub json: String,
    /// Decided from the typed kind (see [`StoredEvent::effects`]).
    effects: Effects,
}

impl StoredEvent {
    /// A new event, encoded for the log. Every event a store appends is made here.
    pub fn new(event: &Event) -> Self {
        StoredEvent {
            room_id: event.room_id.clone(),
            seq: event.seq,
            json: serde_json::to_string(event).expect("events always serialise"),
            effects: event.kind.effects(),
        }
    }

    /// An event read back from the log: its bytes are kept as stored, its effects come from
    /// its decoded kind (an unreadable one has none; [`StoredEvent::decode`] reports it).
    pub fn from_log(room_id: String, seq: u64, json: String) -> Self {
        /// Only the event's kind and its `user`'s id (member events): the rest of the JSON is
        /// skipped, not decoded.
        #[derive(serde::Deserialize)]
        struct Kind<'a> {
            #[serde(borrow)]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            user: Option<Id<'a>>,
        }
        #[derive(serde::Deserialize)]
        struct Id<'a> {
            #[serde(borrow)]
            id: std::borrow::Cow<'a, str>,
        }
        let effects = serde_json::from_str::<Kind>(&json)
            .map(|event| Effects::of_kind(&event.kind, event.user.as_ref().map(|u| &*u.id)))
            .unwrap_or_default();
        StoredEvent {
            room_id,
            seq,
            json,
            effects,
        }
    }

    /// What the event does beyond its own record.
    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    pub fn decode(&self) -> Result<Event> {
        serde_json::from_str(&self.json).map_err(|err| {
            anyhow::anyhow!(
                "stored event {}#{} unreadable: {err}",
                self.room_id,
                self.seq
            )
            .into()
        })
    }
}

/// A user with the password hash that only the auth module reads.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: Option<String>,
}

/// What a send did.
#[derive(Debug, Clone)]
pub enum SendOutcome {
    /// A new message, and the events it made (`member.joined` first when the author was not yet
    /// a member, then `message.created`).
    Created {
        message: Message,
        events: Vec<StoredEvent>,
    },
    /// The author already sent this `client_id`: the original message, and nothing new.
    Existing(Message),
}

/// One send, as handed to [`MessageStore::submit_send`].
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub room_id: String,
    pub author: User,
    pub client_id: String,
    pub body: String,
    // Replies and threads (issue #10): checked in the send's transaction (a message of the
    // room, else `MessageNotFound`); a thread reply's `thread_id` is resolved to the root.
    pub reply_to: Option<String>,
    pub thread_id: Option<String>,
    /// Whom the message mentions (the chat rules decided, see `chat::mentions`); the author
    /// may be among them but gets no mention row.
    pub mentions: Vec<String>,
    /// Files (#12): ids of the author's uploads the message carries.
    pub attachments: Vec<String>,
}

/// The answer to a submitted send, once it is committed (or has failed).
pub type SendTicket = Pin<Box<dyn Future<Output = Result<SendOutcome>> + Send + 'static>>;

/// A ticket for a send that has failed before reaching the store.
pub fn failed_ticket(err: crate::error::Error) -> SendTicket {
    Box::pin(std::future::ready(Err(err)))
}

/// Turns the reply channel of a queued send into its ticket.
pub(crate) fn ticket(answer: tokio::sync::oneshot::Receiver<Result<SendOutcome>>) -> SendTicket {
    Box::pin(async move {
        answer
            .await
            .map_err(|_| crate::error::Error::Unavailable(anyhow::anyhow!("the store is closed")))?
    })
}

/// Where a store hands the events of each committed send, in commit order (see
/// [`MessageStore::publish_sends`]).
pub type Publisher = Arc<dyn Fn(&[StoredEvent]) + Send + Sync>;

/// A store's [`Publisher`], installed once and read by whatever commits its sends.
#[derive(Clone, Default)]
pub(crate) struct PublishSlot(Arc<OnceLock<Publisher>>);

impl PublishSlot {
    pub(crate) fn install(&self, publish: Publisher) -> bool {
        self.0.set(publish).is_ok()
    }

    /// Hands a committed send's events on, if a publisher is installed. A publisher that
    /// panics is logged and the send still answered: the thread that commits every send must
    /// not die of it (the room's next event shows the hub the hole, which it fills from the
    /// store).
    pub(crate) fn publish(&self, outcome: &Result<SendOutcome>) {
        if let (Some(publish), Ok(SendOutcome::Created { events, .. })) = (self.0.get(), outcome) {
            let published =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| publish(events)));
            if published.is_err() {
                tracing::error!("publishing a committed send panicked");
            }
        }
    }
}

/// The fields of a room a `PATCH` may change; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct RoomPatch {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub rearrange: Option<Rearrange>,
    pub pins: Option<crate::protocol::PinPolicy>,
    pub mention_everyone: Option<MentionEveryone>,
}

/// One page of a room's messages in display (position) order.
#[derive(Debug, Clone)]
pub struct MessagesPage {
    pub messages: Vec<Message>,
    /// Older messages exist (before the page's first).
    pub has_more: bool,
    /// Newer messages exist (after the page's last); `None` for pages read backwards from the
    /// end or a position, which say nothing about what comes after them.
    pub has_newer: Option<bool>,
}

/// The durable store: every resource's interface, and a reachability check. Implementations:
/// [`sqlite::SqliteStore`] (embedded) and [`postgres::PostgresStore`] (cluster), both through
/// [`backend::Backend`], over which every interface is written once.
#[async_trait]
pub trait Store:
    AccountStore
    + PeopleStore
    + RoomStore
    + MessageStore
    + EventLog
    + MemberStore
    + InviteStore
    + BotStore
    + WebhookStore
    + ModerationStore
    + ReactionStore
    + PinStore
    + UnreadStore
    + PushStore
    + SearchStore
    + FileStore
{
    /// Reachability check for `/readyz`.
    async fn ping(&self) -> Result<()>;
}

#[async_trait]
impl<B: backend::Backend> Store for B {
    async fn ping(&self) -> Result<()> {
        let mut conn = self.read().await?;
        let sql = dialect::sql!("SELECT 1");
        dialect::fetch_optional(&mut *conn, &sql, &[], |_| Ok(())).await?;
        Ok(())
    }
}

/// A scratch PostgreSQL database on the local server (for tests that read plans), migrated, and
/// dropped by [`ScratchPostgres::drop_now`], or when it is dropped without it (a test that
/// failed before its end).
#[cfg(test)]
pub(crate) struct ScratchPostgres {
    admin: sqlx::PgConnection,
    /// Empty once the database is dropped.
    name: String,
    pub store: postgres::PostgresStore,
    pub url: String,
}

#[cfg(test)]
impl ScratchPostgres {
    const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

    pub async fn new() -> Self {
        use sqlx::Connection;
        let name = format!("palaver_plans_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(Self::ADMIN_URL).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        let store = postgres::PostgresStore::open(&url, 2).await.unwrap();
        ScratchPostgres {
            admin,
            name,
            store,
            url,
        }
    }

    pub async fn drop_now(mut self) {
        self.store.close().await;
        let name = std::mem::take(&mut self.name);
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut self.admin)
            .await
            .unwrap();
    }
}

#[cfg(test)]
impl Drop for ScratchPostgres {
    /// A test that panicked before [`ScratchPostgres::drop_now`]: the database is dropped from a
    /// thread of its own (this may be on the test's runtime, mid-unwind), `FORCE` ending the
    /// store's connections. Best effort: nothing here may panic.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        if name.is_empty() {
            return;
        }
        let dropping = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(Self::ADMIN_URL).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .ok()
            })
        });
        let _ = dropping.join();
    }
}

#[cfg(test)]
mod tests {
    use super::StoredEvent;
    use crate::protocol::RemovedReason;

    /// A test that fails holding a scratch database does not leave the database behind.
    #[tokio::test]
    async fn a_scratch_database_goes_when_its_test_panics() {
        use sqlx::Connection;
        let scratch = super::ScratchPostgres::new().await;
        let name = scratch.name.clone();
        let failed = tokio::spawn(async move {
            let _held = scratch;
            panic!("a test failing before drop_now (this panic is expected)");
        })
        .await;
        assert!(failed.is_err());
        let mut admin = sqlx::PgConnection::connect(super::ScratchPostgres::ADMIN_URL)
            .await
            .unwrap();
        let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
        assert_eq!(left, 0, "{name} was left behind");
    }

    /// An event read back from the log (a gap fill) knows from its kind and its `user` whose
    /// subscriptions it ends, as the event did when it was committed.
    #[test]
    fn an_event_read_back_from_the_log_knows_whom_it_removes() {
        let banned = r#"{"room_id":"r","seq":4,"at":"2026-01-01T00:00:00.000Z",
            "kind":"member.banned","user":{"id":"u1","username":"u1","guest":true},
            "by":{"id":"m","username":"m","guest":false},"expires_at":null}"#;
        let stored = StoredEvent::from_log("r".into(), 4, banned.into());
        let removal = stored.effects().removes.clone().unwrap();
        assert_eq!(
            (removal.user_id.as_str(), removal.reason),
            ("u1", RemovedReason::Banned)
        );
        assert_eq!(stored.effects(), &stored.decode().unwrap().kind.effects());
        let joined = r#"{"room_id":"r","seq":5,"at":"2026-01-01T00:00:00.000Z",
            "kind":"member.joined","user":{"id":"u2","username":"u2","guest":true}}"#;
        let stored = StoredEvent::from_log("r".into(), 5, joined.into());
        assert!(stored.effects().removes.is_none() && stored.effects().members_changed);
    }
}
