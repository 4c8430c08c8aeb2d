//! Cluster tests: real `palaver` processes (the binary cargo built) sharing a fresh PostgreSQL
//! database and Redis, and nginx in front of them.
//!
//! Needs PostgreSQL (`PALAVER_TEST_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432),
//! Redis (`PALAVER_TEST_REDIS_URL`, default redis://127.0.0.1:6379), `redis-server` and
//! `/usr/sbin/nginx`; the README's test command provides them. Missing ones fail, never skip.
//!
//! `crash` runs one embedded node (SQLite, no Redis) and kills it (SIGKILL) or stops it (SIGTERM)
//! while clients send: crash consistency of the single-binary setup.

mod access;
mod calls;
mod chatter;
mod crash;
mod crossing;
mod failures;
mod harness;
mod memory;
mod moderation;
mod nginx;
mod reactions;
mod sessions;
mod unread;
