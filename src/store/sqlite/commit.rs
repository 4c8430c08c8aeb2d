//! The SQLite store's group commit: the hot path of every send.
//!
//! One thread of its own takes every send waiting into one transaction and answers each only
//! after that transaction has committed. The transaction runs on the writer pool's one
//! connection, so it queues with every other write in process, but it is driven directly
//! through SQLite's API (`rusqlite` on the handle that sqlx lends out with `lock_handle`)
//! instead of through sqlx's worker thread: there, every statement and every row is a hand-off
//! between two threads, and on a busy 2-core machine those hand-offs (futex wake-ups and
//! context switches) were half of the server's CPU in the many-rooms benchmark. A group now
//! costs two hand-offs whatever its size: lending the handle out and taking it back.

//!
//! What it runs is the shared send procedure ([`crate::store::sends`]), over [`Tx`]: the
//! [`Conn`] of a rusqlite transaction, whose statements run as they are called (its futures are
//! ready at once).

use std::future::Future;

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{Connection, TransactionBehavior};
use sqlx::SqlitePool;
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::store::dialect::{Arg, Conn, DbError, Dialect, EachRow, ReadRow};
use crate::store::sends::{self, SendJob};
use crate::store::{PublishSlot, SendOutcome, SendRequest};

/// Most sends committed in one transaction.
const GROUP_MAX: usize = 512;

/// Starts the group-commit thread; it ends when every sender of `jobs` is gone.
pub(crate) fn start(
    pool: SqlitePool,
    jobs: mpsc::UnboundedReceiver<SendJob>,
    publish: PublishSlot,
) -> std::io::Result<()> {
    // A runtime of its own for the few awaits (taking the pool's connection and its handle):
    // on the shared runtime, each would wait behind every socket task ready to run.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("palaver-commit".into())
        .spawn(move || runtime.block_on(group_commit(pool, jobs, publish)))?;
    Ok(())
}

/// Takes every send waiting (up to [`GROUP_MAX`]) into one transaction, and answers each only
/// after that transaction has committed and its events are published (through `publish`, in
/// commit order, from this thread: see [`crate::store::MessageStore::publish_sends`]). Jobs run in arrival
/// order, so one client's sends keep their order. A send that fails on its own (an unknown room)
/// wrote nothing and is answered with its error while the others commit; a database error fails
/// the whole group, and none of it is acknowledged.
///
/// A group costs a handful of statements whatever its size (see [`sends`]); everything
/// that arrived while the last group committed joins the next, so under load groups grow by
/// themselves, and an idle server commits a lone send at once.
async fn group_commit(
    pool: SqlitePool,
    mut jobs: mpsc::UnboundedReceiver<SendJob>,
    publish: PublishSlot,
) {
    let mut group: Vec<SendJob> = Vec::with_capacity(GROUP_MAX);
    while sends::next_group(&mut jobs, &mut group, GROUP_MAX).await {
        let requests: Vec<&SendRequest> = group.iter().map(|job| &job.request).collect();
        match commit(&pool, &requests).await {
            Ok(outcomes) => {
                for (job, outcome) in group.drain(..).zip(outcomes) {
                    publish.publish(&outcome);
                    let _ = job.reply.send(outcome);
                }
            }
            Err(err) => {
                err.log_if_internal();
                let reason = err.to_string();
                for job in group.drain(..) {
                    let _ = job
                        .reply
                        .send(Err(Error::Unavailable(anyhow::anyhow!("{reason}"))));
                }
            }
        }
    }
}

/// One group in one transaction on the writer connection.
async fn commit(pool: &SqlitePool, requests: &[&SendRequest]) -> Result<Vec<Result<SendOutcome>>> {
    let mut conn = pool.acquire().await.map_err(pool_err)?;
    let mut handle = conn.lock_handle().await.map_err(pool_err)?;
    // SAFETY: `handle` keeps sqlx's worker thread off this connection until it is dropped, and
    // the rusqlite wrapper is dropped before it (end of this block); `from_handle` never closes
    // the connection. The wrapper always leaves the connection outside a transaction: the
    // transaction commits, or is rolled back when dropped on any error.
    let db =
        unsafe { Connection::from_handle(handle.as_raw_handle().as_ptr()) }.map_err(sql_err)?;
    let outcome = async {
        let mut db = db;
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        let outcomes = sends::store_group(&mut Tx(&tx), requests).await?;
        tx.commit().map_err(sql_err)?;
        Ok(outcomes)
    }
    .await;
    drop(handle);
    outcome
}

fn pool_err(err: sqlx::Error) -> Error {
    Error::Unavailable(err.into())
}

fn sql_err(err: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::*;
    match err.sqlite_error_code() {
        Some(DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | SystemIoFailure) => {
            Error::Unavailable(err.into())
        }
        _ => Error::Internal(err.into()),
    }
}

/// The group's transaction, as the send procedure's connection.
struct Tx<'a>(&'a rusqlite::Transaction<'a>);

impl Tx<'_> {
    fn run(&self, sql: &str, args: &[Arg<'_>], each: &mut EachRow<'_>) -> Result<(), DbError> {
        let mut statement = self.0.prepare(sql).map_err(db_error)?;
        let mut rows = statement
            .query(rusqlite::params_from_iter(args))
            .map_err(db_error)?;
        while let Some(row) = rows.next().map_err(db_error)? {
            each(row)?;
        }
        Ok(())
    }
}

impl Conn for Tx<'_> {
    const DIALECT: Dialect = Dialect::Sqlite;

    fn execute(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<u64, DbError>> + Send {
        let done = self
            .0
            .prepare(sql)
            .and_then(|mut statement| statement.execute(rusqlite::params_from_iter(args)))
            .map(|changed| changed as u64)
            .map_err(db_error);
        std::future::ready(done)
    }

    fn fetch(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
        each: &mut EachRow<'_>,
    ) -> impl Future<Output = Result<(), DbError>> + Send {
        std::future::ready(self.run(sql, args, each))
    }
}

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Arg::Text(text) | Arg::OptText(Some(text)) => {
                ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes()))
            }
            Arg::OptText(None) => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(n) => ToSqlOutput::Borrowed(ValueRef::Integer(n)),
            Arg::Bool(b) => ToSqlOutput::Borrowed(ValueRef::Integer(b as i64)),
        })
    }
}

impl ReadRow for rusqlite::Row<'_> {
    fn text(&self, column: usize) -> Result<String> {
        self.get(column).map_err(sql_err)
    }
    fn opt_text(&self, column: usize) -> Result<Option<String>> {
        self.get(column).map_err(sql_err)
    }
    fn int(&self, column: usize) -> Result<i64> {
        self.get(column).map_err(sql_err)
    }
    fn flag(&self, column: usize) -> Result<bool> {
        self.get(column).map_err(sql_err)
    }
}

fn db_error(err: rusqlite::Error) -> DbError {
    let unique = matches!(
        err.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    );
    DbError {
        error: sql_err(err),
        unique,
    }
}
