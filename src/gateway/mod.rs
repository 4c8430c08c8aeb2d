//! One WebSocket connection, a module per job:
//! - `upgrade.rs`: the HTTP upgrade (Origin and session checks) and the connection's setup: the
//!   hub's per-user cap, the `hello`, the writer task and the reader, until the socket closes;
//! - `reader.rs`: frame → rules: parses each client frame and carries it out through the chat
//!   rules, in the order read; sends are pipelined (many wait for the store at once, acked in
//!   order); subscribe and unsubscribe register the connection with the hub;
//! - `replay.rs`: what a subscribe missed, read from the store (or `resync` when it is too much);
//! - `writer.rs`: the task that owns the socket's sending half, and the subscription seam;
//! - [`frames`]: decoding client frames with precise errors, encoding error frames;
//! - [`socket`]: the WebSocket itself: the handshake, fragmenting, the write buffer.
//!
//! Everything the client is sent goes through one bounded queue to the writer, which drains all
//! that is queued and flushes once (write coalescing). The writer also finishes each room's
//! subscription seam: it holds a room's live events until the replay from the store is written,
//! then writes the held ones with a higher `seq` — so no gap and no duplicate, whatever the race
//! between the replay and live delivery.
//!
//! Imports among them run one way: upgrade → reader, writer; reader → replay; upgrade and reader
//! → frames; upgrade, reader and writer → socket. The writer needs nothing of the gateway's but
//! the socket, the replay nothing at all, and only this façade names upgrade.

pub mod frames;
mod reader;
mod replay;
pub mod socket;
mod upgrade;
mod writer;

pub use reader::MAX_SUBSCRIPTIONS;
pub use replay::REPLAY_MAX;
pub use upgrade::router;
