//! The in-memory history of embedded mode: one bounded stream per recipient, numbered by one
//! clock, dropped after the window.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::{Entry, Missed, Position, Recovery};
use crate::protocol::Target;

/// The history of one namespace (behind the caller's lock).
#[derive(Debug)]
pub(crate) struct Ring {
    config: Recovery,
    /// The history starts here: a position before it predates this process.
    origin: Position,
    last: Position,
    streams: HashMap<Target, Stream>,
    last_sweep_ms: u64,
}

#[derive(Debug, Default)]
struct Stream {
    entries: VecDeque<Arc<Entry>>,
    /// The latest position dropped for the bound.
    trimmed: Option<Position>,
}

impl Ring {
    pub(crate) fn new(config: Recovery, now_ms: u64) -> Self {
        let origin = Position { ms: now_ms, seq: 0 };
        Self {
            config,
            origin,
            last: origin,
            streams: HashMap::new(),
            last_sweep_ms: now_ms,
        }
    }

    /// The next position (the caller records the entry at it with [`append`](Self::append)).
    pub(crate) fn next(&mut self, now_ms: u64) -> Position {
        self.last = self.last.next(now_ms);
        self.last
    }

    /// The latest position given.
    pub(crate) fn head(&self) -> Position {
        self.last
    }

    /// Records an entry in the streams of its targets, dropping what the bound and the window
    /// no longer keep.
    pub(crate) fn append(&mut self, entry: &Arc<Entry>, now_ms: u64) {
        let max = self.config.max_len_value();
        for target in entry.streams() {
            // The target is cloned (a `String`) only for a new stream.
            let stream = match self.streams.get_mut(target) {
                Some(stream) => stream,
                None => self.streams.entry(target.clone()).or_default(),
            };
            stream.entries.push_back(entry.clone());
            while stream.entries.len() > max {
                if let Some(dropped) = stream.entries.pop_front() {
                    stream.trimmed = Some(dropped.pos);
                }
            }
        }
        if now_ms.saturating_sub(self.last_sweep_ms) >= self.config.window_ms() / 4 {
            self.sweep(now_ms);
        }
    }

    /// Drops the entries older than the window, and the streams left empty. A client whose
    /// position is older than the window is told so before any stream is read, so what is
    /// dropped here is never missed silently.
    fn sweep(&mut self, now_ms: u64) {
        self.last_sweep_ms = now_ms;
        let oldest = now_ms.saturating_sub(self.config.window_ms());
        self.streams.retain(|_, stream| {
            while stream.entries.front().is_some_and(|e| e.pos.ms < oldest) {
                stream.entries.pop_front();
            }
            !stream.entries.is_empty()
        });
    }

    /// What a client at `since` missed on `streams`.
    pub(crate) fn missed(&self, streams: &[Target], since: Position, now_ms: u64) -> Missed {
        let head = self.last;
        if since.ms.saturating_add(self.config.window_ms()) < now_ms {
            return Missed {
                lost: streams.to_vec(),
                expired: true,
                head,
                ..Missed::default()
            };
        }
        // Before this history began, or after its head (a position of an earlier process).
        let reset = since < self.origin || since > head;
        let since = if reset { self.origin } else { since };
        let mut lost = if reset { streams.to_vec() } else { Vec::new() };
        let mut entries: Vec<Arc<Entry>> = Vec::new();
        for target in streams {
            let Some(stream) = self.streams.get(target) else {
                continue;
            };
            if stream.trimmed.is_some_and(|t| t > since) {
                if !reset {
                    lost.push(target.clone());
                }
                continue;
            }
            entries.extend(stream.entries.iter().filter(|e| e.pos > since).cloned());
        }
        entries.sort_by_key(|e| e.pos);
        entries.dedup_by_key(|e| e.pos);
        Missed {
            entries,
            lost,
            expired: false,
            reset,
            head,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::value::to_raw_value;

    use super::Ring;
    use crate::protocol::Target;
    use crate::recovery::{Entry, Position, Recovery};

    fn record(ring: &mut Ring, now: u64, targets: Vec<Target>) -> Position {
        let pos = ring.next(now);
        let entry = Arc::new(Entry {
            pos,
            event: "e".into(),
            data: to_raw_value(&pos.to_string()).unwrap(),
            targets,
            except: Vec::new(),
        });
        ring.append(&entry, now);
        pos
    }

    fn user(u: &str) -> Target {
        Target::User(u.into())
    }

    #[test]
    fn a_client_gets_what_its_streams_recorded_after_its_position_once_in_order() {
        let mut ring = Ring::new(Recovery::new(), 1000);
        let seen = record(&mut ring, 1000, vec![user("a")]);
        let p1 = record(&mut ring, 1001, vec![user("b")]);
        let p2 = record(
            &mut ring,
            1001,
            vec![user("a"), Target::Channel("c".into())],
        );
        let p3 = record(&mut ring, 1002, vec![Target::Channel("c".into())]);
        let missed = ring.missed(&[user("a"), Target::Channel("c".into())], seen, 1003);
        let got: Vec<Position> = missed.entries.iter().map(|e| e.pos).collect();
        assert_eq!(
            got,
            vec![p2, p3],
            "not b's, and the event to both streams once"
        );
        assert!(p1 < p2 && missed.lost.is_empty() && !missed.expired && !missed.reset);
        assert_eq!(missed.head, p3);
    }

    #[test]
    fn past_the_window_nothing_is_replayed() {
        let mut ring = Ring::new(Recovery::new().window(Duration::from_secs(10)), 1000);
        let seen = record(&mut ring, 1000, vec![user("a")]);
        record(&mut ring, 2000, vec![user("a")]);
        let missed = ring.missed(&[user("a")], seen, 11_001);
        assert!(missed.expired && missed.entries.is_empty());
        assert_eq!(missed.lost, vec![user("a")]);
        assert_eq!(ring.missed(&[user("a")], seen, 11_000).entries.len(), 1);
    }

    #[test]
    fn a_stream_trimmed_past_the_position_is_lost_and_not_replayed() {
        let mut ring = Ring::new(Recovery::new().max_len(2), 1000);
        let seen = record(&mut ring, 1000, vec![user("a")]);
        for _ in 0..3 {
            record(&mut ring, 1001, vec![user("a")]);
        }
        record(&mut ring, 1001, vec![user("b")]);
        let missed = ring.missed(&[user("a"), user("b")], seen, 1002);
        assert_eq!(missed.lost, vec![user("a")]);
        assert_eq!(missed.entries.len(), 1, "b's stream is whole");
    }

    #[test]
    fn a_position_from_before_this_history_is_a_reset() {
        let mut ring = Ring::new(Recovery::new(), 5000);
        let after = record(&mut ring, 5001, vec![user("a")]);
        let missed = ring.missed(&[user("a")], Position { ms: 4000, seq: 0 }, 5002);
        assert!(missed.reset);
        assert_eq!(missed.lost, vec![user("a")]);
        assert_eq!(
            missed.entries.iter().map(|e| e.pos).collect::<Vec<_>>(),
            vec![after]
        );
        let future = ring.missed(&[user("a")], Position { ms: 9000, seq: 0 }, 5002);
        assert!(
            future.reset,
            "a position after the head is another history's"
        );
    }

    #[test]
    fn old_entries_and_empty_streams_are_swept() {
        let mut ring = Ring::new(Recovery::new().window(Duration::from_secs(4)), 0);
        record(&mut ring, 0, vec![user("a")]);
        record(&mut ring, 10_000, vec![user("b")]);
        assert!(!ring.streams.contains_key(&user("a")));
        assert_eq!(ring.streams.len(), 1);
    }
}
