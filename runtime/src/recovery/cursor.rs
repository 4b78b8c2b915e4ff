//! Where one socket stands in its namespace's history: the latest position it was sent, and,
//! while what it missed is being sent, the live events held back until then.

use std::sync::Arc;

use super::{Entry, Position};

/// One socket's place in the history. A socket starts held (what it missed is read and sent
/// first); live events wait meanwhile, so that each event goes out once, in order.
#[derive(Debug)]
pub(crate) struct Cursor {
    /// The latest position sent to the socket (or the history's head when it went live).
    last: Position,
    /// Live events that arrived while the socket was held.
    held: Option<Vec<Arc<Entry>>>,
}

impl Cursor {
    /// A cursor holding live events until [`go_live`](Self::go_live).
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

    /// Holds live events again (to catch up from the history); `false` when already held.
    pub(crate) fn hold(&mut self) -> bool {
        if self.held.is_some() {
            return false;
        }
        self.held = Some(Vec::new());
        true
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

    /// The live events held so far (the socket stays held).
    pub(crate) fn take_held(&mut self) -> Vec<Arc<Entry>> {
        self.held.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Ends the hold: everything up to `last` was sent (live events at or before it are
    /// skipped from now on).
    pub(crate) fn go_live(&mut self, last: Position) {
        self.held = None;
        self.last = self.last.max(last);
    }

    /// The latest position sent: what the client reports back when it reconnects.
    pub(crate) fn last(&self) -> Position {
        self.last
    }
}

/// What to send of `entries` (missed events read from the history, or live ones held), in
/// position order, each once, after `after`.
pub(crate) fn to_send(mut entries: Vec<Arc<Entry>>, after: Position) -> Vec<Arc<Entry>> {
    entries.retain(|e| e.pos > after);
    entries.sort_by_key(|e| e.pos);
    entries.dedup_by_key(|e| e.pos);
    entries
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{Cursor, to_send};
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

    fn at(ms: u64) -> Position {
        Position { ms, seq: 0 }
    }

    #[test]
    fn held_events_wait_then_live_ones_go_in_order_and_replayed_ones_are_skipped() {
        let mut cursor = Cursor::held();
        assert!(!cursor.offer(&entry(5)), "held");
        assert!(!cursor.offer(&entry(6)));
        let held = cursor.take_held();
        assert_eq!(held.len(), 2);
        assert!(!cursor.offer(&entry(7)), "still held after a take");
        let mut all = held;
        all.extend(cursor.take_held());
        all.extend([entry(3), entry(5)]);
        let sent: Vec<u64> = to_send(all, at(3)).iter().map(|e| e.pos.ms).collect();
        assert_eq!(sent, vec![5, 6, 7], "after 3, in order, once");
        cursor.go_live(at(7));
        assert!(!cursor.offer(&entry(6)), "the replay sent it already");
        assert!(cursor.offer(&entry(8)));
        assert_eq!(cursor.last(), at(8));
    }

    #[test]
    fn going_live_at_the_head_skips_late_copies_of_what_was_read() {
        let mut cursor = Cursor::held();
        cursor.go_live(at(4));
        assert!(
            !cursor.offer(&entry(4)),
            "at the head: it was in the history read"
        );
        assert!(cursor.offer(&entry(5)));
    }
}
