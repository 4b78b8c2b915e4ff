//! A socket's work, one job at a time, in arrival order.
//!
//! socketioxide spawns a task per incoming event, so two events of one socket may run in any
//! order. tether queues them instead: each socket has one queue whose jobs run one after the
//! other, so a `join` is done before the `say` sent right after it, and acks go out in order (as
//! socket.io does on Node).
//!
//! A job that arrives at an idle queue runs at once, where it was queued (for an event, in
//! socketioxide's receive path), until it finishes or waits: most listeners answer without
//! waiting, and then no task is spawned for them. A job that waits continues on the queue's
//! worker, a task that runs the jobs queued meanwhile and ends when the queue is empty again: an
//! idle socket holds no task and no buffer, only this queue's few words (most sockets are idle
//! most of the time).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;

/// One unit of a socket's work.
pub(crate) type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The queue of one socket's jobs. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Serial(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    queue: Mutex<Queue>,
    /// Most jobs waiting (the one running not counted).
    capacity: usize,
    /// Set when the socket disconnects: the jobs still queued are dropped, not run.
    closed: AtomicBool,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Job>,
    /// Places reserved and not yet filled: they count as waiting.
    reserved: usize,
    /// Whether a worker task is running the jobs.
    running: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("waiting", &self.waiting.len())
            .field("reserved", &self.reserved)
            .field("running", &self.running)
            .finish()
    }
}

impl Inner {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A place in the queue, reserved before the job is built; given back if dropped unused.
pub(crate) struct Slot<'a>(&'a Serial);

impl Serial {
    /// A queue that holds at most `capacity` waiting jobs.
    pub(crate) fn start(capacity: usize) -> Self {
        Self(Arc::new(Inner {
            queue: Mutex::default(),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
        }))
    }

    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.0.queue()
    }

    /// Stops running jobs: the ones waiting are dropped, one that started finishes. Returns
    /// whether it was already closed.
    pub(crate) fn close(&self) -> bool {
        // Set under the lock `Slot::run` checks it under: a job is either started before the
        // close (and finishes) or never.
        let (was, dropped) = {
            let mut queue = self.queue();
            let was = self.0.closed.swap(true, Ordering::SeqCst);
            (was, std::mem::take(&mut queue.waiting))
        };
        // Dropped outside the lock: a job's captures may do anything when dropped.
        drop(dropped);
        was
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::SeqCst)
    }

    /// Reserves a place for a job; `None` when `capacity` jobs are already waiting.
    pub(crate) fn reserve(&self) -> Option<Slot<'_>> {
        let mut queue = self.queue();
        if queue.waiting.len() + queue.reserved >= self.0.capacity {
            return None;
        }
        queue.reserved += 1;
        Some(Slot(self))
    }
}

impl Slot<'_> {
    /// Queues the job in the reserved place; runs it at once if the queue was idle.
    pub(crate) fn run(self, job: Job) {
        let serial = self.0;
        // The place is given back here, under the one lock this takes, not by `Drop`.
        std::mem::forget(self);
        let mut queue = serial.queue();
        queue.reserved -= 1;
        if serial.is_closed() {
            return;
        }
        if queue.running {
            queue.waiting.push_back(job);
            return;
        }
        queue.running = true;
        drop(queue);
        start(&serial.0, job);
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.queue().reserved -= 1;
    }
}

/// Runs `job` here until it finishes or waits; the worker takes over a job that waits, and the
/// jobs queued meanwhile. Saves a task spawn, its allocation and a task switch per event (and
/// the frees on another thread that glibc's arenas contend on).
///
/// The job is polled with a waker that does nothing: a job that waits is spawned, and the task's
/// first poll, at once, registers the task's waker where the job waits. A future may not rely on
/// an earlier poll's waker, so nothing is missed.
fn start(inner: &Arc<Inner>, mut job: Job) {
    let mut cx = Context::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| job.as_mut().poll(&mut cx))) {
        Ok(Poll::Pending) => {
            tokio::spawn(work(inner.clone(), job));
            return;
        }
        Ok(Poll::Ready(())) => {}
        Err(_) => tracing::error!("a queued socket job panicked"),
    }
    if let Some(next) = next_job(inner) {
        tokio::spawn(work(inner.clone(), next));
    }
}

/// The next job waiting, if any and the queue is open; when none, the queue is marked idle
/// (under the same lock).
fn next_job(inner: &Inner) -> Option<Job> {
    let mut queue = inner.queue();
    let next = if inner.closed.load(Ordering::SeqCst) {
        None
    } else {
        queue.waiting.pop_front()
    };
    if next.is_none() {
        queue.running = false;
    }
    next
}

/// Runs `job` (started, or taken from the queue), then the queue's next ones, until it is empty
/// or closed.
async fn work(inner: Arc<Inner>, mut job: Job) {
    loop {
        // Listeners are guarded where they run; this keeps the queue going whatever a job does.
        if AssertUnwindSafe(job).catch_unwind().await.is_err() {
            tracing::error!("a queued socket job panicked");
        }
        match next_job(&inner) {
            Some(next) => job = next,
            None => return,
        }
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

    #[tokio::test]
    async fn an_idle_queue_holds_no_worker_and_starts_one_for_its_next_job() {
        let serial = Serial::start(4);
        for round in 0..3 {
            let (tx, rx) = tokio::sync::oneshot::channel();
            serial.reserve().unwrap().run(Box::pin(async move {
                let _ = tx.send(round);
            }));
            assert_eq!(rx.await.unwrap(), round);
            tokio::time::timeout(Duration::from_secs(1), async {
                while serial.queue().running {
                    tokio::task::yield_now().await;
                }
            })
            .await
            .expect("the worker ended once the queue was empty");
            assert_eq!(Arc::strong_count(&serial.0), 1, "no task holds the queue");
        }
    }

    #[tokio::test]
    async fn a_job_that_does_not_wait_runs_within_run_and_spawns_no_task() {
        let serial = Serial::start(4);
        let ran = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let log = ran.clone();
            serial
                .reserve()
                .unwrap()
                .run(Box::pin(async move { log.lock().unwrap().push(i) }));
            // No await in between: it ran in `run`, on this task.
            assert_eq!(*ran.lock().unwrap(), (0..=i).collect::<Vec<_>>());
            assert!(!serial.queue().running, "the queue is idle again");
            assert_eq!(Arc::strong_count(&serial.0), 1, "no task holds the queue");
        }
    }

    #[tokio::test]
    async fn a_job_queued_by_a_job_running_at_once_runs_after_it() {
        let serial = Serial::start(4);
        let ran = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(tokio::sync::Notify::new());
        let (queue, log, notify) = (serial.clone(), ran.clone(), done.clone());
        serial.reserve().unwrap().run(Box::pin(async move {
            let inner_log = log.clone();
            queue.reserve().unwrap().run(Box::pin(async move {
                inner_log.lock().unwrap().push("second");
                notify.notify_one();
            }));
            // Queued, not run inside this one: the first finishes first.
            log.lock().unwrap().push("first");
        }));
        tokio::time::timeout(Duration::from_secs(1), done.notified())
            .await
            .expect("the second job ran");
        assert_eq!(*ran.lock().unwrap(), ["first", "second"]);
    }

    #[tokio::test]
    async fn a_job_that_panics_before_it_waits_leaves_the_queue_working() {
        let serial = Serial::start(2);
        serial
            .reserve()
            .unwrap()
            .run(Box::pin(async { panic!("a bad job, at once") }));
        assert!(!serial.queue().running, "the queue is idle again");
        let ran = Arc::new(Mutex::new(false));
        let flag = ran.clone();
        serial
            .reserve()
            .unwrap()
            .run(Box::pin(async move { *flag.lock().unwrap() = true }));
        assert!(*ran.lock().unwrap(), "the next job ran");
    }

    #[tokio::test]
    async fn closing_drops_the_waiting_jobs_and_lets_the_started_one_finish() {
        let serial = Serial::start(2);
        let (release, hold) = tokio::sync::oneshot::channel::<()>();
        let ran = Arc::new(Mutex::new(Vec::new()));
        let started = ran.clone();
        serial.reserve().unwrap().run(Box::pin(async move {
            let _ = hold.await;
            started.lock().unwrap().push(-1);
        }));
        for i in 0..2 {
            let ran = ran.clone();
            serial
                .reserve()
                .unwrap()
                .run(Box::pin(async move { ran.lock().unwrap().push(i) }));
        }
        assert!(serial.reserve().is_none(), "two wait: full");
        assert!(!serial.close(), "first close");
        assert!(serial.close(), "already closed");
        drop(release);
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            *ran.lock().unwrap(),
            [-1],
            "the started job finished, the waiting ones never ran"
        );
        assert!(!serial.queue().running, "the queue is idle");
        let slot = serial.reserve().expect("room again");
        drop(slot);
        assert_eq!(serial.queue().reserved, 0);
    }
}
