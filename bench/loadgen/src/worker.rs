//! [`Worker`]: a client of the storm on a thread and runtime of its own (the probe, the
//! feeder), the states it goes through, and the waits they share ([`connected_until_run`],
//! [`settle`]).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// A [`Worker`]'s states: connecting, connected, running (probing, feeding), told to stop.
pub(crate) const WAITING: u8 = 0;
pub(crate) const CONNECTED: u8 = 1;
pub(crate) const RUNNING: u8 = 2;
pub(crate) const STOP: u8 = 3;

/// A client on a thread and runtime of its own (the probe, the feeder), so that the load
/// generator's busy loop does not delay it. Its task moves `state` from [`WAITING`] to
/// [`CONNECTED`], then works while it reads [`RUNNING`], until [`STOP`].
#[derive(Debug)]
pub(crate) struct Worker<T> {
    what: &'static str,
    state: Arc<AtomicU8>,
    thread: std::thread::JoinHandle<Result<T, String>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts `task(state)` on a new thread; `what` names it in errors.
    pub(crate) fn spawn<F, Fut>(what: &'static str, task: F) -> Self
    where
        F: FnOnce(Arc<AtomicU8>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, String>>,
    {
        let state = Arc::new(AtomicU8::new(WAITING));
        let shared_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, task(shared_state))
        });
        Self {
            what,
            state,
            thread,
        }
    }

    /// Waits until it has connected; its error when it could not.
    pub(crate) async fn connected(self) -> Result<Self, String> {
        while self.state.load(Ordering::SeqCst) == WAITING {
            if self.thread.is_finished() {
                let what = self.what;
                return Err(match self.join() {
                    Err(e) => e,
                    Ok(_) => format!("the {what} ended before it connected"),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(self)
    }

    /// Lets it work.
    pub(crate) fn run(&self) {
        self.state.store(RUNNING, Ordering::SeqCst);
    }

    /// Stops it and answers its results, waiting for its thread without blocking this one's
    /// runtime (whose sockets keep reading meanwhile).
    pub(crate) async fn finish(self) -> Result<T, String> {
        self.state.store(STOP, Ordering::SeqCst);
        while !self.thread.is_finished() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.join()
    }

    fn join(self) -> Result<T, String> {
        let what = self.what;
        self.thread
            .join()
            .map_err(|_| format!("the {what}'s thread panicked"))?
    }
}

/// The task's side: says it has connected, then waits until it is told to run (or to stop).
pub(crate) async fn connected_until_run(state: &AtomicU8) {
    state.store(CONNECTED, Ordering::SeqCst);
    while state.load(Ordering::SeqCst) == CONNECTED {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for what is still coming: until `look` says it is all there, or what it counts did not
/// change for `quiet`, or `most` has passed; it looks every `every`. `look` answers (all there,
/// a count that grows as things arrive).
pub(crate) async fn settle(
    most: Duration,
    quiet: Duration,
    every: Duration,
    mut look: impl FnMut() -> (bool, u64),
) {
    let started = Instant::now();
    let (mut last, mut since) = (None, Instant::now());
    loop {
        let (done, count) = look();
        if done || started.elapsed() >= most {
            return;
        }
        if last != Some(count) {
            (last, since) = (Some(count), Instant::now());
        } else if since.elapsed() >= quiet {
            return;
        }
        tokio::time::sleep(every).await;
    }
}
