//! What one room holds on this node: its subscribers (and who among them is online), its
//! long-pollers, and the fan-out of one event to them.
//!
//! Fan-out is a loop of pushes (`Connection::push`, which never waits) of one shared, already
//! encoded frame (a reference-counted `Bytes` clone, tagged with the subscription and the seq)
//! into each subscriber's bounded queue, run under the room table's std mutex, which is never
//! held across an `.await` or a socket write. A subscriber whose queue is full is closed as a slow consumer and dropped.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio_tungstenite::tungstenite::Utf8Bytes;

use super::feed::{Feed, Lease};
use super::outbound::{Connection, Outbound};
use crate::bus::EncodedEvent;
use crate::protocol::{Removal, ServerFrame, User};

/// A connection subscribed to a room, and its subscription's tag.
#[derive(Debug)]
pub(super) struct Subscriber {
    pub(super) conn: Arc<Connection>,
    pub(super) tag: u64,
    /// A `presence: "counts"` subscription: told how many are online, not who.
    pub(super) counts: bool,
}

/// One user's presence change since the room's last flush.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// The user, encoded (the latest profile noted).
    pub(super) json: Arc<str>,
    /// Whether they were online at the last flush, and are now. Equal: the change was reversed,
    /// and the room's earlier subscribers are told nothing.
    pub(super) was_online: bool,
    pub(super) online: bool,
}

impl Pending {
    pub(super) fn encode(user: &User) -> Arc<str> {
        Arc::from(serde_json::to_string(user).expect("a user always serialises"))
    }
}

/// Who was online in a room at its last flush, cluster-wide: user id → the user, encoded.
#[derive(Debug, Clone, Default)]
pub(super) struct Published(pub(super) HashMap<String, Arc<str>>);

/// One room's subscribers, online users and long-pollers on this node.
#[derive(Default)]
pub(super) struct Room {
    pub(super) subscribers: Vec<Subscriber>,
    /// Online users: user id → (user, subscribed connections of theirs on this node).
    pub(super) online: HashMap<String, (User, usize)>,
    /// Everyone whose presence changed since the last flush (see the presence flusher).
    pub(super) pending: HashMap<String, Pending>,
    /// Who was online at the last flush, encoded for `subscribed` answers; made when the first
    /// answer needs it, then kept up by each flush.
    pub(super) published: Option<Arc<Published>>,
    /// The `full` subscriptions answered `subscribed` since the last flush (see [`Pending`]).
    pub(super) answered: HashSet<u64>,
    /// The online count the room's `counts` subscribers were all told; `None` before the first,
    /// and when some were since told another (answered while a new count waited its turn).
    pub(super) counted: Option<usize>,
    /// Long-polls open on this room here, the presence leases of live pollers (user id →
    /// lease; each counts once in `online`), and the feed they are answered from while any of
    /// either lasts (see [`super::watch`]).
    pub(super) pollers: usize,
    pub(super) leases: HashMap<String, Lease>,
    pub(super) feed: Option<Arc<Feed>>,
}

impl Room {
    /// Delivers an event to every subscriber (the next in the room's order) and to the
    /// long-polls' feed.
    #[inline]
    pub(super) fn fan_out(&mut self, item: &Arc<EncodedEvent>, fanned_out: &AtomicU64) {
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
            self.subscribers.retain(|c| !c.conn.closer.is_closed());
        }
        if let Some(feed) = &self.feed {
            feed.push(item);
        }
    }

    /// Tells the long-polls' feed the room's last seq, once known here.
    pub(super) fn tell_pollers(&self, seq: u64) {
        if let Some(feed) = &self.feed {
            feed.known(seq);
        }
    }

    /// Whether nobody here needs the room any more.
    pub(super) fn unused(&self) -> bool {
        self.subscribers.is_empty() && self.pollers == 0 && self.leases.is_empty()
    }

    /// Ends every subscription: the room is gone.
    pub(super) fn end(self, room_id: &Arc<str>) {
        for sub in self.subscribers {
            sub.conn.push(Outbound::RoomGone(room_id.clone()));
        }
    }

    /// Adds a subscriber; answers whether its user is newly online here.
    pub(super) fn add_subscriber(
        &mut self,
        conn: &Arc<Connection>,
        tag: u64,
        counts: bool,
    ) -> bool {
        self.subscribers.push(Subscriber {
            conn: conn.clone(),
            tag,
            counts,
        });
        let entry = self
            .online
            .entry(conn.user.id.clone())
            .or_insert_with(|| (conn.user.clone(), 0));
        entry.1 += 1;
        entry.1 == 1
    }

    /// Removes a subscriber: `None` when it was not one; else the user who went offline here
    /// with it, if any.
    pub(super) fn remove_subscriber(&mut self, conn_id: u64) -> Option<Option<User>> {
        let index = self.subscribers.iter().position(|s| s.conn.id == conn_id)?;
        let conn = self.subscribers.swap_remove(index).conn;
        self.answered.remove(&conn_id);
        let Some(entry) = self.online.get_mut(&conn.user.id) else {
            return Some(None);
        };
        entry.1 -= 1;
        if entry.1 > 0 {
            return Some(None);
        }
        self.online.remove(&conn.user.id);
        Some(Some(conn.user.clone()))
    }

    /// Ends every subscription of the removed user here, each with a `removed` frame; answers
    /// the user if they were online here (they are not any more).
    pub(super) fn remove_user(&mut self, room_id: &Arc<str>, removal: &Removal) -> Option<User> {
        let frame = Utf8Bytes::from(
            ServerFrame::Removed {
                room_id: room_id.to_string(),
                reason: removal.reason,
            }
            .encode(),
        );
        let answered = &mut self.answered;
        self.subscribers.retain(|sub| {
            if sub.conn.user.id != removal.user_id {
                return true;
            }
            answered.remove(&sub.conn.id);
            sub.conn.push(Outbound::Removed {
                room: room_id.clone(),
                tag: sub.tag,
                frame: frame.clone(),
            });
            false
        });
        self.leases.remove(&removal.user_id);
        self.drop_feed_if_unwatched();
        self.online.remove(&removal.user_id).map(|(user, _)| user)
    }

    pub(super) fn is_subscribed(&self, conn_id: u64) -> bool {
        self.subscribers.iter().any(|s| s.conn.id == conn_id)
    }

    /// Sends a frame to every subscriber, except those of one user.
    pub(super) fn broadcast(&self, frame: &Utf8Bytes, except_user: Option<&str>) {
        for sub in &self.subscribers {
            if except_user != Some(sub.conn.user.id.as_str()) {
                sub.conn.push(Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Sends the room's `presence` frames: `frame` to every `full` subscriber, except those
    /// answered since the last flush, who get `catch_up` when there is one; `count` (the online
    /// count's frame, on a count turn) to the `counts` subscribers. A subscription still
    /// waiting for its `subscribed` answer gets its frame after the answer (see the writer).
    pub(super) fn broadcast_presence(
        &self,
        room_id: &Arc<str>,
        frame: Option<&Utf8Bytes>,
        catch_up: Option<&Utf8Bytes>,
        count: Option<&Utf8Bytes>,
    ) {
        for sub in &self.subscribers {
            let frame = match sub.counts {
                true => count,
                false if self.answered.contains(&sub.conn.id) => catch_up,
                false => frame,
            };
            if let Some(frame) = frame {
                sub.conn.push(Outbound::Presence {
                    room: room_id.clone(),
                    frame: frame.clone(),
                });
            }
        }
    }

    /// Records a presence change for the next flush: `user` is online in the room now, or not
    /// (`online`). A change and its reversal cancel out (see [`Pending`]).
    pub(super) fn note_presence(&mut self, user: &User, online: bool) {
        match self.pending.get_mut(&user.id) {
            Some(pending) => {
                pending.online = online;
                pending.json = Pending::encode(user);
            }
            None => {
                self.pending.insert(
                    user.id.clone(),
                    Pending {
                        json: Pending::encode(user),
                        was_online: !online,
                        online,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::outbound::{Closer, OutboundQueue};
    use crate::metrics::Metrics;
    use crate::protocol::RemovedReason;

    fn connection(id: u64, user: &str) -> (Arc<Connection>, Arc<Connection>) {
        let conn = Connection {
            id,
            user: User {
                id: user.into(),
                username: user.into(),
                guest: true,
                admin: false,
                display_name: None,
                bot: false,
            },
            token_hash: format!("h{id}"),
            expires_at: None,
            queue: OutboundQueue::new(4),
            closer: Closer::default(),
            metrics: Arc::new(Metrics::new()),
        };
        let conn = Arc::new(conn);
        (conn.clone(), conn)
    }

    /// A removal ends every subscription of that person here (each told with `removed` and its
    /// own tag) and no one else's, and they are no longer online in the room.
    #[test]
    fn removing_a_user_ends_all_their_subscriptions_and_only_theirs() {
        let room_id: Arc<str> = Arc::from("r");
        let (tab, tab_out) = connection(1, "u");
        let (phone, phone_out) = connection(2, "u");
        let (other, other_out) = connection(3, "v");
        let mut room = Room::default();
        room.add_subscriber(&tab, 10, false);
        room.add_subscriber(&phone, 20, false);
        room.add_subscriber(&other, 30, true);
        room.answered.extend([1, 3]);
        let removal = Removal {
            user_id: "u".into(),
            reason: RemovedReason::Banned,
        };
        let offline = room.remove_user(&room_id, &removal);
        assert_eq!(offline.map(|u| u.id), Some("u".to_string()));
        assert_eq!(room.subscribers.len(), 1);
        assert!(room.online.contains_key("v") && !room.online.contains_key("u"));
        assert_eq!(
            room.answered,
            HashSet::from([3]),
            "a removed answer is forgotten"
        );
        for (out, want) in [(&tab_out, 10), (&phone_out, 20)] {
            match out.queue.try_recv() {
                Some(Outbound::Removed { room, tag, frame }) => {
                    assert_eq!((&*room, tag), ("r", want));
                    assert_eq!(
                        frame.as_str(),
                        r#"{"type":"removed","room_id":"r","reason":"banned"}"#
                    );
                }
                other => panic!("expected a removal, got {other:?}"),
            }
        }
        assert!(other_out.queue.try_recv().is_none());
        assert_eq!(room.remove_user(&room_id, &removal), None);
    }
}
