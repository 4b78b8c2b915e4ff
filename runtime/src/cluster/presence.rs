//! Cluster-wide presence: which node holds which socket of a user, a heartbeat per node so a
//! crashed node's entries stop counting, and the per-user connection cap.
//!
//! Keys: `{prefix}:node:{id}` (the heartbeat, expiring after three missed beats),
//! `{prefix}:{ns}:presence:{user}` (hash: socket id → node id),
//! `{prefix}:{ns}:conns:{user}` (sorted set of `node|sid` by connection time, for the cap).

use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;

use super::Cluster;

fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

fn presence_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:presence:{user}")
}

fn conns_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:conns:{user}")
}

/// Refreshes this node's heartbeat once.
pub(crate) async fn beat(cluster: &Cluster) {
    let Some(node) = &cluster.node_id else { return };
    let ttl = u64::try_from((cluster.heartbeat * 3).as_millis()).unwrap_or(u64::MAX);
    let mut conn = cluster.publisher();
    let result: redis::RedisResult<()> =
        conn.pset_ex(node_key(&cluster.prefix, node), 1, ttl).await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "heartbeat not written");
    }
}

/// Beats until the cluster is dropped.
pub(crate) async fn heartbeat(cluster: Weak<Cluster>) {
    loop {
        let every = {
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            beat(&cluster).await;
            cluster.heartbeat
        };
        tokio::time::sleep(every).await;
    }
}

/// Records (`true`) or removes a socket of `user` held by this node.
pub(crate) async fn set(cluster: &Cluster, ns: &str, user: &str, sid: &str, present: bool) {
    let Some(node) = &cluster.node_id else { return };
    let mut conn = cluster.publisher();
    let key = presence_key(&cluster.prefix, ns, user);
    let result: redis::RedisResult<()> = if present {
        conn.hset(key, sid, node).await
    } else {
        let conns = conns_key(&cluster.prefix, ns, user);
        redis::pipe()
            .hdel(key, sid)
            .zrem(conns, format!("{node}|{sid}"))
            .query_async(&mut conn)
            .await
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, user, "presence not written");
    }
}

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
    let keys: Vec<String> = nodes.iter().map(|n| node_key(&cluster.prefix, n)).collect();
    let alive: Vec<Option<i64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut conn)
        .await
        .ok()?;
    let mut result = Vec::new();
    let mut stale = Vec::new();
    for (node, alive) in nodes.iter().zip(alive) {
        let sockets: Vec<&String> = entries
            .iter()
            .filter(|(_, n)| n == node)
            .map(|(sid, _)| sid)
            .collect();
        if alive.is_some() {
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

/// Adds a socket to the user's cluster-wide connection list and returns the `(node, sid)` of the
/// sockets to evict to stay within `cap`, oldest first. Atomic (one Lua script); entries of
/// dead nodes are dropped first. `None` when Redis cannot be reached.
pub(crate) async fn cap(
    cluster: &Arc<Cluster>,
    ns: &str,
    user: &str,
    sid: &str,
    cap: usize,
) -> Option<Vec<(String, String)>> {
    const SCRIPT: &str = r"
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
            local node = string.match(m, '^(.-)|')
            if node and redis.call('EXISTS', ARGV[4] .. node) == 0 then
                redis.call('ZREM', KEYS[1], m)
            end
        end
        local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
        if excess <= 0 then return {} end
        local evicted = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
        redis.call('ZREM', KEYS[1], unpack(evicted))
        return evicted
    ";
    let node = cluster.node_id.as_deref()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    let mut conn = cluster.publisher();
    let evicted: Vec<String> = redis::Script::new(SCRIPT)
        .key(conns_key(&cluster.prefix, ns, user))
        .arg(format!("{node}|{sid}"))
        .arg(now.to_string())
        .arg(cap)
        .arg(format!("{}:node:", cluster.prefix))
        .invoke_async(&mut conn)
        .await
        .map_err(|e| tracing::warn!(error = %e, user, "cluster connection cap not checked"))
        .ok()?;
    Some(
        evicted
            .into_iter()
            .filter_map(|m| {
                let (node, sid) = m.split_once('|')?;
                Some((node.to_owned(), sid.to_owned()))
            })
            .collect(),
    )
}
