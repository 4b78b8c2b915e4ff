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

use tokio::sync::watch;

/// The wanted channels (see the module).
#[derive(Debug)]
pub(crate) struct Wanted {
    inner: Mutex<Inner>,
    /// The latest generation of changes the link has made (see [`Inner::generation`]).
    applied: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every change: a caller that saw generation `g` is followed once `applied`
    /// reaches `g`.
    generation: u64,
    /// How many of the node's recipients want each channel.
    counts: HashMap<String, usize>,
    /// Channels wanted or dropped since the subscriber last looked.
    changed: HashSet<String>,
}

impl Wanted {
    /// Wanting `always` (the namespaces' broadcast channels) for good.
    pub(crate) fn new(always: Vec<String>) -> Self {
        let counts = always.into_iter().map(|c| (c, 1)).collect();
        Self {
            inner: Mutex::new(Inner {
                generation: 0,
                counts,
                changed: HashSet::new(),
            }),
            applied: watch::Sender::new(0),
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The generation of the latest change: followed once [`applied`](Self::applied) reaches it.
    pub(crate) fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// Records that the link follows every change up to `generation`.
    pub(crate) fn mark_applied(&self, generation: u64) {
        self.applied.send_if_modified(|g| {
            let newer = generation > *g;
            if newer {
                *g = generation;
            }
            newer
        });
    }

    /// The generations the link has made, as they come.
    pub(crate) fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
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
            inner.generation += 1;
            inner.changed.insert(channel);
        }
        crossed
    }

    /// The channels changed since the last look, each with whether it is wanted now, and the
    /// generation they bring the link to.
    pub(crate) fn changes(&self) -> (Vec<(String, bool)>, u64) {
        let mut inner = self.inner();
        let changed = std::mem::take(&mut inner.changed);
        let changes = changed
            .into_iter()
            .map(|c| {
                let wanted = inner.counts.contains_key(&c);
                (c, wanted)
            })
            .collect();
        (changes, inner.generation)
    }

    /// Every wanted channel, for a fresh link (which makes any pending change moot), and the
    /// generation it brings the link to.
    pub(crate) fn all(&self) -> (Vec<String>, u64) {
        let mut inner = self.inner();
        inner.changed.clear();
        (inner.counts.keys().cloned().collect(), inner.generation)
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
        let (mut changes, _) = wanted.changes();
        changes.sort();
        assert_eq!(
            changes,
            vec![("user:a".into(), false), ("user:b".into(), true)]
        );
        assert!(wanted.changes().0.is_empty());
        assert!(!wanted.follow("user:b".into(), false), "one socket left");
        assert!(wanted.follow("user:b".into(), false));
        let (mut all, generation) = wanted.all();
        all.sort();
        assert_eq!(all, vec!["all".to_owned()]);
        assert_eq!(generation, wanted.generation());
        assert!(
            wanted.changes().0.is_empty(),
            "a fresh link takes everything"
        );
        assert!(wanted.contains("all"));
    }
}
