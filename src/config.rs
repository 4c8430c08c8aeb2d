//! Every setting of the `palaver` binary, as a flag and a `PALAVER_*` environment variable.
//!
//! The names in the first block are part of the public contract (`API.md`, "Running"); the rest
//! are tuning knobs with defaults that suit a single machine.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "palaver",
    version,
    about = "Palaver: a self-hosted real-time chat server"
)]
pub struct Config {
    /// Address to serve HTTP and WebSocket on.
    #[arg(long, env = "PALAVER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Where the embedded SQLite file lives.
    #[arg(long, env = "PALAVER_DATA_DIR", default_value = "./palaver-data")]
    pub data_dir: PathBuf,

    /// Database URL; default is SQLite in the data dir. `postgres://…` selects PostgreSQL.
    #[arg(long, env = "PALAVER_DATABASE_URL")]
    pub database_url: Option<String>,

    /// `redis://…` joins the nodes sharing that Redis; default is the in-process bus.
    #[arg(long, env = "PALAVER_REDIS_URL")]
    pub redis_url: Option<String>,

    /// Extra browser origins (comma-separated, e.g. `https://chat.example.com`) allowed to open
    /// sockets, besides the origin the server was reached at.
    #[arg(long, env = "PALAVER_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,

    /// Whether name-only guest sign-in is allowed.
    #[arg(long, env = "PALAVER_ALLOW_GUESTS", default_value_t = true, action = ArgAction::Set)]
    pub allow_guests: bool,

    /// This node's name in logs, metrics and `hello`; random when not given.
    #[arg(long, env = "PALAVER_NODE_ID")]
    pub node_id: Option<String>,

    /// Prefix of every Redis channel this cluster uses, so clusters (or test runs) can share one
    /// Redis without hearing each other.
    #[arg(long, env = "PALAVER_REDIS_PREFIX", default_value = "palaver:")]
    pub redis_prefix: String,

    /// Most PostgreSQL connections this node keeps open.
    #[arg(long, env = "PALAVER_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,

    /// Subscribes answered at once on this node; the rest wait their turn. A burst of reconnects
    /// (a node died, a network came back) then queues here instead of filling the store's pool,
    /// where every other request would wait behind it and time out.
    #[arg(long, env = "PALAVER_RECONNECT_CONCURRENCY", default_value_t = 16)]
    pub reconnect_concurrency: u32,

    /// Threads of the intake runtime, where HTTP requests, socket upgrades and subscribes' reads
    /// run, apart from the open sockets' frames (so a burst of reconnects does not queue a
    /// send). Defaults to one per two CPUs (at least one); 0 runs everything on one runtime.
    #[arg(long, env = "PALAVER_INTAKE_THREADS", default_value_t = half_the_cpus())]
    pub intake_threads: usize,

    /// Milliseconds between a cluster node's heartbeats (its online users, sent over Redis).
    #[arg(long, env = "PALAVER_HEARTBEAT_MS", default_value_t = 1000)]
    pub heartbeat_ms: u64,

    /// Milliseconds without a heartbeat after which a node counts as dead and its users offline.
    #[arg(long, env = "PALAVER_PRESENCE_TTL_MS", default_value_t = 3500)]
    pub presence_ttl_ms: u64,

    /// Milliseconds between checks of every watched room against the store, for events the
    /// Redis bus lost (a node dying between commit and publish).
    #[arg(long, env = "PALAVER_CATCH_UP_MS", default_value_t = 2000)]
    pub catch_up_ms: u64,

    /// Log format: `text` for people, `json` for log collectors. Levels come from `RUST_LOG`.
    #[arg(long, env = "PALAVER_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Mark the session cookie `Secure` (set when Palaver is served over TLS).
    #[arg(long, env = "PALAVER_SECURE_COOKIES", default_value_t = false, action = ArgAction::Set)]
    pub secure_cookies: bool,

    /// Seconds a session lives after sign-in (fixed, not sliding); then its token is refused
    /// and its sockets close with 1008. Default 30 days.
    #[arg(long, env = "PALAVER_SESSION_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub session_ttl_secs: u64,

    /// Seconds a client has to send a complete HTTP request head (from connecting, or from the
    /// previous answer on a kept-alive connection); slower clients (slowloris) are disconnected.
    #[arg(long, env = "PALAVER_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds a client has to send a request's whole body once its head has arrived; a body
    /// that trickles in slower, or never comes, is answered 408 `request_timeout` and the
    /// connection closed. (Head and body together: at most this plus the header timeout.)
    #[arg(long, env = "PALAVER_BODY_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub body_read_timeout_secs: u64,

    /// Open TCP connections (HTTP and WebSocket) one peer address may have; more get 429
    /// `too_many_connections`. Off behind a trusted proxy (every peer is the proxy: cap there).
    /// 0 turns it off.
    #[arg(
        long,
        env = "PALAVER_MAX_CONNECTIONS_PER_ADDRESS",
        default_value_t = 200
    )]
    pub max_connections_per_address: usize,

    /// Largest WebSocket message a client may send, in bytes; larger ones close with 1009.
    #[arg(long, env = "PALAVER_WS_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024)]
    pub ws_max_message_bytes: usize,

    /// Frames that may wait for one connection before it counts as a slow consumer (4008).
    #[arg(long, env = "PALAVER_WS_OUTBOUND_QUEUE", default_value_t = 1024)]
    pub ws_outbound_queue: usize,

    /// Seconds between the server's keepalive pings.
    #[arg(long, env = "PALAVER_WS_PING_SECS", default_value_t = 4)]
    pub ws_ping_secs: u64,

    /// Seconds without any frame from the client (pongs count) before the socket is closed. With
    /// the pings above, a silently dropped client goes offline within this many seconds.
    #[arg(long, env = "PALAVER_WS_IDLE_TIMEOUT_SECS", default_value_t = 10)]
    pub ws_idle_timeout_secs: u64,

    /// Messages (sends, edits, deletes, moves) one user may make in a burst…
    #[arg(long, env = "PALAVER_RATE_BURST", default_value_t = 20)]
    pub rate_burst: u32,

    /// …and per second after it; excess gets `rate_limited` and is not stored. 0 turns it off.
    #[arg(long, env = "PALAVER_RATE_PER_SEC", default_value_t = 5)]
    pub rate_per_sec: u32,

    /// Room changes (create, rename or retopic, delete, clear) one user may make in a burst…
    #[arg(long, env = "PALAVER_ROOM_RATE_BURST", default_value_t = 20)]
    pub room_rate_burst: u32,

    /// …and per minute after it (120: two a second); excess gets `rate_limited` and changes
    /// nothing. 0 turns it off.
    #[arg(long, env = "PALAVER_ROOM_RATE_PER_MIN", default_value_t = 120)]
    pub room_rate_per_min: u32,

    /// Membership changes (joins and leaves that write an event, subscribes that join) one user
    /// may make in a burst…
    #[arg(long, env = "PALAVER_JOIN_RATE_BURST", default_value_t = 10)]
    pub join_rate_burst: u32,

    /// …and per minute after it (12: one every 5 s); excess gets `rate_limited` and changes
    /// nothing. 0 turns it off.
    #[arg(long, env = "PALAVER_JOIN_RATE_PER_MIN", default_value_t = 12)]
    pub join_rate_per_min: u32,

    /// Login attempts per minute for one username. 0 turns it off.
    #[arg(long, env = "PALAVER_LOGIN_PER_USER_PER_MIN", default_value_t = 10)]
    pub login_per_user_per_min: u32,

    /// Sign-in attempts (login, register, guest) per minute from one address. 0 turns it off.
    #[arg(long, env = "PALAVER_LOGIN_PER_ADDRESS_PER_MIN", default_value_t = 60)]
    pub login_per_address_per_min: u32,

    /// Guest sign-ins (each makes an account) per minute from one address. 0 turns it off.
    #[arg(long, env = "PALAVER_GUESTS_PER_ADDRESS_PER_MIN", default_value_t = 60)]
    pub guests_per_address_per_min: u32,

    /// Guest sign-ins per minute on this node, from everyone together: a bound on how fast
    /// guest accounts can pile up. 0 turns it off.
    #[arg(long, env = "PALAVER_GUESTS_PER_MIN", default_value_t = 600)]
    pub guests_per_min: u32,

    /// Seconds a guest's name stays theirs after their last session ended (logout, revoke or
    /// expiry); then the guest account expires and anyone may take the name. Default 10 minutes.
    #[arg(long, env = "PALAVER_GUEST_NAME_GRACE_SECS", default_value_t = 600)]
    pub guest_name_grace_secs: u64,

    /// Milliseconds a live long-poller (`GET …/events?live=`) stays online in a room after their
    /// poll ends, so a client polling in a loop stays online between polls. Default 20 s.
    #[arg(long, env = "PALAVER_POLL_PRESENCE_GRACE_MS", default_value_t = 20_000)]
    pub poll_presence_grace_ms: u64,

    /// Seconds between sweeps: expired sessions deleted, rate-limit state pruned, guests whose
    /// name grace is over expired.
    #[arg(long, env = "PALAVER_SWEEP_SECS", default_value_t = 60)]
    pub sweep_secs: u64,

    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    #[arg(long, env = "PALAVER_TRUST_PROXY", default_value_t = false, action = ArgAction::Set)]
    pub trust_proxy: bool,

    /// Open WebSocket connections one user may have on this node.
    #[arg(long, env = "PALAVER_MAX_CONNECTIONS_PER_USER", default_value_t = 20)]
    pub max_connections_per_user: usize,

    /// Rooms one user may own.
    #[arg(long, env = "PALAVER_MAX_ROOMS_PER_USER", default_value_t = 10)]
    pub max_rooms_per_user: usize,

    /// Bot accounts one person may own; more get 403 `too_many_bots`.
    #[arg(long, env = "PALAVER_MAX_BOTS_PER_USER", default_value_t = 10)]
    pub max_bots_per_user: usize,

    /// Messages one incoming webhook may post in a burst…
    #[arg(long, env = "PALAVER_WEBHOOK_RATE_BURST", default_value_t = 10)]
    pub webhook_rate_burst: u32,

    /// …and per minute after it (30: one every 2 s); excess gets 429 `rate_limited` and is not
    /// stored. 0 turns it off.
    #[arg(long, env = "PALAVER_WEBHOOK_RATE_PER_MIN", default_value_t = 30)]
    pub webhook_rate_per_min: u32,

    /// Address of a separate listener that serves only `/metrics`, without a token (bind it
    /// where only the scraper reaches, e.g. a private interface). When set, the main listener
    /// answers 404 for `/metrics`.
    #[arg(long, env = "PALAVER_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// When set (and `PALAVER_METRICS_LISTEN` is not), `/metrics` on the main listener answers
    /// only requests with `Authorization: Bearer <this token>` (others get 401
    /// `unauthenticated`); unset, `/metrics` is open (keep it on a private network or block it
    /// at the proxy).
    #[arg(long, env = "PALAVER_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,

    /// Files (#12): largest upload, in bytes (default 25 MiB); larger ones get 413
    /// `file_too_large`, checked as the bytes arrive.
    #[arg(long, env = "PALAVER_MAX_UPLOAD_BYTES", default_value_t = 25 * 1024 * 1024)]
    pub max_upload_bytes: u64,

    /// Bytes one user's files may take together (default 1 GiB); beyond, 413 `quota_exceeded`.
    #[arg(long, env = "PALAVER_UPLOAD_QUOTA_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub upload_quota_bytes: u64,

    /// Types that may be uploaded, comma-separated (`image/*,application/pdf`), as sniffed from
    /// the bytes; `*` (the default): any type but executables, which are always refused (415
    /// `file_type_not_allowed`).
    #[arg(
        long,
        env = "PALAVER_UPLOAD_TYPES",
        value_delimiter = ',',
        default_value = "*"
    )]
    pub upload_types: Vec<String>,

    /// Hours an upload may stay unattached to any message before the sweep deletes it.
    #[arg(long, env = "PALAVER_UPLOAD_UNATTACHED_HOURS", default_value_t = 24)]
    pub upload_unattached_hours: u64,

    /// Least upload speed, in bytes per second, that the upload deadline allows for: an upload
    /// has the body read timeout plus its size at this speed (default 32 KiB/s) to arrive.
    #[arg(long, env = "PALAVER_UPLOAD_MIN_BYTES_PER_SEC", default_value_t = 32 * 1024)]
    pub upload_min_bytes_per_sec: u64,

    /// Where the bytes of files live. Unset: with SQLite, under the data dir (`files/`); with
    /// PostgreSQL, in the database (`blob_chunks`). `s3://BUCKET[/prefix]`: in an S3-compatible
    /// object store (see the `PALAVER_S3_*` settings), which every node of a cluster reaches.
    #[arg(long, env = "PALAVER_FILES_URL")]
    pub files_url: Option<String>,

    /// The S3-compatible server's URL (`https://s3.example.net`, `http://127.0.0.1:9000`);
    /// unset: AWS (or `AWS_ENDPOINT`). `http://` is allowed only when named here.
    #[arg(long, env = "PALAVER_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// The bucket's region; unset: `AWS_REGION`, else `us-east-1`.
    #[arg(long, env = "PALAVER_S3_REGION")]
    pub s3_region: Option<String>,

    /// The access key id; unset: `AWS_ACCESS_KEY_ID` (or the instance's role).
    #[arg(long, env = "PALAVER_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub s3_access_key_id: Option<String>,

    /// The secret access key; unset: `AWS_SECRET_ACCESS_KEY` (or the instance's role).
    #[arg(long, env = "PALAVER_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,

    /// Seconds that shutdown waits for open connections to finish before giving up on them.
    #[arg(long, env = "PALAVER_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// The contact Web Push services are given with every push (the VAPID `sub` claim): a
    /// `mailto:` or `https:` URL of whoever runs this server.
    #[arg(
        long,
        env = "PALAVER_PUSH_SUBJECT",
        default_value = "mailto:admin@localhost"
    )]
    pub push_subject: String,

    /// Accept push subscriptions whose endpoint is `http://` or a loopback or private address
    /// (a local push service, tests). Off: only `https://` endpoints on public hosts.
    #[arg(long, env = "PALAVER_PUSH_ALLOW_INSECURE", default_value_t = false, action = ArgAction::Set)]
    pub push_allow_insecure: bool,

    /// Calls (#13): STUN and TURN servers browsers use to connect calls, comma-separated
    /// (`stun:stun.example.org:3478,turn:turn.example.org:3478?transport=udp`). Unset: none,
    /// which connects only where the browsers reach each other directly (a LAN, one machine).
    #[arg(long, env = "PALAVER_ICE_SERVERS", value_delimiter = ',')]
    pub ice_servers: Vec<String>,

    /// The shared secret of the TURN servers (coturn's `static-auth-secret`): `turn:`/`turns:`
    /// URLs then come with short-lived credentials made from it for each signed-in person.
    #[arg(long, env = "PALAVER_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// Seconds a TURN credential stays valid (default an hour; a call already connected
    /// outlives it, a new connection needs a fresh one).
    #[arg(long, env = "PALAVER_TURN_TTL_SECS", default_value_t = 3600)]
    pub turn_ttl_secs: u64,
}

/// The `palaver` command line: with no subcommand it serves, configured by [`Config`].
#[derive(Parser, Debug, Clone)]
#[command(
    name = "palaver",
    version,
    about = "Palaver: a self-hosted real-time chat server",
    after_help = "With no subcommand, palaver serves."
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Command {
    /// Copy a single-node SQLite store into an empty PostgreSQL database, in one transaction,
    /// verified before commit. Stop the server using the SQLite store first.
    CopyToPostgres(CopyToPostgres),
    /// Make an account a site admin, or no longer one, in the configured store (the data dir's
    /// SQLite file, or PALAVER_DATABASE_URL). Exit codes: 0 done, 1 no such user, 3 the store
    /// failed.
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Rebuild the search index of the configured store (the data dir's SQLite file, or
    /// PALAVER_DATABASE_URL) from the stored messages. Exit codes: 0 done, 1 the store failed.
    Reindex,
}

#[derive(Subcommand, Debug, Clone)]
pub enum AdminAction {
    /// Make USERNAME a site admin.
    Grant { username: String },
    /// Make USERNAME no longer a site admin.
    Revoke { username: String },
}

#[derive(Args, Debug, Clone)]
pub struct CopyToPostgres {
    /// The SQLite store to copy (never modified): a data dir (its `palaver.db`), the database
    /// file, or a `sqlite://` URL.
    #[arg(long, value_name = "DATA_DIR|FILE|SQLITE_URL")]
    pub from: String,

    /// The PostgreSQL database to fill: `postgres://user:password@host:5432/database`. Its
    /// tables must be empty (or not exist yet): the command refuses a database holding data.
    #[arg(long, value_name = "POSTGRES_URL")]
    pub to: String,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// A configuration for tests and embedding: defaults, listening on an ephemeral port.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut config = Config::parse_from(["palaver"]);
        config.listen = "127.0.0.1:0".parse().expect("valid address");
        config.data_dir = data_dir.into();
        config
    }
}

/// The intake's threads by default: one per two CPUs the process may use, at least one. With as
/// many threads as the main runtime (one per CPU), connecting 100,000 sockets on 6 nodes of a
/// 2-core machine took 45 % more CPU than on one runtime (threads parking and waking each other);
/// with one, 5–10 %, and the reconnect storm's senders gained as much (docs/benchmarks.md).
fn half_the_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}
