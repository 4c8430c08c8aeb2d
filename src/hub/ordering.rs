//! The rooms this node delivers, in event order: per room the last `seq` delivered here, the
//! events held behind a hole, and the gap fill from the store.
//!
//! Events reach the hub from the bus, possibly out of order or with holes (two commits racing
//! to publish; a bus that dropped one). Per room the hub keeps the last `seq` it delivered:
//! the next one is fanned out at once, a later one waits while the missing ones are fetched from
//! the store, an earlier one is a duplicate and is dropped. So every subscriber sees each room's
//! events in order, exactly once. A room is watched on the bus while it is in the table, and
//! its start (the last `seq` already committed) is read from the store after the watch began,
//! so nothing committed in between goes unseen.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use super::room::Room;
use crate::bus::{Bus, EncodedEvent};
use crate::error::Result;
use crate::store::Store;

/// Most events a gap fill fetches at once.
const GAP_FILL_LIMIT: u32 = 1000;
/// How long a hole in a room's events may stay open before the store is asked to fill it.
const GAP_GRACE: Duration = Duration::from_millis(10);

/// One room's place in its event order, and the room.
#[derive(Default)]
pub(super) struct Entry {
    /// The last seq fanned out here; `None` until the first subscriber has read it from the store.
    last: Option<u64>,
    /// Events that arrived ahead of a missing one.
    pending: BTreeMap<u64, Arc<EncodedEvent>>,
    filling: bool,
    /// The seq of the room's `room.deleted`, once it has arrived: the subscriptions end when
    /// everything up to it has gone out (it may arrive ahead of a missing event).
    ends_at: Option<u64>,
    pub(super) room: Room,
}

impl Entry {
    pub(super) fn last(&self) -> Option<u64> {
        self.last
    }

    /// Delivers the next event to the room and records it as the last one. An event that
    /// removes someone (a kick, a ban) ends that user's subscriptions here right after it.
    #[inline]
    fn advance(&mut self, item: &Arc<EncodedEvent>, rooms: &Rooms) {
        self.room.fan_out(item, &rooms.fanned_out);
        self.last = Some(item.seq);
        if let Some(removal) = &item.effects.removes {
            let offline = self.room.remove_user(&item.room_id, removal);
            rooms.removed(&item.room_id, offline);
        }
    }

    /// Fans out every pending event that is next in line.
    fn drain_pending(&mut self, rooms: &Rooms) {
        while let Some(last) = self.last {
            let Some(entry) = self.pending.first_entry() else {
                break;
            };
            let seq = *entry.key();
            if seq <= last {
                entry.remove();
            } else if seq == last + 1 {
                let event = entry.remove();
                self.advance(&event, rooms);
            } else {
                break;
            }
        }
    }

    /// The seq after which events are missing, when a hole is open.
    fn hole_after(&self) -> Option<u64> {
        match (self.last, self.pending.keys().next()) {
            (Some(last), Some(&first)) if first > last + 1 => Some(last),
            _ => None,
        }
    }
}

pub(super) type Table = HashMap<Arc<str>, Entry>;

/// Ends the subscriptions of a deleted room once everything up to its `room.deleted` has gone
/// out to them (each gets `RoomGone` right after that event).
fn end_if_deleted(table: &mut Table, room_id: &Arc<str>) {
    let done = table.get(room_id).is_some_and(
        |entry| matches!((entry.ends_at, entry.last), (Some(end), Some(last)) if last >= end),
    );
    if done {
        if let Some(entry) = table.remove(room_id) {
            entry.room.end(room_id);
        }
    }
}

/// What the hub does once someone's subscriptions to a room were ended by an event: the room,
/// and the user if that made them go offline here.
pub(super) type OnRemoved = Arc<dyn Fn(Arc<str>, Option<crate::protocol::User>) + Send + Sync>;

/// The room table of one node (see the module doc).
pub(super) struct Rooms {
    /// Called (on a task of its own, after the table's lock is let go) when an event ended
    /// someone's subscriptions.
    on_removed: OnceLock<OnRemoved>,
    table: Mutex<Table>,
    store: Arc<dyn Store>,
    bus: OnceLock<Arc<dyn Bus>>,
    /// Itself, for the gap fills it starts.
    me: Weak<Rooms>,
    /// The runtime the hub was made on: [`Rooms::deliver`] also runs on the store's commit
    /// thread, and what it starts belongs here.
    runtime: Option<tokio::runtime::Handle>,
    /// Event deliveries into connection queues, for `/metrics`.
    pub(super) fanned_out: AtomicU64,
}

impl Rooms {
    pub(super) fn new(store: Arc<dyn Store>) -> Arc<Self> {
        Arc::new_cyclic(|me| Rooms {
            on_removed: OnceLock::new(),
            table: Mutex::new(HashMap::new()),
            store,
            bus: OnceLock::new(),
            me: me.clone(),
            runtime: tokio::runtime::Handle::try_current().ok(),
            fanned_out: AtomicU64::new(0),
        })
    }

    pub(super) fn attach_bus(&self, bus: Arc<dyn Bus>) {
        let _ = self.bus.set(bus);
    }

    pub(super) fn on_removed(&self, hook: OnRemoved) {
        let _ = self.on_removed.set(hook);
    }

    /// Someone's subscriptions to the room ended (under the table's lock): tell the hub, later.
    fn removed(&self, room_id: &Arc<str>, offline: Option<crate::protocol::User>) {
        if let Some(hook) = self.on_removed.get() {
            let (hook, room_id) = (hook.clone(), room_id.clone());
            self.spawn(async move { hook(room_id, offline) });
        }
    }

    /// The table, locked: never hold it across an `.await`.
    pub(super) fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap()
    }

    /// Starts a task on the hub's runtime, whichever thread asks.
    pub(super) fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        match &self.runtime {
            Some(runtime) => drop(runtime.spawn(task)),
            None => drop(tokio::spawn(task)),
        }
    }

    /// Learns a newly watched room's last seq. Watches the room on the bus *before* reading the
    /// store, so nothing committed in between goes unseen.
    pub(super) async fn initialize(&self, room_id: &Arc<str>) -> Result<()> {
        let bus = self.bus.get().expect("bus attached at startup");
        bus.watch_room(room_id).await;
        let store_last = self.store.last_seq(room_id).await?;
        let mut table = self.lock();
        if let Some(entry) = table.get_mut(room_id) {
            if entry.last.is_none() {
                entry.last = Some(store_last);
                entry.drain_pending(self);
                entry.room.tell_pollers(store_last);
            }
        }
        end_if_deleted(&mut table, room_id);
        Ok(())
    }

    /// Runs `change` on the room (when it is here; `None` from it: nothing changed), then
    /// forgets the room, and stops watching it on the bus, if nobody here needs it any more.
    pub(super) fn release<R>(
        &self,
        room_id: &Arc<str>,
        change: impl FnOnce(&mut Room) -> Option<R>,
    ) -> Option<R> {
        let (changed, unused) = {
            let mut table = self.lock();
            let entry = table.get_mut(room_id)?;
            let changed = change(&mut entry.room)?;
            let unused = entry.room.unused();
            if unused {
                table.remove(room_id);
            }
            (changed, unused)
        };
        if unused {
            if let Some(bus) = self.bus.get() {
                let bus = bus.clone();
                let room_id = room_id.clone();
                self.spawn(async move { bus.unwatch_room(&room_id).await });
            }
        }
        Some(changed)
    }

    /// Takes a committed event and fans it out in order (see the module doc).
    pub(super) fn deliver(&self, event: Arc<EncodedEvent>) {
        let mut table = self.lock();
        let Some(entry) = table.get_mut(&event.room_id) else {
            return; // nobody here is subscribed
        };
        if event.effects.ends_room {
            entry.ends_at = Some(event.seq);
        }
        match entry.last {
            Some(last) if event.seq <= last => {}
            Some(last) if event.seq == last + 1 => {
                entry.advance(&event, self);
                entry.drain_pending(self);
            }
            _ => {
                entry.pending.insert(event.seq, event.clone());
                if entry.last.is_some() && !entry.filling {
                    if let Some(rooms) = self.me.upgrade() {
                        entry.filling = true;
                        let room_id = event.room_id.clone();
                        self.spawn(async move { rooms.fill_gap(room_id).await });
                    }
                }
            }
        }
        end_if_deleted(&mut table, &event.room_id);
    }

    /// Delivers whatever the store has after each watched room's last delivered seq: after the
    /// bus reconnects (it delivered nothing while down), and now and then in case it lost an
    /// event (pub/sub is at-most-once; a node may die between commit and publish).
    pub(super) fn catch_up(&self) {
        let Some(rooms) = self.me.upgrade() else {
            return;
        };
        let mut table = self.lock();
        for (room_id, entry) in table.iter_mut() {
            if let (Some(after), false) = (entry.last, entry.filling) {
                entry.filling = true;
                let rooms = rooms.clone();
                let room_id = room_id.clone();
                self.spawn(async move { rooms.fill(room_id, after, true).await });
            }
        }
    }

    async fn fill_gap(self: Arc<Self>, room_id: Arc<str>) {
        // Sends are published in commit order by the store, but other changes (edits, moves,
        // joins) by the tasks that made them, which may finish in either order: most holes
        // close by themselves within moments. Give them that before asking the store.
        tokio::time::sleep(GAP_GRACE).await;
        let after = {
            let mut table = self.lock();
            let Some(entry) = table.get_mut(&room_id) else {
                return;
            };
            match entry.hole_after() {
                Some(after) => after,
                None => {
                    entry.filling = false;
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
                    let mut table = self.lock();
                    let Some(entry) = table.get_mut(&room_id) else {
                        return;
                    };
                    match entry.hole_after() {
                        // Something arrived meanwhile with a hole before it: fill it as a gap.
                        Some(last) => {
                            after = last;
                            catching_up = false;
                        }
                        None => {
                            entry.filling = false;
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
                        let mut table = self.lock();
                        if let Some(entry) = table.get_mut(&room_id) {
                            if let Some(&first) = entry.pending.keys().next() {
                                entry.last = Some(first - 1);
                                entry.drain_pending(&self);
                            }
                            entry.filling = false;
                        }
                        end_if_deleted(&mut table, &room_id);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt))).await;
                    continue;
                }
                Ok(events) => {
                    attempt = 0;
                    for stored in &events {
                        self.deliver(EncodedEvent::new(stored));
                    }
                    if catching_up && events.len() == GAP_FILL_LIMIT as usize {
                        // A long outage: fetch the next batch.
                        match self.lock().get(&room_id).and_then(|entry| entry.last) {
                            Some(last) => after = last,
                            None => return,
                        }
                        continue;
                    }
                }
                Err(err) => {
                    if !self.lock().contains_key(&room_id) {
                        return; // nobody here needs the room any more
                    }
                    attempt += 1;
                    tracing::warn!(%room_id, attempt, error = %err, "gap fill failed; retrying");
                    let backoff = Duration::from_millis(100 * u64::from(attempt.min(50)));
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
            let mut table = self.lock();
            let Some(entry) = table.get_mut(&room_id) else {
                return;
            };
            match entry.hole_after() {
                Some(last) => after = last,
                None => {
                    entry.filling = false;
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::Utf8Bytes;

    use super::*;
    use crate::hub::outbound::{Closer, Connection, Outbound, OutboundQueue};
    use crate::hub::room::Subscriber;
    use crate::metrics::Metrics;
    use crate::protocol::{EventKind, User};

    /// A room whose `room.deleted` (seq 7) arrives ahead of its last message (seq 6, published
    /// by another task): the subscription stays until the message has gone out, then gets the
    /// message, the deletion and the end, in that order.
    #[tokio::test]
    async fn a_deletion_that_overtakes_an_event_ends_the_room_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open_in(dir.path())
            .await
            .unwrap();
        let rooms = Rooms::new(Arc::new(store));
        let conn = Arc::new(Connection {
            id: 1,
            user: User {
                id: "u".into(),
                username: "u".into(),
                guest: true,
                admin: false,
                display_name: None,
                bot: false,
            },
            token_hash: "h".into(),
            expires_at: None,
            queue: OutboundQueue::new(16),
            closer: Closer::default(),
            metrics: Arc::new(Metrics::new()),
        });
        let outbound = conn.clone();
        let room: Arc<str> = Arc::from("r");
        rooms.lock().insert(
            room.clone(),
            Entry {
                last: Some(5),
                room: Room {
                    subscribers: vec![Subscriber {
                        conn,
                        tag: 9,
                        counts: false,
                    }],
                    ..Room::default()
                },
                ..Entry::default()
            },
        );
        let event = |seq: u64, kind: &str, effects| {
            EncodedEvent::from_frame(
                room.clone(),
                seq,
                Utf8Bytes::from(format!(
                    r#"{{"type":"event","event":{{"seq":{seq},"kind":"{kind}"}}}}"#
                )),
                effects,
            )
        };
        rooms.deliver(event(
            7,
            "room.deleted",
            EventKind::RoomDeleted { by: None }.effects(),
        ));
        assert!(
            outbound.queue.try_recv().is_none(),
            "nothing goes out ahead of seq 6"
        );
        assert!(rooms.lock().contains_key("r"), "the room waits for seq 6");
        rooms.deliver(event(6, "message.created", Default::default()));
        let mut got = Vec::new();
        while let Some(item) = outbound.queue.try_recv() {
            got.push(match item {
                Outbound::Event { seq, tag: 9, .. } => format!("event {seq}"),
                Outbound::RoomGone(room) => format!("gone {room}"),
                _ => "other".to_string(),
            });
        }
        assert_eq!(got, ["event 6", "event 7", "gone r"]);
        assert!(!rooms.lock().contains_key("r"));
    }
}
