//! Session reads, gathered: the token checks that arrive together are answered by one read of
//! the store.
//!
//! Every request and every socket shows its token, and each check is a read. One at a time that
//! is nothing; but when a node dies, its thousands of clients reconnect to the others within
//! seconds, and as many single reads would fill the store's pool, where the live sockets' reads
//! (a send's access check among them) would wait behind them. So a check joins a queue; if
//! fewer than [`READERS`] reads are running, it starts one, which takes everything queued (up to
//! [`BATCH`]) and goes on until the queue is empty. A lone check is read at once, as before.
//!
//! The reads run in tasks of their own, so a caller that gives up (a closed socket) never
//! strands the checks that were waiting on its read.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{Error, Result};
use crate::store::{SessionRecord, Store};

/// Reads of sessions running at once: a queue builds behind them, and is read as one.
const READERS: usize = 2;
/// Most token hashes one read takes.
const BATCH: usize = 256;

type Answer = oneshot::Sender<Result<Option<SessionRecord>>>;

#[derive(Default)]
pub struct SessionReads {
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<(String, Answer)>,
    running: usize,
    /// Reads made, for the tests: how many checks were gathered into each.
    reads: u64,
}

impl SessionReads {
    /// The live session of this token hash (see [`crate::store::AccountStore::session`]).
    pub async fn read(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        token_hash: &str,
    ) -> Result<Option<SessionRecord>> {
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push((token_hash.to_string(), answer));
            let start = queue.running < READERS;
            if start {
                queue.running += 1;
            }
            start
        };
        if start {
            tokio::spawn(self.clone().drain(store.clone()));
        }
        answered.await.map_err(|_| {
            Error::Internal(anyhow::anyhow!("a session read ended without answering"))
        })?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Nothing panics while holding it; a poisoned queue is still a consistent one.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Reads what is queued, a batch at a time, until nothing is.
    async fn drain(self: Arc<Self>, store: Arc<dyn Store>) {
        let mut slot = Slot {
            reads: &self,
            finished: false,
        };
        loop {
            let batch: Vec<(String, Answer)> = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    slot.finished = true;
                    return;
                }
                queue.reads += 1;
                let take = queue.waiting.len().min(BATCH);
                queue.waiting.drain(..take).collect()
            };
            let mut hashes: Vec<String> = batch.iter().map(|(hash, _)| hash.clone()).collect();
            hashes.sort_unstable();
            hashes.dedup();
            match store.sessions(&hashes).await {
                Ok(found) => {
                    let found: HashMap<String, SessionRecord> = found.into_iter().collect();
                    for (hash, answer) in batch {
                        let _ = answer.send(Ok(found.get(&hash).cloned()));
                    }
                }
                Err(err) => {
                    // Each caller gets an error of the same kind; the cause is logged once.
                    err.log_if_internal();
                    for (_, answer) in batch {
                        let _ = answer.send(Err(like(&err)));
                    }
                }
            }
        }
    }

    #[cfg(test)]
    fn reads(&self) -> u64 {
        self.lock().reads
    }
}

/// A running read's place among the [`READERS`]. A read that ends any other way than by
/// finding the queue empty (a panic; its task dropped at shutdown) gives its place back here,
/// and if it was the last one running, lets go of the checks still queued (each caller gets an
/// error) rather than leave them waiting for a read that will never come.
struct Slot<'a> {
    reads: &'a SessionReads,
    finished: bool,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut queue = self.reads.lock();
        queue.running -= 1;
        if queue.running == 0 {
            queue.waiting.clear();
        }
    }
}

/// An error of the same kind (`Error` holds its cause and is not `Clone`).
fn like(err: &Error) -> Error {
    match err {
        Error::Unavailable(_) => Error::Unavailable(anyhow::anyhow!("the store is unavailable")),
        _ => Error::Internal(anyhow::anyhow!("a session read failed")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    #[tokio::test]
    async fn checks_that_arrive_together_are_read_as_one_and_each_gets_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        let mut people = Vec::new();
        for n in 0..300 {
            let user = store
                .create_user(&format!("person{n}"), None, false)
                .await
                .unwrap();
            store
                .create_session(&format!("hash-{n}"), &user.id)
                .await
                .unwrap();
            people.push(user);
        }
        user_with_session(&store, "gone", "hash-expired", "2001-01-01T00:00:00.000Z").await;
        let later =
            user_with_session(&store, "stays", "hash-later", "2999-01-01T00:00:00.000Z").await;

        let reads = Arc::new(SessionReads::default());
        let mut checks = Vec::new();
        for n in 0..300 {
            let (reads, store) = (reads.clone(), store.clone());
            checks.push(tokio::spawn(async move {
                reads.read(&store, &format!("hash-{n}")).await
            }));
        }
        for hash in ["hash-unknown", "hash-expired", "hash-later", "hash-0"] {
            let (reads, store) = (reads.clone(), store.clone());
            checks.push(tokio::spawn(async move { reads.read(&store, hash).await }));
        }
        let mut answers = Vec::new();
        for check in checks {
            answers.push(check.await.unwrap().unwrap());
        }
        for (n, person) in people.iter().enumerate() {
            let session = answers[n].as_ref().expect("a live session");
            assert_eq!(session.user.id, person.id, "check {n} got its own user");
        }
        assert!(answers[300].is_none(), "an unknown token has no session");
        assert!(answers[301].is_none(), "an expired session is not live");
        assert_eq!(answers[302].as_ref().unwrap().user.id, later.id);
        assert_eq!(
            answers[303].as_ref().unwrap().user.id,
            people[0].id,
            "a hash asked twice at once is answered twice"
        );
        // The tasks ran on one thread: every check was queued before the first read ran, so
        // the 304 checks took two reads of at most BATCH each, not 304.
        assert_eq!(reads.reads(), 2, "304 checks in reads of {BATCH}");
        // A lone check later is read at once, on its own.
        let alone = reads.read(&store, "hash-7").await.unwrap().unwrap();
        assert_eq!(alone.user.id, people[7].id);
        assert_eq!(reads.reads(), 3);
    }

    /// A read that ends without finishing (a panic; its task dropped at shutdown) gives its
    /// place back, and the last one lets go of what is queued: nobody waits forever, and later
    /// checks are read as before.
    #[tokio::test]
    async fn a_read_that_never_finishes_strands_nobody() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open_in(dir.path()).await.unwrap());
        let user = store.create_user("alice", None, false).await.unwrap();
        store.create_session("hash-a", &user.id).await.unwrap();
        let reads = Arc::new(SessionReads::default());
        let (answer, mut answered) = oneshot::channel();
        {
            let mut queue = reads.lock();
            queue.running = READERS;
            queue.waiting.push(("hash-a".into(), answer));
        }
        fn broken(reads: &SessionReads) -> Slot<'_> {
            Slot {
                reads,
                finished: false,
            }
        }
        drop(broken(&reads));
        assert_eq!(reads.lock().running, READERS - 1);
        assert!(
            matches!(
                answered.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ) && reads.lock().waiting.len() == 1,
            "another read is still running: the check stays queued for it"
        );
        drop(broken(&reads));
        assert_eq!(reads.lock().running, 0, "every place was given back");
        assert!(
            answered.await.is_err(),
            "the last read let go of the queued check"
        );
        let later = reads.read(&store, "hash-a").await.unwrap().unwrap();
        assert_eq!(later.user.id, user.id, "later checks are read as before");
    }

    async fn user_with_session(
        store: &Arc<dyn Store>,
        name: &str,
        hash: &str,
        until: &str,
    ) -> crate::protocol::User {
        let user = store.create_user(name, None, false).await.unwrap();
        store
            .create_session_until(hash, &user.id, until)
            .await
            .unwrap();
        user
    }
}
