//! This node's subscribers per room, and the ordered, gap-free fan-out of events to them.
//!
//! [`Hub`] is a façade over one module per job, each depending only on those listed after it:
//! - `calls`: who is in each room's call (here and, in a cluster, elsewhere), `call.state`
//!   announcements, the relay of `call.signal` among participants;
//! - `presence`: who is online in a room (here and, in a cluster, elsewhere), batched
//!   `presence` frames, the typing relay;
//! - `watch`: long-polls: a poll's hold on a room, the presence leases of live pollers;
//! - `ordering`: the room table in event order: the last `seq` delivered per room, events held
//!   behind a hole, gap fill from the store, watching rooms on the bus;
//! - `room`: what one room holds here (subscribers, online users, long-pollers) and the
//!   fan-out of one event to its subscribers;
//! - `feed`: a polled room's recent events, typing notices and changes, for its polls, and
//!   a poller's presence lease;
//! - `connections`: the registry of open connections, per-user caps, sessions (revocation,
//!   expiry), frames for every socket;
//! - `counts`: rooms whose room-list counts changed, for the room-list flush;
//! - `outbound`: what a connection's writer is handed ([`Outbound`]) and the hub's handle on
//!   a connection ([`Connection`]).
//!
//! The bus delivers into the hub through [`crate::bus::Deliver`]; the hub never waits on a
//! socket: fan-out is a loop of pushes that never wait, of one shared frame, under a std mutex
//! that is never held across an `.await`.

mod calls;
mod connections;
mod counts;
mod feed;
mod ordering;
mod outbound;
mod presence;
mod room;
mod watch;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use crate::bus::EncodedEvent;
use crate::bus::{Bus, Deliver, Presence as ClusterPresence};
use crate::error::Result;
use crate::metrics::Gauges;
use crate::protocol::{PresenceMode, Ref, User};
use crate::store::Store;
use calls::Calls;
pub use calls::MAX_CALL_PARTICIPANTS;
pub use connections::CachedSession;
use connections::Connections;
use counts::Counts;
pub use feed::{event_json, TYPING_TTL};
use ordering::Rooms;
pub use outbound::{subscription_tag, Closer, Connection, Outbound, OutboundQueue, Replay};
pub use presence::OnlineAnswer;
use presence::Presence;
pub use watch::PollWatch;

/// A live poll's view of a room (see [`Hub::live_state`]).
pub struct LiveState {
    /// Who is online, when it changed since the reader's last token.
    pub online: Option<Arc<Vec<User>>>,
    pub typing: Vec<User>,
    pub token: String,
    pub lapses: Option<Instant>,
}

/// How long a live poller stays online after their poll ends, unless set.
pub const POLL_GRACE_DEFAULT: Duration = Duration::from_secs(20);

/// The hub of one node. Cloning the `Arc` is how it is shared.
pub struct Hub {
    rooms: Arc<Rooms>,
    connections: Connections,
    presence: Presence,
    calls: Calls,
    counts: Arc<Counts>,
    /// See [`Hub::set_poll_grace`].
    poll_grace_ms: AtomicU64,
}

impl Hub {
    pub fn new(store: Arc<dyn Store>) -> Arc<Self> {
        let rooms = Rooms::new(store);
        let counts = Arc::new(Counts::default());
        Arc::new_cyclic(|me: &std::sync::Weak<Hub>| {
            let me = me.clone();
            rooms.on_removed(Arc::new(move |room_id, offline| {
                if let Some(hub) = me.upgrade() {
                    hub.after_removal(&room_id, offline);
                }
            }));
            Hub {
                presence: Presence::new(rooms.clone(), counts.clone()),
                calls: Calls::new(rooms.clone()),
                rooms,
                connections: Connections::default(),
                counts,
                poll_grace_ms: AtomicU64::new(POLL_GRACE_DEFAULT.as_millis() as u64),
            }
        })
    }

    /// An event ended a user's subscriptions to a room (a kick, a ban): they went offline
    /// there, and the room is forgotten if nobody here needs it any more.
    fn after_removal(&self, room_id: &Arc<str>, offline: Option<User>) {
        if let Some(user) = offline {
            self.calls.remove_user(room_id, &user.id);
            self.presence.went_offline(room_id, &user);
        }
        self.rooms.release(room_id, |_| Some(()));
    }

    /// Connects the hub to the bus it watches rooms on. Called once, at startup.
    pub fn attach_bus(&self, bus: Arc<dyn Bus>) {
        self.rooms.attach_bus(bus);
    }

    /// Connects the hub to the rest of the cluster's presence. Called once, at startup.
    pub fn attach_presence(&self, presence: Arc<dyn ClusterPresence>) {
        self.calls.attach(presence.clone());
        self.presence.attach(presence);
    }

    // Connections.

    /// Registers an open connection (for logout and the room list), unless its user already
    /// has `cap` open here: then `false`.
    pub fn add_connection(&self, conn: Arc<Connection>, cap: usize) -> bool {
        self.connections.add(conn, cap)
    }

    /// Forgets a closed connection and ends its subscriptions and its place in any call.
    pub fn remove_connection(&self, conn_id: u64, rooms: impl IntoIterator<Item = Arc<str>>) {
        self.calls.drop_connection(conn_id);
        for room in rooms {
            self.unsubscribe(&room, conn_id);
        }
        self.connections.remove(conn_id);
    }

    pub fn connection_count(&self) -> usize {
        self.connections.count()
    }

    pub fn subscription_count(&self) -> usize {
        self.rooms
            .lock()
            .values()
            .map(|e| e.room.subscribers.len())
            .sum()
    }

    /// Closes every socket opened with this session (logout), on this node and, in a cluster,
    /// on the others: 1008.
    pub fn revoke_session(&self, token_hash: &str) {
        self.close_session(token_hash);
        if let Some(cluster) = self.presence.cluster() {
            cluster.session_revoked(token_hash);
        }
    }

    /// A session a long-poll signed in with a moment ago, not revoked since (see
    /// [`connections`]).
    pub fn cached_session(&self, token_hash: &str) -> Option<CachedSession> {
        self.connections.cached_session(token_hash)
    }

    /// Sessions revoked on this node so far (here or, told by the bus, elsewhere).
    pub fn session_revocations(&self) -> u64 {
        self.connections.session_revocations()
    }

    /// Keeps a session a long-poll just read, unless one was revoked since `revocations`.
    pub fn keep_session(&self, token_hash: &str, session: CachedSession, revocations: u64) {
        self.connections
            .keep_session(token_hash, session, revocations);
    }

    /// A user changed their profile here: this node's sockets of theirs, and, in a cluster,
    /// the other nodes', speak as the new one from now on.
    pub fn profile_changed(&self, user: &User) {
        self.connections.profile_changed(user);
        if let Some(cluster) = self.presence.cluster() {
            cluster.profile_changed(user);
        }
    }

    /// The user as they are now, when they changed their profile after a socket of theirs
    /// signed in (its `user` is the one it signed in as).
    pub fn newer_profile(&self, user_id: &str) -> Option<User> {
        self.connections.newer_profile(user_id)
    }

    /// Closes this node's sockets of the session (1008) and forgets it if kept for polls.
    pub fn close_session(&self, token_hash: &str) {
        self.connections.close_session(token_hash);
    }

    /// Closes every socket whose session has expired by `now`: 1008. Answers how many.
    pub fn close_expired(&self, now: chrono::DateTime<chrono::Utc>) -> usize {
        self.connections.close_expired(now)
    }

    /// Sends a frame to every open connection whose user `include` admits (the live room
    /// list, to those who may read the room).
    pub fn broadcast_all(&self, frame: Utf8Bytes, include: &dyn Fn(&User) -> bool) {
        self.connections.broadcast(frame, include);
    }

    /// Sends a frame to every socket of these users, on this node and, in a cluster, on the
    /// others (a report to a room's moderators).
    pub fn send_to_users(&self, user_ids: &[String], frame: Utf8Bytes) {
        if let Some(cluster) = self.presence.cluster() {
            cluster.to_users(user_ids, frame.as_str());
        }
        self.frame_to_users(user_ids, frame);
    }

    /// Sends a frame to this node's sockets of these users.
    pub fn frame_to_users(&self, user_ids: &[String], frame: Utf8Bytes) {
        self.connections
            .broadcast(frame, &|user| user_ids.contains(&user.id));
    }

    /// Closes every connection with `code` (shutdown).
    pub fn close_all(&self, code: u16, reason: &'static str) {
        self.connections.close_all(code, reason);
    }

    // Subscriptions.

    /// Adds a subscriber to a room and answers the seq its live delivery starts after: every
    /// event after it will be pushed to `conn`; those up to it must come from the store. Events
    /// already pushed that are not after it are the writer's to drop. Also answers the online list
    /// of its `subscribed` answer (the subscriber included).
    pub async fn subscribe(
        &self,
        room_id: &Arc<str>,
        conn: &Arc<Connection>,
        tag: u64,
        presence: PresenceMode,
    ) -> Result<(u64, OnlineAnswer)> {
        let (known, newly_online) = {
            let mut table = self.rooms.lock();
            let entry = table.entry(room_id.clone()).or_default();
            let counts = presence == PresenceMode::Counts;
            let newly_online = entry.room.add_subscriber(conn, tag, counts);
            (entry.last(), newly_online)
        };
        if newly_online {
            self.presence.came_online(room_id, &conn.user);
        }
        if known.is_none() {
            if let Err(err) = self.rooms.initialize(room_id).await {
                self.unsubscribe(room_id, conn.id);
                return Err(err);
            }
        }
        let last = self
            .rooms
            .lock()
            .get(room_id)
            .and_then(|e| e.last())
            .unwrap_or(0);
        Ok((last, self.presence.answer(room_id, conn.id, presence)))
    }

    /// Removes a subscriber; the room is forgotten (and unwatched) when nobody uses it.
    pub fn unsubscribe(&self, room_id: &Arc<str>, conn_id: u64) {
        let left = self
            .rooms
            .release(room_id, |room| room.remove_subscriber(conn_id));
        if let Some(Some(user)) = left {
            self.presence.went_offline(room_id, &user);
        }
    }

    /// Whether the connection is still among the room's subscribers (a deleted room ends
    /// every subscription to it; a slow consumer is dropped).
    pub fn is_subscribed(&self, room_id: &str, conn_id: u64) -> bool {
        self.rooms
            .lock()
            .get(room_id)
            .is_some_and(|e| e.room.is_subscribed(conn_id))
    }

    /// The last seq of the room this node has delivered, if it follows the room at all.
    pub fn delivered_seq(&self, room_id: &str) -> Option<u64> {
        self.rooms.lock().get(room_id).and_then(|e| e.last())
    }

    /// Whether this node has subscribers in the room (so it must keep watching it).
    pub fn has_room(&self, room_id: &str) -> bool {
        self.rooms.lock().contains_key(room_id)
    }

    /// Opens a long-poll of the room: its feed of recent events, typing and changes, and for
    /// a live poll (`lease`) the user's presence lease (see [`watch`]). Ends when dropped.
    pub async fn open_poll(&self, room_id: &Arc<str>, lease: Option<&User>) -> Result<PollWatch> {
        let grace = Duration::from_millis(self.poll_grace_ms.load(Ordering::Relaxed));
        watch::open(&self.rooms, room_id, lease, grace, |user| {
            self.presence.came_online(room_id, user)
        })
        .await
    }

    /// How many long-polls of the room are open here.
    pub fn open_polls(&self, room_id: &str) -> usize {
        self.rooms.lock().get(room_id).map_or(0, |e| e.room.pollers)
    }

    /// How long a live poller stays online in a room after their poll ends (default 20 s).
    pub fn set_poll_grace(&self, grace: Duration) {
        self.poll_grace_ms
            .store(grace.as_millis() as u64, Ordering::Relaxed);
    }

    /// Ends the presence leases of pollers who stopped polling (called every 250 ms).
    pub fn expire_poll_leases(&self) {
        let watch::Expired { offline, unused } = watch::expire(&self.rooms, Instant::now());
        for (room_id, user) in offline {
            self.presence.went_offline(&room_id, &user);
        }
        for room_id in unused {
            self.rooms
                .release(&room_id, |room| room.unused().then_some(()));
        }
    }

    /// A live poll's view of the room, for a reader whose last token was `seen`: who is online
    /// (cluster-wide, the reader included) when that changed since `seen`, who is typing (not
    /// the reader), the token naming that state, and when it next changes by itself (a typing
    /// notice lapsing).
    pub fn live_state(
        &self,
        room_id: &str,
        poll: &PollWatch,
        reader: &str,
        seen: &str,
    ) -> LiveState {
        let online = poll.feed().online(|| self.presence.online(room_id));
        let (typing, notices, lapses) = poll.feed().typing(reader);
        let token = feed::live_token(online.key, &typing, notices);
        let changed = seen.get(..16) != token.get(..16);
        LiveState {
            online: changed.then_some(online.users),
            typing,
            token,
            lapses,
        }
    }

    // Events.

    /// Takes a committed event from the bus and fans it out in order.
    pub fn deliver(&self, event: Arc<EncodedEvent>) {
        self.rooms.deliver(event);
    }

    /// Delivers whatever the store has after each watched room's last delivered seq.
    pub fn catch_up_all(&self) {
        self.rooms.catch_up();
    }

    // Presence and typing.

    /// The users online in a room, cluster-wide (this node's and the others'), each once.
    pub fn online(&self, room_id: &str) -> Vec<User> {
        self.presence.online(room_id)
    }

    /// How many users are online in a room, cluster-wide.
    pub fn online_count(&self, room_id: &str) -> u64 {
        self.presence.online_count(room_id)
    }

    /// Whether the user has a connection subscribed to the room, on any node.
    pub fn is_online(&self, room_id: &str, user_id: &str) -> bool {
        self.presence.is_online(room_id, user_id)
    }

    /// Who is online in each room on this node: the cluster heartbeat.
    pub fn local_presence(&self) -> HashMap<String, Vec<User>> {
        self.presence.local()
    }

    /// Users came online in / went offline from a room on other nodes (or their node died).
    pub fn remote_presence_changed(&self, room_id: &str, joined: &[User], left: &[User]) {
        self.presence.remote_changed(room_id, joined, left);
    }

    /// Relays a typing notice to the room's other users, on every node.
    pub fn typing(&self, room_id: &str, user: &User) {
        self.presence.typing(room_id, user);
    }

    /// Relays a typing notice to the room's other users on this node.
    pub fn relay_typing(&self, room_id: &str, user: &User) {
        self.presence.relay_typing(room_id, user);
    }

    /// Sends every room's batched presence changes as one `presence` frame.
    pub fn flush_presence(&self) {
        self.presence.flush();
    }

    // Calls.

    /// The connection joins the room's call (it must be subscribed to the room; the caller
    /// asked the gate): `call_full` past [`MAX_CALL_PARTICIPANTS`]. Its answer is a
    /// `call.state` with `reference`; the room's other subscribers, on every node, get the
    /// state too.
    pub fn join_call(
        &self,
        room_id: &Arc<str>,
        conn: &Arc<Connection>,
        reference: Option<Ref>,
    ) -> Result<()> {
        self.calls.join(room_id, conn, reference)
    }

    /// The connection leaves the room's call (if it is in it); answered with the new state.
    pub fn leave_call(&self, room_id: &Arc<str>, conn: &Arc<Connection>, reference: Option<Ref>) {
        self.calls.leave(room_id, conn, reference);
    }

    /// The connection unsubscribed from the room: it leaves the room's call too, unanswered.
    pub fn drop_call(&self, room_id: &Arc<str>, conn_id: u64) {
        self.calls.drop_from(room_id, conn_id);
    }

    /// Relays `data` from a participant's socket to another participant, on any node.
    pub fn call_signal(
        &self,
        room_id: &str,
        from: &Arc<Connection>,
        to: &str,
        data: serde_json::Value,
    ) -> Result<()> {
        self.calls.signal(room_id, from, to, data)
    }

    /// Who is in the room's call, cluster-wide, sorted by user id.
    pub fn call_participants(&self, room_id: &str) -> Vec<User> {
        self.calls.participants(room_id)
    }

    /// Tells a socket that just subscribed to the room who is in its call, if one runs.
    pub fn tell_call(&self, room_id: &Arc<str>, conn: &Arc<Connection>) {
        self.calls.tell_subscriber(room_id, conn);
    }

    // Room-list counts.

    /// A room's member count changed: its room-list entry is due for an update.
    pub fn mark_counts(&self, room_id: &str) {
        self.counts.mark(Arc::from(room_id));
    }

    /// Rooms whose counts changed, oldest change first, as many as one flush may announce
    /// over this node's open sockets.
    pub fn take_counts_dirty(&self) -> Vec<Arc<str>> {
        self.counts.take(self.connection_count())
    }
}

impl Deliver for Hub {
    fn deliver(&self, event: Arc<EncodedEvent>) {
        Hub::deliver(self, event);
    }

    fn catch_up(&self) {
        self.catch_up_all();
    }

    fn wants_room(&self, room_id: &str) -> bool {
        self.has_room(room_id)
    }

    fn local_presence(&self) -> HashMap<String, Vec<User>> {
        Hub::local_presence(self)
    }

    fn remote_presence_changed(&self, room_id: &str, joined: &[User], left: &[User]) {
        Hub::remote_presence_changed(self, room_id, joined, left);
    }

    fn relay_typing(&self, room_id: &str, user: &User) {
        Hub::relay_typing(self, room_id, user);
    }

    fn close_session(&self, token_hash: &str) {
        Hub::close_session(self, token_hash);
    }

    fn profile_changed_elsewhere(&self, user: &User) {
        self.connections.profile_changed(user);
    }

    fn frame_to_users(&self, user_ids: &[String], frame: Utf8Bytes) {
        Hub::frame_to_users(self, user_ids, frame);
    }

    fn local_calls(&self) -> HashMap<String, Vec<User>> {
        self.calls.local()
    }

    fn remote_call_changed(&self, room_id: &str) {
        self.calls.remote_changed(room_id);
    }

    fn call_joined_elsewhere(&self, room_id: &str, user_id: &str) {
        self.calls.joined_elsewhere(room_id, user_id);
    }

    fn relay_call_signal(&self, room_id: &str, to: &str, frame: Utf8Bytes) {
        self.calls.relay_signal(room_id, to, frame);
    }
}

impl Gauges for Hub {
    fn connections(&self) -> usize {
        self.connection_count()
    }

    fn subscriptions(&self) -> usize {
        self.subscription_count()
    }

    fn events_fanned_out(&self) -> u64 {
        self.rooms.fanned_out.load(Ordering::Relaxed)
    }
}
