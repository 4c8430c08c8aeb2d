//! Black-box tests: each starts the real server on port 0 with its own temporary data dir.

mod accounts;
mod chat;
mod errors;
mod helpers;
mod limits;
mod ops;
mod properties;
mod resume;
mod rooms;
mod rules;
mod security;
mod semantics;
mod store_conformance;
