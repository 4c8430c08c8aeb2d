//! What a connection's writer task is handed, and the hub's handle on one connection.
//!
//! [`Connection::push`] is the one way anything reaches a socket's bounded queue
//! ([`OutboundQueue`]): a push that never waits. A full queue makes the connection a slow
//! consumer: it is closed with 4008, never silently skipped.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;
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

/// A connection's queue of outbound items: bounded, pushed to without waiting, and taken whole
/// by the writer.
///
/// Not a `tokio::sync::mpsc` channel: one of those allocates a block of 32 item slots when it
/// is made (about 2.4 KiB with its header, on every socket however idle; the biggest item of a
/// heap profile of 10,000 idle sockets after the tasks themselves). This one holds nothing
/// while it is empty: the writer takes the whole queue at once, and the next push starts a
/// small one.
#[derive(Debug)]
pub struct OutboundQueue {
    items: Mutex<Items>,
    capacity: usize,
    /// A push into an empty queue wakes the writer (a permit is kept if it is not waiting).
    ready: Notify,
}

#[derive(Debug, Default)]
struct Items {
    queued: VecDeque<Outbound>,
    /// The writer has finished: nothing pushed would be written. Under the same lock as the
    /// items, so no push slips in after the writer let go of them.
    writer_gone: bool,
}

/// Why a push was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue holds `capacity` items: the client is not reading.
    Full,
    /// The writer has finished.
    Gone,
}

impl OutboundQueue {
    /// A queue of at most `capacity` items.
    pub fn new(capacity: usize) -> Self {
        OutboundQueue {
            items: Mutex::new(Items::default()),
            capacity: capacity.max(1),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Items> {
        // Nothing panics while holding it; a poisoned queue is still a consistent one.
        self.items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, item: Outbound) -> Result<(), Refused> {
        let was_empty = {
            let mut items = self.lock();
            if items.writer_gone {
                return Err(Refused::Gone);
            }
            if items.queued.len() >= self.capacity {
                return Err(Refused::Full);
            }
            items.queued.push_back(item);
            items.queued.len() == 1
        };
        if was_empty {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Everything queued, once there is something: the writer's wait. Cancel-safe: an item is
    /// only taken by the call that returns it.
    pub async fn next_batch(&self) -> VecDeque<Outbound> {
        loop {
            let items = self.take();
            if !items.is_empty() {
                return items;
            }
            self.ready.notified().await;
        }
    }

    /// Everything queued now (maybe nothing).
    pub fn take(&self) -> VecDeque<Outbound> {
        std::mem::take(&mut self.lock().queued)
    }

    /// The first item queued, if any (for tests that read a queue item by item).
    pub fn try_recv(&self) -> Option<Outbound> {
        self.lock().queued.pop_front()
    }

    /// The writer has finished: later pushes are refused, and what is queued is let go.
    pub fn writer_gone(&self) {
        let queued = {
            let mut items = self.lock();
            items.writer_gone = true;
            std::mem::take(&mut items.queued)
        };
        // Dropped outside the lock.
        drop(queued);
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
    pub queue: OutboundQueue,
    pub closer: Closer,
    pub metrics: Arc<Metrics>,
}

impl Connection {
    /// Queues an item without waiting. A full queue closes the connection as a slow consumer.
    #[inline]
    pub fn push(&self, item: Outbound) -> bool {
        match self.queue.push(item) {
            Ok(()) => true,
            Err(Refused::Full) => {
                if !self.closer.is_closed() {
                    self.metrics.slow_consumers.inc();
                }
                self.closer
                    .close(close_code::SLOW_CONSUMER, "slow consumer");
                false
            }
            Err(Refused::Gone) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Outbound {
        Outbound::Frame(Utf8Bytes::from(text.to_string()))
    }

    fn texts(items: VecDeque<Outbound>) -> Vec<String> {
        items
            .into_iter()
            .map(|item| match item {
                Outbound::Frame(frame) => frame.to_string(),
                other => panic!("expected a frame, got {other:?}"),
            })
            .collect()
    }

    /// Bounded: a push into a full queue is refused as `Full` (the caller closes the socket as a
    /// slow consumer); taking the queue makes room again, and holds nothing after.
    #[test]
    fn a_full_queue_refuses_and_taking_it_makes_room() {
        let queue = OutboundQueue::new(2);
        assert_eq!(queue.push(frame("a")), Ok(()));
        assert_eq!(queue.push(frame("b")), Ok(()));
        assert_eq!(queue.push(frame("c")), Err(Refused::Full));
        assert_eq!(texts(queue.take()), ["a", "b"]);
        assert!(queue.take().is_empty());
        assert_eq!(queue.push(frame("d")), Ok(()));
        assert_eq!(texts(queue.take()), ["d"]);
    }

    /// Once the writer has gone, pushes are refused and what was queued is let go.
    #[test]
    fn after_the_writer_has_gone_pushes_are_refused() {
        let queue = OutboundQueue::new(4);
        assert_eq!(queue.push(frame("a")), Ok(()));
        queue.writer_gone();
        assert!(queue.take().is_empty(), "what was queued is let go");
        assert_eq!(queue.push(frame("b")), Err(Refused::Gone));
        assert!(queue.try_recv().is_none());
    }

    /// The writer's wait ends with everything pushed meanwhile, in order, whether the push came
    /// before the wait began (a kept permit) or while it waited; a wait cancelled half-way
    /// takes nothing.
    #[tokio::test]
    async fn the_writers_wait_ends_with_everything_pushed_in_order() {
        let queue = Arc::new(OutboundQueue::new(8));
        queue.push(frame("early")).unwrap();
        assert_eq!(texts(queue.next_batch().await), ["early"]);

        let waiter = tokio::spawn({
            let queue = queue.clone();
            async move { texts(queue.next_batch().await) }
        });
        tokio::task::yield_now().await;
        queue.push(frame("one")).unwrap();
        queue.push(frame("two")).unwrap();
        assert_eq!(waiter.await.unwrap(), ["one", "two"]);

        // A wait given up before anything came (as when the writer's select! picks a ping).
        let gave_up =
            tokio::time::timeout(std::time::Duration::from_millis(1), queue.next_batch()).await;
        assert!(gave_up.is_err());
        queue.push(frame("three")).unwrap();
        assert_eq!(texts(queue.next_batch().await), ["three"]);
    }
}
