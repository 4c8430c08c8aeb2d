//! One WebSocket connection: the upgrade (Origin and session checks), a reader that carries out
//! the client's frames, and a writer task that owns the socket's sending half.
//!
//! Everything the client is sent goes through one bounded queue to the writer, which drains all
//! that is queued and flushes once (write coalescing). The writer also finishes each room's
//! subscription seam: it holds a room's live events until the replay from the store is written,
//! then writes the held ones with a higher `seq` — so no gap and no duplicate, whatever the race
//! between the replay and live delivery.

pub mod frames;
pub mod socket;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::app::AppState;
use crate::auth::{self, AuthUser};
use crate::error::Error;
use crate::hub::{Closer, Connection, EncodedEvent, Outbound, Replay};
use crate::protocol::{close_code, ClientFrame, Ref, ServerFrame, PROTOCOL_VERSION};
use socket::Socket;

/// Sends one connection may have waiting for the store beyond the one being answered; past it
/// the reader stops reading until one is answered.
const SENDS_IN_FLIGHT: usize = 64;
/// Most rooms one connection may be subscribed to at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Most missing events replayed on subscribe; beyond it the client gets `resync`.
pub const REPLAY_MAX: u64 = 1000;
/// The socket's read buffer: small, because most frames are small and there may be many sockets
/// (a bigger frame is read in several pieces). 1 KiB instead of 4 took an idle socket from 24.0
/// to 19.1 KiB of server RSS (`palaver-bench idle`, 19,800 sockets).
const READ_BUFFER: usize = 1024;

/// How long a close frame may wait for the client to read what is ahead of it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// How long a closed socket's reader waits for the client's close reply before letting go.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(2);

static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

pub fn router() -> Router<AppState> {
    Router::new().route("/ws", get(upgrade))
}

#[derive(Deserialize)]
struct WsParams {
    token: Option<String>,
}

/// Whether a browser's `Origin` may open a socket: the origin the server was reached at, or one
/// configured. Programs that send no `Origin` pass (their token still has to be valid).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .unwrap_or("");
    !host.is_empty() && origin_host.eq_ignore_ascii_case(host)
}

async fn upgrade(
    State(state): State<AppState>,
    Query(params): Query<WsParams>,
    mut request: Request,
) -> Response {
    let (response, on_upgrade) = match socket::accept(&mut request) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    let headers = request.headers();
    let config = &state.config;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(config.ws_max_message_bytes))
        .max_frame_size(Some(config.ws_max_message_bytes));
    let verdict = if !origin_allowed(headers, &config.allowed_origins) {
        Err((close_code::POLICY, "origin not allowed", None))
    } else {
        match params.token.or_else(|| auth::token_from_headers(headers)) {
            None => Err((
                close_code::POLICY,
                "unauthenticated",
                Some(Error::Unauthenticated),
            )),
            Some(token) => match AuthUser::from_token(&state, &token).await {
                Ok(Some(user)) => Ok(user),
                Ok(None) => Err((
                    close_code::POLICY,
                    "unauthenticated",
                    Some(Error::Unauthenticated),
                )),
                Err(err) => {
                    err.log_if_internal();
                    Err((1013, "try again later", None))
                }
            },
        }
    };
    let tracker = state.tracker.clone();
    tokio::spawn(tracker.track_future(async move {
        let Some(mut socket) = socket::socket(on_upgrade, ws_config).await else {
            return;
        };
        match verdict {
            Ok(user) => serve(state, socket, user).await,
            Err((code, reason, error)) => {
                if let Some(error) = error {
                    let frame = frames::error(&error, None, None);
                    let _ = socket.send(Message::Text(frame)).await;
                }
                let _ = socket
                    .send(Message::Close(Some(close_frame(code, reason))))
                    .await;
            }
        }
    }));
    response
}

fn close_frame(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code: code.into(),
        reason: Utf8Bytes::from_static(reason),
    }
}

/// Runs one signed-in connection until it closes.
async fn serve(state: AppState, socket: Socket, auth: AuthUser) {
    let (sink, stream) = socket.split();
    let (queue, outbound) = mpsc::channel(state.config.ws_outbound_queue.max(8));
    let conn = Arc::new(Connection {
        id: NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed),
        user: auth.user,
        token_hash: auth.token_hash,
        expires_at: auth
            .expires_at
            .as_deref()
            .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
            .map(|at| at.with_timezone(&chrono::Utc)),
        queue,
        closer: Closer::default(),
        metrics: state.metrics.clone(),
    });
    if !state
        .hub
        .add_connection(conn.clone(), state.chat.limits.max_connections_per_user)
    {
        let mut sink = sink;
        let frame = frames::error(&Error::TooManyConnections, None, None);
        let _ = sink.send(Message::Text(frame)).await;
        let close = close_frame(close_code::POLICY, "too many connections");
        let _ = sink.send(Message::Close(Some(close))).await;
        return;
    }
    state.metrics.connections_opened.inc();
    conn.push(Outbound::Frame(Utf8Bytes::from(
        ServerFrame::Hello {
            user: conn.user.clone(),
            protocol: PROTOCOL_VERSION,
            node_id: state.node_id.clone(),
        }
        .encode(),
    )));
    let ping_every = Duration::from_secs(state.config.ws_ping_secs.max(1));
    let writer = tokio::spawn(write_loop(sink, outbound, conn.clone(), ping_every));
    let mut reader = Reader {
        state: state.clone(),
        conn: conn.clone(),
        subscribed: HashSet::new(),
        sends: None,
        in_flight: Arc::new(AtomicUsize::new(0)),
    };
    reader.run(stream).await;
    state
        .hub
        .remove_connection(conn.id, reader.subscribed.drain());
    let _ = writer.await;
}

struct Reader {
    state: AppState,
    conn: Arc<Connection>,
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
        reference: Option<FrameRef>,
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
    async fn run(&mut self, mut stream: SplitStream<Socket>) {
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
            ..
        } = frame
        {
            // Taken by the store now, in frame order; answered in that order by `answer_sends`
            // while the reader goes on (up to SENDS_IN_FLIGHT ahead).
            let item =
                match self
                    .state
                    .chat
                    .begin_send(&self.conn.user, &room_id, &client_id, &body)
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
        let user = &self.conn.user;
        match frame {
            ClientFrame::Ping { reference } => {
                self.conn.push(Outbound::Frame(Utf8Bytes::from(
                    ServerFrame::Pong { reference }.encode(),
                )));
            }
            ClientFrame::Subscribe { room_id, after, .. } => self.subscribe(room_id, after).await?,
            ClientFrame::Unsubscribe { room_id, .. } => {
                let room: Arc<str> = Arc::from(room_id.as_str());
                if self.subscribed.remove(&room) {
                    self.state.hub.unsubscribe(&room, self.conn.id);
                    self.conn.push(Outbound::EndSubscription(room));
                }
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
            ClientFrame::Typing { room_id } => {
                let room: Arc<str> = Arc::from(room_id.as_str());
                if !self.subscribed.contains(&room) {
                    return Err(Error::InvalidRequest(
                        "subscribe to the room before typing in it".into(),
                    ));
                }
                chat.typing(user, &room).await;
            }
        }
        Ok(())
    }

    async fn subscribe(&mut self, room_id: String, after: Option<u64>) -> Result<(), Error> {
        let after = after.map(crate::chat::validate::after_seq).transpose()?;
        let room: Arc<str> = Arc::from(room_id.as_str());
        if !self.subscribed.contains(&room) && self.subscribed.len() >= MAX_SUBSCRIPTIONS {
            // Subscriptions the hub ended on its own (a deleted room) no longer count.
            let (hub, id) = (&self.state.hub, self.conn.id);
            self.subscribed.retain(|r| hub.is_subscribed(r, id));
        }
        if !self.subscribed.contains(&room) && self.subscribed.len() >= MAX_SUBSCRIPTIONS {
            return Err(Error::TooManySubscriptions {
                max: MAX_SUBSCRIPTIONS,
            });
        }
        // Subscribing makes the caller a member (and checks that the room exists).
        self.state.chat.join(&self.conn.user, &room_id).await?;
        let hub = &self.state.hub;
        if self.subscribed.remove(&room) {
            hub.unsubscribe(&room, self.conn.id);
            self.conn.push(Outbound::EndSubscription(room.clone()));
        }
        let tag = crate::hub::subscription_tag();
        self.conn.push(Outbound::BeginSubscribe(room.clone(), tag));
        let (last_seq, online) = match hub.subscribe(&room, &self.conn, tag).await {
            Ok(answer) => answer,
            Err(err) => {
                self.conn.push(Outbound::EndSubscription(room));
                return Err(err);
            }
        };
        self.subscribed.insert(room.clone());
        let (events, tail) = match after {
            Some(after) if after < last_seq && last_seq - after > REPLAY_MAX => {
                (Vec::new(), ServerFrame::Resync { room_id, last_seq })
            }
            Some(after) if after < last_seq => {
                let limit = (last_seq - after) as u32;
                let stored = match self.state.store.events_after(&room, after, limit).await {
                    Ok(stored) => stored,
                    Err(err) => {
                        self.subscribed.remove(&room);
                        hub.unsubscribe(&room, self.conn.id);
                        self.conn.push(Outbound::EndSubscription(room));
                        return Err(err);
                    }
                };
                let events = stored
                    .iter()
                    .filter(|e| e.seq <= last_seq)
                    .map(EncodedEvent::new)
                    .collect();
                (
                    events,
                    ServerFrame::Subscribed {
                        room_id,
                        last_seq,
                        online,
                    },
                )
            }
            _ => (
                Vec::new(),
                ServerFrame::Subscribed {
                    room_id,
                    last_seq,
                    online,
                },
            ),
        };
        self.conn.push(Outbound::Replay(Box::new(Replay {
            room_id: room,
            events,
            tail: Utf8Bytes::from(tail.encode()),
            last_seq,
        })));
        Ok(())
    }
}

/// The writer's subscriptions: a short list searched in place (a socket has a few rooms, at
/// most [`MAX_SUBSCRIPTIONS`]). Live events find theirs by tag, a number compare; the rest by
/// room.
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

/// Where a subscribed room stands in the writer.
enum Subscription {
    /// Waiting for the replay; live events (seq, frame) are held.
    Replaying(Vec<(u64, Utf8Bytes)>),
    /// The room was deleted while the subscription waited for its replay: what it held goes out
    /// after the replay, and then the subscription is over.
    Ended(Vec<(u64, Utf8Bytes)>),
    /// Live after this seq.
    Live(u64),
}

async fn write_loop(
    mut sink: SplitSink<Socket, Message>,
    mut outbound: mpsc::Receiver<Outbound>,
    conn: Arc<Connection>,
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
            item = outbound.recv() => {
                let Some(item) = item else { break };
                take(&mut rooms, item, &mut batch);
                while let Ok(item) = outbound.try_recv() {
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
        while let Ok(item) = outbound.try_recv() {
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
            Some(Subscription::Replaying(held)) => held.push((seq, frame)),
            Some(Subscription::Live(last)) if seq > *last => {
                *last = seq;
                batch.push(frame);
            }
            _ => {}
        },
        Outbound::BeginSubscribe(room, tag) => {
            rooms.insert(room, tag, Subscription::Replaying(Vec::new()));
        }
        Outbound::Replay(replay) => {
            let Replay {
                room_id,
                events,
                tail,
                last_seq,
            } = *replay;
            batch.extend(events.iter().map(|e| e.frame.clone()));
            batch.push(tail);
            let mut last = last_seq;
            let (tag, held, live) = match rooms.remove(&room_id) {
                Some((tag, Subscription::Replaying(held))) => (tag, held, true),
                // The room was deleted before the replay came: what the subscription held
                // (`room.deleted` last) follows the replay, and nothing goes live.
                Some((tag, Subscription::Ended(held))) => (tag, held, false),
                _ => return,
            };
            for (seq, frame) in held {
                if seq > last {
                    last = seq;
                    batch.push(frame);
                }
            }
            if live {
                rooms.insert(room_id, tag, Subscription::Live(last));
            }
        }
        Outbound::EndSubscription(room) => {
            rooms.remove(&room);
        }
        Outbound::RoomGone(room) => {
            if let Some((tag, Subscription::Replaying(held))) = rooms.remove(&room) {
                rooms.insert(room, tag, Subscription::Ended(held));
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

/// Used by frames.rs for the `ref` of errors.
pub(crate) type FrameRef = Ref;

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
