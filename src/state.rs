//! What every handler shares: the node's store, hub, rules, metrics and settings, and the
//! shutdown signal. Built once at startup (see [`crate::app`]).

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::Chat;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;

/// What every handler shares. Cloning is an `Arc` increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub node_id: String,
    pub store: Arc<dyn Store>,
    pub hub: Arc<Hub>,
    pub chat: Arc<Chat>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection, so shutdown can wait for them to close.
    pub tracker: TaskTracker,
}

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The store, for extractors that need only it (the signed-in caller).
impl FromRef<AppState> for Arc<dyn Store> {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}
