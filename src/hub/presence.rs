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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::counts::Counts;
use super::ordering::Rooms;
use crate::bus::Presence as ClusterPresence;
use crate::protocol::{ServerFrame, User};

/// This node's presence, and its window onto the other nodes'.
pub(super) struct Presence {
    rooms: Arc<Rooms>,
    counts: Arc<Counts>,
    /// The other nodes' online users; unset on a single node.
    cluster: OnceLock<Arc<dyn ClusterPresence>>,
    /// Rooms whose presence changed since the last flush.
    dirty: Mutex<HashSet<Arc<str>>>,
}

impl Presence {
    pub(super) fn new(rooms: Arc<Rooms>, counts: Arc<Counts>) -> Self {
        Presence {
            rooms,
            counts,
            cluster: OnceLock::new(),
            dirty: Mutex::new(HashSet::new()),
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

    /// The user's first subscribed connection here in the room: they are online.
    pub(super) fn came_online(&self, room_id: &Arc<str>, user: &User) {
        if let Some(cluster) = self.cluster.get() {
            cluster.local_changed(room_id, user, true);
        }
        if !self.remote_has(room_id, &user.id) {
            self.changed(room_id, Some(user), None);
        }
    }

    /// The user's last subscribed connection here in the room left.
    pub(super) fn went_offline(&self, room_id: &Arc<str>, user: &User) {
        if let Some(cluster) = self.cluster.get() {
            cluster.local_changed(room_id, user, false);
        }
        if !self.remote_has(room_id, &user.id) {
            self.changed(room_id, None, Some(user));
        }
    }

    /// Records a presence change for the room's next `presence` frame (see the flusher). The
    /// room may be gone already (its last subscriber left): then nobody here needs the frame,
    /// but the room's counts still changed.
    fn changed(&self, room_id: &Arc<str>, joined: Option<&User>, left: Option<&User>) {
        if let Some(entry) = self.rooms.lock().get_mut(room_id) {
            entry.room.note_presence(joined, left);
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
        for user in joined {
            if !room.online.contains_key(&user.id) {
                room.note_presence(Some(user), None);
                noted = true;
            }
        }
        for user in left {
            if !room.online.contains_key(&user.id) {
                room.note_presence(None, Some(user));
                noted = true;
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

    /// Sends every room's batched presence changes as one `presence` frame.
    pub(super) fn flush(&self) {
        let dirty: Vec<Arc<str>> = self.dirty.lock().unwrap().drain().collect();
        if dirty.is_empty() {
            return;
        }
        let mut table = self.rooms.lock();
        for room_id in dirty {
            let Some(entry) = table.get_mut(&room_id) else {
                continue;
            };
            let room = &mut entry.room;
            if room.joined.is_empty() && room.left.is_empty() {
                continue;
            }
            let frame = ServerFrame::Presence {
                room_id: room_id.to_string(),
                joined: std::mem::take(&mut room.joined),
                left: std::mem::take(&mut room.left),
            };
            room.broadcast(&Utf8Bytes::from(frame.encode()), None);
            if let Some(feed) = &room.feed {
                feed.touch();
            }
        }
    }
}
