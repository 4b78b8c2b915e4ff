//! What reaches a node from Redis: read off the link as fast as Redis sends, screened for size,
//! queued (bounded), then checked (signature, format, event name), deduplicated and handed to
//! the sink of the namespace it names.
//!
//! The queue between the link and the delivery loop holds at most [`INBOX_MESSAGES`] envelopes
//! and [`INBOX_BYTES`] bytes. When it is full (Redis sends faster than the node delivers) an
//! envelope is dropped and counted in `ClusterStats::dropped`: a node never buffers without
//! bound, and its reader never waits, so redis-rs's own queue stays short too.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError};

use tokio::sync::mpsc;

use super::envelope::{self, Envelope};
use super::guard::{Guard, MAX_ID_LEN, Refusal};
use super::keys::now_ms;
use super::node::Cluster;
use super::sign::open;
use super::transport::{Feed, Incoming};
use crate::protocol::is_reserved_event;
use crate::recovery::Position;
use crate::remote::{Delivering, Inbound, Order};

/// Most envelopes waiting for the delivery loop.
pub(crate) const INBOX_MESSAGES: usize = 1024;
/// Most bytes of envelopes waiting for the delivery loop (Redis's own default for a slow
/// subscriber, `client-output-buffer-limit pubsub 32mb`); one envelope is always taken when
/// nothing waits, whatever its size (within `max_envelope_size`).
pub(crate) const INBOX_BYTES: usize = 32 * 1024 * 1024;

/// The longest position a recorded emit's prefix carries (`<20 digits>-<20 digits>`).
const MAX_POSITION_LEN: usize = 41;
/// How far ahead of this node's clock a recorded emit's position may be (Redis's clock and the
/// node's may differ a little).
const MAX_POSITION_AHEAD_MS: u64 = 5 * 60 * 1000;
/// What the prefix of a recorded emit (`@<position> `) adds to an envelope, at most.
const POSITION_PREFIX_LEN: usize = MAX_POSITION_LEN + 2;

/// The sending side of a node's inbox.
pub(crate) struct Inbox {
    tx: mpsc::Sender<Incoming>,
    bytes: Arc<AtomicUsize>,
    guard: Arc<Guard>,
}

/// The receiving side of a node's inbox: the delivery loop's.
pub(crate) struct Outlet {
    rx: mpsc::Receiver<Incoming>,
    bytes: Arc<AtomicUsize>,
}

/// A fresh inbox for one link.
pub(crate) fn inbox(guard: Arc<Guard>) -> (Inbox, Outlet) {
    let (tx, rx) = mpsc::channel(INBOX_MESSAGES);
    let bytes = Arc::new(AtomicUsize::new(0));
    let inbox = Inbox {
        tx,
        bytes: bytes.clone(),
        guard,
    };
    (inbox, Outlet { rx, bytes })
}

impl Inbox {
    /// Counts a message dropped for room; a recorded emit's loss is noted too, so that the
    /// sockets it was for catch up from the history.
    fn dropped(&self, recorded: bool) {
        self.guard.drop_full();
        if recorded {
            self.guard.recorded_lost();
        }
    }

    /// Queues what the link brought. A message over the size bound is dropped (rejected), and
    /// one that finds the inbox full too (dropped); a change of the link itself always waits
    /// for room. `false` once the delivery loop is gone.
    pub(crate) async fn push(&self, incoming: Incoming) -> bool {
        let Incoming::Message { channel, payload } = incoming else {
            return self.tx.send(incoming).await.is_ok();
        };
        let len = payload.len();
        if len > self.guard.max_envelope + POSITION_PREFIX_LEN {
            self.guard.reject(&channel, Refusal::TooLarge(len));
            return true;
        }
        let recorded = payload.first() == Some(&b'@');
        let queued = self.bytes.fetch_add(len, Ordering::Relaxed);
        if queued > 0 && queued + len > INBOX_BYTES {
            self.bytes.fetch_sub(len, Ordering::Relaxed);
            self.dropped(recorded);
            return true;
        }
        match self.tx.try_send(Incoming::Message { channel, payload }) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.bytes.fetch_sub(len, Ordering::Relaxed);
                self.dropped(recorded);
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl Outlet {
    /// The next thing the link brought; `None` once its reader is gone.
    pub(crate) async fn recv(&mut self) -> Option<Incoming> {
        let incoming = self.rx.recv().await?;
        if let Incoming::Message { payload, .. } = &incoming {
            self.bytes.fetch_sub(payload.len(), Ordering::Relaxed);
        }
        Some(incoming)
    }
}

/// Reads a link until it is lost or the delivery loop is gone (run on its own task, aborted
/// when the loop lets the link go).
pub(crate) async fn read(mut feed: Feed, inbox: Inbox) {
    loop {
        let incoming = feed.next().await;
        let lost = matches!(incoming, Incoming::Lost);
        if !inbox.push(incoming).await || lost {
            return;
        }
    }
}

impl Cluster {
    /// Checks one message from a Redis channel and hands it to its namespace; returns what
    /// delivering it still has to do. `None`: nothing to do (refused and counted, this node's
    /// own, already delivered, or for a namespace this node does not serve).
    pub(super) fn receive(&self, channel: &str, message: &[u8]) -> Option<Delivering> {
        let guard = &self.guard;
        let refuse = |why: Refusal| {
            guard.reject(channel, why);
            None
        };
        if self.acks_channel.as_deref() == Some(channel) {
            self.receive_acks(channel, message);
            return None;
        }
        // A recorded emit comes as `@<position> <message>`.
        let (position, message) = match message.strip_prefix(b"@") {
            Some(rest) => {
                let Some(space) = rest
                    .iter()
                    .take(MAX_POSITION_LEN + 1)
                    .position(|b| *b == b' ')
                else {
                    return refuse(Refusal::Malformed("a position prefix without its message"));
                };
                let pos = std::str::from_utf8(&rest[..space])
                    .ok()
                    .and_then(|p| p.parse::<Position>().ok());
                let Some(pos) = pos else {
                    return refuse(Refusal::Malformed("a position that is not `<ms>-<seq>`"));
                };
                // Not signed: at most a few minutes ahead of this node's clock, so that a forged
                // one cannot make cursors skip what follows.
                if pos.ms > now_ms().saturating_add(MAX_POSITION_AHEAD_MS) {
                    return refuse(Refusal::Malformed("a position far in the future"));
                }
                (Some(pos), &rest[space + 1..])
            }
            None => (None, message),
        };
        let json = match open(guard.key.as_ref(), message) {
            Ok(json) => json,
            Err(why) => return refuse(why.into()),
        };
        let envelope: Envelope<'_> = match serde_json::from_slice(json) {
            Ok(e) => e,
            Err(e) => return refuse(Refusal::Malformed(category(&e))),
        };
        if envelope.v != envelope::VERSION {
            return refuse(Refusal::OtherVersion);
        }
        if envelope.id.len() > MAX_ID_LEN {
            return refuse(Refusal::Malformed("an `id` over 128 bytes"));
        }
        // A node delivers its own recorded emits from here too, in the history's order.
        if position.is_none() && envelope.node.is_some() && envelope.node == self.node_id() {
            return None;
        }
        let Some(order) = envelope.order() else {
            return refuse(Refusal::Malformed("a field its kind needs is missing"));
        };
        if let Order::Emit { event, .. } | Order::EmitWithAck { event, .. } = order
            && is_reserved_event(event)
        {
            return refuse(Refusal::ReservedEvent);
        }
        if envelope.targets.len() > 1
            && !self
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .first_time(envelope.id)
        {
            return None;
        }
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(ns) = namespaces.get(envelope.ns) else {
            tracing::debug!(channel, "envelope for a namespace this node does not serve");
            return None;
        };
        guard.received();
        Some((ns.sink)(Inbound {
            targets: &envelope.targets,
            except: &envelope.except,
            order,
            position,
        }))
    }
}

/// What is wrong with a message that is not an envelope, without quoting it.
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
        serde_json::error::Category::Data => "JSON, but not an envelope",
        serde_json::error::Category::Io => "unreadable",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{INBOX_MESSAGES, inbox};
    use crate::cluster::guard::Guard;
    use crate::cluster::transport::Incoming;

    fn message(len: usize) -> Incoming {
        Incoming::Message {
            channel: "c".into(),
            payload: vec![b'x'; len],
        }
    }

    #[tokio::test]
    async fn a_full_inbox_drops_and_counts_and_never_waits() {
        let guard = Arc::new(Guard::new(100, None));
        let (tx, mut rx) = inbox(guard.clone());
        for _ in 0..INBOX_MESSAGES + 10 {
            assert!(tx.push(message(10)).await);
        }
        let over = 100 + super::POSITION_PREFIX_LEN + 1;
        assert!(tx.push(message(over)).await, "over the bound: refused");
        let stats = guard.stats(0);
        assert_eq!((stats.dropped, stats.rejected), (10, 1));
        // The link's own events still get through once there is room.
        let lost = tokio::spawn(async move { tx.push(Incoming::Lost).await });
        for _ in 0..INBOX_MESSAGES {
            assert!(matches!(rx.recv().await, Some(Incoming::Message { .. })));
        }
        assert!(matches!(rx.recv().await, Some(Incoming::Lost)));
        assert!(lost.await.unwrap());
        assert_eq!(rx.bytes.load(std::sync::atomic::Ordering::Relaxed), 0);
    }
}
