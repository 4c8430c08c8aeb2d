//! This node's subscribers per room, and the ordered, gap-free fan-out of events to them.
//!
//! Events reach the hub from the bus, possibly out of order or with holes (two commits racing
//! to publish; a bus that dropped one). Per room the hub keeps the last `seq` it delivered:
//! the next one is fanned out at once, a later one waits while the missing ones are fetched from
//! the store, an earlier one is a duplicate and is dropped. So every subscriber sees each room's
//! events in order, exactly once.
//!
//! Fan-out is a loop of `try_send` of one shared, already encoded frame (a reference-counted
//! `Bytes` clone, tagged with the subscription and the seq) into each subscriber's bounded
//! queue, under a std mutex that is never held across an `.await` or a socket write. A full
//! queue makes its connection a slow consumer: it is closed with 4008 and removed, never
//! silently skipped.
//!
//! Presence (who is online in a room) lives here too: a user is online in a room while at least
//! one of their connections on this node is subscribed to it. In a cluster, a [`Presence`]
//! tells the hub who is online on the other nodes; presence frames follow the cluster-wide
//! online set (a user online on two nodes goes offline once, when the second connection leaves).
//! Presence changes are batched: a flusher sends each room at most one `presence` frame per
//! tick, so a thousand people arriving at once cost a thousand frames per tick, not a million.
//!
//! Long-polling clients (`GET …/events?wait=`) watch a room through [`Hub::watch_seq`] without
//! being subscribers: they see the room's last delivered `seq` change.

pub mod presence;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::{mpsc, watch, Notify};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::Bus;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::protocol::{close_code, ServerFrame, User};
use crate::store::{Store, StoredEvent};
use presence::Presence;

/// Most events a gap fill fetches at once.
const GAP_FILL_LIMIT: u32 = 1000;
/// How long a hole in a room's events may stay open before the store is asked to fill it.
const GAP_GRACE: std::time::Duration = std::time::Duration::from_millis(10);

/// A committed event, encoded once as its `{"type":"event",…}` frame and shared by every
/// delivery.
#[derive(Debug)]
pub struct EncodedEvent {
    pub room_id: Arc<str>,
    pub seq: u64,
    pub frame: Utf8Bytes,
    /// `room.deleted`: the last event a room ever has.
    pub ends_room: bool,
}

impl EncodedEvent {
    pub fn new(stored: &StoredEvent) -> Arc<Self> {
        Self::from_frame(
            Arc::from(stored.room_id.as_str()),
            stored.seq,
            Utf8Bytes::from(format!(r#"{{"type":"event","event":{}}}"#, stored.json)),
        )
    }

    /// An event already encoded as its frame (as it travels between nodes).
    pub fn from_frame(room_id: Arc<str>, seq: u64, frame: Utf8Bytes) -> Arc<Self> {
        let ends_room = frame.as_str().contains(r#""kind":"room.deleted""#);
        Arc::new(EncodedEvent {
            room_id,
            seq,
            frame,
            ends_room,
        })
    }
}

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

/// A connection subscribed to a room, and its subscription's tag.
#[derive(Debug)]
struct Subscriber {
    conn: Arc<Connection>,
    tag: u64,
}

impl std::ops::Deref for Subscriber {
    type Target = Arc<Connection>;

    fn deref(&self) -> &Arc<Connection> {
        &self.conn
    }
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

#[derive(Default)]
struct RoomState {
    /// The last seq fanned out here; `None` until the first subscriber has read it from the store.
    last: Option<u64>,
    /// Events that arrived ahead of a missing one.
    pending: BTreeMap<u64, Arc<EncodedEvent>>,
    filling: bool,
    subscribers: Vec<Subscriber>,
    /// Online users: user id → (user, subscribed connections of theirs on this node).
    online: HashMap<String, (User, usize)>,
    /// Presence changes not yet sent (see the flusher).
    joined: Vec<User>,
    left: Vec<User>,
    /// Long-pollers waiting on this room, and the channel that tells them the last seq.
    pollers: usize,
    seq_watch: Option<watch::Sender<u64>>,
    /// The seq of the room's `room.deleted`, once it has arrived: the subscriptions end when
    /// everything up to it has gone out (it may arrive ahead of a missing event).
    ends_at: Option<u64>,
}

impl RoomState {
    /// Delivers the next event to every subscriber and records it as the last one.
    fn advance(&mut self, item: &Arc<EncodedEvent>, fanned_out: &AtomicU64) {
        let mut slow = false;
        for sub in &self.subscribers {
            slow |= !sub.conn.push(Outbound::Event {
                tag: sub.tag,
                seq: item.seq,
                frame: item.frame.clone(),
            });
        }
        fanned_out.fetch_add(self.subscribers.len() as u64, Ordering::Relaxed);
        if slow {
            self.subscribers.retain(|c| !c.closer.is_closed());
        }
        self.last = Some(item.seq);
        if let Some(watch) = &self.seq_watch {
            watch.send_replace(item.seq);
        }
    }

    fn unused(&self) -> bool {
        self.subscribers.is_empty() && self.pollers == 0
    }

    /// Records a presence change for the next flush; a change and its reversal cancel out.
    fn presence(&mut self, joined: Option<&User>, left: Option<&User>) {
        if let Some(user) = joined {
            if let Some(i) = self.left.iter().position(|u| u.id == user.id) {
                self.left.swap_remove(i);
            } else {
                self.joined.push(user.clone());
            }
        }
        if let Some(user) = left {
            if let Some(i) = self.joined.iter().position(|u| u.id == user.id) {
                self.joined.swap_remove(i);
            } else {
                self.left.push(user.clone());
            }
        }
    }

    fn broadcast(&self, frame: &Utf8Bytes, except_user: Option<&str>) {
        for conn in &self.subscribers {
            if except_user != Some(conn.user.id.as_str()) {
                conn.push(Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Fans out every pending event that is next in line.
    fn drain_pending(&mut self, fanned_out: &AtomicU64) {
        while let Some(last) = self.last {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let seq = *entry.key();
            if seq <= last {
                entry.remove();
            } else if seq == last + 1 {
                let event = entry.remove();
                self.advance(&event, fanned_out);
            } else {
                break;
            }
        }
    }
}

/// Ends the subscriptions of a deleted room once everything up to its `room.deleted` has gone
/// out to them (each gets [`Outbound::RoomGone`] right after that event).
fn end_if_deleted(rooms: &mut HashMap<Arc<str>, RoomState>, room_id: &Arc<str>) {
    let done = rooms.get(room_id).is_some_and(
        |state| matches!((state.ends_at, state.last), (Some(end), Some(last)) if last >= end),
    );
    if done {
        if let Some(state) = rooms.remove(room_id) {
            for conn in state.subscribers {
                conn.push(Outbound::RoomGone(room_id.clone()));
            }
        }
    }
}

/// Most `room_list` count frames one flush (one a second) sends over all sockets together.
/// Counts are a decoration: each changed room costs one frame on every open socket, and on a
/// 2-core machine 100,000 frames a second cost about as much CPU as 100,000 message deliveries
/// (in the many-rooms benchmark the room list's catch-up after 5,000 sign-ins doubled what the
/// server wrote). With 10,000, a few hundred sockets still see every room's counts each second;
/// with 5,000 sockets two rooms a second are refreshed, oldest change first.
const ROOM_LIST_FRAMES_PER_FLUSH: usize = 10_000;

/// Rooms marked for a later update, each once, in the order first marked.
#[derive(Default)]
struct DirtyRooms {
    order: VecDeque<Arc<str>>,
    marked: HashSet<Arc<str>>,
}

impl DirtyRooms {
    fn mark(&mut self, room_id: Arc<str>) {
        if self.marked.insert(room_id.clone()) {
            self.order.push_back(room_id);
        }
    }

    fn take(&mut self, limit: usize) -> Vec<Arc<str>> {
        let n = limit.min(self.order.len());
        let taken: Vec<Arc<str>> = self.order.drain(..n).collect();
        for room_id in &taken {
            self.marked.remove(room_id);
        }
        taken
    }
}

/// The hub of one node. Cloning the `Arc` is how it is shared.
pub struct Hub {
    store: Arc<dyn Store>,
    bus: OnceLock<Arc<dyn Bus>>,
    /// The other nodes' online users; unset on a single node.
    presence: OnceLock<Arc<dyn Presence>>,
    rooms: Mutex<HashMap<Arc<str>, RoomState>>,
    connections: Mutex<HashMap<u64, Arc<Connection>>>,
    /// Open connections per user id, for the per-user cap without scanning every connection.
    per_user: Mutex<HashMap<String, usize>>,
    /// Rooms whose presence changed since the last flush.
    presence_dirty: Mutex<HashSet<Arc<str>>>,
    /// Rooms whose member or online count changed since the last room-list flush.
    counts_dirty: Mutex<DirtyRooms>,
    /// Event deliveries into connection queues, for `/metrics`.
    pub fanned_out: AtomicU64,
    /// The runtime the hub was made on: [`Hub::deliver`] also runs on the store's commit
    /// thread, and what it starts belongs here.
    runtime: Option<tokio::runtime::Handle>,
}

impl Hub {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Hub {
            store,
            bus: OnceLock::new(),
            presence: OnceLock::new(),
            rooms: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
            per_user: Mutex::new(HashMap::new()),
            presence_dirty: Mutex::new(HashSet::new()),
            counts_dirty: Mutex::new(DirtyRooms::default()),
            fanned_out: AtomicU64::new(0),
            runtime: tokio::runtime::Handle::try_current().ok(),
        })
    }

    /// Starts a task on the hub's runtime, whichever thread asks.
    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// Connects the hub to the bus it watches rooms on. Called once, at startup.
    pub fn attach_bus(&self, bus: Arc<dyn Bus>) {
        let _ = self.bus.set(bus);
    }

    /// Connects the hub to the rest of the cluster's presence. Called once, at startup.
    pub fn attach_presence(&self, presence: Arc<dyn Presence>) {
        let _ = self.presence.set(presence);
    }

    fn remote_has(&self, room_id: &str, user_id: &str) -> bool {
        self.presence
            .get()
            .is_some_and(|p| p.remote_online(room_id).iter().any(|u| u.id == user_id))
    }

    fn bus(&self) -> &Arc<dyn Bus> {
        self.bus.get().expect("bus attached at startup")
    }

    /// Registers an open connection (for logout and the room list), unless its user already
    /// has `cap` open here: then `false`.
    pub fn add_connection(&self, conn: Arc<Connection>, cap: usize) -> bool {
        let mut per_user = self.per_user.lock().unwrap();
        let open = per_user.entry(conn.user.id.clone()).or_insert(0);
        if *open >= cap {
            return false;
        }
        *open += 1;
        self.connections.lock().unwrap().insert(conn.id, conn);
        true
    }

    pub fn subscription_count(&self) -> usize {
        self.rooms
            .lock()
            .unwrap()
            .values()
            .map(|s| s.subscribers.len())
            .sum()
    }

    /// Forgets a closed connection and ends its subscriptions.
    pub fn remove_connection(&self, conn_id: u64, rooms: impl IntoIterator<Item = Arc<str>>) {
        for room in rooms {
            self.unsubscribe(&room, conn_id);
        }
        let Some(conn) = self.connections.lock().unwrap().remove(&conn_id) else {
            return;
        };
        let mut per_user = self.per_user.lock().unwrap();
        if let Some(open) = per_user.get_mut(&conn.user.id) {
            *open -= 1;
            if *open == 0 {
                per_user.remove(&conn.user.id);
            }
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.lock().unwrap().len()
    }

    /// Closes every socket opened with this session (logout), on this node and, in a cluster,
    /// on the others: 1008.
    pub fn revoke_session(&self, token_hash: &str) {
        self.close_session(token_hash);
        if let Some(presence) = self.presence.get() {
            presence.session_revoked(token_hash);
        }
    }

    /// Closes this node's sockets of the session: 1008.
    pub fn close_session(&self, token_hash: &str) {
        for conn in self.connections.lock().unwrap().values() {
            if conn.token_hash == token_hash {
                conn.closer.close(close_code::POLICY, "session revoked");
            }
        }
    }

    /// Closes every socket whose session has expired by `now`: 1008. Answers how many.
    pub fn close_expired(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        let mut closed = 0;
        for conn in self.connections.lock().unwrap().values() {
            if conn.expires_at.is_some_and(|at| at <= now) && !conn.closer.is_closed() {
                conn.closer.close(close_code::POLICY, "session expired");
                closed += 1;
            }
        }
        closed
    }

    /// Whether the connection is still among the room's subscribers (a deleted room ends
    /// every subscription to it; a slow consumer is dropped).
    pub fn is_subscribed(&self, room_id: &str, conn_id: u64) -> bool {
        self.rooms
            .lock()
            .unwrap()
            .get(room_id)
            .is_some_and(|s| s.subscribers.iter().any(|c| c.id == conn_id))
    }

    /// Sends a frame to every open connection whose user `include` admits (the live room
    /// list, to those who may read the room).
    pub fn broadcast_all(&self, frame: Utf8Bytes, include: &dyn Fn(&User) -> bool) {
        for conn in self.connections.lock().unwrap().values() {
            if include(&conn.user) {
                conn.push(Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Closes every connection with `code` (shutdown).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        for conn in self.connections.lock().unwrap().values() {
            conn.closer.close(code, reason);
        }
    }

    /// Adds a subscriber to a room and answers the seq its live delivery starts after: every
    /// event after it will be pushed to `conn`; those up to it must come from the store. Events
    /// already pushed that are not after it are the writer's to drop. Also answers the users
    /// online in the room (the subscriber included).
    pub async fn subscribe(
        &self,
        room_id: &Arc<str>,
        conn: &Arc<Connection>,
        tag: u64,
    ) -> Result<(u64, Vec<User>)> {
        let (known, newly_online) = {
            let mut rooms = self.rooms.lock().unwrap();
            let state = rooms.entry(room_id.clone()).or_default();
            state.subscribers.push(Subscriber {
                conn: conn.clone(),
                tag,
            });
            let entry = state
                .online
                .entry(conn.user.id.clone())
                .or_insert_with(|| (conn.user.clone(), 0));
            entry.1 += 1;
            (state.last, entry.1 == 1)
        };
        if newly_online {
            if let Some(presence) = self.presence.get() {
                presence.local_changed(room_id, &conn.user, true);
            }
            if !self.remote_has(room_id, &conn.user.id) {
                self.presence_changed(room_id, Some(&conn.user), None);
            }
        }
        if known.is_none() {
            if let Err(err) = self.initialize(room_id).await {
                self.unsubscribe(room_id, conn.id);
                return Err(err);
            }
        }
        let last = {
            let rooms = self.rooms.lock().unwrap();
            rooms.get(room_id).and_then(|s| s.last).unwrap_or(0)
        };
        Ok((last, self.online(room_id)))
    }

    /// Learns a newly watched room's last seq. Watches the room on the bus *before* reading the
    /// store, so nothing committed in between goes unseen.
    async fn initialize(&self, room_id: &Arc<str>) -> Result<()> {
        self.bus().watch_room(room_id).await;
        let store_last = self.store.last_seq(room_id).await?;
        let mut rooms = self.rooms.lock().unwrap();
        if let Some(state) = rooms.get_mut(room_id) {
            if state.last.is_none() {
                state.last = Some(store_last);
                state.drain_pending(&self.fanned_out);
                if let Some(watch) = &state.seq_watch {
                    watch.send_replace(store_last);
                }
            }
        }
        end_if_deleted(&mut rooms, room_id);
        Ok(())
    }

    /// For a long-poll: a receiver of the room's last delivered seq. Call [`Hub::unwatch_seq`]
    /// when done.
    pub async fn watch_seq(&self, room_id: &Arc<str>) -> Result<watch::Receiver<u64>> {
        let (receiver, known) = {
            let mut rooms = self.rooms.lock().unwrap();
            let state = rooms.entry(room_id.clone()).or_default();
            state.pollers += 1;
            let last = state.last;
            let sender = state
                .seq_watch
                .get_or_insert_with(|| watch::channel(last.unwrap_or(0)).0);
            (sender.subscribe(), last)
        };
        if known.is_none() {
            if let Err(err) = self.initialize(room_id).await {
                self.unwatch_seq(room_id);
                return Err(err);
            }
        }
        Ok(receiver)
    }

    pub fn unwatch_seq(&self, room_id: &Arc<str>) {
        let now_unused = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(state) = rooms.get_mut(room_id) else {
                return;
            };
            state.pollers = state.pollers.saturating_sub(1);
            let unused = state.unused();
            if unused {
                rooms.remove(room_id);
            }
            unused
        };
        if now_unused {
            self.unwatch_bus(room_id);
        }
    }

    fn unwatch_bus(&self, room_id: &Arc<str>) {
        if let Some(bus) = self.bus.get() {
            let bus = bus.clone();
            let room_id = room_id.clone();
            self.spawn(async move { bus.unwatch_room(&room_id).await });
        }
    }

    fn mark_presence(&self, room_id: &Arc<str>) {
        self.presence_dirty.lock().unwrap().insert(room_id.clone());
        self.counts_dirty.lock().unwrap().mark(room_id.clone());
    }

    /// A room's member count changed: its room-list entry is due for an update.
    pub fn mark_counts(&self, room_id: &str) {
        self.counts_dirty.lock().unwrap().mark(Arc::from(room_id));
    }

    /// Rooms whose counts changed, oldest change first, as many as one flush may announce:
    /// each goes to every open socket, so with many sockets fewer rooms fit in a flush (at
    /// least one), and the rest wait for the next, still coalesced.
    pub fn take_counts_dirty(&self) -> Vec<Arc<str>> {
        let sockets = self.connection_count().max(1);
        let limit = (ROOM_LIST_FRAMES_PER_FLUSH / sockets).max(1);
        self.counts_dirty.lock().unwrap().take(limit)
    }

    /// Sends every room's batched presence changes as one `presence` frame.
    pub fn flush_presence(&self) {
        let dirty: Vec<Arc<str>> = self.presence_dirty.lock().unwrap().drain().collect();
        if dirty.is_empty() {
            return;
        }
        let mut rooms = self.rooms.lock().unwrap();
        for room_id in dirty {
            let Some(state) = rooms.get_mut(&room_id) else {
                continue;
            };
            if state.joined.is_empty() && state.left.is_empty() {
                continue;
            }
            let frame = ServerFrame::Presence {
                room_id: room_id.to_string(),
                joined: std::mem::take(&mut state.joined),
                left: std::mem::take(&mut state.left),
            };
            state.broadcast(&Utf8Bytes::from(frame.encode()), None);
        }
    }

    /// Removes a subscriber; the room is forgotten (and unwatched) when nobody uses it.
    pub fn unsubscribe(&self, room_id: &Arc<str>, conn_id: u64) {
        let mut left_user = None;
        let now_unused = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(state) = rooms.get_mut(room_id) else {
                return;
            };
            let Some(index) = state.subscribers.iter().position(|c| c.id == conn_id) else {
                return;
            };
            let conn = state.subscribers.swap_remove(index).conn;
            if let Some(entry) = state.online.get_mut(&conn.user.id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    state.online.remove(&conn.user.id);
                    left_user = Some(conn.user.clone());
                }
            }
            let unused = state.unused();
            if unused {
                rooms.remove(room_id);
            }
            unused
        };
        if let Some(user) = left_user {
            if let Some(presence) = self.presence.get() {
                presence.local_changed(room_id, &user, false);
            }
            if !self.remote_has(room_id, &user.id) {
                self.presence_changed(room_id, None, Some(&user));
            }
        }
        if now_unused {
            self.unwatch_bus(room_id);
        }
    }

    /// Records a presence change for the room's next `presence` frame (see the flusher). The
    /// room may be gone already (its last subscriber left): then nobody here needs the frame,
    /// but the room's counts still changed.
    fn presence_changed(&self, room_id: &Arc<str>, joined: Option<&User>, left: Option<&User>) {
        if let Some(state) = self.rooms.lock().unwrap().get_mut(room_id) {
            state.presence(joined, left);
        }
        self.mark_presence(room_id);
    }

    /// The users online in a room, cluster-wide (this node's and the others'), each once.
    pub fn online(&self, room_id: &str) -> Vec<User> {
        let mut users: Vec<User> = self
            .rooms
            .lock()
            .unwrap()
            .get(room_id)
            .map(|s| s.online.values().map(|(user, _)| user.clone()).collect())
            .unwrap_or_default();
        if let Some(presence) = self.presence.get() {
            for user in presence.remote_online(room_id) {
                if !users.iter().any(|u| u.id == user.id) {
                    users.push(user);
                }
            }
        }
        users
    }

    /// How many users are online in a room, cluster-wide.
    pub fn online_count(&self, room_id: &str) -> u64 {
        if self.presence.get().is_some() {
            return self.online(room_id).len() as u64;
        }
        self.rooms
            .lock()
            .unwrap()
            .get(room_id)
            .map_or(0, |s| s.online.len() as u64)
    }

    /// Whether the user has a connection subscribed to the room, on any node.
    pub fn is_online(&self, room_id: &str, user_id: &str) -> bool {
        self.is_online_here(room_id, user_id) || self.remote_has(room_id, user_id)
    }

    fn is_online_here(&self, room_id: &str, user_id: &str) -> bool {
        self.rooms
            .lock()
            .unwrap()
            .get(room_id)
            .is_some_and(|s| s.online.contains_key(user_id))
    }

    /// Whether this node has subscribers in the room (so it must keep watching it).
    pub fn has_room(&self, room_id: &str) -> bool {
        self.rooms.lock().unwrap().contains_key(room_id)
    }

    /// Who is online in each room on this node: the cluster heartbeat.
    pub fn local_presence(&self) -> HashMap<String, Vec<User>> {
        self.rooms
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| !s.online.is_empty())
            .map(|(room, s)| {
                let users = s.online.values().map(|(user, _)| user.clone()).collect();
                (room.to_string(), users)
            })
            .collect()
    }

    /// Users came online in / went offline from a room on other nodes (or their node died):
    /// tell this node's subscribers about those not online here anyway.
    pub fn remote_presence_changed(&self, room_id: &str, joined: &[User], left: &[User]) {
        // The room's cluster-wide online count changed: its room-list entry is due too.
        self.mark_counts(room_id);
        let rooms = self.rooms.lock().unwrap();
        let Some(state) = rooms.get(room_id) else {
            return;
        };
        let not_here = |u: &&User| !state.online.contains_key(&u.id);
        let joined: Vec<User> = joined.iter().filter(not_here).cloned().collect();
        let left: Vec<User> = left.iter().filter(not_here).cloned().collect();
        if joined.is_empty() && left.is_empty() {
            return;
        }
        let frame = ServerFrame::Presence {
            room_id: room_id.to_string(),
            joined,
            left,
        };
        state.broadcast(&Utf8Bytes::from(frame.encode()), None);
    }

    /// Relays a typing notice to the room's other users, on every node.
    pub fn typing(&self, room_id: &str, user: &User) {
        if let Some(presence) = self.presence.get() {
            presence.typing(room_id, user);
        }
        self.relay_typing(room_id, user);
    }

    /// Relays a typing notice to the room's other users on this node.
    pub fn relay_typing(&self, room_id: &str, user: &User) {
        let frame = ServerFrame::Typing {
            room_id: room_id.to_string(),
            user: user.clone(),
        };
        let frame = Utf8Bytes::from(frame.encode());
        if let Some(state) = self.rooms.lock().unwrap().get(room_id) {
            state.broadcast(&frame, Some(&user.id));
        }
    }

    /// Takes a committed event from the bus and fans it out in order (see the module doc).
    pub fn deliver(self: &Arc<Self>, event: Arc<EncodedEvent>) {
        let mut rooms = self.rooms.lock().unwrap();
        let Some(state) = rooms.get_mut(&event.room_id) else {
            return; // nobody here is subscribed
        };
        if event.ends_room {
            state.ends_at = Some(event.seq);
        }
        match state.last {
            Some(last) if event.seq <= last => {}
            Some(last) if event.seq == last + 1 => {
                state.advance(&event, &self.fanned_out);
                state.drain_pending(&self.fanned_out);
            }
            _ => {
                state.pending.insert(event.seq, event.clone());
                if state.last.is_some() && !state.filling {
                    state.filling = true;
                    let hub = self.clone();
                    let room_id = event.room_id.clone();
                    self.spawn(async move { hub.fill_gap(room_id).await });
                }
            }
        }
        end_if_deleted(&mut rooms, &event.room_id);
    }

    /// Delivers whatever the store has after each watched room's last delivered seq: after the
    /// bus reconnects (it delivered nothing while down), and now and then in case it lost an
    /// event (pub/sub is at-most-once; a node may die between commit and publish).
    pub fn catch_up_all(self: &Arc<Self>) {
        let mut rooms = self.rooms.lock().unwrap();
        for (room_id, state) in rooms.iter_mut() {
            if let (Some(after), false) = (state.last, state.filling) {
                state.filling = true;
                let hub = self.clone();
                let room_id = room_id.clone();
                self.spawn(async move { hub.fill(room_id, after, true).await });
            }
        }
    }

    async fn fill_gap(self: Arc<Self>, room_id: Arc<str>) {
        // Sends are published in commit order by the store, but other changes (edits, moves,
        // joins) by the tasks that made them, which may finish in either order: most holes
        // close by themselves within moments. Give them that before asking the store.
        tokio::time::sleep(GAP_GRACE).await;
        let after = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(state) = rooms.get_mut(&room_id) else {
                return;
            };
            match (state.last, state.pending.keys().next()) {
                (Some(last), Some(&first)) if first > last + 1 => last,
                _ => {
                    state.filling = false;
                    return;
                }
            }
        };
        self.fill(room_id, after, false).await
    }

    /// Fetches the events missing after `after` from the store and delivers them, until the
    /// room has no hole left. `catching_up`: no known hole, so an empty answer means done.
    async fn fill(self: Arc<Self>, room_id: Arc<str>, mut after: u64, mut catching_up: bool) {
        let mut attempt = 0u32;
        loop {
            match self
                .store
                .events_after(&room_id, after, GAP_FILL_LIMIT)
                .await
            {
                Ok(events) if events.is_empty() && catching_up => {
                    let mut rooms = self.rooms.lock().unwrap();
                    let Some(state) = rooms.get_mut(&room_id) else {
                        return;
                    };
                    match (state.last, state.pending.keys().next()) {
                        // Something arrived meanwhile with a hole before it: fill it as a gap.
                        (Some(last), Some(&first)) if first > last + 1 => {
                            after = last;
                            catching_up = false;
                        }
                        _ => {
                            state.filling = false;
                            return;
                        }
                    }
                    continue;
                }
                Ok(events) if events.is_empty() => {
                    // The store has nothing after `after` yet the bus had a later event: the
                    // commit may still be settling on a replica. Wait, then give up the hole
                    // rather than hold the room forever (clients still see the jump and refetch).
                    attempt += 1;
                    if attempt > 20 {
                        tracing::error!(%room_id, after, "events missing from the store; skipping the hole");
                        let mut rooms = self.rooms.lock().unwrap();
                        if let Some(state) = rooms.get_mut(&room_id) {
                            if let Some(&first) = state.pending.keys().next() {
                                state.last = Some(first - 1);
                                state.drain_pending(&self.fanned_out);
                            }
                            state.filling = false;
                        }
                        end_if_deleted(&mut rooms, &room_id);
                        return;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50 * u64::from(attempt)))
                        .await;
                    continue;
                }
                Ok(events) => {
                    attempt = 0;
                    for stored in &events {
                        self.deliver(EncodedEvent::new(stored));
                    }
                    if catching_up && events.len() == GAP_FILL_LIMIT as usize {
                        // A long outage: fetch the next batch.
                        let rooms = self.rooms.lock().unwrap();
                        match rooms.get(&room_id).and_then(|s| s.last) {
                            Some(last) => after = last,
                            None => return,
                        }
                        continue;
                    }
                }
                Err(err) => {
                    if !self.rooms.lock().unwrap().contains_key(&room_id) {
                        return; // nobody here needs the room any more
                    }
                    attempt += 1;
                    tracing::warn!(%room_id, attempt, error = %err, "gap fill failed; retrying");
                    let backoff =
                        std::time::Duration::from_millis(100 * u64::from(attempt.min(50)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            let mut rooms = self.rooms.lock().unwrap();
            let Some(state) = rooms.get_mut(&room_id) else {
                return;
            };
            match (state.last, state.pending.keys().next()) {
                (Some(last), Some(&first)) if first > last + 1 => after = last,
                _ => {
                    state.filling = false;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A room whose `room.deleted` (seq 7) arrives ahead of its last message (seq 6, published
    /// by another task): the subscription stays until the message has gone out, then gets the
    /// message, the deletion and the end, in that order.
    #[tokio::test]
    async fn a_deletion_that_overtakes_an_event_ends_the_room_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open_in(dir.path())
            .await
            .unwrap();
        let hub = Hub::new(Arc::new(store));
        let (queue, mut outbound) = mpsc::channel(16);
        let conn = Arc::new(Connection {
            id: 1,
            user: User {
                id: "u".into(),
                username: "u".into(),
                guest: true,
            },
            token_hash: "h".into(),
            expires_at: None,
            queue,
            closer: Closer::default(),
            metrics: Arc::new(Metrics::new()),
        });
        let room: Arc<str> = Arc::from("r");
        hub.rooms.lock().unwrap().insert(
            room.clone(),
            RoomState {
                last: Some(5),
                subscribers: vec![Subscriber { conn, tag: 9 }],
                ..RoomState::default()
            },
        );
        let event = |seq: u64, kind: &str| {
            EncodedEvent::from_frame(
                room.clone(),
                seq,
                Utf8Bytes::from(format!(
                    r#"{{"type":"event","event":{{"seq":{seq},"kind":"{kind}"}}}}"#
                )),
            )
        };
        hub.deliver(event(7, "room.deleted"));
        assert!(
            outbound.try_recv().is_err(),
            "nothing goes out ahead of seq 6"
        );
        assert!(hub.has_room("r"), "the room waits for seq 6");
        hub.deliver(event(6, "message.created"));
        let mut got = Vec::new();
        while let Ok(item) = outbound.try_recv() {
            got.push(match item {
                Outbound::Event { seq, tag: 9, .. } => format!("event {seq}"),
                Outbound::RoomGone(room) => format!("gone {room}"),
                _ => "other".to_string(),
            });
        }
        assert_eq!(got, ["event 6", "event 7", "gone r"]);
        assert!(!hub.has_room("r"));
    }

    #[test]
    fn dirty_rooms_come_out_once_each_oldest_first_within_the_limit() {
        let mut dirty = DirtyRooms::default();
        for room in ["a", "b", "a", "c", "b"] {
            dirty.mark(Arc::from(room));
        }
        let names = |rooms: Vec<Arc<str>>| rooms.iter().map(|r| r.to_string()).collect::<Vec<_>>();
        assert_eq!(names(dirty.take(2)), ["a", "b"]);
        dirty.mark(Arc::from("a"));
        assert_eq!(names(dirty.take(10)), ["c", "a"]);
        assert!(dirty.take(10).is_empty());
    }
}
