//! What a connection's writer task is handed, and the hub's handle on one connection.
//!
//! [`Connection::push`] is the one way anything reaches a socket's bounded queue: a `try_send`
//! that never waits. A full queue makes the connection a slow consumer: it is closed with 4008,
//! never silently skipped.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::EncodedEvent;
use crate::metrics::Metrics;
use crate::protocol::{close_code, User};

/// What a connection's writer task is handed, in order.
#[derive(Debug)]
pub enum Outbound {
    /// A frame for this connection only (ack, error, pong, presence, …).
    Frame(Utf8Bytes),
    /// A live event of the subscription with this tag (see [`subscription_tag`]). It carries
    /// the frame itself rather than the shared [`EncodedEvent`]: one reference count touched
    /// per delivery instead of two, and the writer matches its subscription by a number
    /// without reading the shared event.
    Event {
        tag: u64,
        seq: u64,
        frame: Utf8Bytes,
    },
    /// A `presence` frame of a subscribed room. A subscription still waiting for its replay
    /// holds it until after its `subscribed` answer, whose online list it may update.
    Presence { room: Arc<str>, frame: Utf8Bytes },
    /// A subscription to this room, with this tag, begins: hold its live events until the
    /// replay arrives.
    BeginSubscribe(Arc<str>, u64),
    /// The replay of a subscription (boxed: it is rare, and every queue slot is as big as the
    /// biggest item).
    Replay(Box<Replay>),
    /// No more events of this room: the connection unsubscribed, or its subscribe failed.
    EndSubscription(Arc<str>),
    /// The room is gone (deleted): its last event, `room.deleted`, pushed just before, ends the
    /// subscription. A subscription still waiting for its replay sends what it held after that
    /// replay.
    RoomGone(Arc<str>),
    /// The user was removed from the room (kicked, banned): the subscription with this tag
    /// ends, and `frame` (`removed`) tells the client; nothing more of the room follows.
    Removed {
        room: Arc<str>,
        tag: u64,
        frame: Utf8Bytes,
    },
}

/// The replay of a subscription: `events` (seq > after, up to `last_seq`), then `tail`
/// (`subscribed` or `resync`); then the held live events after `last_seq`.
#[derive(Debug)]
pub struct Replay {
    pub room_id: Arc<str>,
    pub events: Vec<Arc<EncodedEvent>>,
    pub tail: Utf8Bytes,
    pub last_seq: u64,
}

static NEXT_SUBSCRIPTION_TAG: AtomicU64 = AtomicU64::new(1);

/// A new subscription's tag: unique in this process, so an event pushed for an earlier
/// subscription to the same room never passes for one of the current one.
pub fn subscription_tag() -> u64 {
    NEXT_SUBSCRIPTION_TAG.fetch_add(1, Ordering::Relaxed)
}

/// Asks a connection to close with a code, once; the writer sends the close frame.
///
/// `is_closed` is an atomic load: it runs on the fan-out path for every delivery.
#[derive(Debug, Default)]
pub struct Closer {
    reason: OnceLock<(u16, &'static str)>,
    closed: AtomicBool,
    notify: Notify,
}

impl Closer {
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn reason(&self) -> Option<(u16, &'static str)> {
        self.reason.get().copied()
    }

    pub async fn closed(&self) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so a close in between still wakes us.
        notified.as_mut().enable();
        if self.is_closed() {
            return;
        }
        notified.await;
    }

    #[inline]
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// The hub's handle on one WebSocket connection.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub user: User,
    /// The session it was opened with, so logout can close it.
    pub token_hash: String,
    /// When that session expires; the sweep closes the socket then. `None`: never.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub queue: mpsc::Sender<Outbound>,
    pub closer: Closer,
    pub metrics: Arc<Metrics>,
}

impl Connection {
    /// Queues an item without waiting. A full queue closes the connection as a slow consumer.
    #[inline]
    pub fn push(&self, item: Outbound) -> bool {
        match self.queue.try_send(item) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                if !self.closer.is_closed() {
                    self.metrics.slow_consumers.inc();
                }
                self.closer
                    .close(close_code::SLOW_CONSUMER, "slow consumer");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}
