//! Leaving the cluster on purpose (a graceful shutdown): this node's presence, view and
//! heartbeat are removed at once, so the others see its users offline now rather than after
//! three missed beats, and its tasks stop.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::AsyncCommands;

use super::keys::{conns_key, node_key, nodes_key, presence_key, view_key};
use super::node::Cluster;

/// How long leaving waits for a heartbeat or a presence write in flight.
const LEAVE_WAIT: Duration = Duration::from_secs(3);

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
        // A beat in flight finishes first (bounded: its commands time out), and the next one
        // sees `leaving` and stops; so does a presence write in flight on the other connection,
        // which would otherwise land after the removals below and undo them.
        let _beating = tokio::time::timeout(LEAVE_WAIT, self.beating.lock())
            .await
            .ok();
        let _ = tokio::time::timeout(LEAVE_WAIT, self.writers.flush()).await;
        // One pipeline, one command per key (a Redis Cluster routes each to its shard): a
        // round trip or two whatever the sockets, even while the node is busy disconnecting
        // them all.
        let mut by_user: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
        for (ns, user, sid) in &held {
            by_user.entry((ns, user)).or_default().push(sid);
        }
        let mut pipe = redis::pipe();
        for ((ns, user), sids) in &by_user {
            let members: Vec<String> = sids.iter().map(|sid| format!("{node}|{sid}")).collect();
            pipe.hdel(presence_key(&self.prefix, ns, user), sids)
                .ignore()
                .zrem(conns_key(&self.prefix, ns, user), members)
                .ignore();
        }
        if let Err(e) = pipe.query_async::<()>(&mut self.publisher()).await {
            tracing::debug!(error = %e, "presence not removed; it expires with the heartbeat");
        }
        // Presence groups: the departures start now, and another node announces them after
        // the grace (unless the users reconnect elsewhere by then).
        for ns in self.roster_namespaces() {
            if let Err(e) = super::roster::reap(self, &ns, node, super::roster::Gone::Leaving).await
            {
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
