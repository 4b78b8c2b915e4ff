//! What reaches a node from Redis: envelopes decoded, checked, deduplicated and handed to the
//! sink of the namespace they name.

use std::sync::PoisonError;
use std::sync::atomic::Ordering;

use super::envelope::{self, Envelope};
use super::node::Cluster;
use crate::remote::{Delivering, Inbound};

impl Cluster {
    /// Decodes one message from a Redis channel and hands it to its namespace; returns what
    /// delivering it still has to do. `None`: nothing to do (malformed, another version, this
    /// node's own, already delivered, or for a namespace this node does not serve).
    pub(super) fn receive(&self, channel_name: &str, payload: &[u8]) -> Option<Delivering> {
        let envelope: Envelope<'_> = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(channel = channel_name, error = %e, "ignoring a malformed envelope");
                return None;
            }
        };
        if envelope.v != envelope::VERSION {
            tracing::warn!(
                channel = channel_name,
                v = envelope.v,
                "ignoring an envelope of another version"
            );
            return None;
        }
        if envelope.node.is_some() && envelope.node == self.node_id() {
            return None;
        }
        let Some(order) = envelope.order() else {
            tracing::warn!(id = envelope.id, "ignoring an envelope with missing fields");
            return None;
        };
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
            tracing::debug!(
                ns = envelope.ns,
                "envelope for a namespace this node does not serve"
            );
            return None;
        };
        self.received.fetch_add(1, Ordering::Relaxed);
        Some((ns.sink)(Inbound {
            targets: &envelope.targets,
            except: &envelope.except,
            order,
        }))
    }
}
