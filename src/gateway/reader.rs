//! The reader: carries out the client's frames, one at a time in the order they were read, by
//! calling the chat rules ([`crate::chat::Chat`]); it answers each frame (an ack, an error, a
//! pong, `unsubscribed`) through the connection's queue to the writer.
//!
//! Sends are pipelined: each is taken by the store in frame order and answered in that order by
//! [`answer_sends`] while the reader goes on, up to [`SENDS_IN_FLIGHT`] ahead. Any other frame
//! waits until the sends before it are answered.
//!
//! Every change a frame makes goes through the chat rules. A subscribe ([`Reader::subscribe`])
//! asks the gate through `Chat::subscribe` (which makes the caller a member) and gets its yes,
//! an `Admission`; registers with the hub (undone by [`Reader::leave`] and
//! [`Reader::forget_ended`]); asks the gate again if the room moved meanwhile; and hands the
//! admission to the replay's read of the store (`replay.rs`).

use std::collections::{hash_set, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::replay::replay;
use super::{frames, socket::Socket};
use crate::error::Error;
use crate::hub::{Connection, Outbound};
use crate::protocol::{close_code, ClientFrame, PresenceMode, Ref, ServerFrame};
use crate::state::AppState;

/// Sends one connection may have waiting for the store beyond the one being answered; past it
/// the reader stops reading until one is answered.
const SENDS_IN_FLIGHT: usize = 64;
/// Most rooms one connection may be subscribed to at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// How long a closed socket's reader waits for the client's close reply before letting go.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);

/// One connection's reader.
pub(super) struct Reader {
    state: AppState,
    conn: Arc<Connection>,
    /// The rooms this connection is subscribed to (as far as it knows: the hub ends the
    /// subscriptions of a deleted room on its own).
    subscribed: HashSet<Arc<str>>,
    /// Sends in flight, in the order they were read, to [`answer_sends`]; started with the
    /// connection's first send (most connections of a big room only read).
    sends: Option<mpsc::Sender<Pending>>,
    /// How many of them are not answered yet.
    in_flight: Arc<AtomicUsize>,
}

/// A send's answer: the stored message (and whether it is new), once committed and published.
type SendAnswer =
    Pin<Box<dyn Future<Output = Result<(crate::protocol::Message, bool), Error>> + Send>>;

/// What the reader hands to [`answer_sends`], in frame order.
enum Pending {
    /// A send taken by the store: its answer, once committed and published.
    Send {
        client_id: String,
        reference: Option<Ref>,
        answer: SendAnswer,
    },
    /// An answer already known (a send refused before the store), kept in line with the others.
    Ready(Utf8Bytes),
    /// Says when every send before it has been answered.
    Barrier(oneshot::Sender<()>),
}

/// Answers a connection's sends in the order they were read. The store has already taken each
/// one in that order (see [`crate::chat::Chat::begin_send`]), so many can be in flight while
/// their stored order, and the order of their acks, stays the order the client wrote them.
async fn answer_sends(
    conn: Arc<Connection>,
    mut pending: mpsc::Receiver<Pending>,
    in_flight: Arc<AtomicUsize>,
) {
    while let Some(item) = pending.recv().await {
        match item {
            Pending::Send {
                client_id,
                reference,
                answer,
            } => {
                let frame = match answer.await {
                    Ok((message, _)) => {
                        Utf8Bytes::from(ServerFrame::Ack { client_id, message }.encode())
                    }
                    Err(err) => {
                        err.log_if_internal();
                        frames::error(&err, reference.as_ref(), Some(&client_id))
                    }
                };
                conn.push(Outbound::Frame(frame));
                in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            Pending::Ready(frame) => {
                conn.push(Outbound::Frame(frame));
                in_flight.fetch_sub(1, Ordering::AcqRel);
            }
            Pending::Barrier(done) => {
                let _ = done.send(());
            }
        }
    }
}

impl Reader {
    pub(super) fn new(state: AppState, conn: Arc<Connection>) -> Self {
        Reader {
            state,
            conn,
            subscribed: HashSet::new(),
            sends: None,
            in_flight: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The rooms still subscribed, taken out (for the hub, when the connection is gone).
    pub(super) fn take_subscribed(&mut self) -> hash_set::Drain<'_, Arc<str>> {
        self.subscribed.drain()
    }

    /// Reads and carries out the client's frames until the connection closes (the client's close,
    /// an error, the idle timeout, the server's shutdown, or the closer fired elsewhere).
    pub(super) async fn run(&mut self, mut stream: SplitStream<Socket>) {
        let idle = Duration::from_secs(self.state.config.ws_idle_timeout_secs.max(1));
        let shutdown = self.state.shutdown.clone();
        loop {
            let next = tokio::select! {
                _ = shutdown.cancelled() => {
                    self.conn.closer.close(close_code::GOING_AWAY, "server shutting down");
                    drain_until_close(&mut stream).await;
                    return;
                }
                _ = self.conn.closer.closed() => {
                    drain_until_close(&mut stream).await;
                    return;
                }
                next = tokio::time::timeout(idle, stream.next()) => next,
            };
            match next {
                Err(_) => {
                    self.conn
                        .closer
                        .close(close_code::GOING_AWAY, "idle timeout");
                    return;
                }
                Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                    self.conn.closer.close(1000, "");
                    return;
                }
                Ok(Some(Err(err))) => {
                    let (code, reason) = match err {
                        WsError::Capacity(_) => (close_code::TOO_LARGE, "frame too large"),
                        WsError::Utf8(_) => {
                            (close_code::INVALID_PAYLOAD, "text frame is not UTF-8")
                        }
                        _ => (1002, "protocol error"),
                    };
                    self.conn.closer.close(code, reason);
                    return;
                }
                // Boxed, so that an idle socket does not carry the state of the biggest frame handler.
                Ok(Some(Ok(Message::Text(text)))) => Box::pin(self.handle(text.as_str())).await,
                Ok(Some(Ok(Message::Binary(_)))) => {
                    let err = Error::InvalidFrame("frames are JSON text, not binary".into());
                    self.conn
                        .push(Outbound::Frame(frames::error(&err, None, None)));
                }
                Ok(Some(Ok(_))) => {} // ping/pong: the socket answers pings itself
            }
        }
    }

    async fn handle(&mut self, text: &str) {
        let (frame, reference) = match frames::parse(text) {
            Ok(parsed) => parsed,
            Err((err, reference)) => {
                self.conn.push(Outbound::Frame(frames::error(
                    &err,
                    reference.as_ref(),
                    None,
                )));
                return;
            }
        };
        if let ClientFrame::Send {
            room_id,
            client_id,
            body,
            reply_to,
            thread_id,
            attachments,
            ..
        } = frame
        {
            // Taken by the store now, in frame order; answered in that order by `answer_sends`
            // while the reader goes on (up to SENDS_IN_FLIGHT ahead).
            let threading = crate::chat::threads::Threading {
                reply_to,
                thread_id,
            };
            // The author as they are now (a profile changed since the socket signed in).
            let newer = self.state.hub.newer_profile(&self.conn.user.id);
            let item = match self
                .state
                .chat
                .begin_send_in(
                    newer.as_ref().unwrap_or(&self.conn.user),
                    &room_id,
                    &client_id,
                    &body,
                    threading,
                    attachments,
                )
                .await
            {
                Ok(answer) => Pending::Send {
                    client_id,
                    reference,
                    answer: Box::pin(answer),
                },
                Err(err) => {
                    Pending::Ready(frames::error(&err, reference.as_ref(), Some(&client_id)))
                }
            };
            let sends = self.sends.get_or_insert_with(|| {
                let (sends, pending) = mpsc::channel(SENDS_IN_FLIGHT);
                tokio::spawn(answer_sends(
                    self.conn.clone(),
                    pending,
                    self.in_flight.clone(),
                ));
                sends
            });
            self.in_flight.fetch_add(1, Ordering::AcqRel);
            let _ = sends.send(item).await;
            return;
        }
        // Anything else waits until the sends before it are answered, so that a connection's
        // frames take effect in the order it wrote them.
        if let (Some(sends), true) = (&self.sends, self.in_flight.load(Ordering::Acquire) > 0) {
            let (done, wait) = oneshot::channel();
            if sends.send(Pending::Barrier(done)).await.is_ok() {
                let _ = wait.await;
            }
        }
        if let Err(err) = self.carry_out(frame).await {
            err.log_if_internal();
            self.conn.push(Outbound::Frame(frames::error(
                &err,
                reference.as_ref(),
                None,
            )));
        }
    }

    async fn carry_out(&mut self, frame: ClientFrame) -> Result<(), Error> {
        let chat = &self.state.chat;
        let newer = self.state.hub.newer_profile(&self.conn.user.id);
        let user = newer.as_ref().unwrap_or(&self.conn.user);
        match frame {
            ClientFrame::Ping { reference } => {
                self.conn.push(Outbound::Frame(Utf8Bytes::from(
                    ServerFrame::Pong { reference }.encode(),
                )));
            }
            ClientFrame::Subscribe {
                room_id,
                after,
                presence,
                ..
            } => {
                self.subscribe(room_id, after, presence.unwrap_or_default())
                    .await?
            }
            ClientFrame::Unsubscribe { room_id, .. } => {
                let room: Arc<str> = Arc::from(room_id.as_str());
                self.state.hub.drop_call(&room, self.conn.id);
                self.leave(&room);
                self.conn.push(Outbound::Frame(Utf8Bytes::from(
                    ServerFrame::Unsubscribed { room_id }.encode(),
                )));
            }
            // Sends never get here: `handle` answers them.
            ClientFrame::Send { .. } => {}
            ClientFrame::Edit {
                room_id,
                message_id,
                body,
                ..
            } => {
                chat.edit(user, &room_id, &message_id, &body).await?;
            }
            ClientFrame::Delete {
                room_id,
                message_id,
                ..
            } => chat.delete_message(user, &room_id, &message_id).await?,
            ClientFrame::Move {
                room_id,
                message_id,
                after,
                ..
            } => {
                chat.move_message(user, &room_id, &message_id, after.as_deref())
                    .await?;
            }
            ClientFrame::Clear { room_id, .. } => chat.clear(user, &room_id).await?,
            // Reactions (issue #10): the event is the answer; a repeat changes nothing.
            ClientFrame::React {
                room_id,
                message_id,
                emoji,
                ..
            } => {
                chat.react(user, &room_id, &message_id, &emoji).await?;
            }
            ClientFrame::Unreact {
                room_id,
                message_id,
                emoji,
                ..
            } => {
                chat.unreact(user, &room_id, &message_id, &emoji).await?;
            }
            ClientFrame::Read { room_id, seq, .. } => chat.mark_read(user, &room_id, seq).await?,
            ClientFrame::Typing { room_id } => {
                let room: Arc<str> = Arc::from(room_id.as_str());
                if !self.subscribed.contains(&room) {
                    return Err(Error::InvalidRequest(
                        "subscribe to the room before typing in it".into(),
                    ));
                }
                chat.typing(user, &room).await?;
            }
            // Calls (#13): the answer is a `call.state` with the frame's `ref`.
            ClientFrame::CallJoin { room_id, reference } => {
                chat.join_call(&self.conn, &room_id, reference).await?;
            }
            ClientFrame::CallLeave { room_id, reference } => {
                chat.leave_call(&self.conn, &room_id, reference).await?;
            }
            ClientFrame::CallSignal {
                room_id, to, data, ..
            } => {
                self.state
                    .hub
                    .call_signal(&room_id, &self.conn, &to, data)?;
            }
        }
        Ok(())
    }

    /// Subscribes the connection to a room: the writer starts holding the room's live events
    /// (`BeginSubscribe`) before the hub may push any, then gets the replay of what the client
    /// missed after `after`, which ends the hold.
    async fn subscribe(
        &mut self,
        room_id: String,
        after: Option<u64>,
        presence: PresenceMode,
    ) -> Result<(), Error> {
        let after = after.map(crate::chat::validate::after_seq).transpose()?;
        let room: Arc<str> = Arc::from(room_id.as_str());
        if !self.subscribed.contains(&room) && self.subscribed.len() >= MAX_SUBSCRIPTIONS {
            self.forget_ended();
        }
        if !self.subscribed.contains(&room) && self.subscribed.len() >= MAX_SUBSCRIPTIONS {
            return Err(Error::TooManySubscriptions {
                max: MAX_SUBSCRIPTIONS,
            });
        }
        // The reads run on the intake (see `serve::intake`), after the subscribe's turn among
        // the sockets subscribing (see `AppState::reconnects`), held until the replay is read.
        let (_turn, delivered, admission) = {
            let (state, user, room) = (self.state.clone(), self.conn.user.clone(), room.clone());
            self.state
                .intake
                .run(async move {
                    let turn = state.reconnects.clone().acquire_owned().await;
                    let delivered = state.hub.delivered_seq(&room);
                    let admission = state.chat.subscribe(&user, &room).await?;
                    Ok((turn, delivered, admission))
                })
                .await?
        };
        // A subscribe to a room already subscribed starts its subscription over.
        self.leave(&room);
        let tag = crate::hub::subscription_tag();
        self.conn.push(Outbound::BeginSubscribe(room.clone(), tag));
        let (last_seq, online) = match self
            .state
            .hub
            .subscribe(&room, &self.conn, tag, presence)
            .await
        {
            Ok(answer) => answer,
            Err(err) => {
                self.conn.push(Outbound::EndSubscription(room));
                return Err(err);
            }
        };
        // Made now, so the room's shared online list is let go of before the replay's read.
        let subscribed = online.subscribed(&room, last_seq, &self.conn.user, presence);
        drop(online);
        self.subscribed.insert(room.clone());
        let replayed = {
            let (state, user, room) = (self.state.clone(), self.conn.user.clone(), room.clone());
            self.state
                .intake
                .run(async move {
                    if must_readmit(delivered, last_seq) {
                        state.chat.readmit(&user, &admission).await?;
                    }
                    replay(&state, &admission, room, after, last_seq, subscribed).await
                })
                .await
        };
        match replayed {
            Ok(replay) => {
                self.conn.push(Outbound::Replay(Box::new(replay)));
                // A call running in the room shows at once (a late joiner, a reload).
                self.state.hub.tell_call(&room, &self.conn);
                Ok(())
            }
            Err(err) => {
                self.leave(&room);
                Err(err)
            }
        }
    }

    /// Ends the connection's subscription to a room, if it has one: the hub stops delivering to
    /// it, and the writer drops what it holds for it.
    fn leave(&mut self, room: &Arc<str>) {
        if self.subscribed.remove(room) {
            self.state.hub.unsubscribe(room, self.conn.id);
            self.conn.push(Outbound::EndSubscription(room.clone()));
        }
    }

    /// Forgets the subscriptions the hub ended on its own (a deleted room): they no longer count.
    fn forget_ended(&mut self) {
        let (hub, id) = (&self.state.hub, self.conn.id);
        self.subscribed.retain(|r| hub.is_subscribed(r, id));
    }
}

/// Whether a subscription must ask the gate again after registering with the hub, given the
/// room's seq this node had delivered before the gate's yes (`None`: the room was new here) and
/// the one it starts live after. A ban or kick committed after the yes reaches the hub after
/// the subscription exists, and ends it there, unless this node delivered it in between: then
/// the delivered seq moved.
fn must_readmit(delivered_before: Option<u64>, last_seq: u64) -> bool {
    delivered_before != Some(last_seq)
}

/// After the server has closed a socket: reads and ignores what the client still sends, until
/// its close reply (bounded by [`CLOSE_REPLY_WAIT`]). Dropping the connection with unread input makes
/// the kernel send a reset, and the client can then lose the frames still on their way to it —
/// acks of sends that committed, and the close frame with its code.
async fn drain_until_close(stream: &mut SplitStream<Socket>) {
    let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, async {
        while let Some(Ok(message)) = stream.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::must_readmit;

    #[test]
    fn a_subscription_asks_the_gate_again_when_the_room_moved_meanwhile() {
        assert!(!must_readmit(Some(7), 7), "nothing delivered in between");
        assert!(
            must_readmit(Some(7), 8),
            "an event (a ban?) delivered in between"
        );
        assert!(
            must_readmit(None, 7),
            "the room was new here: its past was read, not delivered"
        );
    }
}
