//! What every handler shares: the node's rules, hub, metrics and settings, and the shutdown
//! signal. Built once at startup (see [`crate::app`]). There is no store here: handlers reach
//! the store only through the rules ([`Chat`]), which ask the access gate first.

use std::ops::Deref;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::chat::Chat;
use crate::config::Config;
use crate::hub::Hub;
use crate::metrics::Metrics;

/// What every handler shares. Cloning is an `Arc` increment.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub config: Config,
    pub node_id: String,
    pub hub: Arc<Hub>,
    pub chat: Arc<Chat>,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server begins to shut down.
    pub shutdown: CancellationToken,
    /// Every WebSocket connection, so shutdown can wait for them to close.
    pub tracker: TaskTracker,
    /// Bounds the subscribes being answered at once (see `PALAVER_RECONNECT_CONCURRENCY`): after
    /// a node dies its clients all reconnect to the others at once, and their subscribes (each
    /// a few store reads) wait their turn here rather than in the store's pool, where everyone
    /// else's requests would wait behind them and time out.
    pub reconnects: Arc<tokio::sync::Semaphore>,
    /// Where HTTP requests, upgrades and subscribes' reads run (see `serve::intake`)…
    pub intake: crate::serve::intake::Intake,
    /// …and the main runtime, where open sockets run.
    pub live: tokio::runtime::Handle,
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
