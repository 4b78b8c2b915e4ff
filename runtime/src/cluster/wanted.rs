//! The channels a node wants to follow, shared by the map (which changes them as sockets come
//! and go) and the subscriber (which makes Redis follow them).
//!
//! There is no queue of changes to grow while Redis is slow or away: a count per channel, the set
//! of channels whose count crossed zero since the subscriber last looked, and a wake-up of
//! capacity one. What this holds never exceeds the channels the node's recipients use (plus
//! those they stopped using since the subscriber last looked), however fast sockets connect,
//! join and leave.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

/// The wanted channels (see the module).
#[derive(Debug, Default)]
pub(crate) struct Wanted(Mutex<Inner>);

#[derive(Debug, Default)]
struct Inner {
    /// How many of the node's recipients want each channel.
    counts: HashMap<String, usize>,
    /// Channels wanted or dropped since the subscriber last looked.
    changed: HashSet<String>,
}

impl Wanted {
    /// Wanting `always` (the namespaces' broadcast channels) for good.
    pub(crate) fn new(always: Vec<String>) -> Self {
        let counts = always.into_iter().map(|c| (c, 1)).collect();
        Self(Mutex::new(Inner {
            counts,
            changed: HashSet::new(),
        }))
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One more (`true`) or one fewer recipient wants `channel`; `true` when the channel is now
    /// wanted for the first time or no longer wanted (the subscriber has work).
    pub(crate) fn follow(&self, channel: String, yes: bool) -> bool {
        let mut inner = self.inner();
        let crossed = if yes {
            let n = inner.counts.entry(channel.clone()).or_default();
            *n += 1;
            *n == 1
        } else {
            match inner.counts.get_mut(&channel) {
                None => false,
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    inner.counts.remove(&channel);
                    true
                }
            }
        };
        if crossed {
            inner.changed.insert(channel);
        }
        crossed
    }

    /// The channels changed since the last look, each with whether it is wanted now.
    pub(crate) fn changes(&self) -> Vec<(String, bool)> {
        let mut inner = self.inner();
        let changed = std::mem::take(&mut inner.changed);
        changed
            .into_iter()
            .map(|c| {
                let wanted = inner.counts.contains_key(&c);
                (c, wanted)
            })
            .collect()
    }

    /// Every wanted channel, for a fresh link (which makes any pending change moot).
    pub(crate) fn all(&self) -> Vec<String> {
        let mut inner = self.inner();
        inner.changed.clear();
        inner.counts.keys().cloned().collect()
    }

    /// Whether `channel` is wanted.
    pub(crate) fn contains(&self, channel: &str) -> bool {
        self.inner().counts.contains_key(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::Wanted;

    #[test]
    fn churn_collapses_into_one_change_per_channel() {
        let wanted = Wanted::new(vec!["all".into()]);
        for _ in 0..10_000 {
            wanted.follow("user:a".into(), true);
            wanted.follow("user:a".into(), false);
        }
        assert!(wanted.follow("user:b".into(), true));
        assert!(!wanted.follow("user:b".into(), true), "already wanted");
        assert!(!wanted.follow("user:c".into(), false), "never wanted");
        let mut changes = wanted.changes();
        changes.sort();
        assert_eq!(
            changes,
            vec![("user:a".into(), false), ("user:b".into(), true)]
        );
        assert!(wanted.changes().is_empty());
        assert!(!wanted.follow("user:b".into(), false), "one socket left");
        assert!(wanted.follow("user:b".into(), false));
        let mut all = wanted.all();
        all.sort();
        assert_eq!(all, vec!["all".to_owned()]);
        assert!(wanted.changes().is_empty(), "a fresh link takes everything");
        assert!(wanted.contains("all"));
    }
}
