//! Long-polls (`GET …/events?wait=&live=`): a long-poller watches a room without being one of
//! its subscribers.
//!
//! While a poll of the room is open here, or a poller's presence lease lasts, the room keeps a
//! [`Feed`]: its latest events as they were fanned out (the same encoded frames the sockets
//! got), the typing notices of the last few seconds, and a change counter the waiting polls
//! watch. A poll is then answered from memory: no store read, no decode and re-encode of each
//! event, no second access check; the store is read only when a poll asks for events older
//! than the feed holds.
//!
//! A poll that asks for `live` holds a presence lease: its user counts as online in the room,
//! exactly as a subscribed socket does (presence frames, the online list, cluster heartbeats),
//! while the poll waits and for a grace after it ends, so a client polling in a loop stays
//! online between its polls and goes offline once it stops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::feed::{Feed, Lease};
use super::ordering::Rooms;
use super::room::Room;
use crate::protocol::User;

impl Room {
    /// A poll of the room opens here: answers the room's feed, made if needed.
    fn open_poll(&mut self, last: Option<u64>) -> Arc<Feed> {
        self.pollers += 1;
        self.feed.get_or_insert_with(|| Feed::new(last)).clone()
    }

    /// The user's poll holds a presence lease: answers whether they are newly online here.
    fn take_lease(&mut self, user: &User) -> bool {
        // A lease in the table is counted online until the sweep ends it, lapsed or not.
        match self.leases.entry(user.id.clone()) {
            std::collections::hash_map::Entry::Occupied(mut lease) => {
                lease.get_mut().polls += 1;
                false
            }
            std::collections::hash_map::Entry::Vacant(vacant) => {
                vacant.insert(Lease {
                    polls: 1,
                    until: Instant::now(),
                });
                let entry = self
                    .online
                    .entry(user.id.clone())
                    .or_insert_with(|| (user.clone(), 0));
                entry.1 += 1;
                entry.1 == 1
            }
        }
    }

    /// A poll of the room ended; the user's lease (if any) lasts `grace` longer.
    fn close_poll(&mut self, lease: Option<&str>, grace: Duration) {
        self.pollers = self.pollers.saturating_sub(1);
        if let Some(lease) = lease.and_then(|id| self.leases.get_mut(id)) {
            lease.polls = lease.polls.saturating_sub(1);
            lease.until = Instant::now() + grace;
        }
        self.drop_feed_if_unwatched();
    }

    /// Ends the leases that lapsed by `now`: answers the users that made go offline here.
    fn expire_leases(&mut self, now: Instant) -> Vec<User> {
        let mut offline = Vec::new();
        let lapsed: Vec<String> = self
            .leases
            .iter()
            .filter(|(_, l)| l.polls == 0 && l.until <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in lapsed {
            self.leases.remove(&id);
            if let Some(entry) = self.online.get_mut(&id) {
                entry.1 = entry.1.saturating_sub(1);
                if entry.1 == 0 {
                    if let Some((user, _)) = self.online.remove(&id) {
                        offline.push(user);
                    }
                }
            }
        }
        self.drop_feed_if_unwatched();
        offline
    }

    /// The feed lives while a poll is open or a lease lasts.
    pub(super) fn drop_feed_if_unwatched(&mut self) {
        if self.pollers == 0 && self.leases.is_empty() {
            self.feed = None;
        }
    }
}

/// An open long-poll of a room (see the module doc); ends when dropped.
pub struct PollWatch {
    rooms: Arc<Rooms>,
    room_id: Arc<str>,
    feed: Arc<Feed>,
    lease: Option<String>,
    grace: Duration,
}

impl PollWatch {
    pub fn feed(&self) -> &Feed {
        &self.feed
    }
}

impl Drop for PollWatch {
    fn drop(&mut self) {
        let lease = self.lease.as_deref();
        let grace = self.grace;
        self.rooms.release(&self.room_id, |room| {
            room.close_poll(lease, grace);
            Some(())
        });
    }
}

/// Opens a poll of the room (with a presence lease for `lease`'s user): the watch, and whether
/// that user is newly online here.
pub(super) async fn open(
    rooms: &Arc<Rooms>,
    room_id: &Arc<str>,
    lease: Option<&User>,
    grace: Duration,
    came_online: impl FnOnce(&User),
) -> crate::error::Result<PollWatch> {
    let (feed, known, newly_online) = {
        let mut table = rooms.lock();
        let entry = table.entry(room_id.clone()).or_default();
        let last = entry.last();
        let feed = entry.room.open_poll(last);
        let newly_online = lease.is_some_and(|user| entry.room.take_lease(user));
        (feed, last, newly_online)
    };
    let watch = PollWatch {
        rooms: rooms.clone(),
        room_id: room_id.clone(),
        feed,
        lease: lease.map(|u| u.id.clone()),
        grace,
    };
    if let (true, Some(user)) = (newly_online, lease) {
        came_online(user);
    }
    if known.is_none() {
        // On an error the watch is dropped, which undoes the above.
        rooms.initialize(room_id).await?;
    }
    Ok(watch)
}

/// What ending the lapsed leases did: who went offline where, and the rooms nobody here needs
/// any more (for the caller to release).
#[derive(Default)]
pub(super) struct Expired {
    pub(super) offline: Vec<(Arc<str>, User)>,
    pub(super) unused: Vec<Arc<str>>,
}

/// Ends every lapsed lease.
pub(super) fn expire(rooms: &Rooms, now: Instant) -> Expired {
    let Expired {
        mut offline,
        mut unused,
    } = Expired::default();
    let mut table = rooms.lock();
    for (room_id, entry) in table.iter_mut() {
        if entry.room.leases.is_empty() {
            continue;
        }
        for user in entry.room.expire_leases(now) {
            offline.push((room_id.clone(), user));
        }
        if entry.room.unused() {
            unused.push(room_id.clone());
        }
    }
    Expired { offline, unused }
}
