//! The durable log: users, sessions, rooms, members, messages and every room's events.
//!
//! [`Store`] is the one interface the rest of Palaver writes through. Each change to a room is
//! committed together with its event, which takes the room's next `seq` in the same transaction
//! (`rooms.last_seq`, incremented under the write lock). `(author, client_id)` is unique, so a
//! retried send finds the original message instead of making a second one.
//!
//! The store knows nothing of HTTP, sockets or who may do what: callers (the `chat` module) check
//! permissions first; the store enforces only what must hold for the data to be correct.

pub mod copy;
pub mod position;
pub mod postgres;
pub mod sqlite;
mod sqlite_checkpoint;
mod sqlite_commit;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::error::Result;
use crate::protocol::{Event, Message, Rearrange, Role, Room, User};

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: User,
    /// RFC 3339 UTC with milliseconds; `None`: never expires.
    pub expires_at: Option<String>,
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
}

impl StoredEvent {
    pub fn new(event: &Event) -> Self {
        StoredEvent {
            room_id: event.room_id.clone(),
            seq: event.seq,
            json: serde_json::to_string(event).expect("events always serialise"),
        }
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

/// The fields of a room a `PATCH` may change; `None` leaves one as it is.
/// One send, as handed to [`Store::submit_send`].
#[derive(Debug, Clone)]
pub struct SendRequest {
    pub room_id: String,
    pub author: User,
    pub client_id: String,
    pub body: String,
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
/// [`Store::publish_sends`]).
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

#[derive(Debug, Clone, Default)]
pub struct RoomPatch {
    pub name: Option<String>,
    pub topic: Option<String>,
    pub rearrange: Option<Rearrange>,
}

/// One page of a room's messages in display (position) order.
#[derive(Debug, Clone)]
pub struct MessagesPage {
    pub messages: Vec<Message>,
    pub has_more: bool,
}

/// The durable store. Implementations: [`sqlite::SqliteStore`] (embedded) and
/// [`postgres::PostgresStore`] (cluster).
///
/// Rooms handed out have `online_count` 0: presence is not the store's business.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Reachability check for `/readyz`.
    async fn ping(&self) -> Result<()>;

    /// Create the default rooms if this store has never had a room.
    async fn seed_default_rooms(&self, names: &[&str]) -> Result<()>;

    // Users and sessions.

    /// `UsernameTaken` when the name is in use, ignoring case.
    async fn create_user(
        &self,
        username: &str,
        password_hash: Option<&str>,
        guest: bool,
    ) -> Result<User>;
    async fn find_user_by_name(&self, username: &str) -> Result<Option<UserRecord>>;
    /// Every username (for the look-alike check on sign-up, `chat::names`).
    async fn usernames(&self) -> Result<Vec<String>>;
    /// A session that never expires (kept for callers that predate expiry).
    async fn create_session(&self, token_hash: &str, user_id: &str) -> Result<()>;
    /// A session that stops working at `expires_at` (RFC 3339 UTC with milliseconds).
    async fn create_session_until(
        &self,
        token_hash: &str,
        user_id: &str,
        expires_at: &str,
    ) -> Result<()>;
    /// The session's user; `None` when unknown, revoked or expired.
    async fn session_user(&self, token_hash: &str) -> Result<Option<User>> {
        Ok(self.session(token_hash).await?.map(|s| s.user))
    }
    /// The session's user and expiry; `None` when unknown, revoked or expired.
    async fn session(&self, token_hash: &str) -> Result<Option<SessionRecord>>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Deletes every expired session; answers how many there were.
    async fn delete_expired_sessions(&self) -> Result<u64>;

    // Rooms and members.

    async fn list_rooms(&self) -> Result<Vec<Room>>;
    /// `RoomNotFound` for a missing or deleted room.
    async fn get_room(&self, room_id: &str) -> Result<Room>;
    /// The new room, owned by `owner`, and the `member.joined` event of its owner.
    async fn create_room(
        &self,
        name: &str,
        topic: &str,
        owner: &User,
    ) -> Result<(Room, Vec<StoredEvent>)>;
    async fn update_room(&self, room_id: &str, patch: &RoomPatch) -> Result<(Room, StoredEvent)>;
    /// Removes the room's members and messages and appends the final `room.deleted` event.
    async fn delete_room(&self, room_id: &str) -> Result<StoredEvent>;
    /// The `member.joined` event, or `None` when the user already was a member.
    async fn join_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>>;
    /// The `member.left` event, or `None` when the user was not a member.
    async fn leave_room(&self, room_id: &str, user: &User) -> Result<Option<StoredEvent>>;
    async fn members(&self, room_id: &str) -> Result<Vec<(User, Role)>>;
    /// The user's role in the room, `None` when not a member.
    async fn role(&self, room_id: &str, user_id: &str) -> Result<Option<Role>>;

    // Messages.

    /// Stores a message after the room's last one, joining the author to the room if needed.
    /// Idempotent by `(author, client_id)`.
    async fn send_message(
        &self,
        room_id: &str,
        author: &User,
        client_id: &str,
        body: &str,
    ) -> Result<SendOutcome> {
        self.submit_send(SendRequest {
            room_id: room_id.to_string(),
            author: author.clone(),
            client_id: client_id.to_string(),
            body: body.to_string(),
        })
        .await
    }
    /// Takes a send now and answers it when it is committed. Sends submitted one after another
    /// are stored in that order (within a room), whether or not the caller awaits each answer
    /// before submitting the next: this is what lets one connection pipeline its sends.
    fn submit_send(&self, request: SendRequest) -> SendTicket;
    /// From now on, hands the events of every send this store commits to `publish`, in commit
    /// order and before the send is answered, from wherever the commit ran: the fan-out of a
    /// send then starts at its commit, without waiting for the task that awaits its answer to be
    /// scheduled. `false` (a publisher is already installed): the caller publishes on its own.
    fn publish_sends(&self, publish: Publisher) -> bool;
    /// `MessageNotFound` when the message is not in this room (or was deleted).
    async fn get_message(&self, room_id: &str, message_id: &str) -> Result<Message>;
    async fn edit_message(
        &self,
        room_id: &str,
        message_id: &str,
        body: &str,
    ) -> Result<(Message, StoredEvent)>;
    /// Deletes the message and erases its body from the store, earlier events included.
    async fn delete_message(&self, room_id: &str, message_id: &str) -> Result<StoredEvent>;
    /// Moves the message to just after `after` (`None`: to the top). The events: possibly
    /// several `message.moved` when the room's positions had to be respaced, the moved one last.
    async fn move_message(
        &self,
        room_id: &str,
        message_id: &str,
        after: Option<&str>,
    ) -> Result<(Message, Vec<StoredEvent>)>;
    /// Deletes every message of the room (bodies erased) and appends one `room.cleared` event.
    async fn clear_room(&self, room_id: &str, by: &User) -> Result<StoredEvent>;
    /// The page of messages just before `before` (a position), or the last page.
    async fn messages_before(
        &self,
        room_id: &str,
        before: Option<&str>,
        limit: u32,
    ) -> Result<MessagesPage>;

    // The event log.

    /// Events with `seq > after`, in order, at most `limit`.
    async fn events_after(&self, room_id: &str, after: u64, limit: u32)
        -> Result<Vec<StoredEvent>>;
    /// The room's last `seq` (0 for a room with no events).
    async fn last_seq(&self, room_id: &str) -> Result<u64>;
}
