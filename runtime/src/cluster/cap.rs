//! The cluster-wide per-user connection cap: a sorted set of a user's sockets by connection
//! time, trimmed atomically by a script.

use redis::AsyncCommands;

use super::keys::{conns_key, now_micros};
use super::node::Cluster;
use super::presence::live_nodes;
use super::queue::Evicted;

/// Entries of dead nodes are dropped first (not atomic, and need not be: dropping them twice
/// is harmless); then one script adds the socket and evicts the oldest beyond the cap,
/// atomically. The script touches only its own key, as scripts in a Redis Cluster must.
pub(crate) async fn check_cap(
    cluster: &Cluster,
    node: &str,
    ns: &str,
    user: &str,
    sid: &str,
    cap: usize,
) -> Evicted {
    const SCRIPT: &str = r"
        redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
        local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
        if excess <= 0 then return {} end
        local evicted = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
        redis.call('ZREM', KEYS[1], unpack(evicted))
        return evicted
    ";
    let key = conns_key(&cluster.prefix, ns, user);
    let mut conn = cluster.background();
    let warn = |e: redis::RedisError| tracing::warn!(error = %e, user, "cluster connection cap not checked");
    let members: Vec<String> = conn.zrange(&key, 0, -1).await.map_err(warn).ok()?;
    let mut others: Vec<String> = members
        .iter()
        .filter_map(|m| m.split_once('|').map(|(n, _)| n.to_owned()))
        .filter(|n| n != node)
        .collect();
    others.sort();
    others.dedup();
    if !others.is_empty() {
        let alive = live_nodes(cluster, &others).await?;
        let dead: Vec<&String> = members
            .iter()
            .filter(|m| {
                others
                    .iter()
                    .zip(&alive)
                    .any(|(n, alive)| !alive && m.split_once('|').is_some_and(|(mn, _)| mn == n))
            })
            .collect();
        if !dead.is_empty() {
            let _: redis::RedisResult<()> = conn.zrem(&key, dead).await;
        }
    }
    let evicted: Vec<String> = redis::Script::new(SCRIPT)
        .key(&key)
        .arg(format!("{node}|{sid}"))
        .arg(now_micros().to_string())
        .arg(cap)
        .invoke_async(&mut conn)
        .await
        .map_err(warn)
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
