//! Checkpoints of the SQLite write-ahead log, on a thread of their own.
//!
//! Left to itself, SQLite checkpoints inside whichever commit takes the log past 1,000 pages:
//! here, the group-commit thread (see [`super::sqlite_commit`]). Under load that was several
//! times a second, and each time one group of sends waited for the checkpoint to copy the log's
//! pages into the database file and sync it, while every sender behind that group waited too.
//!
//! So the writer connection has automatic checkpoints off, and this thread runs a `PASSIVE`
//! checkpoint on a connection of its own every [`EVERY`]: a passive checkpoint never blocks the
//! writer or a reader, it copies what no reader still needs and leaves the rest for the next
//! round. Durability is unchanged: a commit is in the log once it is acknowledged, whether or
//! not a checkpoint has copied it yet.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// Time between two checkpoints. A checkpoint of an idle database finds nothing to copy.
const EVERY: Duration = Duration::from_millis(200);

/// Stops the checkpoint thread when dropped (with the store that holds it) or stopped.
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

/// Starts checkpointing the database at `path` (whose writer runs with
/// `wal_autocheckpoint = 0`).
pub(super) fn start(path: &Path) -> std::io::Result<Checkpointer> {
    let (stop, stopped) = mpsc::channel::<()>();
    let path = path.to_path_buf();
    let thread = std::thread::Builder::new()
        .name("palaver-checkpoint".into())
        .spawn(move || run(&path, stopped))?;
    Ok(Checkpointer { stop, thread })
}

fn run(path: &PathBuf, stopped: mpsc::Receiver<()>) {
    let db = match Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    ) {
        Ok(db) => db,
        Err(err) => {
            tracing::error!(path = %path.display(), error = %err, "cannot open the database to checkpoint it");
            return;
        }
    };
    // A checkpoint that meets the writer's lock gives up at once and tries again next round.
    let _ = db.busy_timeout(Duration::ZERO);
    // Ends when the store (the sender) is dropped.
    while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EVERY) {
        if let Err(err) = checkpoint(&db) {
            tracing::warn!(error = %err, "WAL checkpoint failed; trying again");
        }
    }
}

/// One passive checkpoint: `(frames in the log, frames copied)`.
pub(super) fn checkpoint(db: &Connection) -> rusqlite::Result<(i64, i64)> {
    db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get(1)?, row.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::protocol::User;
    use crate::store::sqlite::SqliteStore;
    use crate::store::Store;

    /// With automatic checkpoints off, only the checkpoint thread can move committed pages from
    /// the log into the database file: the file grows once it has run, and the store's own
    /// writer commits never checkpoint.
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
        // 200 sends of 2 KB are 400 KB in the log; the database file gets them once the thread
        // has checkpointed (every 200 ms).
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
