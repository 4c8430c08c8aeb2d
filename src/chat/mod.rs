//! The rules of Palaver: who may do what, validation, and publishing what was committed.
//!
//! Every change goes the same way: ask the [`access::Gate`] whether the caller may do it, check
//! the input, commit through the store (which appends the events with their `seq`), then
//! publish the committed events on the bus. Every read asks the gate too. Both the REST
//! handlers and the socket call these methods, so the two behave alike; [`Chat`]'s parts are
//! private, so no caller goes around the rules.
//!
//! One module per feature: [`accounts`] (sign-up, sign-in, sessions), [`people`] (profiles,
//! the directory, one's own account), [`guests`] (guest name grace and expiry), [`rooms`] (rooms,
//! members, room lists), [`dms`] (DMs, member roles), [`invites`] (invites, added members),
//! [`messages`] (sends, edits, history, the event log), [`moderation`] (kick, ban, mute, reports,
//! the audit log), [`bots`] (bot accounts and their tokens), [`webhooks`] (incoming webhooks),
//! [`threads`] (replies and thread pages), [`reactions`], [`pins`];
//! [`mentions`] (who a body mentions), [`unread`] (read markers, unread counts, notification
//! levels, notifications), [`push`] (Web Push; its cryptography in [`webpush`]); [`calls`] (who
//! may join a room's call, ICE servers and TURN credentials);
//! [`access`] is the gate they all ask, and [`scope`] the rooms a bot may reach at all.

pub mod access;
pub mod accounts;
pub mod bots;
pub mod calls;
pub mod dms;
pub mod files;
pub mod gather;
pub mod guests;
pub mod invites;
pub mod limits;
pub mod mentions;
pub mod messages;
pub mod moderation;
pub mod names;
pub mod people;
pub mod pins;
pub mod push;
pub mod reactions;
pub mod rooms;
pub mod scope;
pub mod search;
pub mod sessions;
pub mod threads;
pub mod unread;
pub mod validate;
pub mod webhooks;
pub mod webpush;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::bus::Bus;
use crate::error::{Error, Result};
use crate::hub::{EncodedEvent, Hub};
use crate::metrics::Metrics;
use crate::protocol::{Room, RoomListChange, ServerFrame, User};
use crate::store::{Store, StoredEvent};
use access::{Gate, Policy};

/// The rooms every new Palaver starts with.
pub const DEFAULT_ROOMS: &[&str] = &["General", "Random", "Tech Talk"];

/// Most events one `events?after=` page returns.
pub const EVENTS_PAGE_MAX: u32 = validate::EVENTS_LIMIT_MAX;

/// Least time between two relayed typing notices of one user in one room.
pub const TYPING_INTERVAL: Duration = Duration::from_secs(2);

/// The gate's yes to a socket's subscription ([`Chat::subscribe`]), which lets the subscription
/// read the events the client missed ([`Chat::replay`]). Only this module makes one.
#[derive(Debug)]
pub struct Admission {
    user_id: String,
    room_id: String,
}

pub struct Chat {
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    hub: Arc<Hub>,
    gate: Gate,
    allow_guests: bool,
    limits: limits::Limits,
    metrics: Arc<Metrics>,
    /// When each (room, user) last had a typing notice relayed.
    typing: Mutex<HashMap<(String, String), Instant>>,
    /// The keys of the existing usernames, for the look-alike check on sign-up.
    usernames: names::Usernames,
    /// Token checks, gathered into reads of many (see [`sessions`]).
    sessions: Arc<sessions::SessionReads>,
    /// Guest sign-ins, gathered into writes of many (see [`accounts::GuestSignups`]).
    guest_signups: Arc<accounts::GuestSignups>,
    /// Subscribes' replays, gathered into reads of many (see [`messages::ReplayReads`]).
    replays: Arc<gather::Gathered<messages::ReplayReads>>,
    /// When the guest sweep last read every guest (see [`guests::FULL_RELEASE_EVERY`]).
    full_release: std::sync::Mutex<Option<Instant>>,
    /// The store publishes committed sends itself (see [`crate::store::MessageStore::publish_sends`]).
    store_publishes: bool,
    /// Web Push: the key and the sender (see [`push`]).
    pusher: Arc<push::Pusher>,
    /// Bounds the notification tasks in flight (see [`unread`]).
    notifying: Arc<tokio::sync::Semaphore>,
    /// Files (#12): where blobs live and the upload settings (see [`Chat::with_files`]).
    files: Option<files::Files>,
}

/// Publishes committed events to every node, in order, and marks the rooms whose member
/// counts they change.
fn publish(hub: &Hub, bus: &dyn Bus, events: &[StoredEvent]) {
    for stored in events {
        if stored.effects().members_changed {
            hub.mark_counts(&stored.room_id);
        }
        bus.publish(EncodedEvent::new(stored));
    }
}

impl Chat {
    /// The rules over a store, a bus and this node's hub, with Palaver's access policy
    /// ([`access::RoomKinds`]); [`Chat::with_policy`] sets another.
    pub fn new(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        hub: Arc<Hub>,
        allow_guests: bool,
        limits: limits::Limits,
        metrics: Arc<Metrics>,
    ) -> Self {
        let publisher = {
            let (bus, hub) = (bus.clone(), Arc::downgrade(&hub));
            Arc::new(move |events: &[StoredEvent]| {
                if let Some(hub) = hub.upgrade() {
                    publish(&hub, bus.as_ref(), events);
                }
            })
        };
        let store_publishes = store.publish_sends(publisher);
        let sessions = Arc::new(sessions::session_reads(store.clone()));
        let guest_signups = Arc::new(accounts::guest_signups(store.clone()));
        let replays = Arc::new(gather::Gathered::new(
            messages::ReplayReads(store.clone()),
            2,
            256,
        ));
        Chat {
            gate: Gate::new(store.clone(), Arc::new(access::RoomKinds)),
            store,
            bus,
            hub,
            allow_guests,
            limits,
            metrics,
            typing: Mutex::new(HashMap::new()),
            usernames: names::Usernames::default(),
            sessions,
            guest_signups,
            replays,
            full_release: std::sync::Mutex::new(None),
            store_publishes,
            pusher: Arc::new(push::Pusher::new(push::PushSettings::default())),
            notifying: Arc::new(tokio::sync::Semaphore::new(unread::NOTIFY_IN_FLIGHT)),
            files: None,
        }
    }

    /// The same rules with these Web Push settings.
    pub fn with_push(mut self, settings: push::PushSettings) -> Self {
        self.pusher = Arc::new(push::Pusher::new(settings));
        self
    }

    /// The same rules with another access policy (tests prove the gate is asked everywhere by
    /// installing one that refuses everything).
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.gate = Gate::new(self.store.clone(), policy);
        self
    }

    /// The abuse limits (connection caps, session lifetime, rates).
    pub fn limits(&self) -> &limits::Limits {
        &self.limits
    }

    /// Whether the store and the bus answer (`/readyz`).
    pub async fn ready(&self) -> (Result<()>, Result<()>) {
        (self.store.ping().await, self.bus.ping().await)
    }

    /// Forgets rate-limit state that has expired and sessions past their expiry, and expires
    /// guests whose name grace is over ([`guests`]); answers how many sessions were deleted.
    pub async fn sweep(&self) -> Result<u64> {
        self.limits.prune();
        self.store.delete_expired_sanctions().await?;
        let deleted = self.store.delete_expired_sessions().await?;
        let retired = self.sweep_guests().await?;
        if retired > 0 {
            tracing::info!(retired, "expired guests whose name grace was over");
        }
        let unattached = self.sweep_files().await?;
        if unattached > 0 {
            tracing::info!(unattached, "deleted uploads never attached to a message");
        }
        Ok(deleted)
    }

    /// Runs one store write, recording its latency under `op`.
    async fn timed<T>(
        &self,
        op: &str,
        write: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        let start = Instant::now();
        let result = write.await;
        self.metrics
            .store_seconds
            .with_label_values(&[op])
            .observe(start.elapsed().as_secs_f64());
        result
    }

    /// Publishes committed events to every node, in order.
    fn publish(&self, events: &[StoredEvent]) {
        publish(&self.hub, self.bus.as_ref(), events);
    }

    /// The room's entry changed (its name, topic or `rearrange`): every socket's room list
    /// gets it with the next flush, coalesced with its count updates.
    fn room_list_soon(&self, room_id: &str) {
        self.hub.mark_counts(room_id);
    }

    /// The `room_list` updates due: every room whose entry or counts changed since the last
    /// call (as many as a flush may send), read from the store with who may see it. The
    /// flusher calls it once a second, which is what coalesces the updates, and sends them with
    /// [`Chat::send_room_list_updates`] right after the presence flush of the same tick, so
    /// that a socket's room-list and count frames of one second leave in one write.
    pub async fn room_list_updates(&self) -> Vec<(Room, access::Audience)> {
        let mut updates = Vec::new();
        for room_id in self.hub.take_counts_dirty() {
            let room = match self.store.get_room(&room_id).await {
                Ok(room) => room,
                Err(Error::RoomNotFound) => continue,
                Err(err) => {
                    err.log_if_internal();
                    continue;
                }
            };
            match self.gate.audience(&room).await {
                Ok(audience) => updates.push((room, audience)),
                Err(err) => err.log_if_internal(),
            }
        }
        updates
    }

    /// Sends what [`Chat::room_list_updates`] read, with the online counts of now.
    pub fn send_room_list_updates(&self, updates: Vec<(Room, access::Audience)>) {
        for (room, audience) in updates {
            self.room_list_to(RoomListChange::Updated, room, None, &audience);
        }
    }

    /// Tells every connection that may read the room what changed in the room list.
    async fn room_list(&self, change: RoomListChange, room: Room) {
        match self.gate.audience(&room).await {
            Ok(audience) => self.room_list_to(change, room, None, &audience),
            Err(err) => err.log_if_internal(),
        }
    }

    /// Tells one user's connections of a room they may now read (added, or in by an invite).
    fn room_list_to_user(&self, change: RoomListChange, room: Room, user_id: &str) {
        let room = Room {
            member: false,
            my_role: None,
            ..room
        };
        let frame = ServerFrame::RoomList {
            change,
            room,
            by: None,
        };
        self.hub
            .broadcast_all(Utf8Bytes::from(frame.encode()), &|user| user.id == user_id);
    }

    /// `by`: who made the change, when the frame names them (a deletion, #15).
    fn room_list_to(
        &self,
        change: RoomListChange,
        mut room: Room,
        by: Option<&User>,
        audience: &access::Audience,
    ) {
        room.online_count = self.hub.online_count(&room.id);
        let by = by.cloned();
        let frame = ServerFrame::RoomList { change, room, by };
        self.hub
            .broadcast_all(Utf8Bytes::from(frame.encode()), &|user| {
                audience.includes(user)
            });
    }
}
