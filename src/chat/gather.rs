//! Store calls gathered: the calls of one kind that arrive together are made as one.
//!
//! One at a time, a token check or a guest's sign-in costs a round trip or four to the store,
//! and that is nothing. But thousands arrive at once when a node dies and its clients reconnect
//! to the others, or when a crowd signs in, and as many single calls fill the store's pool (the
//! live sockets' reads wait behind them) and pay a commit each. So a call joins a queue; if fewer
//! than `runners` batches are running, it starts one, which takes everything queued (up to
//! `most`) and goes on until the queue is empty. A lone call is made at once, as before.
//!
//! The batches run in tasks of their own, so a caller that gives up (a closed socket) never
//! strands the calls that were waiting on its batch.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// What a batch of gathered calls does.
pub trait Batch: Send + Sync + 'static {
    type Item: Send + 'static;
    type Answer: Send + 'static;
    /// One answer for each item, in the items' order. A batch that fails as a whole gives each
    /// item an error (see [`failed`]) and logs the cause once.
    fn run(&self, items: Vec<Self::Item>)
        -> impl Future<Output = Vec<Result<Self::Answer>>> + Send;
}

type Reply<B> = oneshot::Sender<Result<<B as Batch>::Answer>>;

pub struct Gathered<B: Batch> {
    batch: B,
    /// Batches running at once: a queue builds behind them, and is taken as one.
    runners: usize,
    /// Most items one batch takes.
    most: usize,
    queue: Mutex<Queue<B>>,
}

struct Queue<B: Batch> {
    waiting: Vec<(B::Item, Reply<B>)>,
    running: usize,
    /// Batches made, for the tests: how many calls were gathered into each.
    batches: u64,
}

impl<B: Batch> Gathered<B> {
    pub fn new(batch: B, runners: usize, most: usize) -> Self {
        Gathered {
            batch,
            runners: runners.max(1),
            most: most.max(1),
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                running: 0,
                batches: 0,
            }),
        }
    }

    /// The answer to this item, made in a batch with whatever else is queued.
    pub async fn ask(self: &Arc<Self>, item: B::Item) -> Result<B::Answer> {
        let (reply, answered) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push((item, reply));
            let start = queue.running < self.runners;
            if start {
                queue.running += 1;
            }
            start
        };
        if start {
            // The place is held by a guard from here on: a task dropped before it first runs
            // (at shutdown) gives it back too.
            let slot = Slot {
                gathered: self.clone(),
                finished: false,
            };
            tokio::spawn(self.clone().drain(slot));
        }
        answered.await.map_err(|_| {
            Error::Internal(anyhow::anyhow!("a gathered call ended without answering"))
        })?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue<B>> {
        // Nothing panics while holding it; a poisoned queue is still a consistent one.
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs what is queued, a batch at a time, until nothing is.
    async fn drain(self: Arc<Self>, mut slot: Slot<B>) {
        loop {
            let (items, replies): (Vec<B::Item>, Vec<Reply<B>>) = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.running -= 1;
                    slot.finished = true;
                    return;
                }
                queue.batches += 1;
                let take = queue.waiting.len().min(self.most);
                queue.waiting.drain(..take).unzip()
            };
            let mut answers = self.batch.run(items).await.into_iter();
            for reply in replies {
                let answer = answers.next().unwrap_or_else(|| {
                    Err(Error::Internal(anyhow::anyhow!("a batch answered too few")))
                });
                let _ = reply.send(answer);
            }
        }
    }

    #[cfg(test)]
    pub fn batches(&self) -> u64 {
        self.lock().batches
    }
}

/// A running batch's place among the runners. A batch that ends any other way than by finding
/// the queue empty (a panic; its task dropped at shutdown, before or after it first ran) gives
/// its place back here, and if it was the last one running, lets go of the calls still queued
/// (each caller gets an error) rather than leave them waiting for a batch that will never come.
struct Slot<B: Batch> {
    gathered: Arc<Gathered<B>>,
    finished: bool,
}

impl<B: Batch> Drop for Slot<B> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut queue = self.gathered.lock();
        queue.running -= 1;
        if queue.running == 0 {
            queue.waiting.clear();
        }
    }
}

/// The items without repeats, sorted: what a batch of reads asks the store for.
pub fn distinct<K: Ord + Clone>(items: &[K]) -> Vec<K> {
    let mut unique = items.to_vec();
    unique.sort_unstable();
    unique.dedup();
    unique
}

/// Each item's answer, from `found`: one answer for each of `unique` (from [`distinct`]), in
/// order. An item asked twice gets the same answer twice.
pub fn answer_each<K: Ord, V: Clone>(items: &[K], unique: &[K], found: &[V]) -> Vec<Result<V>> {
    items
        .iter()
        .map(|item| {
            let answer = unique.binary_search(item).ok().and_then(|n| found.get(n));
            answer
                .cloned()
                .ok_or_else(|| Error::Internal(anyhow::anyhow!("a batch answered too few")))
        })
        .collect()
}

/// The answers of a batch of `count` calls that failed as a whole: the cause is logged once,
/// and each caller gets an error of the same kind (`Error` holds its cause and is not `Clone`).
pub fn failed<T>(err: &Error, count: usize, what: &'static str) -> Vec<Result<T>> {
    err.log_if_internal();
    (0..count)
        .map(|_| {
            Err(match err {
                Error::Unavailable(_) => {
                    Error::Unavailable(anyhow::anyhow!("the store is unavailable"))
                }
                _ => Error::Internal(anyhow::anyhow!("{what} failed")),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Doubles numbers; a batch containing 0 fails as a whole.
    struct Doubler;

    impl Batch for Doubler {
        type Item = u32;
        type Answer = u32;
        async fn run(&self, items: Vec<u32>) -> Vec<Result<u32>> {
            tokio::task::yield_now().await;
            if items.contains(&0) {
                let err = Error::Unavailable(anyhow::anyhow!("zero"));
                return failed(&err, items.len(), "doubling");
            }
            items.into_iter().map(|n| Ok(n * 2)).collect()
        }
    }

    #[tokio::test]
    async fn calls_that_arrive_together_are_made_as_one_and_each_gets_its_own_answer() {
        let gathered = Arc::new(Gathered::new(Doubler, 2, 100));
        let calls: Vec<_> = (1..=250)
            .map(|n| {
                let gathered = gathered.clone();
                tokio::spawn(async move { gathered.ask(n).await })
            })
            .collect();
        for (n, call) in (1..=250).zip(calls) {
            assert_eq!(
                call.await.unwrap().unwrap(),
                n * 2,
                "call {n} got its own answer"
            );
        }
        // One thread: every call was queued before the first batch ran. Two batches started
        // (two runners) and took 100 each, and the first to finish took the last 50.
        assert_eq!(gathered.batches(), 3, "250 calls in batches of at most 100");
        assert_eq!(
            gathered.ask(21).await.unwrap(),
            42,
            "a lone call is made at once"
        );
        assert_eq!(gathered.batches(), 4);
    }

    #[tokio::test]
    async fn a_batch_that_fails_fails_each_of_its_calls_alike() {
        let gathered = Arc::new(Gathered::new(Doubler, 1, 10));
        let calls: Vec<_> = [3, 0, 5]
            .into_iter()
            .map(|n| {
                let gathered = gathered.clone();
                tokio::spawn(async move { gathered.ask(n).await })
            })
            .collect();
        for call in calls {
            assert!(matches!(call.await.unwrap(), Err(Error::Unavailable(_))));
        }
        assert_eq!(
            gathered.ask(4).await.unwrap(),
            8,
            "a later batch is made as before"
        );
    }

    /// A batch that ends without finishing (a panic; its task dropped at shutdown) gives its
    /// place back, and the last one lets go of what is queued: nobody waits forever, and later
    /// calls are made as before.
    #[tokio::test]
    async fn a_batch_that_never_finishes_strands_nobody() {
        let gathered = Arc::new(Gathered::new(Doubler, 2, 10));
        let (reply, mut answered) = oneshot::channel();
        {
            let mut queue = gathered.lock();
            queue.running = 2;
            queue.waiting.push((7, reply));
        }
        fn broken(gathered: &Arc<Gathered<Doubler>>) -> Slot<Doubler> {
            Slot {
                gathered: gathered.clone(),
                finished: false,
            }
        }
        drop(broken(&gathered));
        assert_eq!(gathered.lock().running, 1);
        assert!(
            matches!(
                answered.try_recv(),
                Err(oneshot::error::TryRecvError::Empty)
            ) && gathered.lock().waiting.len() == 1,
            "another batch is still running: the call stays queued for it"
        );
        drop(broken(&gathered));
        assert_eq!(gathered.lock().running, 0, "every place was given back");
        assert!(
            answered.await.is_err(),
            "the last batch let go of the queued call"
        );
        assert_eq!(
            gathered.ask(7).await.unwrap(),
            14,
            "later calls are made as before"
        );
    }
}
