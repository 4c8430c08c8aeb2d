//! Two run queues: the sockets that are open, and the intake of new work.
//!
//! A node's work is of two kinds. Serving the sockets that are open (reading a frame, answering
//! a send, writing an event) is what people feel as latency. Taking in new work (an HTTP
//! request, a socket's upgrade and session check, a subscribe's reads and replay) comes in
//! bursts: after a node dies, its clients all reconnect to the others within seconds. On one
//! runtime, both share tokio's run queues, and a sender's frame waits its turn behind thousands
//! of upgrades and replays ready to run.
//!
//! So the intake runs on a runtime of its own (by default with a thread per two CPUs: see
//! `PALAVER_INTAKE_THREADS`):
//! - every HTTP connection is served there ([`crate::serve::serve`]), which covers REST, long
//!   polls and the upgrade request of a socket;
//! - an upgraded socket's reader and writer run on the main runtime, where the accept loop, the
//!   hub and the store's send lanes are (`gateway/upgrade.rs`);
//! - a subscribe's reads (the gate, the replay) and their encoding go back to the intake
//!   ([`Intake::run`]), so a burst of resubscribes does not crowd the main runtime either.
//!
//! The kernel shares the CPU among the threads of both runtimes, so the intake is never starved;
//! what the split buys is a short queue for the open sockets' tasks. Measured on the reconnect
//! storm (docs/benchmarks.md, "Tenth sitting"). Giving the intake's threads a lower priority
//! (a higher nice value) was tried and was worse: a preempted intake thread holding a lock or a
//! pooled connection that a send needs makes the send wait longer.
//!
//! A task sent to the other runtime logs where its sender logs (`with_current_subscriber`): the
//! subscriber a test sets is its thread's own, and the other runtime's threads would not see it.
//!
//! The intake's runtime is one per process, started by the first [`Intake::start`] and kept
//! until the process ends. Sockets and pooled connections stay registered with the runtime that
//! opened them (the accept loop's is the main one), and a task on either runtime can use them.

use std::future::Future;
use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};
use tracing::instrument::WithSubscriber;

use crate::error::Error;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// Where intake work runs: the intake's own runtime, or (turned off) the caller's.
#[derive(Clone, Debug)]
pub struct Intake(Option<Handle>);

impl Intake {
    /// The intake with `threads` threads of its own; `0` runs it on the caller's runtime (one
    /// run queue for everything, as before the split). The process's first call picks the
    /// thread count; later calls share that runtime.
    pub fn start(threads: usize) -> std::io::Result<Intake> {
        if threads == 0 {
            return Ok(Intake(None));
        }
        if let Some(runtime) = RUNTIME.get() {
            return Ok(Intake(Some(runtime.handle().clone())));
        }
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("palaver-intake")
            .enable_all()
            .build()?;
        // Two nodes starting at once in one process (tests): one runtime wins, the other drops.
        let runtime = match RUNTIME.set(runtime) {
            Ok(()) => RUNTIME.get().expect("just set"),
            Err(extra) => {
                extra.shutdown_background();
                RUNTIME.get().expect("set by the other caller")
            }
        };
        Ok(Intake(Some(runtime.handle().clone())))
    }

    /// The runtime to spawn intake tasks on: the intake's, or the current one.
    pub fn handle(&self) -> Handle {
        self.0.clone().unwrap_or_else(Handle::current)
    }

    /// Runs `task` on the intake and waits for it. A panic in it is resumed here, as if it had
    /// run inline. Turned off, it runs inline.
    pub async fn run<T, F>(&self, task: F) -> Result<T, Error>
    where
        F: Future<Output = Result<T, Error>> + Send + 'static,
        T: Send + 'static,
    {
        let Some(handle) = &self.0 else {
            return task.await;
        };
        match handle.spawn(task.with_current_subscriber()).await {
            Ok(output) => output,
            Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
            // The runtime is never shut down while the process lives; should it be, say so.
            Err(err) => Err(Error::Unavailable(anyhow::anyhow!(
                "the intake runtime stopped: {err}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::panic::AssertUnwindSafe;

    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_task_runs_on_the_intakes_threads_and_its_answer_comes_back() {
        let intake = Intake::start(1).unwrap();
        let name = intake
            .run(async { Ok(std::thread::current().name().map(str::to_owned)) })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("palaver-intake"));
        let refused = intake
            .run(async { Err::<(), _>(Error::RoomNotFound) })
            .await;
        assert!(matches!(refused, Err(Error::RoomNotFound)), "{refused:?}");
    }

    #[tokio::test]
    async fn turned_off_it_runs_on_the_callers_thread() {
        let intake = Intake::start(0).unwrap();
        let here = std::thread::current().id();
        let there = intake
            .run(async { Ok(std::thread::current().id()) })
            .await
            .unwrap();
        assert_eq!(
            here, there,
            "a current-thread test runtime: the same thread"
        );
    }

    #[tokio::test]
    async fn a_panic_on_the_intake_goes_on_in_the_caller() {
        let intake = Intake::start(1).unwrap();
        let task = intake.run(async {
            if std::hint::black_box(true) {
                panic!("boom");
            }
            Ok(())
        });
        let payload = AssertUnwindSafe(task).catch_unwind().await.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    }
}
