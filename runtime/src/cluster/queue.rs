//! The queues of presence writes: users are spread over a few queues by hash, each drained by
//! one task (`writer`), so a user's writes reach Redis in the order they happened here.
//!
//! Sockets coming and going feed these queues, so what they drive is bounded: at most
//! [`MAX_QUEUED`] writes wait (all queues together). A write that finds them full (Redis slower
//! than the sockets' churn) is not queued; it is counted in `ClusterStats::dropped`, and the next
//! heartbeat repairs what it would have done: a cap check answers "unknown" at once (the node then
//! holds the cap over its own sockets), a removal is kept to be replayed (at most
//! [`MAX_PENDING`]; past that it is dropped and logged), and the presence of every socket the
//! node holds is rewritten. The rewrite itself (one entry per socket the node holds) is not
//! counted: it is bounded by the node's sockets, and must stay in order with the writes around
//! it.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, oneshot};

use super::guard::Guard;
use super::keys::now_micros;
use crate::presence::Group;

/// Queues of presence writes (users are spread over them by hash).
const QUEUES: usize = 8;
/// Most writes from sockets coming and going that may wait, all queues together.
pub(crate) const MAX_QUEUED: usize = 16 * 1024;
/// Most removals kept to be replayed.
pub(crate) const MAX_PENDING: usize = 64 * 1024;

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
    /// A socket of `user` entered (`true`) or left a tracked presence group.
    Member {
        ns: String,
        group: Group,
        user: String,
        sid: String,
        present: bool,
    },
    /// Count a new socket under the cap; answer which sockets to evict.
    Cap {
        ns: String,
        user: String,
        sid: String,
        cap: usize,
        reply: oneshot::Sender<Evicted>,
    },
    /// Answers once the writes queued before it are done (see [`Writers::flush`]).
    Flush { reply: oneshot::Sender<()> },
}

impl Op {
    fn user(&self) -> (&str, &str) {
        match self {
            Self::Set { ns, user, .. }
            | Self::Restore { ns, user, .. }
            | Self::Member { ns, user, .. }
            | Self::Cap { ns, user, .. } => (ns, user),
            Self::Flush { .. } => ("", ""),
        }
    }
}

/// The write queues of a node (none for a Redis-only emitter), and the removals to replay.
pub(crate) struct Writers {
    queues: Vec<mpsc::UnboundedSender<Op>>,
    /// Writes waiting, rewrites excepted (see the module).
    queued: AtomicUsize,
    /// A write was not queued since the last repair.
    overflowed: AtomicBool,
    /// Removals not written because Redis was away (or the queues were full).
    pending: Mutex<Vec<Op>>,
    guard: Option<Arc<Guard>>,
}

impl Writers {
    pub(crate) fn new(guard: Arc<Guard>) -> (Self, Vec<mpsc::UnboundedReceiver<Op>>) {
        let (queues, receivers) = (0..QUEUES).map(|_| mpsc::unbounded_channel()).unzip();
        let writers = Self {
            queues,
            guard: Some(guard),
            ..Self::none()
        };
        (writers, receivers)
    }

    pub(crate) fn none() -> Self {
        Self {
            queues: Vec::new(),
            queued: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
            pending: Mutex::new(Vec::new()),
            guard: None,
        }
    }

    /// A writer took `op` off its queue.
    pub(crate) fn taken(&self, op: &Op) {
        if !matches!(op, Op::Restore { .. } | Op::Flush { .. }) {
            self.queued.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Whether a write was dropped since the last call: the presence needs a rewrite.
    pub(crate) fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, Ordering::Relaxed)
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

    /// Queues a change of a presence group.
    pub(crate) fn member(&self, ns: &str, group: &Group, user: &str, sid: &str, present: bool) {
        self.push(Op::Member {
            ns: ns.to_owned(),
            group: group.clone(),
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

    /// Waits until every write queued before this call is done (written, kept or dropped), so
    /// that a read of Redis that follows sees this node's own changes (a channel's members
    /// right after a socket joined it). Not counted against [`MAX_QUEUED`].
    pub(crate) fn flush(&self) -> impl Future<Output = ()> + Send + 'static {
        let answers: Vec<_> = self
            .queues
            .iter()
            .filter_map(|queue| {
                let (reply, answer) = oneshot::channel();
                queue.send(Op::Flush { reply }).ok().map(|()| answer)
            })
            .collect();
        async move {
            for answer in answers {
                let _ = answer.await;
            }
        }
    }

    /// Keeps a removal Redis did not get, to replay on reconnection.
    pub(crate) fn keep(&self, op: Op) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() < MAX_PENDING {
            pending.push(op);
        } else {
            if let Some(guard) = &self.guard {
                guard.drop_write();
            }
            tracing::error!(
                "too many presence removals wait for Redis: one is dropped, and its socket may \
                 count as online until this node restarts"
            );
        }
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
        if !matches!(op, Op::Restore { .. })
            && self.queued.fetch_add(1, Ordering::Relaxed) >= MAX_QUEUED
        {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.overflow(op);
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

    /// A write the queues had no room for (see the module).
    fn overflow(&self, op: Op) {
        if let Some(guard) = &self.guard {
            guard.drop_write();
        }
        if !self.overflowed.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "presence writes are dropped: Redis is slower than sockets come and go; the next \
                 heartbeat rewrites this node's presence"
            );
        }
        match op {
            Op::Cap { reply, .. } => {
                let _ = reply.send(None);
            }
            Op::Set { present: false, .. } | Op::Member { present: false, .. } => self.keep(op),
            Op::Set { .. } | Op::Member { .. } | Op::Restore { .. } | Op::Flush { .. } => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{MAX_QUEUED, Writers};
    use crate::cluster::guard::Guard;

    #[tokio::test]
    async fn writes_past_the_bound_are_counted_kept_or_answered_never_queued() {
        let guard = Arc::new(Guard::new(1024, None));
        let (writers, _queues) = Writers::new(guard.clone());
        for i in 0..MAX_QUEUED {
            writers.set("/chat", &format!("u{i}"), "s", true);
        }
        assert!(!writers.take_overflow());
        writers.set("/chat", "late", "s1", true);
        writers.set("/chat", "late", "s2", false);
        let cap = writers.cap("/chat", "late", "s3", 1);
        assert_eq!(
            cap.await,
            None,
            "a cap check that finds no room is answered at once"
        );
        assert_eq!(guard.stats(0).dropped, 3);
        assert!(writers.take_overflow(), "the next heartbeat repairs");
        assert_eq!(
            writers.pending.lock().unwrap().len(),
            1,
            "the removal is kept"
        );
        // A rewrite is never refused: its size is the node's sockets.
        writers.restore(vec![("/chat".into(), "u".into(), "s".into()); 10]);
        assert_eq!(
            guard.stats(0).dropped,
            4,
            "the replayed removal still finds no room"
        );
    }
}
