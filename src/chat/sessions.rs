//! Session reads, gathered: the token checks that arrive together are answered by one read of
//! the store.
//!
//! Every request and every socket shows its token, and each check is a read. One at a time that
//! is nothing; but when a node dies, its thousands of clients reconnect to the others within
//! seconds, and as many single reads would fill the store's pool, where the live sockets' reads
//! (a send's access check among them) would wait behind them. So the checks are gathered (see
//! [`super::gather`]): at most [`READERS`] reads at once, each of up to [`BATCH`] hashes.

use std::collections::HashMap;
use std::sync::Arc;

use super::gather::{answer_each, distinct, failed, Batch, Gathered};
use crate::error::Result;
use crate::store::{SessionRecord, Store};

/// Reads of sessions running at once: a queue builds behind them, and is read as one.
const READERS: usize = 2;
/// Most token hashes one read takes.
const BATCH: usize = 256;

/// Token checks, gathered.
pub type SessionReads = Gathered<SessionBatch>;

pub fn session_reads(store: Arc<dyn Store>) -> SessionReads {
    Gathered::new(SessionBatch(store), READERS, BATCH)
}

/// Reads the sessions of many token hashes at once.
pub struct SessionBatch(Arc<dyn Store>);

impl Batch for SessionBatch {
    type Item = String;
    type Answer = Option<SessionRecord>;

    async fn run(&self, hashes: Vec<String>) -> Vec<Result<Option<SessionRecord>>> {
        let unique = distinct(&hashes);
        match self.0.sessions(&unique).await {
            Ok(found) => {
                let mut found: HashMap<String, SessionRecord> = found.into_iter().collect();
                let found: Vec<_> = unique.iter().map(|hash| found.remove(hash)).collect();
                answer_each(&hashes, &unique, &found)
            }
            Err(err) => failed(&err, hashes.len(), "a session read"),
        }
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

        let reads = Arc::new(session_reads(store.clone()));
        let mut checks = Vec::new();
        for n in 0..300 {
            let reads = reads.clone();
            checks.push(tokio::spawn(
                async move { reads.ask(format!("hash-{n}")).await },
            ));
        }
        for hash in ["hash-unknown", "hash-expired", "hash-later", "hash-0"] {
            let reads = reads.clone();
            checks.push(tokio::spawn(
                async move { reads.ask(hash.to_string()).await },
            ));
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
        assert_eq!(reads.batches(), 2, "304 checks in reads of {BATCH}");
        // A lone check later is read at once, on its own.
        let alone = reads.ask("hash-7".to_string()).await.unwrap().unwrap();
        assert_eq!(alone.user.id, people[7].id);
        assert_eq!(reads.batches(), 3);
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
