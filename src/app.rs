//! Startup and shutdown: builds the running server from a [`Config`] (store, bus, hub, chat
//! rules, router) and stops it. `main` and the tests start Palaver through the same
//! [`Application`]. What the handlers share, [`AppState`], lives in [`crate::state`].

pub mod admin;
pub mod reindex;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::bus::redis::{ClusterTiming, RedisBus};
use crate::bus::{Bus, LocalBus};
use crate::chat::{Chat, DEFAULT_ROOMS};
use crate::config::{Config, LogFormat};
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::protocol::close_code;
use crate::state::{AppState, Shared};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::Store;

/// A built server, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    /// `PALAVER_METRICS_LISTEN`'s listener: `/metrics` only, no token.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    sqlite: Option<Arc<SqliteStore>>,
    postgres: Option<Arc<PostgresStore>>,
    /// Stops the Redis bus's tasks, after the sockets have closed.
    bus_shutdown: CancellationToken,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_policy(config, Arc::new(crate::chat::access::RoomKinds)).await
    }

    /// [`Application::build`] with another access policy than Palaver's (tests use one that
    /// refuses everything, to prove every path asks the gate).
    pub async fn build_with_policy(
        config: Config,
        policy: Arc<dyn crate::chat::access::Policy>,
    ) -> anyhow::Result<Self> {
        let node_id = config
            .node_id
            .clone()
            .unwrap_or_else(|| format!("node-{:08x}", rand::random::<u32>()));
        let mut postgres = None;
        let (store, sqlite): (Arc<dyn Store>, Option<Arc<SqliteStore>>) = match &config.database_url
        {
            Some(url) if url.starts_with("postgres") => {
                let store = Arc::new(
                    PostgresStore::open(url, config.database_max_connections)
                        .await
                        .context("opening the PostgreSQL store")?,
                );
                postgres = Some(store.clone());
                (store, None)
            }
            Some(url) => {
                let store = Arc::new(
                    SqliteStore::open(url)
                        .await
                        .context("opening the SQLite store")?,
                );
                (store.clone(), Some(store))
            }
            None => {
                let store = Arc::new(SqliteStore::open_in(&config.data_dir).await.with_context(
                    || format!("opening the store in {}", config.data_dir.display()),
                )?);
                (store.clone(), Some(store))
            }
        };
        store.seed_default_rooms(DEFAULT_ROOMS).await?;
        // Files (#12): in an S3-compatible bucket when PALAVER_FILES_URL names one; otherwise
        // in the database with PostgreSQL (every node reaches them), on disk under the data dir
        // with SQLite.
        let blobs: Arc<dyn crate::store::blobs::BlobStore> = match (&config.files_url, &postgres) {
            (Some(url), _) => {
                use crate::store::s3blobs::{BlobLock, S3Blobs, S3Settings};
                let settings = S3Settings {
                    url: url.clone(),
                    endpoint: config.s3_endpoint.clone(),
                    region: config.s3_region.clone(),
                    access_key_id: config.s3_access_key_id.clone(),
                    secret_access_key: config.s3_secret_access_key.clone(),
                };
                let lock = match &postgres {
                    Some(pg) => BlobLock::Postgres(pg.pool()),
                    None => BlobLock::Node(tokio::sync::Mutex::new(())),
                };
                S3Blobs::connect(&settings, lock)
                    .await
                    .with_context(|| format!("opening the files at {url}"))?
            }
            (None, Some(pg)) => crate::store::blobs::PgBlobs::new(pg.pool()),
            (None, None) => {
                crate::store::blobs::DiskBlobs::open(&config.data_dir).with_context(|| {
                    format!("opening the files under {}", config.data_dir.display())
                })?
            }
        };
        let hub = Hub::new(store.clone());
        hub.set_poll_grace(Duration::from_millis(config.poll_presence_grace_ms));
        let bus_shutdown = CancellationToken::new();
        let bus: Arc<dyn Bus> = match &config.redis_url {
            Some(url) => {
                let timing = ClusterTiming {
                    heartbeat: Duration::from_millis(config.heartbeat_ms.max(10)),
                    presence_ttl: Duration::from_millis(config.presence_ttl_ms),
                    catch_up: Duration::from_millis(config.catch_up_ms),
                };
                let redis = RedisBus::start(
                    url,
                    &config.redis_prefix,
                    &node_id,
                    timing,
                    &hub,
                    bus_shutdown.clone(),
                )
                .await
                .context("connecting to Redis")?;
                hub.attach_presence(redis.clone());
                redis
            }
            None => LocalBus::new(&hub),
        };
        hub.attach_bus(bus.clone());
        let metrics = Arc::new(Metrics::new());
        let chat = Arc::new(
            Chat::new(
                store.clone(),
                bus,
                hub.clone(),
                config.allow_guests,
                crate::chat::limits::Limits::from_config(&config),
                metrics.clone(),
            )
            .with_policy(policy)
            .with_push(crate::chat::push::PushSettings {
                subject: config.push_subject.clone(),
                allow_insecure: config.push_allow_insecure,
            })
            .with_files(blobs, crate::chat::files::FilePolicy::from_config(&config)),
        );
        // The VAPID key pair, made now on a first start (and shared through the store).
        chat.push_key().await.context("making the Web Push key")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        let metrics_listener = match config.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("listening for metrics on {addr}"))?,
            ),
            None => None,
        };
        let intake = crate::serve::intake::Intake::start(config.intake_threads)
            .context("starting the intake runtime")?;
        let reconnects = Arc::new(tokio::sync::Semaphore::new(
            config.reconnect_concurrency.max(1) as usize,
        ));
        let state = AppState::new(Shared {
            config,
            node_id,
            hub,
            chat,
            metrics,
            shutdown: CancellationToken::new(),
            tracker: TaskTracker::new(),
            reconnects,
            intake,
            live: tokio::runtime::Handle::current(),
        });
        Ok(Application {
            listener,
            metrics_listener,
            state,
            sqlite,
            postgres,
            bus_shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The address of the separate metrics listener, when `PALAVER_METRICS_LISTEN` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .map(|l| l.local_addr().expect("a bound listener has an address"))
    }

    pub fn port(&self) -> u16 {
        self.local_addr().port()
    }

    /// Cancel it to shut the server down as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.state.shutdown.clone()
    }

    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Serves until SIGINT, SIGTERM or the shutdown token; then stops accepting, closes every
    /// socket with 1001 once its in-flight frame is done, and waits for them (bounded).
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        let shutdown = state.shutdown.clone();
        tracing::info!(addr = %self.local_addr(), node_id = %state.node_id, "palaver is serving");
        let app = crate::http::router()
            .layer(crate::http::trace_layer())
            .with_state(state.clone());
        let flusher = tokio::spawn(flush_batches(state.clone()));
        let signal = {
            let shutdown = shutdown.clone();
            async move {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = shutdown_signal() => {}
                }
                tracing::info!("shutting down: no new connections; closing sockets with 1001");
                shutdown.cancel();
            }
        };
        let options = crate::serve::ServeOptions {
            header_read_timeout: Duration::from_secs(state.config.header_read_timeout_secs.max(1)),
            body_read_timeout: Duration::from_secs(state.config.body_read_timeout_secs.max(1)),
            max_body_bytes: crate::http::BODY_LIMIT,
            max_upload_bytes: state.config.max_upload_bytes,
            upload_min_bytes_per_sec: state.config.upload_min_bytes_per_sec,
            // Behind a trusted proxy every peer is the proxy: the cap would throttle everyone.
            max_connections_per_address: if state.config.trust_proxy {
                0
            } else {
                state.config.max_connections_per_address
            },
        };
        let metrics = self.metrics_listener.map(|listener| {
            tracing::info!(addr = ?listener.local_addr().ok(), "serving /metrics");
            let router = crate::http::ops::metrics_router().with_state(state.clone());
            let stop = shutdown.clone().cancelled_owned();
            let intake = state.intake.clone();
            tokio::spawn(async move {
                crate::serve::serve(listener, router, options, &intake, stop).await
            })
        });
        crate::serve::serve(self.listener, app, options, &state.intake, signal).await?;
        if let Some(metrics) = metrics {
            // It stops on the same shutdown token the main listener's signal cancels.
            match metrics.await {
                Ok(Err(err)) => tracing::warn!(error = %err, "the metrics listener failed"),
                Err(err) => tracing::warn!(error = %err, "the metrics listener panicked"),
                Ok(Ok(())) => {}
            }
        }
        flusher.abort();
        state
            .hub
            .close_all(close_code::GOING_AWAY, "server shutting down");
        state.tracker.close();
        let grace = Duration::from_secs(state.config.shutdown_grace_secs);
        if tokio::time::timeout(grace, state.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within the grace period");
        }
        self.bus_shutdown.cancel();
        if let Some(sqlite) = self.sqlite {
            sqlite.close().await;
        }
        if let Some(postgres) = self.postgres {
            postgres.close().await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// Ticks of [`flush_batches`] (250 ms each) between two returns of freed memory.
const RELEASE_TICKS: u64 = crate::serve::memory::RELEASE_EVERY.as_millis() as u64 / 250;

/// Sends batched presence (every 250 ms) and room-list count updates (every second), closes
/// the sockets of expired sessions (every second), returns freed heap memory to the system
/// (every 10 s, see [`crate::serve::memory`]), and prunes the rate limiters, deletes expired
/// sessions from the store and expires guests past their name grace (every
/// `PALAVER_SWEEP_SECS`, a minute by default).
async fn flush_batches(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    let sweep_every = state.config.sweep_secs.saturating_mul(4).max(1);
    // The sweep runs beside this loop, never in it (a slow one must not hold presence back),
    // one at a time; the first at once, while the store's tables are as they were at start.
    let sweeping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    spawn_sweep(&state, &sweeping);
    loop {
        tick.tick().await;
        n += 1;
        state.hub.expire_poll_leases();
        // The room list every fourth tick, read before the presence flush and sent right after
        // it: the presence flush's count turns fall on these ticks too.
        if n.is_multiple_of(4) {
            let updates = state.chat.room_list_updates().await;
            state.hub.flush_presence();
            state.chat.send_room_list_updates(updates);
            let expired = state.hub.close_expired(chrono::Utc::now());
            if expired > 0 {
                tracing::info!(sockets = expired, "closed the sockets of expired sessions");
            }
        } else {
            state.hub.flush_presence();
        }
        if n.is_multiple_of(RELEASE_TICKS) {
            // Off the async threads: it takes each malloc arena's lock in turn.
            tokio::task::spawn_blocking(|| {
                let took = crate::serve::memory::release_freed();
                tracing::debug!(?took, "returned freed heap memory to the system");
            });
        }
        if n.is_multiple_of(sweep_every) {
            spawn_sweep(&state, &sweeping);
        }
    }
}

/// Starts a sweep unless one is still running.
fn spawn_sweep(state: &AppState, sweeping: &Arc<std::sync::atomic::AtomicBool>) {
    use std::sync::atomic::Ordering;
    if sweeping.swap(true, Ordering::AcqRel) {
        return;
    }
    /// Lets the next sweep start when this one ends, however it ends (a panic too).
    struct Done(Arc<std::sync::atomic::AtomicBool>);
    impl Drop for Done {
        fn drop(&mut self) {
            self.0.store(false, Ordering::Release);
        }
    }
    let (state, done) = (state.clone(), Done(sweeping.clone()));
    tokio::spawn(async move {
        let _done = done;
        match state.chat.sweep().await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired sessions"),
            Err(err) => err.log_if_internal(),
        }
    });
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

/// Structured logs to stderr; levels from `RUST_LOG` (default `info`).
pub fn init_telemetry(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=warn,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
