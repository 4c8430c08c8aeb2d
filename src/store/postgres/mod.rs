//! The cluster store: PostgreSQL, shared by every node.
//!
//! The same log as [`super::sqlite`], through the same procedures, with one difference that
//! matters: many writers on many nodes. Every write transaction that touches a room first locks
//! the room's row ([`lock_room`]), so writers of one room queue on that lock and each takes the room's next
//! `seq` (`rooms.last_seq + 1`) in its own transaction: gap-free and in commit order. Writers of
//! different rooms don't wait for each other.
//!
//! A database that can't be reached (refused, reset, pool timed out) is
//! [`Error::Unavailable`] (503 `unavailable`): the pool opens new connections on the next
//! request, so the node recovers by itself when the database is back.

pub(crate) mod search;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgConnection, PgPool, Postgres};
use tokio::sync::mpsc;

use super::backend::{Backend, Parts};
use super::dialect::{sqlx_conn, Dialect};
use super::rooms::lock_room;
use super::sends::{self, SendJob, SendQueue};
use super::{PublishSlot, SendOutcome, SendRequest};
use crate::error::{Error, Result};
use crate::protocol::Message;

pub struct PostgresStore {
    pool: PgPool,
    /// The send lanes' own connections (see [`PostgresStore::open`]).
    send_pool: PgPool,
    /// Sends, in lanes by room (see [`send_lane`]).
    sends: SendQueue,
}

/// How long a request waits for a pooled connection before answering `unavailable` (a burst of
/// reconnects waits at the gateway instead: `PALAVER_RECONNECT_CONCURRENCY`).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// A pooled connection idle this long is pinged before it is handed out.
///
/// sqlx pings every connection before handing it out unless told not to (`test_before_acquire`):
/// a round trip to PostgreSQL before every read and two in a lone send's path, on top of the
/// ping it makes anyway when a connection goes back to its pool. A connection in use a moment
/// ago was checked by that ping, so only one that sat idle a while is pinged first: one that a
/// firewall or NAT dropped silently meanwhile (sqlx sets no TCP keepalive) would otherwise hang
/// its first statement until TCP gives up, minutes later. A failed ping closes it, and the pool
/// hands out another.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// A pool without sqlx's ping before every use (see [`PING_IF_IDLE_FOR`]).
fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

impl PostgresStore {
    /// Connects (`max_connections` pooled) and brings the schema up to date. The migrations take
    /// an advisory lock, so nodes starting together migrate once.
    ///
    /// The sends have connections of their own, half the budget (one a lane), and everything
    /// else the other half: a burst of reads (thousands of sockets signing in again after a
    /// node died) then waits for its own connections, and a send is never queued behind it.
    pub async fn open(url: &str, max_connections: u32) -> anyhow::Result<Self> {
        let options = PgConnectOptions::from_str(url)?.application_name("palaver");
        let lanes = (max_connections / 2).clamp(1, MAX_LANES as u32);
        let pool = pool_options(max_connections.saturating_sub(lanes).max(1))
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let send_pool = pool_options(lanes)
            .connect_with(options.application_name("palaver-sends"))
            .await?;
        let sends = SendQueue::start(lanes as usize, |jobs, publish| {
            tokio::spawn(send_lane(send_pool.clone(), jobs, publish));
            Ok(())
        })?;
        Ok(PostgresStore {
            pool,
            send_pool,
            sends,
        })
    }

    pub async fn close(&self) {
        self.send_pool.close().await;
        self.pool.close().await;
    }

    /// The pool, for the PostgreSQL blob store (files, #12), which shares the database.
    pub fn pool(&self) -> PgPool {
        self.pool.clone()
    }
}

/// SQLSTATE classes that mean "the server went away", not "your query is wrong": connection
/// exceptions (08), operator intervention such as a shutdown (57P0x), insufficient resources (53).
fn is_unreachable_code(code: &str) -> bool {
    code.starts_with("08") || code.starts_with("57P") || code.starts_with("53")
}

pub(crate) fn db_err(err: sqlx::Error) -> Error {
    match &err {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Error::Unavailable(err.into()),
        sqlx::Error::Database(db) if db.code().is_some_and(|c| is_unreachable_code(&c)) => {
            Error::Unavailable(err.into())
        }
        // PostgreSQL text cannot hold a NUL character (SQLSTATE 22021): the client sent one.
        sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
            Error::InvalidRequest("text may not contain NUL characters".into())
        }
        _ => Error::Internal(err.into()),
    }
}

sqlx_conn!(Postgres, PgConnection, PgRow, Dialect::Postgres, db_err);

impl Backend for PostgresStore {
    type DB = Postgres;

    fn parts(&self) -> Parts<'_, Postgres> {
        // One pool for everything: reads see every committed write, on any node.
        Parts::new(&self.pool, &self.pool, &self.sends)
    }
}

/// Most lanes: sends to rooms in different lanes commit side by side (see [`SendQueue`]).
const MAX_LANES: usize = 16;

/// Most sends a lane commits in one transaction.
const GROUP_MAX: usize = 256;

/// A lane takes every send waiting in it (up to [`GROUP_MAX`]) into one transaction, as
/// SQLite's group commit does, and publishes each committed send (a room's sends, in their
/// commit order) before it answers it. An idle lane commits a lone send at once; under load
/// the groups grow by themselves, so a busy room costs one commit per group, not per send.
/// (One commit per send, each waiting for the log's flush, was what held a cluster's room to a
/// few hundred sends a second.)
async fn send_lane(pool: PgPool, mut jobs: mpsc::UnboundedReceiver<SendJob>, publish: PublishSlot) {
    let mut group: Vec<SendJob> = Vec::with_capacity(GROUP_MAX);
    while sends::next_group(&mut jobs, &mut group, GROUP_MAX).await {
        let requests: Vec<&SendRequest> = group.iter().map(|job| &job.request).collect();
        let outcomes = send_group(&pool, &requests).await;
        for (job, outcome) in group.drain(..).zip(outcomes) {
            publish.publish(&outcome);
            let _ = job.reply.send(outcome);
        }
    }
}

/// Stores a group of sends: a lone send as [`send_now`]; several in one transaction that
/// locks every room they go to (in id order, so two nodes' groups never wait on each other in
/// a cycle). If a unique index refuses the group (a retry of one of its sends committed
/// meanwhile through another room's lock, on another node), each send is stored on its own,
/// which answers that one from the log.
async fn send_group(pool: &PgPool, requests: &[&SendRequest]) -> Vec<Result<SendOutcome>> {
    if let [request] = requests {
        return vec![send_now(pool, request).await];
    }
    match group_now(pool, requests).await {
        Ok(outcomes) => outcomes,
        Err(GroupError::Unique) => {
            let mut outcomes = Vec::with_capacity(requests.len());
            for request in requests {
                outcomes.push(send_now(pool, request).await);
            }
            outcomes
        }
        Err(GroupError::Failed(err)) => {
            err.log_if_internal();
            let reason = err.to_string();
            requests
                .iter()
                .map(|_| Err(Error::Unavailable(anyhow::anyhow!("{reason}"))))
                .collect()
        }
    }
}

enum GroupError {
    Unique,
    Failed(Error),
}

impl From<Error> for GroupError {
    fn from(err: Error) -> Self {
        GroupError::Failed(err)
    }
}

/// The group in one transaction under its rooms' locks; nothing is written unless it commits.
async fn group_now(
    pool: &PgPool,
    requests: &[&SendRequest],
) -> std::result::Result<Vec<Result<SendOutcome>>, GroupError> {
    let mut rooms: Vec<&str> = requests.iter().map(|r| r.room_id.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut tx = pool.begin().await.map_err(db_err)?;
    // A room that is gone is not locked; the procedure answers its sends `room_not_found`.
    sqlx::query(
        "SELECT id FROM rooms WHERE id = ANY($1) AND deleted = FALSE ORDER BY id FOR UPDATE",
    )
    .bind(&rooms)
    .fetch_all(&mut *tx)
    .await
    .map_err(db_err)?;
    let outcomes = match sends::store_group(&mut *tx, requests).await {
        Ok(outcomes) => outcomes,
        Err(err) if err.unique => return Err(GroupError::Unique),
        Err(err) => return Err(GroupError::Failed(err.error)),
    };
    if outcomes
        .iter()
        .any(|outcome| matches!(outcome, Ok(SendOutcome::Created { .. })))
    {
        tx.commit().await.map_err(db_err)?;
    }
    Ok(outcomes)
}

/// Stores one send in its own transaction, under the room's lock: the shared send procedure
/// with a group of one.
async fn send_now(pool: &PgPool, request: &SendRequest) -> Result<SendOutcome> {
    // A retry answers from the log without locking the room.
    let mut conn = pool.acquire().await.map_err(db_err)?;
    if let Some(message) = existing(&mut conn, request).await? {
        return Ok(SendOutcome::Existing(message));
    }
    drop(conn);
    let mut tx = pool.begin().await.map_err(db_err)?;
    lock_room(&mut *tx, &request.room_id).await?;
    // Under the lock: a retry of the same client_id racing on another node has either
    // committed (the procedure sees it now) or will hit the unique index.
    match sends::store_group(&mut *tx, &[request]).await {
        Ok(mut outcomes) => {
            let outcome = outcomes.pop().expect("one outcome per send");
            if matches!(outcome, Ok(SendOutcome::Created { .. })) {
                tx.commit().await.map_err(db_err)?;
            }
            outcome
        }
        Err(err) if err.unique => {
            // The same client_id committed meanwhile (in another room's transaction, which
            // our room lock does not cover): answer the original.
            drop(tx);
            let mut conn = pool.acquire().await.map_err(db_err)?;
            existing(&mut conn, request)
                .await?
                .map(SendOutcome::Existing)
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("client_id conflict vanished")))
        }
        Err(err) => Err(err.error),
    }
}

/// The message already stored for this send's `(author, client_id)`, if any.
async fn existing(conn: &mut PgConnection, request: &SendRequest) -> Result<Option<Message>> {
    // At most one: `(author, client_id)` is unique.
    Ok(sends::earlier_sends(conn, &[request])
        .await?
        .into_values()
        .next())
}
