//! The queues of presence writes: users are spread over a few queues by hash, each drained by
//! one task (`writer`), so a user's writes reach Redis in the order they happened here.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::keys::now_micros;

/// Queues of presence writes (users are spread over them by hash).
const QUEUES: usize = 8;

/// The `(node, socket id)` pairs a cap check evicts; `None` when Redis could not be asked.
pub(crate) type Evicted = Option<Vec<(String, String)>>;

/// One presence write.
pub(crate) enum Op {
    /// A socket of `user` appeared on (`true`) or left this node.
    Set {
        ns: String,
        user: String,
        sid: String,
        present: bool,
    },
    /// Rewrite a socket's entries after a reconnection (`order` keeps a user's sockets in
    /// connection order for the cap).
    Restore {
        ns: String,
        user: String,
        sid: String,
        order: u128,
    },
    /// Count a new socket under the cap; answer which sockets to evict.
    Cap {
        ns: String,
        user: String,
        sid: String,
        cap: usize,
        reply: oneshot::Sender<Evicted>,
    },
}

impl Op {
    fn user(&self) -> (&str, &str) {
        match self {
            Self::Set { ns, user, .. }
            | Self::Restore { ns, user, .. }
            | Self::Cap { ns, user, .. } => (ns, user),
        }
    }
}

/// The write queues of a node (none for a Redis-only emitter), and the removals to replay.
pub(crate) struct Writers {
    queues: Vec<mpsc::UnboundedSender<Op>>,
    /// Removals not written because Redis was away.
    pending: Mutex<Vec<Op>>,
}

impl Writers {
    pub(crate) fn new() -> (Self, Vec<mpsc::UnboundedReceiver<Op>>) {
        let (queues, receivers) = (0..QUEUES).map(|_| mpsc::unbounded_channel()).unzip();
        let writers = Self {
            queues,
            pending: Mutex::new(Vec::new()),
        };
        (writers, receivers)
    }

    pub(crate) fn none() -> Self {
        Self {
            queues: Vec::new(),
            pending: Mutex::new(Vec::new()),
        }
    }

    /// Queues a presence change.
    pub(crate) fn set(&self, ns: &str, user: &str, sid: &str, present: bool) {
        self.push(Op::Set {
            ns: ns.to_owned(),
            user: user.to_owned(),
            sid: sid.to_owned(),
            present,
        });
    }

    /// Queues a cap check (see [`Remote::cap`](crate::remote::Remote::cap)); the future only
    /// waits for the answer.
    pub(crate) fn cap(
        &self,
        ns: &str,
        user: &str,
        sid: &str,
        cap: usize,
    ) -> impl Future<Output = Evicted> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        self.push(Op::Cap {
            ns: ns.to_owned(),
            user: user.to_owned(),
            sid: sid.to_owned(),
            cap,
            reply,
        });
        async move { answer.await.ok().flatten() }
    }

    /// Keeps a removal Redis did not get, to replay on reconnection.
    pub(crate) fn keep(&self, op: Op) {
        self.pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(op);
    }

    /// After a reconnection: replays the removals Redis missed, then rewrites the entries of
    /// every socket this node holds (`(ns, user, sid)`, a user's sockets in connection order).
    pub(crate) fn restore(&self, entries: Vec<(String, String, String)>) {
        let missed =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        for op in missed {
            self.push(op);
        }
        let base = now_micros();
        for (order, (ns, user, sid)) in entries.into_iter().enumerate() {
            self.push(Op::Restore {
                ns,
                user,
                sid,
                order: base + order as u128,
            });
        }
    }

    fn push(&self, op: Op) {
        if self.queues.is_empty() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        op.user().hash(&mut hasher);
        let queue = usize::try_from(hasher.finish() % QUEUES as u64).unwrap_or_default();
        if let Err(mpsc::error::SendError(op)) = self.queues[queue].send(op)
            && let Op::Cap { reply, .. } = op
        {
            let _ = reply.send(None);
        }
    }
}
