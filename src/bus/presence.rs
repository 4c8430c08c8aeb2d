//! Presence across nodes: who is online in a room on the *other* nodes.
//!
//! A node knows its own online users exactly (the hub counts its subscribed connections). In a
//! cluster it also needs the others': [`Presence`] is the hub's window onto them, implemented
//! by the Redis bus. The embedded single node has no `Presence` at all, so its path stays
//! in-process.
//!
//! [`RemoteView`] is the transport-free part: what each other node last said it has online, when
//! it last said anything, and which users appear or disappear in a room when that changes. A node
//! that stops sending heartbeats expires, and its users go offline with it. The same view, a
//! second one, holds the other nodes' call participants per room (#13).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::protocol::User;

/// The hub's window onto the rest of the cluster. Calls never block: implementations queue.
pub trait Presence: Send + Sync + 'static {
    /// A user came online (their first subscribed connection here) or went offline (their last
    /// one left) in a room on this node.
    fn local_changed(&self, room_id: &str, user: &User, online: bool);
    /// A user on this node is typing in a room: tell the other nodes.
    fn typing(&self, room_id: &str, user: &User);
    /// Users online in the room on other nodes (a user may also be online here).
    fn remote_online(&self, room_id: &str) -> Vec<User>;
    /// Whether the user is online in the room on another node (no copy of the room's list).
    fn remote_has(&self, room_id: &str, user_id: &str) -> bool;
    /// A session was revoked (logout) here: the other nodes close its sockets too.
    fn session_revoked(&self, token_hash: &str);
    /// A frame for these users' sockets (a report to a room's moderators): the other nodes
    /// push it to theirs.
    fn to_users(&self, user_ids: &[String], frame: &str);
    /// A user joined (`true`) or left a room's call on this node.
    fn call_changed(&self, room_id: &str, user: &User, joined: bool);
    /// The room's call participants on other nodes (a user may also be in it here).
    fn remote_call(&self, room_id: &str) -> Vec<User>;
    /// A `call.signal` frame for a participant whose socket is on another node.
    fn call_signal(&self, room_id: &str, to: &str, frame: &str);
    /// A user changed their profile here: the other nodes' sockets of theirs speak as the new
    /// one from now on.
    fn profile_changed(&self, user: &User);
}

/// One user online in one room, as a 64-bit hash (FNV-1a: the same on every node and build).
/// A node's online list is summed up as the XOR of these: [`RemoteView::digest`] on the nodes
/// that hear of it, kept up as it changes on the node itself. The XOR of an entry added and
/// removed again is nothing, so the digest follows the changes in any order.
pub fn digest(room_id: &str, user_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in room_id.bytes().chain([0xff]).chain(user_id.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Users appearing in / disappearing from a room's remote online set.
#[derive(Debug, Default, PartialEq)]
pub struct RoomDiff {
    pub joined: Vec<User>,
    pub left: Vec<User>,
}

type RoomUsers = HashMap<String, HashMap<String, User>>;

struct NodeState {
    seen: Instant,
    rooms: RoomUsers,
    /// The [`digest`] of `rooms`, kept up as they change.
    digest: u64,
}

/// The [`digest`] of a node's rooms, from scratch.
fn digest_of(rooms: &RoomUsers) -> u64 {
    rooms.iter().fold(0, |acc, (room, users)| {
        users.keys().fold(acc, |acc, user| acc ^ digest(room, user))
    })
}

/// What the other nodes have online (see the module doc).
#[derive(Default)]
pub struct RemoteView {
    nodes: HashMap<String, NodeState>,
}

impl RemoteView {
    /// Users online in the room on any known node, each once.
    pub fn online(&self, room_id: &str) -> Vec<User> {
        let mut seen = HashSet::new();
        let mut users = Vec::new();
        for node in self.nodes.values() {
            if let Some(room) = node.rooms.get(room_id) {
                for (id, user) in room {
                    if seen.insert(id.as_str()) {
                        users.push(user.clone());
                    }
                }
            }
        }
        users
    }

    fn contains(&self, room_id: &str, user_id: &str) -> bool {
        self.nodes.values().any(|n| {
            n.rooms
                .get(room_id)
                .is_some_and(|r| r.contains_key(user_id))
        })
    }

    /// Whether the user is online in the room on any other node.
    pub fn has(&self, room_id: &str, user_id: &str) -> bool {
        self.contains(room_id, user_id)
    }

    /// A node's light heartbeat: it is alive. Answers whether this view of its online users
    /// matches its digest (`false`: something was missed, ask it for the full list).
    pub fn beat(&mut self, node_id: &str, online: u64, now: Instant) -> bool {
        self.heard(node_id, now).digest == online
    }

    /// `before`/`after` are one node's rooms (`after` as it now is in the view); a user counts
    /// as joined/left only if no other node has them in that room. Rooms whose users are the
    /// same before and after cost a comparison of their ids.
    fn diff(&self, before: &RoomUsers, after: &RoomUsers) -> Vec<(String, RoomDiff)> {
        let mut rooms: Vec<&String> = before.keys().chain(after.keys()).collect();
        rooms.sort();
        rooms.dedup();
        let mut out = Vec::new();
        for room in rooms {
            let old = before.get(room);
            let new = after.get(room);
            if let (Some(old), Some(new)) = (old, new) {
                if old.len() == new.len() && old.keys().all(|id| new.contains_key(id)) {
                    continue;
                }
            }
            let mut diff = RoomDiff::default();
            for (id, user) in new.into_iter().flatten() {
                if !old.is_some_and(|o| o.contains_key(id)) && self.count(room, id) == 1 {
                    diff.joined.push(user.clone());
                }
            }
            for (id, user) in old.into_iter().flatten() {
                if !new.is_some_and(|n| n.contains_key(id)) && !self.contains(room, id) {
                    diff.left.push(user.clone());
                }
            }
            if !diff.joined.is_empty() || !diff.left.is_empty() {
                out.push((room.clone(), diff));
            }
        }
        out
    }

    fn count(&self, room_id: &str, user_id: &str) -> usize {
        self.nodes
            .values()
            .filter(|n| {
                n.rooms
                    .get(room_id)
                    .is_some_and(|r| r.contains_key(user_id))
            })
            .count()
    }

    /// The node's state, marked as heard from `now`.
    fn heard(&mut self, node_id: &str, now: Instant) -> &mut NodeState {
        let state = self
            .nodes
            .entry(node_id.to_string())
            .or_insert_with(|| NodeState {
                seen: now,
                rooms: HashMap::new(),
                digest: 0,
            });
        state.seen = now;
        state
    }

    /// A node's full list of online users per room (its heartbeat). Costs a pass over the
    /// node's users; nothing is copied but what changed.
    pub fn snapshot(
        &mut self,
        node_id: &str,
        rooms: HashMap<String, Vec<User>>,
        now: Instant,
    ) -> Vec<(String, RoomDiff)> {
        let rooms: RoomUsers = rooms
            .into_iter()
            .filter(|(_, users)| !users.is_empty())
            .map(|(room, users)| {
                let users = users.into_iter().map(|u| (u.id.clone(), u)).collect();
                (room, users)
            })
            .collect();
        let state = self.heard(node_id, now);
        state.digest = digest_of(&rooms);
        let before = std::mem::replace(&mut state.rooms, rooms);
        self.diff(&before, &self.nodes[node_id].rooms)
    }

    /// One user of a node came online or went offline in a room. Costs a lookup per node, not
    /// a pass over anyone's users (a reconnect storm sends thousands of these a second).
    pub fn set(
        &mut self,
        node_id: &str,
        room_id: &str,
        user: &User,
        online: bool,
        now: Instant,
    ) -> Vec<(String, RoomDiff)> {
        let state = self.heard(node_id, now);
        let rooms = &mut state.rooms;
        let changed = if online {
            rooms
                .entry(room_id.to_string())
                .or_default()
                .insert(user.id.clone(), user.clone())
                .is_none()
        } else {
            match rooms.get_mut(room_id) {
                Some(users) => {
                    let removed = users.remove(&user.id).is_some();
                    if users.is_empty() {
                        rooms.remove(room_id);
                    }
                    removed
                }
                None => false,
            }
        };
        if changed {
            state.digest ^= digest(room_id, &user.id);
        }
        let mut diff = RoomDiff::default();
        match online {
            true if changed && self.count(room_id, &user.id) == 1 => diff.joined.push(user.clone()),
            false if changed && !self.contains(room_id, &user.id) => diff.left.push(user.clone()),
            _ => return Vec::new(),
        }
        vec![(room_id.to_string(), diff)]
    }

    /// A node said goodbye (graceful shutdown): everyone it had goes offline now.
    pub fn remove_node(&mut self, node_id: &str) -> Vec<(String, RoomDiff)> {
        match self.nodes.remove(node_id) {
            Some(state) => self.diff(&state.rooms, &HashMap::new()),
            None => Vec::new(),
        }
    }

    /// Forgets nodes not heard from within `ttl`: they are dead, and their users offline.
    pub fn expire(&mut self, now: Instant, ttl: Duration) -> Vec<(String, RoomDiff)> {
        let dead: Vec<String> = self
            .nodes
            .iter()
            .filter(|(_, n)| now.duration_since(n.seen) > ttl)
            .map(|(id, _)| id.clone())
            .collect();
        let mut out = Vec::new();
        for node in dead {
            tracing::warn!(node_id = %node, "node stopped sending heartbeats; its users are offline");
            out.extend(self.remove_node(&node));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_user_on_two_nodes_leaves_only_when_both_drop_them() {
        let mut view = RemoteView::default();
        let now = Instant::now();
        let diff = view.set("a", "r", &user("u"), true, now);
        assert_eq!(diff[0].1.joined, [user("u")]);
        assert!(view.set("b", "r", &user("u"), true, now).is_empty());
        assert!(view.set("a", "r", &user("u"), false, now).is_empty());
        let diff = view.set("b", "r", &user("u"), false, now);
        assert_eq!(diff[0].1.left, [user("u")]);
        assert!(view.online("r").is_empty());
    }

    #[test]
    fn a_silent_node_expires_with_its_users() {
        let mut view = RemoteView::default();
        let start = Instant::now();
        let rooms = HashMap::from([("r".to_string(), vec![user("u"), user("v")])]);
        let diff = view.snapshot("a", rooms, start);
        assert_eq!(diff[0].1.joined.len(), 2);
        assert!(view
            .expire(start + Duration::from_secs(1), Duration::from_secs(3))
            .is_empty());
        let diff = view.expire(start + Duration::from_secs(4), Duration::from_secs(3));
        assert_eq!(diff[0].1.left.len(), 2);
        assert!(view.online("r").is_empty());
    }

    #[test]
    fn a_change_reports_only_its_user_and_a_repeated_heartbeat_nothing() {
        let mut view = RemoteView::default();
        let now = Instant::now();
        let rooms = HashMap::from([
            ("r".to_string(), vec![user("u"), user("v")]),
            ("s".to_string(), vec![user("w")]),
        ]);
        assert_eq!(view.snapshot("a", rooms.clone(), now).len(), 2);
        assert!(view.snapshot("a", rooms, now).is_empty());
        let diff = view.set("a", "s", &user("x"), true, now);
        assert_eq!(
            diff,
            [(
                "s".to_string(),
                RoomDiff {
                    joined: vec![user("x")],
                    left: vec![]
                }
            )]
        );
        assert!(view.set("a", "s", &user("x"), true, now).is_empty());
        assert!(view.set("a", "r", &user("nobody"), false, now).is_empty());
        assert!(view.has("s", "x") && !view.has("r", "x"));
        assert_eq!(
            view.set("a", "s", &user("x"), false, now)[0].1.left,
            [user("x")]
        );
    }

    #[test]
    fn a_beat_matches_the_view_exactly_when_it_holds_the_same_users() {
        let mut view = RemoteView::default();
        let now = Instant::now();
        view.set("a", "r", &user("u"), true, now);
        view.set("a", "s", &user("u"), true, now);
        let said = digest("r", "u") ^ digest("s", "u");
        assert!(view.beat("a", said, now));
        assert!(
            !view.beat("a", said ^ digest("r", "v"), now),
            "v was missed"
        );
        assert!(!view.beat("b", said, now), "a node new to this view");
        assert!(view.beat("b", 0, now), "a node with nobody online");
        assert_ne!(
            digest("r", "u"),
            digest("ru", ""),
            "the room and the user stay apart"
        );
    }

    #[test]
    fn a_snapshot_heals_a_missed_change() {
        let mut view = RemoteView::default();
        let now = Instant::now();
        view.set("a", "r", &user("u"), true, now);
        // The "offline" message was lost; the next heartbeat no longer lists u.
        let diff = view.snapshot("a", HashMap::new(), now);
        assert_eq!(
            diff,
            [(
                "r".to_string(),
                RoomDiff {
                    joined: vec![],
                    left: vec![user("u")]
                }
            )]
        );
    }
}
