//! Handshake admission: how many new connections a node works on at once.
//!
//! A reconnect storm (a node dies, and its thousands of clients come back to this one at once)
//! would otherwise have every handshake in progress together: the runtime's queues fill with
//! their tasks, and a socket already here waits behind all of them for each of its events. So a
//! new engine.io session takes a slot before its first request is served, and keeps it until its
//! socket's first namespace connect is decided (refused, or connected and `on_connect` run), for
//! [`ADMISSION_HOLD`] at most. The others wait, parked, for [`ADMISSION_WAIT`] at most, then go
//! ahead without a slot: a client that opens sessions and never finishes them can slow others'
//! handshakes by that much, never stop them.
//!
//! Measured (`bench/run.sh --storm --tether-only`, 10,000 sockets, 2 cores, 2 runs each): a
//! connected socket's message p99 during the storm 158–476 ms without slots, 15–41 ms with 64
//! held this way, reconnect p95 unchanged (1.26–1.41 s). Slots taken only around the middleware
//! and the connect (not from the first request) did not help: 255–322 ms.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::request::Parts;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How long a new connection waits for a slot at most, then goes ahead without one.
pub(crate) const ADMISSION_WAIT: Duration = Duration::from_secs(1);

/// How long a connection keeps its slot at most (a client that never sends its namespace
/// connect, or a slow one, gives it back after this).
pub(crate) const ADMISSION_HOLD: Duration = Duration::from_secs(1);

/// The slots of one tether.
#[derive(Debug)]
pub(crate) struct Admission {
    slots: Arc<Semaphore>,
}

/// A new connection's slot, in its first request's extensions (which engineioxide keeps for the
/// socket's life): given back by [`release`](Self::release), or after [`ADMISSION_HOLD`].
#[derive(Debug, Clone)]
pub(crate) struct Ticket(Arc<Mutex<Option<OwnedSemaphorePermit>>>);

impl Admission {
    /// `slots` connections worked on at once.
    pub(crate) fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
        })
    }

    /// Waits for a slot, [`ADMISSION_WAIT`] at most; the ticket (holding none when the wait
    /// ran out) goes in the request's extensions.
    pub(crate) async fn enter(&self) -> Ticket {
        // `timeout` polls the acquire first: a free slot is taken without arming the timer.
        let waited = tokio::time::timeout(ADMISSION_WAIT, self.slots.clone().acquire_owned()).await;
        // (The semaphore is never closed: an error is the wait running out.)
        let Ok(Ok(permit)) = waited else {
            crate::metrics::admission_timeout();
            return Ticket(Arc::default());
        };
        let ticket = Ticket(Arc::new(Mutex::new(Some(permit))));
        let held = ticket.clone();
        tokio::spawn(async move {
            tokio::time::sleep(ADMISSION_HOLD).await;
            held.release();
        });
        ticket
    }

    /// Slots free now.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.slots.available_permits()
    }
}

impl Ticket {
    /// Gives the slot back (once; later calls do nothing).
    pub(crate) fn release(&self) {
        drop(self.0.lock().unwrap_or_else(PoisonError::into_inner).take());
    }

    #[cfg(test)]
    fn holds(&self) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// Gives back the slot of the connection whose first request's head is `parts`, if it holds one.
pub(crate) fn release(parts: &Parts) {
    if let Some(ticket) = parts.extensions.get::<Ticket>() {
        ticket.release();
    }
}

/// Whether a request opens a new engine.io session (and so needs a slot): an engine.io request
/// (`EIO=` in its query) without a session id (`sid=`).
pub(crate) fn opens_session(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        let has = |name: &str| q.split('&').any(|param| param.starts_with(name));
        has("EIO=") && !has("sid=")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_engine_io_sessions_need_a_slot() {
        assert!(opens_session(Some("EIO=4&transport=websocket")));
        assert!(opens_session(Some("transport=polling&EIO=4&t=x")));
        assert!(!opens_session(Some("EIO=4&transport=polling&sid=abc")));
        assert!(!opens_session(Some("EIO=4&transport=websocket&sid=abc")));
        assert!(!opens_session(Some("page=2")));
        assert!(!opens_session(None));
        // A parameter that only contains the names is not one of them.
        assert!(!opens_session(Some("xEIO=4")));
        assert!(opens_session(Some("EIO=4&xsid=1")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_slot_comes_back_on_release_or_after_the_hold() {
        let admission = Admission::new(2);
        let a = admission.enter().await;
        let b = admission.enter().await;
        assert_eq!(admission.free(), 0);
        a.release();
        a.release();
        assert_eq!(admission.free(), 1, "released once");
        // `b` never releases: its slot comes back after the hold.
        tokio::time::sleep(ADMISSION_HOLD + Duration::from_millis(10)).await;
        assert_eq!(admission.free(), 2);
        drop(b);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_waits_for_a_slot_then_goes_ahead_without_one() {
        let admission = Admission::new(1);
        let first = admission.enter().await;
        let started = tokio::time::Instant::now();
        // Freed after 300 ms: the second one gets it then.
        let freeing = first.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            freeing.release();
        });
        let second = admission.enter().await;
        assert!(second.holds());
        assert_eq!(started.elapsed(), Duration::from_millis(300));

        // The second keeps its slot for the whole hold (until 1.3 s). Two more come at 0.4 s:
        // one gets the slot when the hold ends, the other's wait runs out first (at 1.4 s, the
        // slot taken again at 1.3 s) and it goes ahead without one.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (third, fourth) = tokio::join!(admission.enter(), admission.enter());
        assert_ne!(third.holds(), fourth.holds(), "exactly one got the slot");
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(400) + ADMISSION_WAIT
        );
    }
}
