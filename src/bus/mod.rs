//! The bus carries committed events to every node's hub.
//!
//! Delivery through the bus is at-most-once and may reorder; that is fine, because the hub
//! orders by `seq` and fills holes from the store (the event log is the guarantee). The embedded
//! [`LocalBus`] hands events straight to this node's subscribers; a Redis bus (cluster)
//! publishes them on a channel per room and subscribes to the rooms this node has subscribers
//! in.
//!
//! The bus never names the hub: it delivers into a [`Deliver`], which the hub implements, and
//! the hub reaches the rest of the cluster through [`Presence`], which the Redis bus
//! implements. [`EncodedEvent`], what travels between them, is defined here.

pub mod presence;
pub mod redis;
mod wire;

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use async_trait::async_trait;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::error::Result;
use crate::protocol::{Effects, User};
use crate::store::StoredEvent;
pub use presence::Presence;

/// A committed event, encoded once as its `{"type":"event",…}` frame and shared by every
/// delivery.
#[derive(Debug)]
pub struct EncodedEvent {
    pub room_id: Arc<str>,
    pub seq: u64,
    pub frame: Utf8Bytes,
    /// What it does beyond its record (a `room.deleted` ends the room's subscriptions).
    pub effects: Effects,
}

impl EncodedEvent {
    pub fn new(stored: &StoredEvent) -> Arc<Self> {
        Self::from_frame(
            Arc::from(stored.room_id.as_str()),
            stored.seq,
            Utf8Bytes::from(format!(r#"{{"type":"event","event":{}}}"#, stored.json)),
            stored.effects().clone(),
        )
    }

    /// An event already encoded as its frame (as it travels between nodes).
    pub fn from_frame(
        room_id: Arc<str>,
        seq: u64,
        frame: Utf8Bytes,
        effects: Effects,
    ) -> Arc<Self> {
        Arc::new(EncodedEvent {
            room_id,
            seq,
            frame,
            effects,
        })
    }
}

/// Where a bus delivers: this node's subscribers (the hub implements it). Calls never block
/// on I/O; they take only short locks.
pub trait Deliver: Send + Sync + 'static {
    /// A committed event, from this node or another, in any order, maybe twice.
    fn deliver(&self, event: Arc<EncodedEvent>);
    /// The bus may have lost events (it reconnected, or it is time for the periodic check):
    /// catch every watched room up from the store.
    fn catch_up(&self);
    /// Whether this node still has subscribers (or long-pollers) in the room.
    fn wants_room(&self, room_id: &str) -> bool;
    /// Who is online in each room on this node (a cluster node's heartbeat).
    fn local_presence(&self) -> HashMap<String, Vec<User>>;
    /// Users came online in / went offline from a room on other nodes.
    fn remote_presence_changed(&self, room_id: &str, joined: &[User], left: &[User]);
    /// A user on another node is typing in a room.
    fn relay_typing(&self, room_id: &str, user: &User);
    /// A session was revoked on another node: close this node's sockets of it.
    fn close_session(&self, token_hash: &str);
    /// Another node sent a frame to these users: push it to their sockets here.
    fn frame_to_users(&self, user_ids: &[String], frame: Utf8Bytes);
    /// This node's call participants per room (a cluster node's heartbeat).
    fn local_calls(&self) -> HashMap<String, Vec<User>>;
    /// The participants of a room's call on other nodes changed.
    fn remote_call_changed(&self, room_id: &str);
    /// The user joined the room's call on another node: their place here (if any) ends.
    fn call_joined_elsewhere(&self, room_id: &str, user_id: &str);
    /// Another node relays a `call.signal` frame to the participant `to`: push it to their
    /// call socket if it is here.
    fn relay_call_signal(&self, room_id: &str, to: &str, frame: Utf8Bytes);
    /// A user changed their profile on another node.
    fn profile_changed_elsewhere(&self, user: &User);
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Sends a committed event to every node (this one included). Never awaits (it takes only
    /// the hub's short locks): the store's commit thread calls it (see
    /// [`crate::store::MessageStore::publish_sends`]).
    fn publish(&self, event: Arc<EncodedEvent>);
    /// This node has subscribers in the room: start receiving its events.
    async fn watch_room(&self, room_id: &str);
    /// This node's last subscriber of the room left.
    async fn unwatch_room(&self, room_id: &str);
    /// Reachability check for `/readyz`.
    async fn ping(&self) -> Result<()>;
}

/// The in-process bus of a single node.
pub struct LocalBus {
    target: Weak<dyn Deliver>,
}

impl LocalBus {
    pub fn new<D: Deliver>(target: &Arc<D>) -> Arc<Self> {
        let target: Weak<dyn Deliver> = Arc::downgrade(target) as Weak<D>;
        Arc::new(LocalBus { target })
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn publish(&self, event: Arc<EncodedEvent>) {
        if let Some(target) = self.target.upgrade() {
            target.deliver(event);
        }
    }

    async fn watch_room(&self, _room_id: &str) {}

    async fn unwatch_room(&self, _room_id: &str) {}

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
