//! The embedded store: one SQLite file in WAL mode.
//!
//! Writes go through a pool of exactly one connection, so write transactions queue in process
//! instead of spinning on SQLite's lock; reads use a separate pool and never wait for writes (WAL).
//! `synchronous = NORMAL` in WAL mode keeps every committed transaction across a process crash.
//! Sends, the hot path, are group-committed: a task takes every send waiting into one
//! transaction and acknowledges each only after it commits (see [`commit`]).

pub(crate) mod checkpoint;
pub(crate) mod commit;
pub mod search;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};

use super::backend::{Backend, Parts};
use super::dialect::{sqlx_conn, Dialect};
use super::sends::SendQueue;
use crate::error::Error;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Sends go to the group-commit thread (see [`commit`]), their one lane.
    sends: SendQueue,
    /// Checkpoints the log, until the store is closed or dropped.
    checkpointer: std::sync::Mutex<Option<checkpoint::Checkpointer>>,
}

impl Backend for SqliteStore {
    type DB = Sqlite;

    fn parts(&self) -> Parts<'_, Sqlite> {
        Parts::new(&self.reader, &self.writer, &self.sends)
    }
}

impl SqliteStore {
    /// Opens (creating if needed) `palaver.db` in `data_dir` and brings its schema up to date.
    pub async fn open_in(data_dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(data_dir)?;
        let url = format!("sqlite://{}", data_dir.join("palaver.db").display());
        Self::open(&url).await
    }

    pub async fn open(url: &str) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // Checkpoints run on a thread of their own (see [`checkpoint`]); the writer
        // checkpoints only when the log has grown far past what that thread leaves in it.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma(
                "wal_autocheckpoint",
                checkpoint::WRITER_AUTOCHECKPOINT_PAGES.to_string(),
            ))
            .await?;
        sqlx::migrate!("./migrations/sqlite").run(&writer).await?;
        search::prepare(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.read_only(true))
            .await?;
        let sends = SendQueue::start(1, |jobs, publish| {
            commit::start(writer.clone(), jobs, publish)
        })?;
        // A database in memory has no log to checkpoint: its journal mode stays `memory`.
        let journal: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&writer)
            .await?;
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_one(&writer)
                .await?;
        let checkpointer = match journal.eq_ignore_ascii_case("wal") && !file.is_empty() {
            true => Some(checkpoint::start(Path::new(&file))?),
            false => None,
        };
        Ok(SqliteStore {
            writer,
            reader,
            sends,
            checkpointer: std::sync::Mutex::new(checkpointer),
        })
    }

    pub async fn close(&self) {
        let checkpointer = self.checkpointer.lock().unwrap().take();
        if let Some(checkpointer) = checkpointer {
            let _ = tokio::task::spawn_blocking(move || checkpointer.stop()).await;
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}

fn db_err(err: sqlx::Error) -> Error {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            Error::Unavailable(err.into())
        }
        other => Error::Internal(other.into()),
    }
}

sqlx_conn!(Sqlite, SqliteConnection, SqliteRow, Dialect::Sqlite, db_err);
