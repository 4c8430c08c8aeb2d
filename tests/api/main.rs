//! Black-box tests: each starts the real server on port 0 with its own temporary data dir.

mod account_lifecycle;
mod account_sessions;
mod accounts;
mod attacks;
mod attacks_input;
mod bots;
mod bots_copy;
mod chat;
mod copy_to_postgres;
mod dms;
mod errors;
mod floods;
mod gate;
mod guests;
mod helpers;
mod hostile;
mod invites;
mod limits;
mod longpoll;
mod moderation;
mod moderation_rules;
mod ops;
mod paging;
mod people;
mod people_store;
#[path = "../support/pgdb.rs"]
mod pgdb;
mod private_rooms;
mod properties;
mod resume;
mod rooms;
mod rules;
mod security;
mod semantics;
mod store_conformance;
mod webhooks;
