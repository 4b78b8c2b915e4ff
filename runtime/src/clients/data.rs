//! What tether keeps for each socket: its key, metadata, session (user and channels) and token
//! deadline. Stored in the socket's extensions; it holds no socket reference, so a socket and its
//! handlers never keep each other alive.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use tokio::sync::oneshot;
use tokio::task::AbortHandle;

use crate::rate::Throttle;
use crate::recovery::Cursor;
use crate::serial::Serial;

/// The per-socket data tether keeps (stored in the socket's extensions; it holds no socket
/// reference, so a socket and its handlers never keep each other alive).
pub(crate) struct ClientData<M> {
    pub(crate) key: String,
    pub(crate) metadata: M,
    pub(crate) connected_at: Instant,
    session: Mutex<Session>,
    /// When the socket's token expires, and the timer enforcing it.
    expiry: Mutex<Deadline>,
    /// The socket's events and `/ops/*` requests, one at a time in arrival order.
    pub(crate) serial: Serial,
    /// The socket's rate limit state (shared by its identities).
    pub(crate) throttle: Arc<Throttle>,
    /// Where the socket stands in the namespace's recovery history (shared by its identities).
    cursor: Arc<Mutex<Cursor>>,
    /// Opened once the connect handler (and `on_connect`) ran: the socket's queue starts with a
    /// job waiting for it, so no event is handled before the socket is registered.
    gate: Mutex<Option<oneshot::Sender<()>>>,
}

/// What changes during a connection: the signed-in user and the joined channels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub(crate) user: Option<String>,
    pub(crate) channels: BTreeSet<String>,
}

impl<M> ClientData<M> {
    /// The data of a socket whose work runs through `serial`; the socket's first job waits for
    /// [`open_gate`](Self::open_gate) (or `gate_timeout`).
    pub(crate) fn new(
        key: String,
        metadata: M,
        user: Option<String>,
        serial: Serial,
        throttle: Throttle,
        gate_timeout: std::time::Duration,
        cursor: Cursor,
    ) -> Self {
        let (open, gate) = oneshot::channel::<()>();
        if let Some(slot) = serial.reserve() {
            slot.run(Box::pin(async move {
                // An error (the sender dropped) opens the gate too.
                let _ = tokio::time::timeout(gate_timeout, gate).await;
            }));
        }
        Self {
            key,
            metadata,
            connected_at: Instant::now(),
            session: Mutex::new(Session {
                user,
                channels: BTreeSet::new(),
            }),
            expiry: Mutex::default(),
            serial,
            throttle: Arc::new(throttle),
            cursor: Arc::new(Mutex::new(cursor)),
            gate: Mutex::new(Some(open)),
        }
    }

    /// The same socket under a new identity (after `/ops/login` or `/ops/logout`): the new key
    /// and metadata; the session, the token deadline (its timer moves over) and the queue kept.
    pub(crate) fn with_identity(&self, key: String, metadata: M) -> Self {
        Self {
            key,
            metadata,
            connected_at: self.connected_at,
            session: Mutex::new(self.session().clone()),
            expiry: Mutex::new(std::mem::take(&mut *self.expiry())),
            serial: self.serial.clone(),
            throttle: Arc::clone(&self.throttle),
            cursor: Arc::clone(&self.cursor),
            gate: Mutex::new(None),
        }
    }

    /// Marks the socket as disconnecting: its disconnect handler ran (which can happen before
    /// the connect handler), or tether unregistered it because its send queue was full. Its
    /// events are no longer handled. Returns whether it already was.
    pub(crate) fn close(&self) -> bool {
        self.serial.close()
    }

    /// Whether [`close`](Self::close) was called (under this identity or an earlier one).
    pub(crate) fn is_closed(&self) -> bool {
        self.serial.is_closed()
    }

    /// Lets the socket's queued events run (after the connect handler, or on disconnect).
    pub(crate) fn open_gate(&self) {
        let open = self
            .gate
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(open) = open {
            let _ = open.send(());
        }
    }

    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        // Session updates are single assignments; a poisoned lock holds consistent data.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where the socket stands in the recovery history.
    pub(crate) fn cursor(&self) -> MutexGuard<'_, Cursor> {
        self.cursor.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn expiry(&self) -> MutexGuard<'_, Deadline> {
        self.expiry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// When a socket's token expires, and the timer task enforcing it (the connection layer runs
/// the timer; the socket's data only keeps its handle).
#[derive(Debug, Default)]
pub(crate) struct Deadline {
    /// When the socket's token expires.
    pub(crate) at: Option<SystemTime>,
    timer: Option<AbortHandle>,
    /// Bumped on every change, so a timer that already woke up can tell it is stale.
    generation: u64,
}

impl Deadline {
    /// Stops the timer; returns the generation a new timer must carry.
    pub(crate) fn cancel(&mut self) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.generation
    }

    /// Sets the expiry and the timer enforcing it (started with [`cancel`](Self::cancel)'s
    /// generation).
    pub(crate) fn set(&mut self, at: Option<SystemTime>, timer: Option<AbortHandle>) {
        self.at = at;
        self.timer = timer;
    }

    /// Whether the deadline is still the one a timer started with.
    pub(crate) fn is_current(&self, generation: u64) -> bool {
        self.generation == generation
    }
}
