//! The offline inbox: events kept for a user who is offline everywhere
//! ([`Emit::persist`](crate::Emit::persist)), handed to the first of the user's sockets that
//! connects within their time to live, which acks them.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::value::RawValue;

use crate::clock::now_ms;

/// How many events one user's inbox keeps at most; beyond, the oldest are dropped.
pub const MAX_KEPT_PER_USER: usize = 1000;

/// The longest an event may be kept.
pub const MAX_KEEP: Duration = Duration::from_secs(30 * 24 * 3600);

/// An event kept for an offline user.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub(crate) event: String,
    pub(crate) data: Box<RawValue>,
    /// Milliseconds since the Unix epoch after which it is dropped.
    pub(crate) expires_ms: u64,
}

/// The inbox of embedded mode, in memory (cluster mode keeps it in Redis).
#[derive(Debug, Default)]
pub(crate) struct Inboxes {
    by_user: HashMap<String, Vec<Kept>>,
}

impl Kept {
    /// An event kept from now for `ttl`, at most [`MAX_KEEP`].
    pub(crate) fn new(event: &str, data: &RawValue, ttl: Duration) -> Self {
        let ttl = u64::try_from(ttl.min(MAX_KEEP).as_millis()).unwrap_or(u64::MAX);
        Self {
            event: event.to_owned(),
            data: data.to_owned(),
            expires_ms: now_ms().saturating_add(ttl),
        }
    }
}

impl Inboxes {
    /// Keeps events for `user` (the oldest dropped past [`MAX_KEPT_PER_USER`]); returns how
    /// many were dropped.
    pub(crate) fn keep(
        &mut self,
        user: &str,
        kept: impl IntoIterator<Item = Kept>,
        now_ms: u64,
    ) -> usize {
        let inbox = self.by_user.entry(user.to_owned()).or_default();
        inbox.extend(kept);
        inbox.retain(|k| k.expires_ms > now_ms);
        inbox.sort_by_key(|k| k.expires_ms);
        let over = inbox.len().saturating_sub(MAX_KEPT_PER_USER);
        inbox.drain(..over);
        if inbox.is_empty() {
            self.by_user.remove(user);
        }
        over
    }

    /// Takes every unexpired event of `user` (another socket of the user gets none of them).
    pub(crate) fn take(&mut self, user: &str, now_ms: u64) -> Vec<Kept> {
        let mut kept = self.by_user.remove(user).unwrap_or_default();
        kept.retain(|k| k.expires_ms > now_ms);
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::{Inboxes, Kept, MAX_KEPT_PER_USER};

    fn kept(expires_ms: u64) -> Kept {
        Kept {
            event: "e".into(),
            data: serde_json::value::to_raw_value(&expires_ms).unwrap(),
            expires_ms,
        }
    }

    #[test]
    fn kept_events_are_taken_once_until_they_expire() {
        let mut inboxes = Inboxes::default();
        inboxes.keep("a", [kept(100), kept(200)], 0);
        let taken = inboxes.take("a", 150);
        assert_eq!(taken.len(), 1, "the first one expired");
        assert!(inboxes.take("a", 150).is_empty(), "taken once");
    }

    #[test]
    fn an_inbox_is_bounded() {
        let mut inboxes = Inboxes::default();
        let dropped = inboxes.keep("a", (1..=MAX_KEPT_PER_USER as u64 + 5).map(kept), 0);
        assert_eq!(dropped, 5);
        assert_eq!(inboxes.take("a", 0).len(), MAX_KEPT_PER_USER);
    }
}
