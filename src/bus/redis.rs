//! The cluster bus: Redis pub/sub between the nodes that share a Redis.
//!
//! Channels (all under the configured prefix, `palaver:` by default):
//! - `room:{room_id}`: the committed events of a room, as `{seq}{effects}:{frame}` where
//!   `effects` names what the event does beyond its record, one letter each (`m`: the members
//!   changed, `e`: it ends the room; none for most events), and `frame` is the
//!   `{"type":"event",…}` text every socket gets. A node subscribes while it has subscribers in
//!   the room and unsubscribes after the last one leaves.
//! - `presence`: JSON `PresenceMessage`s: who came online or went offline on a node, typing
//!   notices, every node's heartbeat, so a node that stops beating expires and its users go
//!   offline elsewhere within `presence_ttl`, and revoked sessions
//!   (logout), so every node closes that session's sockets. Calls (#13) ride the same channel:
//!   who joined or left a room's call on a node, the node's participants in its heartbeat (a
//!   dead node's participants leave with it), and `call.signal` frames for a participant whose
//!   socket is on another node.
//!
//! A heartbeat is light (`Beat`): a 64-bit digest of the node's online list, which every other
//! node checks against its own view of that node; a view that missed something (a lost message,
//! a node new to the cluster) asks (`Resend`) and the next heartbeat carries the full list
//! (`Heartbeat`). So a steady cluster sends no online lists at all, whatever its size.
//!
//! One subscriber connection per node ([`RedisBus::run_subscriber`]) and one multiplexed
//! connection for publishing. Redis pub/sub is at-most-once: a message can be lost, and nothing
//! is delivered while the connection is down. That is fine by design: after every (re)connect
//! the node re-subscribes and catches every watched room up from the store
//! ([`Deliver::catch_up`]), and it does so periodically too, so an event whose publisher died
//! between commit and publish still reaches everyone within a few seconds.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::AsyncConnectionConfig;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use super::presence::{digest, Presence, RemoteView, RoomDiff};
use super::wire::{decode_event, encode_event, PresenceMessage};
use super::{Bus, Deliver, EncodedEvent};
use crate::error::{Error, Result};
use crate::protocol::User;

/// How long one Redis command may take before the connection counts as broken.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Most messages published in one pipeline.
const PIPELINE_MAX: usize = 256;
/// Most events kept for re-publishing while the publisher connection is down.
const UNSENT_LIMIT: usize = 10_000;

/// Timing of the cluster's liveness signals.
#[derive(Debug, Clone, Copy)]
pub struct ClusterTiming {
    /// How often a node sends its heartbeat (its online list).
    pub heartbeat: Duration,
    /// A node not heard from for this long is dead: its users go offline.
    pub presence_ttl: Duration,
    /// How often every watched room is checked against the store for events the bus lost.
    pub catch_up: Duration,
}

/// What goes out on the publisher connection, in order.
enum Outgoing {
    Event(Arc<EncodedEvent>),
    Presence(PresenceMessage),
}

pub struct RedisBus {
    client: redis::Client,
    prefix: String,
    node_id: String,
    timing: ClusterTiming,
    /// This node's subscribers.
    target: Weak<dyn Deliver>,
    /// Rooms watched; re-subscribed after every reconnect. The async lock orders watch and
    /// unwatch of a room, which the hub issues from different tasks.
    watched: tokio::sync::Mutex<HashSet<Arc<str>>>,
    /// The live subscriber connection's command half, `None` while disconnected.
    sink: Mutex<Option<PubSubSink>>,
    connected: AtomicBool,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    remote: Mutex<RemoteView>,
    /// The other nodes' call participants, per room.
    remote_calls: Mutex<RemoteView>,
    /// What this node has said of its presence; the lock orders the changes' sends against
    /// the heartbeats' (see [`RedisBus::beat`]).
    changes: Mutex<Said>,
    /// The next heartbeat carries the full online list (at start, and when a node asks).
    full_due: AtomicBool,
    shutdown: CancellationToken,
}

impl RedisBus {
    /// Connects (failing fast when Redis can't be reached at startup) and starts the subscriber,
    /// publisher and heartbeat tasks. They stop when `shutdown` is cancelled.
    pub async fn start<D: Deliver>(
        url: &str,
        prefix: &str,
        node_id: &str,
        timing: ClusterTiming,
        target: &Arc<D>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let target: Weak<dyn Deliver> = Arc::downgrade(target) as Weak<D>;
        let client = redis::Client::open(url)?;
        let publisher = connect(&client).await?;
        let (outgoing, outgoing_rx) = mpsc::unbounded_channel();
        let bus = Arc::new(RedisBus {
            client,
            prefix: prefix.to_string(),
            node_id: node_id.to_string(),
            timing,
            target,
            watched: tokio::sync::Mutex::new(HashSet::new()),
            sink: Mutex::new(None),
            connected: AtomicBool::new(false),
            outgoing,
            remote: Mutex::new(RemoteView::default()),
            remote_calls: Mutex::new(RemoteView::default()),
            changes: Mutex::new(Said::default()),
            full_due: AtomicBool::new(true),
            shutdown,
        });
        tokio::spawn(bus.clone().run_subscriber());
        tokio::spawn(bus.clone().run_publisher(publisher, outgoing_rx));
        tokio::spawn(bus.clone().run_heartbeat());
        Ok(bus)
    }

    fn room_channel(&self, room_id: &str) -> String {
        format!("{}room:{room_id}", self.prefix)
    }

    fn presence_channel(&self) -> String {
        format!("{}presence", self.prefix)
    }

    /// Keeps one subscriber connection open: (re)connect, subscribe to the presence channel and
    /// every watched room, catch the rooms up from the store, then read until it drops.
    async fn run_subscriber(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(100);
        loop {
            if self.shutdown.is_cancelled() {
                return;
            }
            match self.subscribe_all().await {
                Ok(mut stream) => {
                    backoff = Duration::from_millis(100);
                    tracing::info!("redis subscriber connected");
                    if let Some(target) = self.target.upgrade() {
                        target.catch_up();
                    }
                    loop {
                        tokio::select! {
                            _ = self.shutdown.cancelled() => return,
                            message = stream.next() => match message {
                                Some(message) => self.receive(&message),
                                None => break,
                            },
                        }
                    }
                    self.connected.store(false, Ordering::Relaxed);
                    *self.sink.lock().unwrap() = None;
                    tracing::warn!("redis subscriber connection lost; reconnecting");
                }
                Err(err) => {
                    tracing::warn!(error = %err, "redis subscriber can't connect; retrying");
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        }
    }

    async fn subscribe_all(&self) -> anyhow::Result<redis::aio::PubSubStream> {
        let pubsub = tokio::time::timeout(COMMAND_TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(|_| anyhow::anyhow!("timed out connecting to redis"))??;
        let (mut sink, stream) = pubsub.split();
        timed(sink.subscribe(self.presence_channel())).await?;
        // Under the lock, so a room watched meanwhile is either in this list or sees the sink.
        let watched = self.watched.lock().await;
        for room in watched.iter() {
            timed(sink.subscribe(self.room_channel(room))).await?;
        }
        *self.sink.lock().unwrap() = Some(sink);
        self.connected.store(true, Ordering::Relaxed);
        drop(watched);
        Ok(stream)
    }

    fn receive(&self, message: &redis::Msg) {
        let channel = message.get_channel_name();
        let payload = message.get_payload_bytes();
        let Some(rest) = channel.strip_prefix(self.prefix.as_str()) else {
            return;
        };
        if rest == "presence" {
            match serde_json::from_slice::<PresenceMessage>(payload) {
                Ok(message) => self.receive_presence(message),
                Err(err) => tracing::warn!(error = %err, "unreadable presence message"),
            }
            return;
        }
        let Some(room_id) = rest.strip_prefix("room:") else {
            return;
        };
        match decode_event(room_id, payload) {
            Some(event) => {
                if let Some(target) = self.target.upgrade() {
                    target.deliver(event);
                }
            }
            None => tracing::warn!(%room_id, "unreadable event on the bus"),
        }
    }

    fn receive_presence(&self, message: PresenceMessage) {
        if message.node() == self.node_id {
            return;
        }
        let Some(target) = self.target.upgrade() else {
            return;
        };
        let now = Instant::now();
        let diffs = match message {
            PresenceMessage::Heartbeat { node, rooms, calls } => {
                self.remote_calls_are(target.as_ref(), &node, calls, now);
                self.remote.lock().unwrap().snapshot(&node, rooms, now)
            }
            PresenceMessage::Beat {
                node,
                online,
                calls,
            } => {
                self.remote_calls_are(target.as_ref(), &node, calls, now);
                if !self.remote.lock().unwrap().beat(&node, online, now) {
                    // This view of the node missed something (or the node is new to it).
                    let resend = PresenceMessage::Resend {
                        node: self.node_id.clone(),
                        of: node,
                    };
                    let _ = self.outgoing.send(Outgoing::Presence(resend));
                }
                return;
            }
            PresenceMessage::Resend { of, .. } => {
                if of == self.node_id {
                    self.full_due.store(true, Ordering::Relaxed);
                }
                return;
            }
            PresenceMessage::Online { node, room, user } => self
                .remote
                .lock()
                .unwrap()
                .set(&node, &room, &user, true, now),
            PresenceMessage::Offline { node, room, user } => self
                .remote
                .lock()
                .unwrap()
                .set(&node, &room, &user, false, now),
            PresenceMessage::Bye { node } => {
                let calls = self.remote_calls.lock().unwrap().remove_node(&node);
                apply_calls(target.as_ref(), calls);
                self.remote.lock().unwrap().remove_node(&node)
            }
            PresenceMessage::Typing { room, user, .. } => {
                target.relay_typing(&room, &user);
                return;
            }
            PresenceMessage::Revoke { token_hash, .. } => {
                target.close_session(&token_hash);
                return;
            }
            PresenceMessage::Profile { user, .. } => {
                target.profile_changed_elsewhere(&user);
                return;
            }
            PresenceMessage::ToUsers { users, frame, .. } => {
                target.frame_to_users(&users, Utf8Bytes::from(frame));
                return;
            }
            PresenceMessage::CallJoined { node, room, user } => {
                let calls = self
                    .remote_calls
                    .lock()
                    .unwrap()
                    .set(&node, &room, &user, true, now);
                // The user's place in the call moves there: a socket of theirs here lets go
                // (known to be there first, so they stay listed meanwhile).
                target.call_joined_elsewhere(&room, &user.id);
                apply_calls(target.as_ref(), calls);
                return;
            }
            PresenceMessage::CallLeft { node, room, user } => {
                let calls = self
                    .remote_calls
                    .lock()
                    .unwrap()
                    .set(&node, &room, &user, false, now);
                apply_calls(target.as_ref(), calls);
                return;
            }
            PresenceMessage::CallSignal {
                room, to, frame, ..
            } => {
                target.relay_call_signal(&room, &to, Utf8Bytes::from(frame));
                return;
            }
        };
        apply(target.as_ref(), diffs);
    }

    /// A heartbeat's call participants of `node`: the hub announces the rooms whose calls changed.
    fn remote_calls_are(
        &self,
        target: &dyn Deliver,
        node: &str,
        calls: HashMap<String, Vec<User>>,
        now: Instant,
    ) {
        let calls = self.remote_calls.lock().unwrap().snapshot(node, calls, now);
        apply_calls(target, calls);
    }

    /// Publishes in order on one multiplexed connection, everything queued at once in one
    /// pipeline (a round trip per message held a busy node's events back), reconnecting as
    /// needed. Events that
    /// could not be published are kept (bounded) and sent after the reconnect: the other nodes
    /// would catch up from the store anyway, this only makes it sooner.
    async fn run_publisher(
        self: Arc<Self>,
        connection: MultiplexedConnection,
        mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    ) {
        let mut connection = Some(connection);
        let mut unsent: Vec<(String, Vec<u8>)> = Vec::new();
        loop {
            let item = tokio::select! {
                _ = self.shutdown.cancelled() => None,
                item = outgoing.recv() => item,
            };
            let Some(item) = item else {
                // Shutting down: say goodbye so the others take this node's users offline now.
                if let Some(conn) = connection.as_mut() {
                    let bye = PresenceMessage::Bye {
                        node: self.node_id.clone(),
                    };
                    let payload = serde_json::to_vec(&bye).expect("serialisable");
                    let _ = timed(publish(conn, &self.presence_channel(), &payload)).await;
                }
                return;
            };
            // Everything queued meanwhile goes out with it, in order, in one round trip.
            unsent.push(encoded(&self, item));
            for _ in 1..PIPELINE_MAX {
                match outgoing.try_recv() {
                    Ok(item) => unsent.push(encoded(&self, item)),
                    Err(_) => break,
                }
            }
            if connection.is_none() {
                connection = connect(&self.client).await.ok();
            }
            let Some(conn) = connection.as_mut() else {
                trim(&mut unsent);
                continue;
            };
            while !unsent.is_empty() {
                let n = unsent.len().min(PIPELINE_MAX);
                if let Err(err) = timed(publish_all(conn, &unsent[..n])).await {
                    tracing::warn!(error = %err, "redis publish failed; will retry");
                    connection = None;
                    break;
                }
                unsent.drain(..n);
            }
            trim(&mut unsent);
        }
    }

    /// Sends this node's heartbeat: usually a light one (a digest of its online list, and its
    /// call participants); the full online list when it is due. A list read before a change
    /// may reach the others after it and undo it there (a user who just came online would
    /// flicker off until the next beat). The count of changes taken around the read catches
    /// that: the beat goes out only if no change was queued meanwhile, else the lists are read
    /// again (a few times; then it goes anyway, and a later beat heals what it got wrong).
    fn beat(&self, target: &dyn Deliver) {
        let full = self.full_due.swap(false, Ordering::Relaxed);
        for attempt in 1..=3 {
            let before = self.changes.lock().unwrap().count;
            let rooms = full.then(|| target.local_presence());
            let calls = target.local_calls();
            let said = self.changes.lock().unwrap();
            if said.count == before || attempt == 3 {
                let node = self.node_id.clone();
                let message = match rooms {
                    Some(rooms) => PresenceMessage::Heartbeat { node, rooms, calls },
                    None => PresenceMessage::Beat {
                        node,
                        online: said.digest,
                        calls,
                    },
                };
                let _ = self.outgoing.send(Outgoing::Presence(message));
                return;
            }
        }
    }

    /// Queues a presence or call change, counted, and for presence kept in the digest of what
    /// this node has said (see [`RedisBus::beat`]).
    fn change(&self, message: PresenceMessage) {
        let mut said = self.changes.lock().unwrap();
        said.count += 1;
        match &message {
            PresenceMessage::Online { room, user, .. } => said.add(digest(room, &user.id)),
            PresenceMessage::Offline { room, user, .. } => said.remove(digest(room, &user.id)),
            _ => {}
        }
        let _ = self.outgoing.send(Outgoing::Presence(message));
    }

    /// Every `heartbeat`: send this node's online list, expire silent nodes; every `catch_up`:
    /// check the watched rooms against the store.
    async fn run_heartbeat(self: Arc<Self>) {
        let mut ticker = tokio::time::interval(self.timing.heartbeat);
        let mut last_catch_up = Instant::now();
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let Some(target) = self.target.upgrade() else {
                return;
            };
            self.beat(target.as_ref());
            let diffs = self
                .remote
                .lock()
                .unwrap()
                .expire(Instant::now(), self.timing.presence_ttl);
            apply(target.as_ref(), diffs);
            let calls = self
                .remote_calls
                .lock()
                .unwrap()
                .expire(Instant::now(), self.timing.presence_ttl);
            apply_calls(target.as_ref(), calls);
            if last_catch_up.elapsed() >= self.timing.catch_up {
                last_catch_up = Instant::now();
                target.catch_up();
            }
        }
    }
}

/// What this node has said of its presence: how many changes, and the digest of the online
/// list they add up to (the XOR of [`digest`] over its entries, kept as a set of them so that
/// a repeated change counts once).
#[derive(Default)]
struct Said {
    count: u64,
    entries: HashSet<u64>,
    digest: u64,
}

impl Said {
    fn add(&mut self, entry: u64) {
        if self.entries.insert(entry) {
            self.digest ^= entry;
        }
    }

    fn remove(&mut self, entry: u64) {
        if self.entries.remove(&entry) {
            self.digest ^= entry;
        }
    }
}

fn apply(target: &dyn Deliver, diffs: Vec<(String, RoomDiff)>) {
    for (room, diff) in diffs {
        target.remote_presence_changed(&room, &diff.joined, &diff.left);
    }
}

/// The rooms whose remote call participants changed: the hub announces their new state.
fn apply_calls(target: &dyn Deliver, diffs: Vec<(String, RoomDiff)>) {
    for (room, _) in diffs {
        target.remote_call_changed(&room);
    }
}

fn trim(unsent: &mut Vec<(String, Vec<u8>)>) {
    if unsent.len() > UNSENT_LIMIT {
        let excess = unsent.len() - UNSENT_LIMIT;
        tracing::warn!(
            dropped = excess,
            "redis unreachable for long: dropping old unpublished events (the store still has them)"
        );
        unsent.drain(..excess);
    }
}

async fn connect(client: &redis::Client) -> anyhow::Result<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT));
    Ok(client
        .get_multiplexed_async_connection_with_config(&config)
        .await?)
}

/// Publishes several messages in one pipeline (one round trip), in order.
async fn publish_all(
    conn: &mut MultiplexedConnection,
    messages: &[(String, Vec<u8>)],
) -> anyhow::Result<()> {
    let mut pipe = redis::pipe();
    for (channel, payload) in messages {
        pipe.cmd("PUBLISH").arg(channel).arg(payload).ignore();
    }
    let () = pipe.query_async(conn).await?;
    Ok(())
}

/// A queued message as its channel and payload.
fn encoded(bus: &RedisBus, item: Outgoing) -> (String, Vec<u8>) {
    match item {
        Outgoing::Event(event) => (
            bus.room_channel(&event.room_id),
            encode_event(&event).into_bytes(),
        ),
        Outgoing::Presence(message) => (
            bus.presence_channel(),
            serde_json::to_vec(&message).expect("serialisable"),
        ),
    }
}

async fn publish(
    conn: &mut MultiplexedConnection,
    channel: &str,
    payload: &[u8],
) -> anyhow::Result<()> {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(payload)
        .query_async(conn)
        .await?;
    Ok(())
}

async fn timed<T, E: Into<anyhow::Error>>(
    future: impl std::future::Future<Output = Result<T, E>>,
) -> anyhow::Result<T> {
    match tokio::time::timeout(COMMAND_TIMEOUT, future).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => Err(anyhow::anyhow!("redis command timed out")),
    }
}

#[async_trait]
impl Bus for RedisBus {
    fn publish(&self, event: Arc<EncodedEvent>) {
        // This node's subscribers get it at once; its echo from Redis is dropped by seq.
        if let Some(target) = self.target.upgrade() {
            target.deliver(event.clone());
        }
        let _ = self.outgoing.send(Outgoing::Event(event));
    }

    async fn watch_room(&self, room_id: &str) {
        let mut watched = self.watched.lock().await;
        watched.insert(Arc::from(room_id));
        let sink = self.sink.lock().unwrap().clone();
        if let Some(mut sink) = sink {
            // Failing here is fine: the connection is broken, and the reconnect re-subscribes
            // and catches the room up.
            if let Err(err) = timed(sink.subscribe(self.room_channel(room_id))).await {
                tracing::warn!(%room_id, error = %err, "redis subscribe failed");
            }
        }
    }

    async fn unwatch_room(&self, room_id: &str) {
        let mut watched = self.watched.lock().await;
        // A new subscriber may have arrived since the hub scheduled this: keep watching then.
        if self
            .target
            .upgrade()
            .is_some_and(|target| target.wants_room(room_id))
        {
            return;
        }
        watched.remove(room_id);
        let sink = self.sink.lock().unwrap().clone();
        if let Some(mut sink) = sink {
            let _ = timed(sink.unsubscribe(self.room_channel(room_id))).await;
        }
    }

    async fn ping(&self) -> Result<()> {
        if self.connected.load(Ordering::Relaxed) {
            Ok(())
        } else {
            Err(Error::Unavailable(anyhow::anyhow!(
                "the redis subscriber connection is down"
            )))
        }
    }
}

impl Presence for RedisBus {
    fn local_changed(&self, room_id: &str, user: &User, online: bool) {
        let (node, room, user) = (self.node_id.clone(), room_id.to_string(), user.clone());
        let message = if online {
            PresenceMessage::Online { node, room, user }
        } else {
            PresenceMessage::Offline { node, room, user }
        };
        self.change(message);
    }

    fn typing(&self, room_id: &str, user: &User) {
        let _ = self
            .outgoing
            .send(Outgoing::Presence(PresenceMessage::Typing {
                node: self.node_id.clone(),
                room: room_id.to_string(),
                user: user.clone(),
            }));
    }

    fn remote_online(&self, room_id: &str) -> Vec<User> {
        self.remote.lock().unwrap().online(room_id)
    }

    fn remote_has(&self, room_id: &str, user_id: &str) -> bool {
        self.remote.lock().unwrap().has(room_id, user_id)
    }

    fn session_revoked(&self, token_hash: &str) {
        let _ = self
            .outgoing
            .send(Outgoing::Presence(PresenceMessage::Revoke {
                node: self.node_id.clone(),
                token_hash: token_hash.to_string(),
            }));
    }

    fn profile_changed(&self, user: &User) {
        let _ = self
            .outgoing
            .send(Outgoing::Presence(PresenceMessage::Profile {
                node: self.node_id.clone(),
                user: user.clone(),
            }));
    }

    fn to_users(&self, user_ids: &[String], frame: &str) {
        let _ = self
            .outgoing
            .send(Outgoing::Presence(PresenceMessage::ToUsers {
                node: self.node_id.clone(),
                users: user_ids.to_vec(),
                frame: frame.to_string(),
            }));
    }

    fn call_changed(&self, room_id: &str, user: &User, joined: bool) {
        let (node, room, user) = (self.node_id.clone(), room_id.to_string(), user.clone());
        let message = if joined {
            PresenceMessage::CallJoined { node, room, user }
        } else {
            PresenceMessage::CallLeft { node, room, user }
        };
        self.change(message);
    }

    fn remote_call(&self, room_id: &str) -> Vec<User> {
        self.remote_calls.lock().unwrap().online(room_id)
    }

    fn call_signal(&self, room_id: &str, to: &str, frame: &str) {
        let _ = self
            .outgoing
            .send(Outgoing::Presence(PresenceMessage::CallSignal {
                node: self.node_id.clone(),
                room: room_id.to_string(),
                to: to.to_string(),
                frame: frame.to_string(),
            }));
    }
}

#[cfg(test)]
mod tests {
    use super::{digest, Said};

    #[test]
    fn what_a_node_said_sums_up_once_per_entry() {
        let mut said = Said::default();
        said.add(digest("r", "u"));
        said.add(digest("r", "u"));
        said.add(digest("r", "v"));
        assert_eq!(said.digest, digest("r", "u") ^ digest("r", "v"));
        said.remove(digest("r", "u"));
        said.remove(digest("r", "u"));
        assert_eq!(said.digest, digest("r", "v"));
        said.remove(digest("r", "v"));
        assert_eq!(said.digest, 0);
    }
}
