//! What a store is besides its SQL: its pools and its send path ([`Backend`]). Every resource's
//! interface is written once over it; `sqlite/` and `postgres/` each implement it once.

use std::future::Future;

use sqlx::pool::PoolConnection;
use sqlx::{Pool, Transaction};

use super::dialect::SqlxConn;
use super::sends::SendQueue;
use super::{Publisher, SendRequest, SendTicket};
use crate::error::{Error, Result};

/// What a [`Backend`] is made of.
pub struct Parts<'a, DB: sqlx::Database> {
    reader: &'a Pool<DB>,
    writer: &'a Pool<DB>,
    sends: &'a SendQueue,
}

impl<'a, DB: sqlx::Database> Parts<'a, DB> {
    pub(crate) fn new(reader: &'a Pool<DB>, writer: &'a Pool<DB>, sends: &'a SendQueue) -> Self {
        Parts {
            reader,
            writer,
            sends,
        }
    }
}

/// What a store is besides its SQL: its pools and its send path. [`super::Store`] and every
/// resource's interface are implemented once for every `Backend`.
pub trait Backend: Send + Sync + 'static {
    type DB: sqlx::Database<Connection: SqlxConn + Send>;

    fn parts(&self) -> Parts<'_, Self::DB>;

    /// A connection for reads (in SQLite, one that never waits for the writer).
    fn read(&self) -> impl Future<Output = Result<PoolConnection<Self::DB>>> + Send {
        let pool = self.parts().reader;
        async move { pool.acquire().await.map_err(db_err::<Self>) }
    }

    /// A connection for a write of one statement, outside any transaction.
    fn write(&self) -> impl Future<Output = Result<PoolConnection<Self::DB>>> + Send {
        let pool = self.parts().writer;
        async move { pool.acquire().await.map_err(db_err::<Self>) }
    }

    /// A write transaction.
    fn begin(&self) -> impl Future<Output = Result<Transaction<'static, Self::DB>>> + Send {
        let pool = self.parts().writer;
        async move { pool.begin().await.map_err(db_err::<Self>) }
    }

    fn commit(tx: Transaction<'static, Self::DB>) -> impl Future<Output = Result<()>> + Send {
        async move { tx.commit().await.map_err(db_err::<Self>) }
    }

    /// See [`super::MessageStore::submit_send`].
    fn submit_send(&self, request: SendRequest) -> SendTicket {
        self.parts().sends.submit(request)
    }

    /// See [`super::MessageStore::publish_sends`].
    fn publish_sends(&self, publish: Publisher) -> bool {
        self.parts().sends.publish_sends(publish)
    }
}

fn db_err<B: Backend + ?Sized>(err: sqlx::Error) -> Error {
    <<B::DB as sqlx::Database>::Connection as SqlxConn>::db_err(err)
}
