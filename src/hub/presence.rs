//! Presence (who is online in a room) and the typing relay.
//!
//! A user is online in a room while at least one of their connections on this node is
//! subscribed to it, or a live long-poll of theirs holds a presence lease on it (see
//! [`super::watch`]); the room's long-polls are told of every change through its feed. In a
//! cluster, a [`ClusterPresence`] (the Redis bus) tells the hub who is online on the other
//! nodes; presence frames follow the cluster-wide online set (a user online on two nodes goes
//! offline once, when the second connection leaves). Presence changes are
//! batched: the flusher sends each room at most one `presence` frame per tick, so a thousand
//! people arriving at once cost a thousand frames per tick, not a million. Every change also
//! marks the room's room-list counts.
//!
//! A `subscribed` answer lists who is online now without encoding anyone: the room keeps who was
//! online at its last flush encoded ([`Published`], shared by every answer until the flush
//! after), and the answer lays the changes since that flush over it. A change and its reversal
//! within one batch cancel out for the room's earlier subscribers, but not for one answered
//! during that batch, whose list may have caught the change half-way: that subscriber gets the
//! batch's catch-up frame instead, everyone whose presence moved in the batch as they are now
//! (see [`Pending`]). The writer holds a subscription's `presence` frames until its answer is
//! out, so the answer and the frames after it always add up to who is online.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::counts::Counts;
use super::ordering::Rooms;
use super::room::{Pending, Published};
use crate::bus::Presence as ClusterPresence;
use crate::protocol::{PresenceMode, ServerFrame, User};

/// The online list of one `subscribed` answer: who was online at the room's last flush (shared)
/// with the changes since laid over it.
#[derive(Debug, Default)]
pub struct OnlineAnswer {
    published: Arc<Published>,
    /// The changes since that flush: user id → the user, encoded, if online now.
    changes: HashMap<String, Option<Arc<str>>>,
}

impl OnlineAnswer {
    fn is_online(&self, user_id: &str) -> bool {
        match self.changes.get(user_id) {
            Some(now) => now.is_some(),
            None => self.published.0.contains_key(user_id),
        }
    }

    /// How many are online, `me` (subscribed just now) included.
    fn count(&self, me: &User) -> usize {
        let published = &self.published.0;
        let gone = self
            .changes
            .keys()
            .filter(|id| published.contains_key(*id))
            .count();
        let came = self.changes.values().flatten().count();
        published.len() - gone + came + usize::from(!self.is_online(&me.id))
    }

    /// The `subscribed` answer for `me`, who is online in the room (subscribed just now):
    /// listed whether or not this node has noted it yet. For a `counts` subscription, only how
    /// many are online.
    pub fn subscribed(
        &self,
        room_id: &str,
        last_seq: u64,
        me: &User,
        mode: PresenceMode,
    ) -> String {
        let room_id = serde_json::to_string(room_id).expect("a string always serialises");
        let mut out = String::with_capacity(room_id.len() + 96);
        out.push_str(r#"{"type":"subscribed","room_id":"#);
        out.push_str(&room_id);
        out.push_str(r#","last_seq":"#);
        out.push_str(&last_seq.to_string());
        if mode == PresenceMode::Counts {
            out.push_str(r#","online":[],"online_count":"#);
            out.push_str(&self.count(me).to_string());
            out.push('}');
            return out;
        }
        let me = (!self.is_online(&me.id)).then(|| Pending::encode(me));
        let published = self
            .published
            .0
            .iter()
            .filter(|(id, _)| self.changes.is_empty() || !self.changes.contains_key(*id))
            .map(|(_, json)| json);
        let changed = self.changes.values().flatten();
        let users: Vec<&Arc<str>> = me.iter().chain(changed).chain(published).collect();
        out.reserve(users.iter().map(|u| u.len() + 1).sum());
        out.push_str(r#","online":["#);
        for (i, user) in users.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(user);
        }
        out.push_str("]}");
        out
    }
}

/// The `presence` frame of a `counts` subscription: how many are online now.
fn count_frame(room_id: &str, count: usize) -> Utf8Bytes {
    let room_id = serde_json::to_string(room_id).expect("a string always serialises");
    Utf8Bytes::from(format!(
        r#"{{"type":"presence","room_id":{room_id},"joined":[],"left":[],"online_count":{count}}}"#
    ))
}

/// A `presence` frame of users already encoded.
fn presence_frame<'a>(
    room_id: &str,
    joined: impl Iterator<Item = &'a Arc<str>>,
    left: impl Iterator<Item = &'a Arc<str>>,
) -> Utf8Bytes {
    let room_id = serde_json::to_string(room_id).expect("a string always serialises");
    let mut out = String::with_capacity(room_id.len() + 64);
    out.push_str(r#"{"type":"presence","room_id":"#);
    out.push_str(&room_id);
    for (key, users) in [
        (r#","joined":["#, joined.collect::<Vec<_>>()),
        (r#"],"left":["#, left.collect()),
    ] {
        out.push_str(key);
        for (i, user) in users.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(user);
        }
    }
    out.push_str("]}");
    Utf8Bytes::from(out)
}

/// This node's presence, and its window onto the other nodes'.
pub(super) struct Presence {
    rooms: Arc<Rooms>,
    counts: Arc<Counts>,
    /// The other nodes' online users; unset on a single node.
    cluster: OnceLock<Arc<dyn ClusterPresence>>,
    /// Rooms whose presence changed since the last flush.
    dirty: Mutex<HashSet<Arc<str>>>,
    /// Flushes so far (the clock of [`COUNT_EVERY_FLUSHES`]).
    flushes: std::sync::atomic::AtomicU64,
}

/// Flushes between two count turns (a second): while thousands come online at once, a
/// `counts` subscriber gets a new count a second, not four. Who subscribes meanwhile is
/// answered with the count of the moment. The turns fall on the room-list flush's ticks (every
/// fourth, see `flush_batches`), so a socket's count and room-list frames of one second leave
/// in one write.
pub(super) const COUNT_EVERY_FLUSHES: u64 = 4;

/// Most count frames one turn sends over all of the node's `counts` subscriptions: with more
/// subscriptions than this, the turns come every two seconds, three, … (like the room list's,
/// counts are a decoration: each is a frame, and a write, to every subscriber of the room).
/// 50,000 sockets connecting to 3 nodes were sent 1.5 M decoration frames with 10,000 for this
/// and the room list, 0.4 M with 2,500, and the nodes' CPU fell by a quarter.
pub(super) const COUNT_FRAMES_PER_TURN: usize = 2_500;

/// Whether flush number `now` is a count turn, on a node with `subscriptions` `counts`
/// subscriptions: every [`COUNT_EVERY_FLUSHES`]th flush, and of those every one, second, …,
/// as [`COUNT_FRAMES_PER_TURN`] allows.
fn count_turn(now: u64, subscriptions: usize) -> bool {
    let stride = subscriptions.div_ceil(COUNT_FRAMES_PER_TURN).max(1) as u64;
    now.is_multiple_of(COUNT_EVERY_FLUSHES * stride)
}

impl Presence {
    pub(super) fn new(rooms: Arc<Rooms>, counts: Arc<Counts>) -> Self {
        Presence {
            rooms,
            counts,
            cluster: OnceLock::new(),
            dirty: Mutex::new(HashSet::new()),
            flushes: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(super) fn attach(&self, cluster: Arc<dyn ClusterPresence>) {
        let _ = self.cluster.set(cluster);
    }

    pub(super) fn cluster(&self) -> Option<&Arc<dyn ClusterPresence>> {
        self.cluster.get()
    }

    fn remote_has(&self, room_id: &str, user_id: &str) -> bool {
        self.cluster
            .get()
            .is_some_and(|c| c.remote_has(room_id, user_id))
    }

    /// The user's first subscribed connection here in the room: they are online. Noted even
    /// when another node has them online too: the flush compares the user's state with what
    /// the room's subscribers were told, so a note that changes nothing sends nothing, and one
    /// whose remote arrival was skipped (they subscribed here between the other node's word and
    /// its delivery) is not lost.
    pub(super) fn came_online(&self, room_id: &Arc<str>, user: &User) {
        if let Some(cluster) = self.cluster.get() {
            cluster.local_changed(room_id, user, true);
        }
        self.changed(room_id, user, true);
    }

    /// The user's last subscribed connection here in the room left (noted whatever the other
    /// nodes say, as above).
    pub(super) fn went_offline(&self, room_id: &Arc<str>, user: &User) {
        if let Some(cluster) = self.cluster.get() {
            cluster.local_changed(room_id, user, false);
        }
        self.changed(room_id, user, false);
    }

    /// Records a presence change for the room's next `presence` frame (see the flusher). The
    /// room may be gone already (its last subscriber left): then nobody here needs the frame,
    /// but the room's counts still changed.
    fn changed(&self, room_id: &Arc<str>, user: &User, online: bool) {
        if let Some(entry) = self.rooms.lock().get_mut(room_id) {
            entry.room.note_presence(user, online);
        }
        self.dirty.lock().unwrap().insert(room_id.clone());
        self.counts.mark(room_id.clone());
    }

    /// The users online in a room, cluster-wide (this node's and the others'), each once.
    pub(super) fn online(&self, room_id: &str) -> Vec<User> {
        let mut users: Vec<User> = self
            .rooms
            .lock()
            .get(room_id)
            .map(|e| {
                e.room
                    .online
                    .values()
                    .map(|(user, _)| user.clone())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(cluster) = self.cluster.get() {
            let here: HashSet<String> = users.iter().map(|u| u.id.clone()).collect();
            users.extend(
                cluster
                    .remote_online(room_id)
                    .into_iter()
                    .filter(|u| !here.contains(&u.id)),
            );
        }
        users
    }

    /// The online list of a `subscribed` answer to `conn_id`, just subscribed (see
    /// [`OnlineAnswer`]); a `full` subscription gets the room's next catch-up frame, and a
    /// `counts` one, whose count may differ from what the others were told, makes the next
    /// count turn go to everyone. Empty for a room not followed here.
    pub(super) fn answer(&self, room_id: &str, conn_id: u64, mode: PresenceMode) -> OnlineAnswer {
        let mut table = self.rooms.lock();
        let Some(entry) = table.get_mut(room_id) else {
            return OnlineAnswer::default();
        };
        let room = &mut entry.room;
        let published = match &room.published {
            Some(published) => published.clone(),
            None => {
                // The room's first answer here: who is online now, less the changes since the
                // last flush.
                let remote = self
                    .cluster
                    .get()
                    .map(|c| c.remote_online(room_id))
                    .unwrap_or_default();
                let now = room.online.values().map(|(user, _)| user).chain(&remote);
                let mut published: HashMap<String, Arc<str>> = now
                    .filter(|u| !room.pending.contains_key(&u.id))
                    .map(|u| (u.id.clone(), Pending::encode(u)))
                    .collect();
                for (id, pending) in &room.pending {
                    if pending.was_online {
                        published.insert(id.clone(), pending.json.clone());
                    }
                }
                let published = Arc::new(Published(published));
                room.published = Some(published.clone());
                published
            }
        };
        match mode {
            PresenceMode::Full => {
                room.answered.insert(conn_id);
            }
            PresenceMode::Counts => room.counted = None,
        }
        // The touched users as they are now (not as last noted: see `flush`).
        let changes = room
            .pending
            .iter()
            .map(|(id, p)| {
                let online = room.online.contains_key(id) || self.remote_has(room_id, id);
                (id.clone(), online.then(|| p.json.clone()))
            })
            .collect();
        OnlineAnswer { published, changes }
    }

    /// How many users are online in a room, cluster-wide.
    pub(super) fn online_count(&self, room_id: &str) -> u64 {
        if self.cluster.get().is_some() {
            return self.online(room_id).len() as u64;
        }
        self.rooms
            .lock()
            .get(room_id)
            .map_or(0, |e| e.room.online.len() as u64)
    }

    /// Whether the user has a connection subscribed to the room, on any node.
    pub(super) fn is_online(&self, room_id: &str, user_id: &str) -> bool {
        self.is_online_here(room_id, user_id) || self.remote_has(room_id, user_id)
    }

    fn is_online_here(&self, room_id: &str, user_id: &str) -> bool {
        self.rooms
            .lock()
            .get(room_id)
            .is_some_and(|e| e.room.online.contains_key(user_id))
    }

    /// Who is online in each room on this node: the cluster heartbeat.
    pub(super) fn local(&self) -> HashMap<String, Vec<User>> {
        self.rooms
            .lock()
            .iter()
            .filter(|(_, e)| !e.room.online.is_empty())
            .map(|(room, e)| {
                let users = e
                    .room
                    .online
                    .values()
                    .map(|(user, _)| user.clone())
                    .collect();
                (room.to_string(), users)
            })
            .collect()
    }

    /// Users came online in / went offline from a room on other nodes (or their node died):
    /// this node's subscribers hear of those not online here anyway, in the room's next
    /// batched `presence` frame (a storm of remote arrivals costs a frame per tick, not one
    /// per arrival).
    pub(super) fn remote_changed(&self, room_id: &str, joined: &[User], left: &[User]) {
        let room_id: Arc<str> = Arc::from(room_id);
        // The room's cluster-wide online count changed: its room-list entry is due too.
        self.counts.mark(room_id.clone());
        let mut table = self.rooms.lock();
        let Some(entry) = table.get_mut(&room_id) else {
            return;
        };
        let room = &mut entry.room;
        let mut noted = false;
        for (users, online) in [(joined, true), (left, false)] {
            for user in users {
                if !room.online.contains_key(&user.id) {
                    room.note_presence(user, online);
                    noted = true;
                }
            }
        }
        drop(table);
        if noted {
            self.dirty.lock().unwrap().insert(room_id);
        }
    }

    /// Relays a typing notice to the room's other users, on every node.
    pub(super) fn typing(&self, room_id: &str, user: &User) {
        if let Some(cluster) = self.cluster.get() {
            cluster.typing(room_id, user);
        }
        self.relay_typing(room_id, user);
    }

    /// Relays a typing notice to the room's other users on this node.
    pub(super) fn relay_typing(&self, room_id: &str, user: &User) {
        let frame = ServerFrame::Typing {
            room_id: room_id.to_string(),
            user: user.clone(),
        };
        let frame = Utf8Bytes::from(frame.encode());
        if let Some(entry) = self.rooms.lock().get(room_id) {
            entry.room.broadcast(&frame, Some(&user.id));
            if let Some(feed) = &entry.room.feed {
                feed.typed(user);
            }
        }
    }

    /// Sends every room's batched presence changes as one `presence` frame; to those answered
    /// `subscribed` since the last flush, the catch-up frame (see [`Pending`]).
    pub(super) fn flush(&self) {
        let dirty: Vec<Arc<str>> = self.dirty.lock().unwrap().drain().collect();
        let now = self
            .flushes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        if dirty.is_empty() {
            return;
        }
        // Rooms whose new count waits for its turn: flushed again next time.
        let mut held = Vec::new();
        let mut table = self.rooms.lock();
        let turn = now.is_multiple_of(COUNT_EVERY_FLUSHES) && {
            let subscriptions = table
                .values()
                .map(|e| e.room.subscribers.iter().filter(|s| s.counts).count())
                .sum();
            count_turn(now, subscriptions)
        };
        for room_id in dirty {
            let Some(entry) = table.get_mut(&room_id) else {
                continue;
            };
            let room = &mut entry.room;
            let mut pending = std::mem::take(&mut room.pending);
            // Each touched user as they are now, read from the state rather than from the
            // notes (two notes of one user can land out of order: a reconnect's "came online"
            // before its old socket's "went offline"), against what the room's earlier
            // subscribers were last told (the published list, when there is one).
            for (id, p) in pending.iter_mut() {
                p.online = room.online.contains_key(id) || self.remote_has(&room_id, id);
                if let Some(published) = &room.published {
                    p.was_online = published.0.contains_key(id);
                }
            }
            let touched = !pending.is_empty();
            let (frame, catch_up) = self.list_frames(room, &room_id, pending);
            // The `counts` subscribers' frame, when the count is known (a room answered here):
            // to all of them when the count moved and its turn has come. `counted` is `None`
            // too when one was answered since the last turn (its answer may hold another
            // count than the rest were told): then the next turn goes to everyone.
            let any_counts = room.subscribers.iter().any(|sub| sub.counts);
            let count = room.published.as_ref().map(|p| p.0.len());
            let moved = count != room.counted;
            let send_count = any_counts && moved && turn;
            if any_counts && moved && !turn {
                held.push(room_id.clone());
            }
            let count_frame = count
                .filter(|_| send_count)
                .map(|count| count_frame(&room_id, count));
            if frame.is_some() || catch_up.is_some() || count_frame.is_some() {
                room.broadcast_presence(
                    &room_id,
                    frame.as_ref(),
                    catch_up.as_ref(),
                    count_frame.as_ref(),
                );
            }
            room.answered.clear();
            if send_count || !any_counts {
                room.counted = count;
            }
            if touched {
                if let Some(feed) = &room.feed {
                    feed.touch();
                }
            }
        }
        drop(table);
        if !held.is_empty() {
            self.dirty.lock().unwrap().extend(held);
        }
    }

    /// The room's batch as `presence` frames for its `full` subscribers: the changes for those
    /// told of the last batch, and (when someone was answered since) the catch-up for those
    /// answered; the published list takes the batch in.
    fn list_frames(
        &self,
        room: &mut super::room::Room,
        room_id: &Arc<str>,
        pending: HashMap<String, Pending>,
    ) -> (Option<Utf8Bytes>, Option<Utf8Bytes>) {
        if pending.is_empty() {
            return (None, None);
        }
        let moved = |p: &&Pending| p.was_online != p.online;
        let joined = pending.values().filter(moved).filter(|p| p.online);
        let left = pending.values().filter(moved).filter(|p| !p.online);
        let frame = joined
            .clone()
            .next()
            .or(left.clone().next())
            .map(|_| presence_frame(room_id, joined.map(|p| &p.json), left.map(|p| &p.json)));
        let reversed = pending.values().any(|p| p.was_online == p.online);
        // Made only when someone will be sent it: a `full` subscriber answered since the last
        // flush (only those are noted as answered; an unsubscribe forgets its own).
        let catch_up = if !room.answered.is_empty() && reversed {
            let joined = pending.values().filter(|p| p.online).map(|p| &p.json);
            let left = pending.values().filter(|p| !p.online).map(|p| &p.json);
            Some(presence_frame(room_id, joined, left))
        } else {
            frame.clone()
        };
        if let Some(published) = &mut room.published {
            let published = &mut Arc::make_mut(published).0;
            for (id, p) in pending {
                if p.online {
                    published.insert(id, p.json);
                } else {
                    published.remove(&id);
                }
            }
        }
        (frame, catch_up)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::hub::outbound::{Closer, Connection, Outbound, OutboundQueue};
    use crate::metrics::Metrics;

    fn user(id: &str) -> User {
        User {
            id: id.into(),
            username: id.into(),
            guest: true,
            admin: false,
            display_name: None,
            bot: false,
        }
    }

    /// What a client of the room sees: the `subscribed` answer's list (or count, for a
    /// `counts` subscription), then each `presence` frame queued for it (the writer sends those
    /// after the answer).
    struct Watcher {
        conn: Arc<Connection>,
        queue: Arc<Connection>,
        online: BTreeSet<String>,
        count: Option<u64>,
    }

    impl Watcher {
        fn read(&mut self) {
            while let Some(item) = self.queue.queue.try_recv() {
                let Outbound::Presence { frame, .. } = item else {
                    panic!("only presence frames are expected");
                };
                let frame: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
                assert_eq!(
                    frame["online_count"].as_u64().is_some(),
                    self.count.is_some()
                );
                if self.count.is_some() {
                    self.count = frame["online_count"].as_u64();
                }
                for u in frame["joined"].as_array().unwrap() {
                    self.online.insert(u["id"].as_str().unwrap().into());
                }
                for u in frame["left"].as_array().unwrap() {
                    self.online.remove(u["id"].as_str().unwrap());
                }
            }
        }
    }

    /// A node's presence with one room, `r`, nobody in it (and the store's directory).
    async fn one_room() -> (tempfile::TempDir, Arc<Rooms>, Presence, Arc<str>) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open_in(dir.path())
            .await
            .unwrap();
        let rooms = Rooms::new(Arc::new(store));
        let presence = Presence::new(rooms.clone(), Arc::new(Counts::default()));
        let room: Arc<str> = Arc::from("r");
        rooms.lock().insert(room.clone(), Default::default());
        (dir, rooms, presence, room)
    }

    /// A connection of `name`'s, and what is queued for it.
    fn connection(id: u64, name: &str) -> (Arc<Connection>, Arc<Connection>) {
        let conn = Arc::new(Connection {
            id,
            user: user(name),
            token_hash: format!("h{id}"),
            expires_at: None,
            queue: OutboundQueue::new(10_000),
            closer: Closer::default(),
            metrics: Arc::new(Metrics::new()),
        });
        (conn.clone(), conn)
    }

    /// People come and go, the flusher runs now and then, and watchers subscribe at every
    /// point in between: after every flush, each watcher's answer plus the frames after it add
    /// up to who is online, including someone who came and went (or went and came back) between
    /// a flush and a watcher's answer, whose changes cancel out for the others, and someone whose
    /// two notes landed in the wrong order (a reconnect's "online" before its old socket's
    /// "offline"). The `counts` watchers' count is right after every flush too.
    #[tokio::test]
    async fn an_answer_and_the_frames_after_it_add_up_to_who_is_online() {
        let (_dir, rooms, presence, room) = one_room().await;
        let mut next_id = 0u64;
        let mut connect = |name: &str| {
            next_id += 1;
            connection(next_id, name)
        };
        // A subscribe or unsubscribe changes the room under its lock, and notes the presence
        // change after letting go of it: another thread's note can land first. `Some(notes)`:
        // the note waits there (the flush step lands the waiting ones last first).
        let subscribe =
            |conn: &Arc<Connection>, later: Option<&mut Vec<(User, bool)>>, counts: bool| {
                let newly = rooms
                    .lock()
                    .get_mut(&room)
                    .unwrap()
                    .room
                    .add_subscriber(conn, conn.id, counts);
                match (newly, later) {
                    (true, Some(notes)) => notes.push((conn.user.clone(), true)),
                    (true, None) => presence.came_online(&room, &conn.user),
                    _ => {}
                }
            };
        let unsubscribe = |conn: &Arc<Connection>, later: Option<&mut Vec<(User, bool)>>| {
            let gone = rooms
                .lock()
                .get_mut(&room)
                .unwrap()
                .room
                .remove_subscriber(conn.id);
            match (gone, later) {
                (Some(Some(user)), Some(notes)) => notes.push((user, false)),
                (Some(Some(user)), None) => presence.went_offline(&room, &user),
                _ => {}
            }
        };
        let mut notes: Vec<(User, bool)> = Vec::new();
        // The flush step: the waiting notes land, last first; then the flush; then every watcher
        // must be right (a wrong list could stay wrong until that person comes or goes again).
        let flush_and_check = |notes: &mut Vec<(User, bool)>,
                               watchers: &mut Vec<Watcher>,
                               step: usize| {
            for (user, online) in notes.drain(..).rev() {
                if online {
                    presence.came_online(&room, &user);
                } else {
                    presence.went_offline(&room, &user);
                }
            }
            presence.flush();
            let truth: BTreeSet<String> = rooms.lock()[&room].room.online.keys().cloned().collect();
            // A new count waits its turn (COUNT_EVERY_FLUSHES): until then the `counts`
            // watchers may hold an older count, and the room must still be due a flush; once
            // it is not, every count must be the truth.
            let told = rooms.lock()[&room].room.counted.map(|n| n as u64);
            let owed = presence.dirty.lock().unwrap().contains(&room);
            for watcher in watchers.iter_mut() {
                watcher.read();
                let id = watcher.conn.id;
                match watcher.count {
                    Some(_) if owed => {}
                    Some(count) => {
                        assert_eq!(
                            count,
                            truth.len() as u64,
                            "watcher {id} at step {step} (told {told:?})"
                        );
                    }
                    None => assert_eq!(watcher.online, truth, "watcher {id} at step {step}"),
                }
            }
        };
        let mut people: Vec<Option<Arc<Connection>>> = vec![None; 6];
        let mut watchers: Vec<Watcher> = Vec::new();
        // A fixed walk (an LCG), so the test is the same every run.
        let mut state = 7u64;
        for step in 0..3_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let pick = (state >> 33) as usize;
            match pick % 10 {
                0..=5 => {
                    let who = pick / 10 % people.len();
                    // Every third change notes late; some of those are a reconnect: the new
                    // socket subscribes after the old one left, both notes waiting.
                    let late = (pick / 100).is_multiple_of(3);
                    match people[who].take() {
                        Some(old) if late && (pick / 1000).is_multiple_of(2) => {
                            unsubscribe(&old, Some(&mut notes));
                            let (conn, _queue) = connect(&format!("p{who}"));
                            subscribe(&conn, Some(&mut notes), false);
                            people[who] = Some(conn);
                        }
                        Some(conn) => unsubscribe(&conn, late.then_some(&mut notes)),
                        None => {
                            let (conn, _queue) = connect(&format!("p{who}"));
                            subscribe(&conn, late.then_some(&mut notes), false);
                            people[who] = Some(conn);
                        }
                    }
                }
                6 | 7 => flush_and_check(&mut notes, &mut watchers, step),
                _ if watchers.len() < 200 => {
                    let (conn, queue) = connect(&format!("w{step}"));
                    // Every third watcher asks for counts only.
                    let mode = match watchers.len() % 3 {
                        0 => PresenceMode::Counts,
                        _ => PresenceMode::Full,
                    };
                    subscribe(&conn, None, mode == PresenceMode::Counts);
                    let answer = presence
                        .answer(&room, conn.id, mode)
                        .subscribed(&room, 1, &conn.user, mode);
                    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
                    let online = answer["online"].as_array().unwrap();
                    let online = online.iter().map(|u| u["id"].as_str().unwrap().into());
                    watchers.push(Watcher {
                        conn,
                        queue,
                        online: online.collect(),
                        count: answer["online_count"].as_u64(),
                    });
                }
                _ => {}
            }
        }
        // Nothing changes any more: within a second of flushes every count is the truth.
        for step in 3_000..3_000 + COUNT_EVERY_FLUSHES as usize {
            flush_and_check(&mut notes, &mut watchers, step);
        }
        assert!(!presence.dirty.lock().unwrap().contains(&room));
        let truth = rooms.lock()[&room].room.online.len() as u64;
        for watcher in &watchers {
            if let Some(count) = watcher.count {
                assert_eq!(count, truth, "watcher {} at the end", watcher.conn.id);
            }
        }
        assert!(watchers.len() > 100);
    }

    #[test]
    fn count_turns_come_a_second_apart_and_thin_out_past_the_budget() {
        let turns = |subscriptions| {
            (1..=24)
                .filter(|&n| count_turn(n, subscriptions))
                .collect::<Vec<u64>>()
        };
        assert_eq!(turns(0), [4, 8, 12, 16, 20, 24]);
        assert_eq!(turns(COUNT_FRAMES_PER_TURN), [4, 8, 12, 16, 20, 24]);
        assert_eq!(turns(COUNT_FRAMES_PER_TURN + 1), [8, 16, 24]);
        assert_eq!(turns(3 * COUNT_FRAMES_PER_TURN), [12, 24]);
    }

    /// A new count waits its turn, but nobody keeps a wrong one: a `counts` subscriber answered
    /// while a count was held holds its answer's count; when the count then comes back to what
    /// the others were told before the turn came, that subscriber is told at the turn too.
    #[tokio::test]
    async fn a_held_count_reaches_everyone_when_its_turn_comes() {
        let (_dir, rooms, presence, room) = one_room().await;
        let mut next_id = 0u64;
        let mut join = |name: &str, counts: bool| {
            next_id += 1;
            let (conn, outbound) = connection(next_id, name);
            rooms
                .lock()
                .get_mut(&room)
                .unwrap()
                .room
                .add_subscriber(&conn, conn.id, counts);
            presence.came_online(&room, &conn.user);
            let mode = if counts {
                PresenceMode::Counts
            } else {
                PresenceMode::Full
            };
            let answer = presence
                .answer(&room, conn.id, mode)
                .subscribed(&room, 1, &conn.user, mode);
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            Watcher {
                conn,
                queue: outbound,
                online: BTreeSet::new(),
                count: answer["online_count"].as_u64(),
            }
        };
        let leave = |watcher: &Watcher| {
            rooms
                .lock()
                .get_mut(&room)
                .unwrap()
                .room
                .remove_subscriber(watcher.conn.id);
            presence.went_offline(&room, &watcher.conn.user);
        };
        let mut a = join("a", true);
        let p1 = join("p1", false);
        assert_eq!(a.count, Some(1), "A's answer counts A alone");
        // 1 to 3: 2 now, held until the turn; 4 is the first turn.
        for _ in 1..COUNT_EVERY_FLUSHES {
            presence.flush();
            a.read();
            assert_eq!(a.count, Some(1), "a count goes out only on a turn");
        }
        presence.flush();
        a.read();
        assert_eq!(a.count, Some(2));
        assert_eq!(rooms.lock()[&room].room.counted, Some(2));
        let p2 = join("p2", false);
        let mut w = join("w", true);
        presence.flush(); // 5: 4 now, held; W was answered with it.
        a.read();
        w.read();
        assert_eq!((a.count, w.count), (Some(2), Some(4)));
        leave(&p1);
        leave(&p2);
        presence.flush(); // 6: back to 2, what A was told; W still holds 4.
        for _ in 7..=2 * COUNT_EVERY_FLUSHES {
            presence.flush(); // 8: the turn.
        }
        a.read();
        w.read();
        assert_eq!((a.count, w.count), (Some(2), Some(2)));
        assert!(presence.dirty.lock().unwrap().is_empty());
    }

    /// The answer laid over the shared list is the same JSON as the frame encoded whole, with
    /// the subscriber listed once, whether or not the list had them; so is a presence frame.
    #[test]
    fn the_answer_is_the_subscribed_frame() {
        let (alice, bob, carol) = (user("alice"), user("bob"), user("carol"));
        let published = Published(HashMap::from([
            (alice.id.clone(), Pending::encode(&alice)),
            (carol.id.clone(), Pending::encode(&carol)),
        ]));
        let answer = OnlineAnswer {
            published: Arc::new(published),
            // Carol left since the flush.
            changes: HashMap::from([(carol.id.clone(), None)]),
        };
        let whole = |online: Vec<User>| {
            ServerFrame::Subscribed {
                room_id: "r\"1".into(),
                last_seq: 42,
                online,
                online_count: None,
            }
            .encode()
        };
        let counted = |online_count: u64| {
            ServerFrame::Subscribed {
                room_id: "r\"1".into(),
                last_seq: 42,
                online: vec![],
                online_count: Some(online_count),
            }
            .encode()
        };
        let full = PresenceMode::Full;
        // Alice is online, Carol left since the flush, and Bob is new.
        assert_eq!(
            answer.subscribed("r\"1", 42, &alice, PresenceMode::Counts),
            counted(1)
        );
        assert_eq!(
            answer.subscribed("r\"1", 42, &bob, PresenceMode::Counts),
            counted(2)
        );
        assert_eq!(
            answer.subscribed("r\"1", 42, &alice, full),
            whole(vec![alice.clone()])
        );
        assert_eq!(
            answer.subscribed("r\"1", 42, &bob, full),
            whole(vec![bob.clone(), alice.clone()])
        );
        assert_eq!(
            OnlineAnswer::default().subscribed("r\"1", 42, &bob, full),
            whole(vec![bob.clone()])
        );
        let encoded = [Pending::encode(&alice), Pending::encode(&bob)];
        let frame = presence_frame("r\"1", encoded[..1].iter(), encoded[1..].iter());
        let want = ServerFrame::Presence {
            room_id: "r\"1".into(),
            joined: vec![alice],
            left: vec![bob],
            online_count: None,
        };
        assert_eq!(frame.as_str(), want.encode());
        let want = ServerFrame::Presence {
            room_id: "r\"1".into(),
            joined: vec![],
            left: vec![],
            online_count: Some(7),
        };
        assert_eq!(count_frame("r\"1", 7).as_str(), want.encode());
    }
}
