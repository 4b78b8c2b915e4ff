//! Leaving the cluster on purpose (a graceful shutdown): this node's presence, view and
//! heartbeat are removed at once, so the others see its users offline now rather than after
//! three missed beats, and its tasks stop.

use std::sync::atomic::Ordering;

use redis::AsyncCommands;

use super::keys::{conns_key, node_key, nodes_key, presence_key, view_key};
use super::node::Cluster;

impl Cluster {
    /// Whether [`leave`](Self::leave) was called: the node's tasks stop, and it writes no
    /// more presence.
    pub(crate) fn is_leaving(&self) -> bool {
        self.leaving.load(Ordering::SeqCst)
    }

    /// Stops the node's tasks without a word to Redis (no runtime is left to send one): its
    /// presence expires with its heartbeat.
    pub(crate) fn stop(&self) {
        self.leaving.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
    }

    /// Removes this node from the cluster: `held` are the `(namespace, user, socket id)` it
    /// held (taken before its sockets were disconnected). Best effort: what Redis does not
    /// take now expires with the node's heartbeat.
    pub(crate) async fn leave(&self, held: Vec<(String, String, String)>) {
        self.leaving.store(true, Ordering::SeqCst);
        self.shutdown.send_replace(true);
        let Some(node) = self.node_id.as_deref() else {
            return;
        };
        // One key per command (a Redis Cluster may hold them on different shards), sent
        // together over the multiplexed connection.
        let removals = held.iter().map(|(ns, user, sid)| {
            let mut conn = self.publisher();
            let presence = presence_key(&self.prefix, ns, user);
            let conns = conns_key(&self.prefix, ns, user);
            let member = format!("{node}|{sid}");
            async move {
                let _: redis::RedisResult<()> = conn.hdel(presence, sid).await;
                let _: redis::RedisResult<()> = conn.zrem(conns, member).await;
            }
        });
        futures_util::future::join_all(removals).await;
        // Presence groups: the departures start now, and another node announces them after
        // the grace (unless the users reconnect elsewhere by then).
        for ns in self.roster_namespaces() {
            if let Err(e) = super::roster::reap(self, &ns, node).await {
                tracing::debug!(error = %e, ns, "presence groups not left");
            }
        }
        let mut conn = self.publisher();
        let namespaces: Vec<String> = self
            .namespaces
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        for ns in namespaces {
            let _: redis::RedisResult<()> = conn.del(view_key(&self.prefix, &ns, node)).await;
        }
        let _: redis::RedisResult<()> = conn.zrem(nodes_key(&self.prefix), node).await;
        let _: redis::RedisResult<()> = conn.del(node_key(&self.prefix, node)).await;
        tracing::info!(node, sockets = held.len(), "left the tether cluster");
    }
}
