//! Palaver: a self-hosted, real-time, multi-room chat server with its web UI built in.
//!
//! One binary serves the REST API, the WebSocket gateway and the web page. On one machine it keeps
//! everything in an embedded SQLite file and passes events between connections in process.
//!
//! The invariants every module relies on:
//! 1. the store is the source of truth: a send is acknowledged only after it is committed;
//! 2. every change to a room is an event with the next per-room `seq` (1, 2, 3, … no gaps),
//!    appended in the same transaction as the change;
//! 3. live delivery is an optimisation, the event log is the guarantee: clients resume from it;
//! 4. sends are idempotent by `(author, client_id)`;
//! 5. presence and typing are ephemeral: in memory (or Redis with expiry), never in the log;
//! 6. one gate (`chat::access`) decides who may read and write a room, on every path; to
//!    someone who may not read a room it does not exist (`room_not_found`).
//!
//! # Layout
//! Data flows one way: `gateway`/`http` → `chat` (rules) → `store` (commit, seq) → `bus` → `hub`
//! (every subscriber on this node) → each connection's queue → socket. Each module imports only
//! from the layers below it and no two import each other (`tests/architecture.rs` checks both);
//! `docs/architecture.md` has the layers and the path of one message.
//!
//! - [`config`]: every setting, as a flag and a `PALAVER_*` environment variable.
//! - [`app`]: startup and shutdown; the one startup path for `main` and tests.
//! - [`state`]: `AppState`, the handles every handler shares.
//! - [`protocol`]: the wire types: objects, events, client and server frames. The one definition.
//! - [`error`]: the one error type, shared by REST bodies and the socket's `error` frame.
//! - [`json_policy`]: reading client JSON with one policy: duplicated keys are refused.
//! - [`credentials`]: password preparation (RFC 8265) and hashing (argon2id), opaque session
//!   tokens.
//! - [`auth`]: the extractor that yields the current user from a cookie or bearer token (with
//!   the CSRF check of cookie-signed state changes).
//! - [`chat`]: the rules: the one access gate (`chat/access.rs`: who may read, post, join,
//!   moderate, own a room, and the caller's bans and mutes; asked by every path; with
//!   `chat/scope.rs`, the rooms a bot's token may reach), then a module per feature (accounts,
//!   people, guests, rooms, dms, invites, messages, threads, reactions, pins, moderation, names,
//!   bots, webhooks), validation and abuse
//!   limits; commits through the store and publishes what was committed on the bus.
//! - [`store`]: the durable log: one small interface per resource (accounts, rooms, messages,
//!   reactions, pins, event log, moderation; the audit log's write in `store/audit.rs`, called inside the
//!   transaction of each action) combined in `Store`, each written once over a thin dialect
//!   seam; `sqlite/` and `postgres/` hold only what differs (connection, group commit, lanes);
//!   the schema described once, which the copy from one to the other (`palaver
//!   copy-to-postgres`) follows.
//! - [`bus`]: the `Bus` trait that carries committed events to every node (the in-process bus,
//!   Redis); it delivers into `Deliver`, which the hub implements, and never names the hub.
//! - [`hub`]: this node's subscribers per room, one module per job: ordering and gap fill,
//!   connections and sessions, presence and typing, calls, room-list counts, long-poll watches.
//! - [`gateway`]: one WebSocket connection, a module per job: upgrade, reader (frame → chat
//!   rules), replay, and the writer task behind the bounded outbound queue.
//! - [`http`]: the REST handlers (one module per resource), paged lists, operations endpoints
//!   (and the separate metrics listener's router), OpenAPI (its input rules written in from the
//!   validators' constants), the UI.
//! - [`metrics`]: the node's Prometheus metrics; depends on nothing else in the crate.
//! - [`serve`]: the HTTP accept loop: request time bound, per-address connection cap, a
//!   reserve descriptor for when the process runs out of them; freed heap memory given back to
//!   the system after bursts.

pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod config;
pub mod credentials;
pub mod error;
pub mod gateway;
pub mod http;
pub mod hub;
pub mod json_policy;
pub mod metrics;
pub mod protocol;
pub mod serve;
pub mod state;
pub mod store;

pub use app::Application;
pub use config::Config;
