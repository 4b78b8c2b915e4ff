//! Where one socket stands in its namespace's history: the latest position it was sent, and,
//! while its recovery is being read, the live events held back until the missed ones are out.

use std::sync::Arc;

use super::{Entry, Position};

/// One socket's place in the history. A socket starts held (its history is read first); live
/// events then wait, so that what it missed goes out before them, each event once.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The latest position sent to the socket (or the history's head when it went live).
    last: Position,
    /// Live events that arrived while the socket was held.
    held: Option<Vec<Arc<Entry>>>,
}

impl Cursor {
    /// A cursor holding live events until [`release`](Self::release).
    pub(crate) fn held() -> Self {
        Self {
            last: Position::default(),
            held: Some(Vec::new()),
        }
    }

    /// A cursor that sends live events at once (a namespace without recovery).
    pub(crate) fn live() -> Self {
        Self {
            last: Position::default(),
            held: None,
        }
    }

    /// Takes a live event: `true` when it is to be sent now; held, or `false` when it was
    /// already sent (by the replay).
    pub(crate) fn offer(&mut self, entry: &Arc<Entry>) -> bool {
        if let Some(held) = &mut self.held {
            held.push(entry.clone());
            return false;
        }
        if entry.pos <= self.last {
            return false;
        }
        self.last = entry.pos;
        true
    }

    /// Ends the hold: what to send now, in order, each once — the `missed` events read from
    /// the history (up to `head`), then the live ones held meanwhile that came after them.
    pub(crate) fn release(&mut self, missed: Vec<Arc<Entry>>, head: Position) -> Vec<Arc<Entry>> {
        let mut out = missed;
        out.extend(self.held.take().unwrap_or_default());
        out.sort_by_key(|e| e.pos);
        out.dedup_by_key(|e| e.pos);
        out.retain(|e| e.pos > self.last);
        if let Some(latest) = out.last() {
            self.last = latest.pos;
        }
        // Live events at or before the head were in the history just read.
        self.last = self.last.max(head);
        out
    }

    /// The latest position sent: what the client reports back when it reconnects.
    pub(crate) fn last(&self) -> Position {
        self.last
    }

    /// Whether live events are held.
    #[cfg(test)]
    pub(crate) fn is_held(&self) -> bool {
        self.held.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::Cursor;
    use crate::recovery::{Entry, Position};

    fn entry(ms: u64) -> Arc<Entry> {
        Arc::new(Entry {
            pos: Position { ms, seq: 0 },
            event: "e".into(),
            data: serde_json::value::to_raw_value(&ms).unwrap(),
            targets: Vec::new(),
            except: Vec::new(),
        })
    }

    #[test]
    fn missed_events_go_first_then_held_ones_each_once_then_live_ones_in_order() {
        let mut cursor = Cursor::held();
        assert!(!cursor.offer(&entry(5)), "held");
        assert!(!cursor.offer(&entry(6)));
        let out = cursor.release(
            vec![entry(3), entry(4), entry(5)],
            Position { ms: 5, seq: 0 },
        );
        let sent: Vec<u64> = out.iter().map(|e| e.pos.ms).collect();
        assert_eq!(sent, vec![3, 4, 5, 6]);
        assert!(!cursor.is_held());
        assert!(!cursor.offer(&entry(6)), "the replay sent it already");
        assert!(cursor.offer(&entry(7)));
        assert_eq!(cursor.last(), Position { ms: 7, seq: 0 });
    }

    #[test]
    fn a_late_copy_of_a_replayed_event_is_not_sent_twice() {
        let mut cursor = Cursor::held();
        let out = cursor.release(vec![entry(3)], Position { ms: 4, seq: 0 });
        assert_eq!(out.len(), 1);
        assert!(
            !cursor.offer(&entry(4)),
            "at the head: it was in the history read"
        );
        assert!(cursor.offer(&entry(5)));
    }
}
