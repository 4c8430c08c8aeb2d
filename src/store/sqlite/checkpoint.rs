//! Checkpoints of the SQLite write-ahead log, on a thread of their own.
//!
//! Left to itself, SQLite checkpoints inside whichever commit takes the log past 1,000 pages:
//! here, the group-commit thread (see [`super::commit`]). Under load that was several
//! times a second, and each time one group of sends waited for the checkpoint to copy the log's
//! pages into the database file and sync it, while every sender behind that group waited too.
//!
//! So a thread of its own runs a `PASSIVE` checkpoint on a connection of its own every [`EVERY`]:
//! a passive checkpoint never blocks the writer or a reader, it copies what no reader still needs
//! and leaves the rest for the next round. The writer's automatic checkpoint stays on, at
//! [`WRITER_AUTOCHECKPOINT_PAGES`], as the bound on the log: only a checkpoint that finishes
//! between two commits lets the next writer start the log over, which under steady load this
//! thread rarely manages, so now and then the writer copies the few pages this thread has not yet
//! copied, and the log restarts. Durability is unchanged: a commit is in the log once it is
//! acknowledged, whether or not a checkpoint has copied it yet.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Time between two checkpoints. A checkpoint of an idle database finds nothing to copy.
const EVERY: Duration = Duration::from_millis(100);

/// The writer's own automatic checkpoint (SQLite's default is 1,000 pages): the log's bound,
/// about 40 MiB at 4 KiB pages.
pub(super) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 10_000;

/// The checkpoint thread: dropping this (with the store) tells it to end; [`Checkpointer::stop`]
/// also waits for it.
pub(super) struct Checkpointer {
    stop: mpsc::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    /// Stops the thread and waits for it to close its connection.
    pub(super) fn stop(self) {
        drop(self.stop);
        let _ = self.thread.join();
    }
}

/// Opens a connection to the database at `path` (in WAL mode) and starts checkpointing it.
pub(super) fn start(path: &Path) -> std::io::Result<Checkpointer> {
    let db = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(std::io::Error::other)?;
    // A checkpoint that meets another checkpoint's lock gives up at once and tries next round.
    db.busy_timeout(Duration::ZERO)
        .map_err(std::io::Error::other)?;
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("palaver-checkpoint".into())
        .spawn(move || run(db, stopped))?;
    Ok(Checkpointer { stop, thread })
}

fn run(db: Connection, stopped: mpsc::Receiver<()>) {
    // Ends when the store (the sender) is dropped or stopped.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        if let Err(err) = checkpoint(&db) {
            tracing::warn!(error = %err, "WAL checkpoint failed; trying again");
        }
    }
}

/// One passive checkpoint (its row of counts is not needed).
fn checkpoint(db: &Connection) -> rusqlite::Result<()> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::protocol::User;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{AccountStore, MessageStore, RoomStore};

    /// Far below the writer's own threshold ([`super::WRITER_AUTOCHECKPOINT_PAGES`] pages),
    /// only the checkpoint thread moves committed pages from the log into the database file: the
    /// file grows once it has run.
    #[tokio::test]
    async fn the_checkpoint_thread_copies_the_log_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_in(dir.path()).await.unwrap();
        let file = dir.path().join("palaver.db");
        let start = std::fs::metadata(&file).unwrap().len();
        let user: User = store.create_user("alice", None, true).await.unwrap();
        let (room, _) = store.create_room("room", "", &user).await.unwrap();
        let body = "x".repeat(2000);
        for i in 0..200 {
            store
                .send_message(&room.id, &user, &format!("c{i}"), &body)
                .await
                .unwrap();
        }
        // 200 sends of 2 KB are 400 KB in the log (about 200 pages); the database file gets them
        // once the thread has checkpointed (every 100 ms).
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::fs::metadata(&file).unwrap().len() < start + 300_000 {
            assert!(
                Instant::now() < deadline,
                "the log was never checkpointed into the database file"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        store.close().await;
    }
}
