//! What reaches a node from Redis: envelopes checked (size, signature, format, event name),
//! deduplicated and handed to the sink of the namespace they name.

use std::sync::PoisonError;

use super::envelope::{self, Envelope};
use super::guard::{MAX_ID_LEN, Refusal};
use super::node::Cluster;
use super::sign::open;
use crate::protocol::is_reserved_event;
use crate::remote::{Delivering, Inbound, Order};

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
        if message.len() > guard.max_envelope {
            return refuse(Refusal::TooLarge(message.len()));
        }
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
        if envelope.node.is_some() && envelope.node == self.node_id() {
            return None;
        }
        let Some(order) = envelope.order() else {
            return refuse(Refusal::Malformed("a field its kind needs is missing"));
        };
        if let Order::Emit { event, .. } = order
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
