//! The writer task: it owns the socket's sending half, and everything the client is sent comes
//! to it through the connection's one bounded queue ([`Outbound`] items).
//!
//! It drains all that is queued and flushes once (write coalescing; see
//! [`socket::WriteBuffer`]), and it finishes each room's subscription seam: from
//! `BeginSubscribe` it holds the room's live events, found by their subscription's tag, until
//! the replay from the store is written, then writes the held ones with a higher `seq` — so no
//! gap and no duplicate, whatever the race between the replay and live delivery. It knows nothing
//! of the rules, the store or the reader: only the queue, the socket and the connection's closer.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::socket::{self, close_frame, Socket};
use crate::hub::{Connection, Outbound, Replay};
use crate::protocol::close_code;

/// How long a close frame may wait for the client to read what is ahead of it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The writer's subscriptions: a short list searched in place (a socket has a few rooms, at
/// most the reader's `MAX_SUBSCRIPTIONS`). Live events find theirs by tag, a number compare; the
/// rest by room.
#[derive(Default)]
struct Subscriptions(Vec<(Arc<str>, u64, Subscription)>);

impl Subscriptions {
    fn position(&self, room_id: &Arc<str>) -> Option<usize> {
        self.0
            .iter()
            .position(|(id, _, _)| Arc::ptr_eq(id, room_id) || **id == **room_id)
    }

    fn by_tag(&mut self, tag: u64) -> Option<&mut Subscription> {
        self.0
            .iter_mut()
            .find(|(_, t, _)| *t == tag)
            .map(|(_, _, subscription)| subscription)
    }

    fn insert(&mut self, room_id: Arc<str>, tag: u64, subscription: Subscription) {
        match self.position(&room_id) {
            Some(i) => self.0[i] = (room_id, tag, subscription),
            None => self.0.push((room_id, tag, subscription)),
        }
    }

    /// Ends the room's subscription: its tag and where it stood.
    fn remove(&mut self, room_id: &Arc<str>) -> Option<(u64, Subscription)> {
        let i = self.position(room_id)?;
        let (_, tag, subscription) = self.0.swap_remove(i);
        Some((tag, subscription))
    }
}

/// Where a subscribed room stands in the writer.
enum Subscription {
    /// Waiting for the replay; live events (seq, frame) are held, and `presence` frames.
    Replaying(Vec<(u64, Utf8Bytes)>, Vec<Utf8Bytes>),
    /// The room was deleted while the subscription waited for its replay: what it held goes out
    /// after the replay, and then the subscription is over.
    Ended(Vec<(u64, Utf8Bytes)>),
    /// Live after this seq.
    Live(u64),
}

/// Runs the connection's writer until the connection closes, then sends the close frame: pings
/// every `ping_every`, and writes what comes through the connection's queue.
pub(super) async fn write_loop(
    sink: SplitSink<Socket, Message>,
    conn: Arc<Connection>,
    ping_every: Duration,
) {
    // Nothing pushed after the writer ends would be written: however it ends (a panic too),
    // the queue then refuses pushes and lets go of what it holds.
    let _gone = WriterGone(&conn);
    write_until_closed(sink, &conn, ping_every).await;
}

struct WriterGone<'a>(&'a Connection);

impl Drop for WriterGone<'_> {
    fn drop(&mut self) {
        self.0.queue.writer_gone();
    }
}

async fn write_until_closed(
    mut sink: SplitSink<Socket, Message>,
    conn: &Connection,
    ping_every: Duration,
) {
    let mut rooms = Subscriptions::default();
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    let mut batch: Vec<Utf8Bytes> = Vec::new();
    // One wait for the close, made once: building it anew on every wake would take the Notify's
    // lock twice per event delivered.
    let closed = conn.closer.closed();
    tokio::pin!(closed);
    // Whether the close cut a write short: the client may then have part of a fragmented
    // message, and only a close frame may follow it, not a new message.
    let mut cut_short = false;
    loop {
        tokio::select! {
            biased;
            _ = &mut closed => break,
            items = conn.queue.next_batch() => {
                for item in items {
                    take(&mut rooms, item, &mut batch);
                }
                // A client that stops reading blocks this write; its queue then fills and the
                // closer fires, which must not wait for the stuck write.
                tokio::select! {
                    // A write that can finish finishes; the close wins only over a stuck one.
                    biased;
                    written = write_batch(&mut sink, &mut batch) => if written.is_err() {
                        conn.closer.close(1006, "");
                        return;
                    },
                    _ = &mut closed => {
                        cut_short = true;
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if sink.send(Message::Ping(Default::default())).await.is_err() {
                    conn.closer.close(1006, "");
                    return;
                }
            }
        }
    }
    let (code, reason) = conn.closer.reason().unwrap_or((1000, ""));
    if !cut_short && (code == close_code::GOING_AWAY || code == 1000) {
        // A clean close: what was already queued (acks of finished sends) still goes out.
        for item in conn.queue.take() {
            take(&mut rooms, item, &mut batch);
        }
        let _ = write_batch(&mut sink, &mut batch).await;
    }
    let close = close_frame(code, reason);
    // The close frame waits behind whatever the client has not read yet: give it a while, then
    // drop the connection.
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        sink.send(Message::Close(Some(close))).await?;
        sink.close().await
    })
    .await;
}

/// Turns one queued item into the frames to write, keeping each room's seam straight.
fn take(rooms: &mut Subscriptions, item: Outbound, batch: &mut Vec<Utf8Bytes>) {
    match item {
        Outbound::Frame(frame) => batch.push(frame),
        Outbound::Event { tag, seq, frame } => match rooms.by_tag(tag) {
            Some(Subscription::Replaying(held, _)) => held.push((seq, frame)),
            Some(Subscription::Live(last)) if seq > *last => {
                *last = seq;
                batch.push(frame);
            }
            _ => {}
        },
        // A `presence` frame may change the `subscribed` answer's online list: it goes after
        // it. A room no longer subscribed gets none.
        Outbound::Presence { room, frame } => {
            if let Some(i) = rooms.position(&room) {
                match &mut rooms.0[i].2 {
                    Subscription::Replaying(_, presence) => presence.push(frame),
                    Subscription::Live(_) => batch.push(frame),
                    Subscription::Ended(_) => {}
                }
            }
        }
        Outbound::BeginSubscribe(room, tag) => {
            rooms.insert(room, tag, Subscription::Replaying(Vec::new(), Vec::new()));
        }
        Outbound::Replay(replay) => {
            let Replay {
                room_id,
                events,
                tail,
                last_seq,
            } = *replay;
            let (tag, held, presence, live) = match rooms.remove(&room_id) {
                Some((tag, Subscription::Replaying(held, presence))) => (tag, held, presence, true),
                // The room was deleted before the replay came: what the subscription held
                // (`room.deleted` last) follows the replay, and nothing goes live.
                Some((tag, Subscription::Ended(held))) => (tag, held, Vec::new(), false),
                // The subscription ended before its replay came (the person was removed from
                // the room): nothing of it goes out.
                _ => return,
            };
            batch.extend(events.iter().map(|e| e.frame.clone()));
            batch.push(tail);
            let mut last = last_seq;
            for (seq, frame) in held {
                if seq > last {
                    last = seq;
                    batch.push(frame);
                }
            }
            if live {
                batch.extend(presence);
                rooms.insert(room_id, tag, Subscription::Live(last));
            }
        }
        Outbound::EndSubscription(room) => {
            rooms.remove(&room);
        }
        Outbound::RoomGone(room) => {
            if let Some((tag, Subscription::Replaying(held, _))) = rooms.remove(&room) {
                rooms.insert(room, tag, Subscription::Ended(held));
            }
        }
        Outbound::Removed { room, tag, frame } => {
            // Only the subscription it was meant for: one begun since (a rejoin) stays.
            if rooms.position(&room).is_some_and(|i| rooms.0[i].1 == tag) {
                rooms.remove(&room);
                batch.push(frame);
            }
        }
    }
}

/// Writes a batch of frames and flushes once: one write to the kernel for the lot (see
/// [`socket::WriteBuffer`]).
async fn write_batch(
    sink: &mut SplitSink<Socket, Message>,
    batch: &mut Vec<Utf8Bytes>,
) -> Result<(), WsError> {
    if batch.is_empty() {
        return Ok(());
    }
    for frame in batch.drain(..) {
        if frame.len() <= socket::FRAGMENT {
            sink.feed(Message::Text(frame)).await?;
        } else {
            for fragment in socket::fragments(frame) {
                sink.feed(fragment).await?;
            }
        }
    }
    sink.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(batch: &mut Vec<Utf8Bytes>) -> Vec<String> {
        batch.drain(..).map(|f| f.as_str().to_string()).collect()
    }

    fn replay(room: &Arc<str>, last_seq: u64) -> Outbound {
        Outbound::Replay(Box::new(Replay {
            room_id: room.clone(),
            events: Vec::new(),
            tail: Utf8Bytes::from_static("subscribed"),
            last_seq,
        }))
    }

    /// A writer's subscriptions with one to room "r" (tag 7) begun, and an empty batch.
    fn subscribing() -> (Subscriptions, Vec<Utf8Bytes>, Arc<str>) {
        let (mut rooms, mut batch) = (Subscriptions::default(), Vec::new());
        let room: Arc<str> = Arc::from("r");
        take(
            &mut rooms,
            Outbound::BeginSubscribe(room.clone(), 7),
            &mut batch,
        );
        (rooms, batch, room)
    }

    fn event(tag: u64, seq: u64) -> Outbound {
        Outbound::Event {
            tag,
            seq,
            frame: Utf8Bytes::from(format!("event {seq}")),
        }
    }

    /// Live events that arrive during the replay wait for it, and those it already carried are
    /// not sent twice.
    #[test]
    fn held_events_follow_the_replay_once() {
        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, event(7, 4), &mut batch);
        take(&mut rooms, event(7, 5), &mut batch);
        assert!(batch.is_empty());
        take(&mut rooms, replay(&room, 4), &mut batch);
        take(&mut rooms, event(7, 6), &mut batch);
        take(&mut rooms, event(7, 6), &mut batch);
        // An event of an earlier subscription to the room (another tag) is not this one's.
        take(&mut rooms, event(3, 7), &mut batch);
        assert_eq!(frames(&mut batch), ["subscribed", "event 5", "event 6"]);
    }

    /// A room deleted while a subscription to it waited for its replay: the client still gets
    /// `subscribed` and then `room.deleted` (held), and nothing after.
    #[test]
    fn a_room_deleted_during_the_replay_is_still_reported() {
        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, event(7, 9), &mut batch);
        take(&mut rooms, Outbound::RoomGone(room.clone()), &mut batch);
        take(&mut rooms, replay(&room, 8), &mut batch);
        take(&mut rooms, event(7, 10), &mut batch);
        assert_eq!(frames(&mut batch), ["subscribed", "event 9"]);
        assert!(rooms.0.is_empty());
    }

    /// A removal (kick, ban) ends the subscription it names with its `removed` frame: nothing of
    /// the room follows, what a replaying subscription held is dropped, and a removal meant
    /// for an earlier subscription leaves the current one alone.
    #[test]
    fn a_removal_ends_its_subscription_only() {
        let removed = |tag| Outbound::Removed {
            room: Arc::from("r"),
            tag,
            frame: Utf8Bytes::from_static("removed"),
        };
        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, replay(&room, 3), &mut batch);
        take(&mut rooms, event(7, 4), &mut batch);
        take(&mut rooms, removed(3), &mut batch);
        take(&mut rooms, event(7, 5), &mut batch);
        take(&mut rooms, removed(7), &mut batch);
        take(&mut rooms, event(7, 6), &mut batch);
        assert_eq!(
            frames(&mut batch),
            ["subscribed", "event 4", "event 5", "removed"]
        );
        assert!(rooms.0.is_empty());

        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, event(7, 9), &mut batch);
        take(&mut rooms, removed(7), &mut batch);
        take(&mut rooms, replay(&room, 8), &mut batch);
        assert_eq!(frames(&mut batch), ["removed"]);
    }

    /// A `presence` frame that comes while the subscription waits for its replay goes out after
    /// the `subscribed` answer (it may change the answer's list); once live, at once; for a room
    /// not subscribed (any more), not at all.
    #[test]
    fn presence_waits_for_the_answer() {
        let presence = |text: &'static str| Outbound::Presence {
            room: Arc::from("r"),
            frame: Utf8Bytes::from_static(text),
        };
        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, presence("presence 1"), &mut batch);
        take(&mut rooms, event(7, 5), &mut batch);
        assert!(batch.is_empty());
        take(&mut rooms, replay(&room, 4), &mut batch);
        take(&mut rooms, presence("presence 2"), &mut batch);
        take(
            &mut rooms,
            Outbound::EndSubscription(room.clone()),
            &mut batch,
        );
        take(&mut rooms, presence("presence 3"), &mut batch);
        assert_eq!(
            frames(&mut batch),
            ["subscribed", "event 5", "presence 1", "presence 2"]
        );
    }

    /// A subscribe that failed after it began drops what it held: the client got an error.
    #[test]
    fn a_failed_subscribe_sends_nothing_it_held() {
        let (mut rooms, mut batch, room) = subscribing();
        take(&mut rooms, event(7, 9), &mut batch);
        take(
            &mut rooms,
            Outbound::EndSubscription(room.clone()),
            &mut batch,
        );
        take(&mut rooms, event(7, 10), &mut batch);
        assert!(batch.is_empty());
        assert!(rooms.0.is_empty());
    }
}
