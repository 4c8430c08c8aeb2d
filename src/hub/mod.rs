//! This node's subscribers per room, and the ordered, gap-free fan-out of events to them.
//!
//! Events reach the hub from the bus, possibly out of order or with holes (two commits racing
//! to publish; a bus that dropped one). Per room the hub keeps the last `seq` it delivered:
//! the next one is fanned out at once, a later one waits while the missing ones are fetched from
//! the store, an earlier one is a duplicate and is dropped. So every subscriber sees each room's
//! events in order, exactly once.
//!
//! Fan-out is a loop of `try_send` of one shared, already encoded frame (an `Arc` clone) into
//! each subscriber's bounded queue, under a std mutex that is never held across an `.await` or a
//! socket write. A full queue makes its connection a slow consumer: it is closed with 4008 and
//! removed, never silently skipped.
//!
//! Presence (who is online in a room) lives here too: a user is online in a room while at least
//! one of their connections on this node is subscribed to it. In a cluster, a [`Presence`]
//! tells the hub who is online on the other nodes; presence frames follow the cluster-wide
//! online set (a user online on two nodes goes offline once, when the second connection leaves).

pub mod presence;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::Metrics;
use crate::bus::Bus;
use crate::error::Result;
use crate::protocol::{close_code, ServerFrame, User};
use crate::store::{Store, StoredEvent};
use presence::Presence;

/// Most events a gap fill fetches at once.
const GAP_FILL_LIMIT: u32 = 1000;

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
    /// A live event of a subscribed room.
    Event(Arc<EncodedEvent>),
    /// A subscription to this room begins: hold its live events until the replay arrives.
    BeginSubscribe(Arc<str>),
    /// The replay of a subscription: `events` (seq > after, up to `last_seq`), then `tail`
    /// (`subscribed` or `resync`); then the held live events after `last_seq`.
    Replay {
        room_id: Arc<str>,
        events: Vec<Arc<EncodedEvent>>,
        tail: Utf8Bytes,
        last_seq: u64,
    },
    /// No more events of this room.
    EndSubscription(Arc<str>),
}

/// Asks a connection to close with a code, once; the writer sends the close frame.
#[derive(Debug, Default)]
pub struct Closer {
    reason: OnceLock<(u16, &'static str)>,
    token: CancellationToken,
}

impl Closer {
    pub fn close(&self, code: u16, reason: &'static str) {
        let _ = self.reason.set((code, reason));
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<(u16, &'static str)> {
        self.reason.get().copied()
    }

    pub async fn closed(&self) {
        self.token.cancelled().await
    }

    pub fn is_closed(&self) -> bool {
        self.token.is_cancelled()
    }
}

/// The hub's handle on one WebSocket connection.
#[derive(Debug)]
pub struct Connection {
    pub id: u64,
    pub user: User,
    /// The session it was opened with, so logout can close it.
    pub token_hash: String,
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
                    self.metrics.slow_consumers.fetch_add(1, Ordering::Relaxed);
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
    subscribers: Vec<Arc<Connection>>,
    /// Online users: user id → (user, subscribed connections of theirs on this node).
    online: HashMap<String, (User, usize)>,
}

impl RoomState {
    fn fan_out(&mut self, item: &Arc<EncodedEvent>) {
        let mut slow = false;
        for conn in &self.subscribers {
            slow |= !conn.push(Outbound::Event(item.clone()));
        }
        if slow {
            self.subscribers.retain(|c| !c.closer.is_closed());
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
    fn drain_pending(&mut self) {
        while let Some(last) = self.last {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let seq = *entry.key();
            if seq <= last {
                entry.remove();
            } else if seq == last + 1 {
                let event = entry.remove();
                self.fan_out(&event);
                self.last = Some(seq);
            } else {
                break;
            }
        }
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
}

impl Hub {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new(Hub {
            store,
            bus: OnceLock::new(),
            presence: OnceLock::new(),
            rooms: Mutex::new(HashMap::new()),
            connections: Mutex::new(HashMap::new()),
        })
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

    /// Registers an open connection (for logout and the room list).
    pub fn add_connection(&self, conn: Arc<Connection>) {
        self.connections.lock().unwrap().insert(conn.id, conn);
    }

    /// Forgets a closed connection and ends its subscriptions.
    pub fn remove_connection(&self, conn_id: u64, rooms: impl IntoIterator<Item = Arc<str>>) {
        for room in rooms {
            self.unsubscribe(&room, conn_id);
        }
        self.connections.lock().unwrap().remove(&conn_id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.lock().unwrap().len()
    }

    /// Closes every socket opened with this session (logout): 1008.
    pub fn revoke_session(&self, token_hash: &str) {
        for conn in self.connections.lock().unwrap().values() {
            if conn.token_hash == token_hash {
                conn.closer.close(close_code::POLICY, "session revoked");
            }
        }
    }

    /// Sends a frame to every open connection (the live room list).
    pub fn broadcast_all(&self, frame: Utf8Bytes) {
        for conn in self.connections.lock().unwrap().values() {
            conn.push(Outbound::Frame(frame.clone()));
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
    ) -> Result<(u64, Vec<User>)> {
        let (known, newly_online) = {
            let mut rooms = self.rooms.lock().unwrap();
            let state = rooms.entry(room_id.clone()).or_default();
            state.subscribers.push(conn.clone());
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
            // The first subscriber here: watch the room on the bus before reading the store, so
            // nothing committed in between can go unseen.
            self.bus().watch_room(room_id).await;
            let store_last = match self.store.last_seq(room_id).await {
                Ok(seq) => seq,
                Err(err) => {
                    self.unsubscribe(room_id, conn.id);
                    return Err(err);
                }
            };
            let mut rooms = self.rooms.lock().unwrap();
            if let Some(state) = rooms.get_mut(room_id) {
                if state.last.is_none() {
                    state.last = Some(store_last);
                    state.drain_pending();
                }
            }
        }
        let last = {
            let rooms = self.rooms.lock().unwrap();
            rooms.get(room_id).and_then(|s| s.last).unwrap_or(0)
        };
        Ok((last, self.online(room_id)))
    }

    /// Removes a subscriber; the room is forgotten (and unwatched) when its last one leaves.
    pub fn unsubscribe(&self, room_id: &Arc<str>, conn_id: u64) {
        let (left_user, now_empty) = {
            let mut rooms = self.rooms.lock().unwrap();
            let Some(state) = rooms.get_mut(room_id) else {
                return;
            };
            let Some(index) = state.subscribers.iter().position(|c| c.id == conn_id) else {
                return;
            };
            let conn = state.subscribers.swap_remove(index);
            let mut left = None;
            if let Some(entry) = state.online.get_mut(&conn.user.id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    state.online.remove(&conn.user.id);
                    left = Some(conn.user.clone());
                }
            }
            let empty = state.subscribers.is_empty();
            if empty {
                rooms.remove(room_id);
            }
            (left, empty)
        };
        if let Some(user) = left_user {
            if let Some(presence) = self.presence.get() {
                presence.local_changed(room_id, &user, false);
            }
            if !self.remote_has(room_id, &user.id) {
                self.presence_changed(room_id, None, Some(&user));
            }
        }
        if now_empty {
            if let Some(bus) = self.bus.get() {
                let bus = bus.clone();
                let room_id = room_id.clone();
                tokio::spawn(async move { bus.unwatch_room(&room_id).await });
            }
        }
    }

    fn presence_changed(&self, room_id: &str, joined: Option<&User>, left: Option<&User>) {
        let frame = ServerFrame::Presence {
            room_id: room_id.to_string(),
            joined: joined.into_iter().cloned().collect(),
            left: left.into_iter().cloned().collect(),
        };
        let frame = Utf8Bytes::from(frame.encode());
        let rooms = self.rooms.lock().unwrap();
        if let Some(state) = rooms.get(room_id) {
            state.broadcast(&frame, None);
        }
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
        match state.last {
            Some(last) if event.seq <= last => {}
            Some(last) if event.seq == last + 1 => {
                state.fan_out(&event);
                state.last = Some(event.seq);
                state.drain_pending();
            }
            _ => {
                let gap_from = state.last;
                state.pending.insert(event.seq, event.clone());
                if let Some(after) = gap_from {
                    if !state.filling {
                        state.filling = true;
                        let hub = self.clone();
                        let room_id = event.room_id.clone();
                        tokio::spawn(async move { hub.fill_gap(room_id, after).await });
                    }
                }
            }
        }
        if event.ends_room {
            // The room is gone: its subscriptions end with this event.
            if let Some(state) = rooms.remove(&event.room_id) {
                for conn in state.subscribers {
                    conn.push(Outbound::EndSubscription(event.room_id.clone()));
                }
            }
        }
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
                tokio::spawn(async move { hub.fill(room_id, after, true).await });
            }
        }
    }

    async fn fill_gap(self: Arc<Self>, room_id: Arc<str>, after: u64) {
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
                                state.drain_pending();
                            }
                            state.filling = false;
                        }
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
