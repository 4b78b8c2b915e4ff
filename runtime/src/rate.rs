//! Rate limits: how many events a socket (or a user, for one listener) may send.
//!
//! Each limit is a token bucket, kept as one instant per key (the generic cell rate algorithm:
//! the time at which the bucket would be empty again), so a key costs 16 bytes and a check a
//! subtraction and a comparison.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A rate limit: `events` per `per` on average, and up to `burst` at once.
///
/// ```
/// use std::time::Duration;
/// use tether::RateLimit;
///
/// // 5 messages a second, 10 at once after a pause.
/// let say = RateLimit::per_second(5).burst(10);
/// // 30 an hour, one at a time.
/// let invite = RateLimit::new(30, Duration::from_secs(3600)).burst(1);
/// assert_eq!(say.interval(), Duration::from_millis(200));
/// assert_eq!(invite.interval(), Duration::from_secs(120));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    interval: Duration,
    burst: u32,
}

impl RateLimit {
    /// `events` per `per` on average; the burst is `events` until [`burst`](Self::burst) says
    /// otherwise. `events` of 0 is taken as 1.
    pub fn new(events: u32, per: Duration) -> Self {
        let events = events.max(1);
        Self {
            interval: per / events,
            burst: events,
        }
    }

    /// `events` per second.
    pub fn per_second(events: u32) -> Self {
        Self::new(events, Duration::from_secs(1))
    }

    /// How many events may come at once after a pause (at least 1).
    #[must_use]
    pub fn burst(mut self, burst: u32) -> Self {
        self.burst = burst.max(1);
        self
    }

    /// The average time between two events.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The burst size.
    pub fn burst_size(&self) -> u32 {
        self.burst
    }

    /// How far ahead of now a bucket's empty time may be while still taking an event.
    fn tolerance(&self) -> Duration {
        self.interval * (self.burst - 1)
    }

    /// Takes one event from a bucket whose empty time is `tat`: `Ok` with the new empty time,
    /// or `Err` with how long to wait before the next event is accepted.
    fn take(&self, tat: Option<Instant>, now: Instant) -> Result<Instant, Duration> {
        let tat = tat.map_or(now, |tat| tat.max(now));
        let ahead = tat - now;
        if ahead > self.tolerance() {
            return Err(ahead - self.tolerance());
        }
        Ok(tat + self.interval)
    }
}

/// One bucket (a socket's, for all its events).
#[derive(Debug)]
pub(crate) struct Bucket {
    limit: RateLimit,
    tat: Mutex<Option<Instant>>,
}

impl Bucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tat: Mutex::new(None),
        }
    }

    /// Takes one event: `Err(retry_after)` when over the limit.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        let mut tat = self.tat.lock().unwrap_or_else(PoisonError::into_inner);
        *tat = Some(self.limit.take(*tat, Instant::now())?);
        Ok(())
    }
}

/// A socket's rate state: its bucket for all its events (when the namespace is limited), and
/// how many of its events were refused lately, to disconnect a client that keeps going.
#[derive(Debug)]
pub(crate) struct Throttle {
    bucket: Option<Bucket>,
    refused: Mutex<Refusals>,
}

#[derive(Debug)]
struct Refusals {
    since: Instant,
    count: u32,
}

/// How long refused events are counted together.
const ABUSE_WINDOW: Duration = Duration::from_secs(10);

impl Throttle {
    pub(crate) fn new(limit: Option<RateLimit>) -> Self {
        Self {
            bucket: limit.map(Bucket::new),
            refused: Mutex::new(Refusals {
                since: Instant::now(),
                count: 0,
            }),
        }
    }

    /// Takes one event from the socket's bucket.
    pub(crate) fn take(&self) -> Result<(), Duration> {
        self.bucket.as_ref().map_or(Ok(()), Bucket::take)
    }

    /// Counts a refused event; whether the client keeps sending far over its limit: more refused
    /// events within 10 s than `max(4 × burst, 64)` of the limit that refused it.
    pub(crate) fn refused(&self, limit: RateLimit) -> bool {
        let now = Instant::now();
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        if now - refused.since > ABUSE_WINDOW {
            refused.since = now;
            refused.count = 0;
        }
        refused.count = refused.count.saturating_add(1);
        refused.count > limit.burst.saturating_mul(4).max(64)
    }

    /// The socket's own limit, if any.
    pub(crate) fn limit(&self) -> Option<RateLimit> {
        self.bucket.as_ref().map(|b| b.limit)
    }
}

/// Buckets by key (a listener's, one per user or anonymous socket). Keys whose bucket is full
/// again are dropped as the map grows, so it holds only the keys active within a burst.
#[derive(Debug)]
pub(crate) struct Buckets {
    limit: RateLimit,
    keys: Mutex<Keys>,
}

#[derive(Debug, Default)]
struct Keys {
    tat: HashMap<String, Instant>,
    /// The size above which the next insert prunes.
    prune_at: usize,
}

impl Buckets {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            keys: Mutex::default(),
        }
    }

    /// The limit of every bucket.
    pub(crate) fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes one event from `key`'s bucket: `Err(retry_after)` when over the limit.
    pub(crate) fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tat) = keys.tat.get_mut(key) {
            *tat = self.limit.take(Some(*tat), now)?;
            return Ok(());
        }
        let tat = self.limit.take(None, now)?;
        if keys.tat.len() >= keys.prune_at {
            // A bucket whose empty time has passed is as good as no bucket.
            keys.tat.retain(|_, tat| *tat > now);
            keys.prune_at = (keys.tat.len() * 2).max(1024);
        }
        keys.tat.insert(key.to_owned(), tat);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_one_event_per_interval() {
        let limit = RateLimit::per_second(10).burst(3);
        let t0 = Instant::now();
        let mut tat = None;
        for _ in 0..3 {
            tat = Some(limit.take(tat, t0).unwrap());
        }
        let wait = limit.take(tat, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        // After the wait, exactly one more.
        let t1 = t0 + wait;
        tat = Some(limit.take(tat, t1).unwrap());
        assert!(limit.take(tat, t1).is_err());
        // After a long pause, a whole burst again.
        let t2 = t1 + Duration::from_secs(10);
        for _ in 0..3 {
            tat = Some(limit.take(tat, t2).unwrap());
        }
        assert!(limit.take(tat, t2).is_err());
    }

    #[test]
    fn keys_are_limited_apart_and_idle_keys_are_pruned() {
        let buckets = Buckets::new(RateLimit::per_second(1).burst(1));
        assert!(buckets.take("a").is_ok());
        assert!(buckets.take("a").is_err());
        assert!(buckets.take("b").is_ok());
        // Keys that are full again within a microsecond: all but the newest are idle.
        let buckets = Buckets::new(RateLimit::per_second(1_000_000).burst(1));
        assert!(buckets.take("a").is_ok());
        std::thread::sleep(Duration::from_millis(5));
        for i in 0..2_000 {
            let _ = buckets.take(&i.to_string());
        }
        let keys = buckets.keys.lock().unwrap();
        assert!(
            keys.tat.len() < 2_000,
            "idle keys were pruned: {}",
            keys.tat.len()
        );
        assert!(!keys.tat.contains_key("a"));
    }
}
