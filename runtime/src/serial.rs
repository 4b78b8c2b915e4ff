//! A socket's work, one job at a time, in arrival order.
//!
//! socketioxide spawns a task per incoming event, so two events of one socket may run in any
//! order. tether queues them instead: each socket has one worker that runs its jobs one after
//! the other, so a `join` is done before the `say` sent right after it, and acks go out in
//! order (as socket.io does on Node).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;
use tokio::sync::mpsc;

/// One unit of a socket's work.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The queue of one socket's jobs. Cheap to clone; the worker ends once every handle is gone
/// and the queue is drained.
#[derive(Debug, Clone)]
pub(crate) struct Serial {
    tx: mpsc::Sender<Job>,
    /// Set when the socket disconnects: the jobs still queued are dropped, not run.
    closed: Arc<AtomicBool>,
}

/// A place in the queue, reserved before the job is built.
pub(crate) struct Slot<'a>(mpsc::Permit<'a, Job>);

impl Serial {
    /// Starts the worker of a queue that holds at most `capacity` waiting jobs.
    pub(crate) fn start(capacity: usize) -> Self {
        let (tx, mut rx) = mpsc::channel::<Job>(capacity.max(1));
        let closed = Arc::new(AtomicBool::new(false));
        let stop = closed.clone();
        tokio::spawn(async move {
            while let Some(job) = rx.recv().await {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                // Listeners are guarded where they run; this keeps the worker alive whatever a
                // job does.
                if AssertUnwindSafe(job).catch_unwind().await.is_err() {
                    tracing::error!("a queued socket job panicked");
                }
            }
        });
        Self { tx, closed }
    }

    /// Stops running jobs (the ones queued are dropped); returns whether it was already closed.
    pub(crate) fn close(&self) -> bool {
        self.closed.swap(true, Ordering::SeqCst)
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Reserves a place for a job; `None` when `capacity` jobs are already waiting (or the
    /// worker is gone).
    pub(crate) fn reserve(&self) -> Option<Slot<'_>> {
        self.tx.try_reserve().ok().map(Slot)
    }
}

impl Slot<'_> {
    /// Queues the job in the reserved place.
    pub(crate) fn run(self, job: Job) {
        self.0.send(job);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use super::Serial;

    #[tokio::test]
    async fn jobs_run_one_at_a_time_in_the_order_they_were_queued() {
        let serial = Serial::start(16);
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 0..10u64 {
            let seen = seen.clone();
            // Earlier jobs sleep longer: run concurrently, they would finish in reverse.
            serial.reserve().unwrap().run(Box::pin(async move {
                tokio::time::sleep(Duration::from_millis(10 - i)).await;
                seen.lock().unwrap().push(i);
            }));
        }
        let done = Arc::new(tokio::sync::Notify::new());
        let notify = done.clone();
        serial
            .reserve()
            .unwrap()
            .run(Box::pin(async move { notify.notify_one() }));
        done.notified().await;
        assert_eq!(*seen.lock().unwrap(), (0..10).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_full_queue_refuses_and_a_panicking_job_does_not_stop_the_worker() {
        let serial = Serial::start(2);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        serial.reserve().unwrap().run(Box::pin(async move {
            let _ = rx.await;
            panic!("a bad job");
        }));
        // The first job is running (or about to): two more fit, a third does not.
        tokio::time::sleep(Duration::from_millis(20)).await;
        serial.reserve().unwrap().run(Box::pin(async {}));
        let done = Arc::new(tokio::sync::Notify::new());
        let notify = done.clone();
        serial
            .reserve()
            .unwrap()
            .run(Box::pin(async move { notify.notify_one() }));
        assert!(
            serial.reserve().is_none(),
            "the queue holds two waiting jobs"
        );
        tx.send(()).unwrap();
        done.notified().await;
        assert!(serial.reserve().is_some(), "the worker outlived the panic");
    }
}
