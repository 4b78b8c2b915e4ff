//! Reading cluster-wide presence: which live nodes hold a user's sockets, and every node's users
//! (the cluster view each node rewrites with its heartbeat).

use redis::AsyncCommands;

use super::keys::{lifetime_ms, node_key, nodes_key, now_ms, presence_key, view_key};
use super::node::Cluster;
use crate::remote::ClusterView;

/// The live nodes holding sockets of `user`, with how many sockets each; `None` when Redis
/// cannot be reached. Entries of dead nodes (no heartbeat) are removed on the way.
pub(crate) async fn online_nodes(
    cluster: &Cluster,
    ns: &str,
    user: &str,
) -> Option<Vec<(String, usize)>> {
    let mut conn = cluster.publisher();
    let key = presence_key(&cluster.prefix, ns, user);
    let entries: Vec<(String, String)> = conn.hgetall(&key).await.ok()?;
    if entries.is_empty() {
        return Some(Vec::new());
    }
    let mut nodes: Vec<String> = entries.iter().map(|(_, n)| n.clone()).collect();
    nodes.sort();
    nodes.dedup();
    let alive = live_nodes(cluster, &nodes).await?;
    let mut result = Vec::new();
    let mut stale = Vec::new();
    for (node, alive) in nodes.iter().zip(alive) {
        let sockets: Vec<&String> = entries
            .iter()
            .filter(|(_, n)| n == node)
            .map(|(sid, _)| sid)
            .collect();
        if alive {
            result.push((node.clone(), sockets.len()));
        } else {
            stale.extend(sockets.into_iter().cloned());
        }
    }
    if !stale.is_empty() {
        let _: redis::RedisResult<()> = conn.hdel(&key, stale).await;
    }
    Some(result)
}

/// Whether each node's heartbeat is alive.
pub(crate) async fn live_nodes(cluster: &Cluster, nodes: &[String]) -> Option<Vec<bool>> {
    let keys: Vec<String> = nodes.iter().map(|n| node_key(&cluster.prefix, n)).collect();
    // MGET: a Redis Cluster connection splits it by shard and reassembles the answer.
    let alive: Vec<Option<i64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut cluster.publisher())
        .await
        .ok()?;
    Some(alive.iter().map(Option::is_some).collect())
}

/// With each heartbeat: this node's users and their socket counts, per namespace
/// (`{prefix}:{ns}:view:{node}`, a hash expiring after three beats), and the node in the
/// sorted set of nodes by last beat (`{prefix}:nodes`). One key per command, so it works on a
/// Redis Cluster too.
pub(crate) async fn publish_view(cluster: &Cluster) {
    let Some(node) = cluster.node_id.as_deref() else {
        return;
    };
    let ttl = lifetime_ms(cluster.heartbeat);
    let mut conn = cluster.publisher();
    let now = now_ms();
    // Forget nodes silent for ten beats, so the set does not grow with every restart.
    let forget = now.saturating_sub(ttl.saturating_mul(10) / 3);
    let _: redis::RedisResult<()> = redis::pipe()
        .cmd("ZADD")
        .arg(nodes_key(&cluster.prefix))
        .arg(now)
        .arg(node)
        .cmd("ZREMRANGEBYSCORE")
        .arg(nodes_key(&cluster.prefix))
        .arg("-inf")
        .arg(format!("({forget}"))
        .query_async(&mut conn)
        .await;
    for (ns, users) in cluster.local_users() {
        let key = view_key(&cluster.prefix, &ns, node);
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key);
        if !users.is_empty() {
            let fields: Vec<(String, usize)> = users.into_iter().collect();
            pipe.hset_multiple(&key, &fields).pexpire(&key, ttl as i64);
        }
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::debug!(error = %e, ns, "cluster view not written");
        }
    }
}

/// Every live node's users in namespace `ns` with their socket counts, refreshed with each
/// heartbeat (so up to one beat old); `None` when Redis cannot be reached.
pub(crate) async fn cluster_view(cluster: &Cluster, ns: &str) -> Option<ClusterView> {
    let mut conn = cluster.publisher();
    let ttl = lifetime_ms(cluster.heartbeat);
    let since = now_ms().saturating_sub(ttl);
    let nodes: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(nodes_key(&cluster.prefix))
        .arg(since)
        .arg("+inf")
        .query_async(&mut conn)
        .await
        .ok()?;
    let mut view = Vec::new();
    for node in nodes {
        let users: Vec<(String, usize)> = redis::cmd("HGETALL")
            .arg(view_key(&cluster.prefix, ns, &node))
            .query_async(&mut conn)
            .await
            .ok()?;
        view.push((node, users));
    }
    Some(view)
}
