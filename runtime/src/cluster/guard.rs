//! What a node refuses of what Redis brings, and how it says so: the counters behind
//! [`ClusterStats`], and log lines that whoever publishes garbage cannot turn into a flood.
//!
//! Anyone who can `PUBLISH` on the cluster's Redis reaches this code, so nothing here echoes
//! what was received (a value in a log line could be a forged one), and every line that a stream
//! of bad messages would repeat is rate-limited: the first one, then at most one every
//! [`LOG_EVERY`] with the count of those left out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::config::ClusterStats;
use super::sign::{ClusterKey, Unsealed};

/// The shortest interval between two log lines about the same kind of refusal.
pub(crate) const LOG_EVERY: Duration = Duration::from_secs(10);

/// Longest message id a node keeps to deliver a multi-target envelope once.
pub(crate) const MAX_ID_LEN: usize = 128;

/// Why an envelope from Redis was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Larger than the node's `max_envelope_size`.
    TooLarge(usize),
    /// Not signed, though the node has a key.
    Unsigned,
    /// Signed with another key, or altered since.
    BadSignature,
    /// Not an envelope (the serde error's category and position, never its text: the text can
    /// quote the message).
    Malformed(&'static str),
    /// An envelope of another version.
    OtherVersion,
    /// An emit of a reserved event name (`/ops/…`, `disconnect`, …).
    ReservedEvent,
}

impl From<Unsealed> for Refusal {
    fn from(why: Unsealed) -> Self {
        match why {
            Unsealed::Unsigned => Self::Unsigned,
            Unsealed::BadSignature => Self::BadSignature,
            Unsealed::Malformed => Self::Malformed("neither `{…}` nor `<sig>.{…}`"),
        }
    }
}

/// A log line at most every [`LOG_EVERY`].
#[derive(Debug, Default)]
struct Throttle(Mutex<(Option<Instant>, u64)>);

impl Throttle {
    /// `Some(left out since the last line)` when a line may be written now.
    fn tick(&self) -> Option<u64> {
        let mut state = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        match state.0 {
            Some(last) if now.duration_since(last) < LOG_EVERY => {
                state.1 += 1;
                None
            }
            _ => {
                state.0 = Some(now);
                Some(std::mem::take(&mut state.1))
            }
        }
    }
}

/// A node's bounds and key for what it receives, and its counts of what it received.
#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) max_envelope: usize,
    pub(crate) key: Option<ClusterKey>,
    received: AtomicU64,
    rejected: AtomicU64,
    dropped: AtomicU64,
    /// A recorded emit was dropped since the delivery loop last looked: the sockets that
    /// should have got it must catch up from the history.
    recorded_lost: std::sync::atomic::AtomicBool,
    too_large: Throttle,
    malformed: Throttle,
    full: Throttle,
}

impl Guard {
    pub(crate) fn new(max_envelope: usize, key: Option<ClusterKey>) -> Self {
        Self {
            max_envelope,
            key,
            received: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            recorded_lost: std::sync::atomic::AtomicBool::new(false),
            too_large: Throttle::default(),
            malformed: Throttle::default(),
            full: Throttle::default(),
        }
    }

    /// Counts an envelope delivered.
    pub(crate) fn received(&self) {
        self.received.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts and logs a refused envelope. A forgery (unsigned, badly signed, a reserved event)
    /// is logged at `debug`; a broken or oversized message at `warn`, rate-limited.
    pub(crate) fn reject(&self, channel: &str, why: Refusal) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        match why {
            Refusal::TooLarge(size) => {
                if let Some(more) = self.too_large.tick() {
                    tracing::warn!(
                        channel,
                        size,
                        max = self.max_envelope,
                        more,
                        "dropped an envelope over `max_envelope_size` (`more`: others since the last line)"
                    );
                }
            }
            Refusal::Malformed(what) => {
                if let Some(more) = self.malformed.tick() {
                    tracing::warn!(channel, what, more, "dropped a malformed envelope");
                }
            }
            Refusal::OtherVersion => {
                if let Some(more) = self.malformed.tick() {
                    tracing::warn!(channel, more, "dropped an envelope of another version");
                }
            }
            Refusal::Unsigned => tracing::debug!(channel, "dropped an unsigned envelope"),
            Refusal::BadSignature => {
                tracing::debug!(channel, "dropped an envelope with a wrong signature");
            }
            Refusal::ReservedEvent => {
                tracing::debug!(
                    channel,
                    "dropped an envelope emitting a reserved event name"
                );
            }
        }
    }

    /// Counts and logs (rate-limited) an envelope the node had no room for.
    /// Notes that a recorded emit was dropped (see [`take_recorded_lost`](Self::take_recorded_lost)).
    pub(crate) fn recorded_lost(&self) {
        self.recorded_lost.store(true, Ordering::Relaxed);
    }

    /// Whether a recorded emit was dropped since the last call.
    pub(crate) fn take_recorded_lost(&self) -> bool {
        self.recorded_lost.swap(false, Ordering::Relaxed)
    }

    pub(crate) fn drop_full(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        if let Some(more) = self.full.tick() {
            tracing::warn!(
                more,
                "the node's inbox is full (Redis sends faster than the node delivers): dropped an \
                 envelope (`more`: others since the last line)"
            );
        }
    }

    /// Counts a presence write dropped because its queue was full.
    pub(crate) fn drop_write(&self) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters, with `published` messages.
    pub(crate) fn stats(&self, published: u64) -> ClusterStats {
        ClusterStats {
            published,
            received: self.received.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Guard, Refusal, Throttle};

    #[test]
    fn a_burst_of_refusals_writes_one_line_and_counts_them_all() {
        let throttle = Throttle::default();
        assert_eq!(throttle.tick(), Some(0));
        for _ in 0..1000 {
            assert_eq!(throttle.tick(), None);
        }
        let guard = Guard::new(10, None);
        for _ in 0..5 {
            guard.reject("c", Refusal::TooLarge(11));
        }
        guard.reject("c", Refusal::ReservedEvent);
        guard.drop_full();
        let stats = guard.stats(0);
        assert_eq!((stats.rejected, stats.dropped, stats.received), (6, 1, 0));
    }
}
