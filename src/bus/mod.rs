//! The bus carries committed events to every node's hub.
//!
//! Delivery through the bus is at-most-once and may reorder; that is fine, because the hub
//! orders by `seq` and fills holes from the store (the event log is the guarantee). The embedded
//! [`LocalBus`] hands events straight to this node's hub; a Redis bus (cluster) publishes them on
//! a channel per room and subscribes to the rooms this node has subscribers in.

pub mod redis;

use std::sync::{Arc, Weak};

use async_trait::async_trait;

use crate::error::Result;
use crate::hub::{EncodedEvent, Hub};

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
    hub: Weak<Hub>,
}

impl LocalBus {
    pub fn new(hub: &Arc<Hub>) -> Arc<Self> {
        Arc::new(LocalBus {
            hub: Arc::downgrade(hub),
        })
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn publish(&self, event: Arc<EncodedEvent>) {
        if let Some(hub) = self.hub.upgrade() {
            hub.deliver(event);
        }
    }

    async fn watch_room(&self, _room_id: &str) {}

    async fn unwatch_room(&self, _room_id: &str) {}

    async fn ping(&self) -> Result<()> {
        Ok(())
    }
}
