//! `palaver-client`: one client of Palaver's public protocol, shared by the API tests
//! (`tests/api`), the cluster tests (`tests/cluster`), `palaver-bench` and `palaver-soak`.
//!
//! The wire types are the server's own ([`palaver::protocol`], re-exported as [`protocol`]): a
//! client and a server can't disagree on a field.
//!
//! - [`rest`]: REST calls over `reqwest`, as `(status, JSON body)` or typed ([`Rest::guest`],
//!   [`Rest::create_room`], …).
//! - [`ws`]: one WebSocket connection over `tokio-tungstenite`: frames as JSON values or typed
//!   ([`protocol::ServerFrame`]), deadlines on every wait, and the raw socket for a hot loop that
//!   reads frames its own way ([`WsClient::into_inner`]).

pub mod rest;
pub mod ws;

pub use palaver::protocol;
pub use rest::Rest;
pub use ws::{Closed, Connect, Socket, WsClient};
