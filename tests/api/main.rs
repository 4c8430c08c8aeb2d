//! Black-box tests: each starts the real server on port 0 with its own temporary data dir.

mod accounts;
mod attacks;
mod attacks_input;
mod chat;
mod copy_to_postgres;
mod errors;
mod floods;
mod gate;
mod helpers;
mod hostile;
mod limits;
mod longpoll;
mod ops;
mod paging;
#[path = "../support/pgdb.rs"]
mod pgdb;
mod properties;
mod resume;
mod rooms;
mod rules;
mod security;
mod semantics;
mod store_conformance;
