//! The cluster store: PostgreSQL, shared by every node.
//!
//! The same log as [`super::sqlite`], through the same procedures, with one difference that
//! matters: many writers on many nodes. Every write transaction that touches a room first locks
//! the room's row ([`super::rooms::lock_room`], or the send procedure's read of its rooms), so
//! writers of one room queue on that lock and each takes the room's next `seq`
//! (`rooms.last_seq + 1`) in its own transaction: gap-free and in commit order. Writers of
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
use super::sends::{self, SendJob, SendQueue};
use super::{PublishSlot, SendOutcome, SendRequest};
use crate::error::{Error, Result};

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
/// a round trip to PostgreSQL before every read and every send's transaction, on top of the
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

/// Stores a group of sends in one transaction. If a unique index refuses the group (a retry of
/// one of its sends committed meanwhile on another node, after the procedure looked for it), each
/// send is stored on its own, which answers that one from the log.
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

/// The group in one transaction; nothing is written unless it commits. The send procedure
/// locks every room the group goes to, in id order, so two nodes' groups never wait on each
/// other in a cycle (see [`sends::store_group`]); a room that is gone is not locked, and its
/// sends are answered `room_not_found`.
async fn group_now(
    pool: &PgPool,
    requests: &[&SendRequest],
) -> std::result::Result<Vec<Result<SendOutcome>>, GroupError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
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

/// Stores one send: a group of one. A retry answers from the log (the procedure looks for it
/// first, and again if its room's read waited for a writer); one whose original commits on
/// another node while it runs meets the unique index and is answered from the log then.
async fn send_now(pool: &PgPool, request: &SendRequest) -> Result<SendOutcome> {
    match group_now(pool, &[request]).await {
        Ok(mut outcomes) => outcomes.pop().expect("one outcome per send"),
        Err(GroupError::Unique) => {
            let mut conn = pool.acquire().await.map_err(db_err)?;
            sends::earlier_sends(&mut *conn, &[request])
                .await?
                .into_values()
                .next()
                .map(SendOutcome::Existing)
                .ok_or_else(|| {
                    Error::Internal(anyhow::anyhow!(
                        "a unique index refused the send, and no earlier send has its client_id"
                    ))
                })
        }
        Err(GroupError::Failed(err)) => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::store::{AccountStore, EventLog, MessageStore, RoomStore, SendOutcome, SendRequest};

    fn request(room_id: &str, author: &crate::protocol::User, client_id: &str) -> SendRequest {
        SendRequest {
            room_id: room_id.into(),
            author: author.clone(),
            client_id: client_id.into(),
            body: client_id.into(),
            reply_to: None,
            thread_id: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    /// Writes beyond what one PostgreSQL statement may bind are split over statements, each part
    /// whole, in order.
    #[tokio::test]
    async fn writes_beyond_one_statements_binds_are_split_in_order() {
        use crate::store::dialect::{sql, Arg, RowsSql, Writes};
        use sqlx::Connection;
        static ROWS: RowsSql = RowsSql::new(sql!("INSERT INTO t (n, v) VALUES "), 2, sql!(""));
        let scratch = crate::store::ScratchPostgres::new().await;
        let mut conn = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        sqlx::query("CREATE TABLE t (n BIGINT PRIMARY KEY, v TEXT NOT NULL)")
            .execute(&mut conn)
            .await
            .unwrap();
        // Three parts of 15,000 rows, 30,000 values each: two statements (60,000 values, then
        // 30,000), where one would bind more than 65,535.
        let values: Vec<String> = (0..45_000).map(|n| format!("v{n}")).collect();
        let mut writes = Writes::new();
        for part in values.chunks(15_000).enumerate() {
            let (k, chunk) = part;
            let mut args = Vec::new();
            for (i, v) in chunk.iter().enumerate() {
                args.extend([Arg::Int((k * 15_000 + i) as i64), Arg::Text(v)]);
            }
            writes.add(&ROWS, chunk.len(), args);
        }
        let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
        writes.run(&mut *tx).await.map_err(|err| err.error).unwrap();
        tx.commit().await.unwrap();
        let (count, wrong): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(*) FILTER (WHERE v <> 'v' || n) FROM t")
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!((count, wrong), (45_000, 0));
        drop(conn);
        scratch.drop_now().await;
    }

    /// A send stored in a transaction of `writer`'s, not committed: it holds the room's lock.
    async fn hold_a_send<'c>(
        writer: &'c mut sqlx::PgConnection,
        send: &SendRequest,
    ) -> (
        sqlx::Transaction<'c, sqlx::Postgres>,
        crate::protocol::Message,
    ) {
        let mut tx = sqlx::Connection::begin(writer).await.unwrap();
        let mut held = super::sends::store_group(&mut *tx, &[send])
            .await
            .map_err(|err| err.error)
            .unwrap();
        let Ok(SendOutcome::Created { message, .. }) = held.pop().unwrap() else {
            panic!("the held send was not created");
        };
        (tx, message)
    }

    /// Waits until one connection of `application` waits for a lock.
    async fn wait_for_a_lock_wait(admin: &mut sqlx::PgConnection, application: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let blocked: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND wait_event_type = 'Lock'",
            )
            .bind(application)
            .fetch_one(&mut *admin)
            .await
            .unwrap();
            if blocked == 1 {
                return;
            }
            assert!(Instant::now() < deadline, "nothing waited for a lock");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// A group that waited for its room's lock behind the original of one of its retries (on
    /// another node) answers that retry from the log and stores the rest, rather than failing
    /// on the unique index.
    #[tokio::test]
    async fn a_group_that_waited_behind_a_retrys_original_answers_it_from_the_log() {
        use sqlx::{ConnectOptions, Connection};
        let scratch = crate::store::ScratchPostgres::new().await;
        let store = &scratch.store;
        let owner = store.create_user("owner", None, true).await.unwrap();
        let (room, _) = store.create_room("Busy", "", &owner).await.unwrap();

        let mut writer = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        let (tx, original) = hold_a_send(&mut writer, &request(&room.id, &owner, "once")).await;

        // Another node's group: the retry, and a new send.
        let options: sqlx::postgres::PgConnectOptions = scratch.url.parse().unwrap();
        let mut other = options
            .application_name("other-node")
            .connect()
            .await
            .unwrap();
        let (retry, new) = (
            request(&room.id, &owner, "once"),
            request(&room.id, &owner, "new"),
        );
        let group = tokio::spawn(async move {
            let mut tx = sqlx::Connection::begin(&mut other).await.unwrap();
            let outcomes = super::sends::store_group(&mut *tx, &[&retry, &new])
                .await
                .map_err(|err| err.error);
            if outcomes.is_ok() {
                tx.commit().await.unwrap();
            }
            outcomes
        });
        let mut admin = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        wait_for_a_lock_wait(&mut admin, "other-node").await;
        tx.commit().await.unwrap();

        let mut outcomes = group.await.unwrap().expect("the group stored");
        let Ok(SendOutcome::Created { message: new, .. }) = outcomes.pop().unwrap() else {
            panic!("the new send was not created");
        };
        let Ok(SendOutcome::Existing(retried)) = outcomes.pop().unwrap() else {
            panic!("the retry was not answered from the log");
        };
        assert_eq!(retried.id, original.id);
        assert_eq!(new.seq, original.seq + 1);
        drop((writer, admin));
        scratch.drop_now().await;
    }

    /// A retry of a stored send is answered from the log without taking its room's lock: it does
    /// not wait behind the room's writers.
    #[tokio::test]
    async fn a_retry_does_not_wait_for_its_rooms_lock() {
        use sqlx::Connection;
        let scratch = crate::store::ScratchPostgres::new().await;
        let store = &scratch.store;
        let owner = store.create_user("owner", None, true).await.unwrap();
        let (room, _) = store.create_room("Busy", "", &owner).await.unwrap();
        let Ok(SendOutcome::Created { message, .. }) =
            store.submit_send(request(&room.id, &owner, "once")).await
        else {
            panic!("the send was not created");
        };

        let mut writer = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut writer).await.unwrap();
        crate::store::rooms::lock_room(&mut *tx, &room.id)
            .await
            .unwrap();
        // Bounded only so that a regression fails instead of hanging: the answer needs no lock.
        let retry = store.submit_send(request(&room.id, &owner, "once"));
        let answer = tokio::time::timeout(Duration::from_secs(60), retry)
            .await
            .expect("the retry waited for the room's lock");
        let Ok(SendOutcome::Existing(retried)) = answer else {
            panic!("the retry was not answered from the log");
        };
        assert_eq!(retried.id, message.id);
        tx.rollback().await.unwrap();
        drop(writer);
        scratch.drop_now().await;
    }

    /// A send that waits for its room's lock reads the room as the writer it waited for left it:
    /// the next seq, a position after that writer's message, and the author's membership, though
    /// the statement that waited started before that writer committed (see
    /// `sends::group_rooms`).
    #[tokio::test]
    async fn a_send_that_waited_for_the_rooms_lock_comes_after_the_writer_it_waited_for() {
        use sqlx::Connection;
        let scratch = crate::store::ScratchPostgres::new().await;
        let store = &scratch.store;
        let owner = store.create_user("owner", None, true).await.unwrap();
        let other = store.create_user("other", None, true).await.unwrap();
        let (room, _) = store.create_room("Busy", "", &owner).await.unwrap();

        // A writer on a connection of its own: `other` joins by sending, and holds the lock.
        let mut writer = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        let (tx, first) = hold_a_send(&mut writer, &request(&room.id, &other, "first")).await;

        // The store's send starts, and waits for the lock.
        let waiting = store.submit_send(request(&room.id, &other, "second"));
        let waiting = tokio::spawn(waiting);
        let mut admin = sqlx::PgConnection::connect(&scratch.url).await.unwrap();
        wait_for_a_lock_wait(&mut admin, "palaver-sends").await;
        tx.commit().await.unwrap();

        let Ok(SendOutcome::Created { message, events }) = waiting.await.unwrap() else {
            panic!("the send that waited was not created");
        };
        assert_eq!(message.seq, first.seq + 1);
        assert!(message.position > first.position, "{message:?} {first:?}");
        // `other` joined with the first send: the second makes no second `member.joined`.
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(store.last_seq(&room.id).await.unwrap(), message.seq);
        drop((writer, admin));
        scratch.drop_now().await;
    }
}
