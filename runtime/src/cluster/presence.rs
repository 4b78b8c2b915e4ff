//! Cluster-wide presence: which node holds which socket of a user, a heartbeat per node so a
//! crashed node's entries stop counting, and the per-user connection cap.
//!
//! Keys: `{prefix}:node:{id}` (the heartbeat, expiring after three missed beats),
//! `{prefix}:{ns}:presence:{user}` (hash: socket id → node id),
//! `{prefix}:{ns}:conns:{user}` (sorted set of `node|sid` by connection time, for the cap).
//!
//! Writes go through a few queues, each drained by one task, a user always on the same queue: so
//! a socket's "present" can never overtake its "gone" (a stale entry that would keep a user
//! online), and a cap check never overtakes the departure of the socket it counts. While Redis is
//! away, writes are not attempted: removals are kept and replayed on reconnection, before the
//! node rewrites the presence of the sockets it holds then.

use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::AsyncCommands;
use tokio::sync::{mpsc, oneshot};

use super::{Cluster, ClusterState};

/// Queues of presence writes (users are spread over them by hash).
const QUEUES: usize = 8;

fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

fn presence_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:presence:{user}")
}

fn conns_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:conns:{user}")
}

fn now_micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default()
}

type Evicted = Option<Vec<(String, String)>>;

/// One presence write.
pub(crate) enum Op {
    /// A socket of `user` appeared on (`true`) or left this node.
    Set {
        ns: String,
        user: String,
        sid: String,
        present: bool,
    },
    /// Rewrite a socket's entries after a reconnection (`order` keeps a user's sockets in
    /// connection order for the cap).
    Restore {
        ns: String,
        user: String,
        sid: String,
        order: u128,
    },
    /// Count a new socket under the cap; answer which sockets to evict.
    Cap {
        ns: String,
        user: String,
        sid: String,
        cap: usize,
        reply: oneshot::Sender<Evicted>,
    },
}

impl Op {
    fn user(&self) -> (&str, &str) {
        match self {
            Self::Set { ns, user, .. }
            | Self::Restore { ns, user, .. }
            | Self::Cap { ns, user, .. } => (ns, user),
        }
    }
}

/// The write queues of a node (none for a Redis-only emitter), and the removals to replay.
pub(crate) struct Writers {
    queues: Vec<mpsc::UnboundedSender<Op>>,
    /// Removals not written because Redis was away.
    pending: Mutex<Vec<Op>>,
}

impl Writers {
    pub(crate) fn new() -> (Self, Vec<mpsc::UnboundedReceiver<Op>>) {
        let (queues, receivers) = (0..QUEUES).map(|_| mpsc::unbounded_channel()).unzip();
        let writers = Self {
            queues,
            pending: Mutex::new(Vec::new()),
        };
        (writers, receivers)
    }

    pub(crate) fn none() -> Self {
        Self {
            queues: Vec::new(),
            pending: Mutex::new(Vec::new()),
        }
    }

    fn push(&self, op: Op) {
        if self.queues.is_empty() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        op.user().hash(&mut hasher);
        let queue = usize::try_from(hasher.finish() % QUEUES as u64).unwrap_or_default();
        if let Err(mpsc::error::SendError(op)) = self.queues[queue].send(op)
            && let Op::Cap { reply, .. } = op
        {
            let _ = reply.send(None);
        }
    }
}

/// Refreshes this node's heartbeat (retrying briefly); returns whether its key still existed,
/// `None` when Redis could not be reached.
pub(crate) async fn beat(cluster: &Cluster) -> Option<bool> {
    let node = cluster.node_id.as_deref()?;
    let ttl = u64::try_from((cluster.heartbeat * 3).as_millis()).unwrap_or(u64::MAX);
    let once = || async {
        // `SET … GET` answers the previous value: nil when the key had vanished.
        redis::cmd("SET")
            .arg(node_key(&cluster.prefix, node))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .arg("GET")
            .query_async::<Option<String>>(&mut cluster.publisher())
            .await
    };
    let mut result = once().await;
    for pause in RETRIES {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(pause).await;
        result = once().await;
    }
    match result {
        Ok(previous) => Some(previous.is_some()),
        Err(e) => {
            tracing::debug!(error = %e, "heartbeat not written");
            None
        }
    }
}

/// Beats until the cluster is dropped. A beat that finds the node's key gone (Redis lost its
/// data, or this node was stalled for three beats and others dropped its entries as dead)
/// rewrites the node's presence.
pub(crate) async fn heartbeat(cluster: Weak<Cluster>) {
    let mut first = true;
    loop {
        let every = {
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            let alive = beat(&cluster).await;
            if alive.is_some() {
                publish_view(&cluster).await;
            }
            if alive == Some(false) && !first {
                tracing::info!(
                    "this node's heartbeat had expired in Redis; rewriting its presence"
                );
                cluster.on_connected();
            }
            first = false;
            cluster.heartbeat
        };
        tokio::time::sleep(every).await;
    }
}

/// Queues a presence change (see [`Cluster::set_presence`]).
pub(crate) fn set(cluster: &Cluster, ns: &str, user: &str, sid: &str, present: bool) {
    cluster.writers.push(Op::Set {
        ns: ns.to_owned(),
        user: user.to_owned(),
        sid: sid.to_owned(),
        present,
    });
}

/// After a reconnection: replays the removals Redis missed, then rewrites the entries of every
/// socket this node holds (`(ns, user, sid)`, a user's sockets in connection order).
pub(crate) fn restore(cluster: &Cluster, entries: Vec<(String, String, String)>) {
    let missed = std::mem::take(
        &mut *cluster
            .writers
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner),
    );
    for op in missed {
        cluster.writers.push(op);
    }
    let base = now_micros();
    for (order, (ns, user, sid)) in entries.into_iter().enumerate() {
        cluster.writers.push(Op::Restore {
            ns,
            user,
            sid,
            order: base + order as u128,
        });
    }
}

/// Drains one write queue until the cluster is dropped.
pub(crate) async fn write(cluster: Weak<Cluster>, mut queue: mpsc::UnboundedReceiver<Op>) {
    while let Some(op) = queue.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        let Some(node) = cluster.node_id.clone() else {
            return;
        };
        let connected = cluster.state() == ClusterState::Connected;
        match op {
            Op::Cap { reply, .. } if !connected => {
                let _ = reply.send(None);
            }
            Op::Cap {
                ns,
                user,
                sid,
                cap,
                reply,
            } => {
                let _ = reply.send(check_cap(&cluster, &node, &ns, &user, &sid, cap).await);
            }
            // The rewrite on reconnection covers it.
            Op::Set { present: true, .. } | Op::Restore { .. } if !connected => {}
            Op::Set { present: false, .. } if !connected => keep(&cluster, op),
            op => {
                // Right after Redis returns, the first commands on the command connection can
                // fail while it reconnects: try again a little later.
                let mut result = apply(&cluster, &node, &op).await;
                for pause in RETRIES {
                    if result.is_ok() || cluster.state() != ClusterState::Connected {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                    result = apply(&cluster, &node, &op).await;
                }
                if let Err(e) = result {
                    tracing::debug!(error = %e, "presence not written");
                    if let Op::Set { present: false, .. } = op {
                        keep(&cluster, op);
                    }
                }
            }
        }
    }
}

/// Pauses before the second and third attempts of a presence write or a heartbeat.
const RETRIES: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(200)];

/// Writes one `Set` or `Restore` (a `Cap` is answered by [`check_cap`]).
async fn apply(cluster: &Cluster, node: &str, op: &Op) -> redis::RedisResult<()> {
    let mut conn = cluster.publisher();
    match op {
        Op::Set {
            ns,
            user,
            sid,
            present: true,
        } => {
            conn.hset(presence_key(&cluster.prefix, ns, user), sid, node)
                .await
        }
        Op::Set {
            ns,
            user,
            sid,
            present: false,
        } => {
            // Two commands, not a pipeline: in a Redis Cluster the keys may live on different
            // shards.
            conn.hdel::<_, _, ()>(presence_key(&cluster.prefix, ns, user), sid)
                .await?;
            conn.zrem(
                conns_key(&cluster.prefix, ns, user),
                format!("{node}|{sid}"),
            )
            .await
        }
        Op::Restore {
            ns,
            user,
            sid,
            order,
        } => {
            conn.hset::<_, _, _, ()>(presence_key(&cluster.prefix, ns, user), sid, node)
                .await?;
            redis::cmd("ZADD")
                .arg(conns_key(&cluster.prefix, ns, user))
                .arg("NX")
                .arg(order.to_string())
                .arg(format!("{node}|{sid}"))
                .query_async(&mut conn)
                .await
        }
        Op::Cap { .. } => Ok(()),
    }
}

fn keep(cluster: &Cluster, op: Op) {
    cluster
        .writers
        .pending
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(op);
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
async fn live_nodes(cluster: &Cluster, nodes: &[String]) -> Option<Vec<bool>> {
    let keys: Vec<String> = nodes.iter().map(|n| node_key(&cluster.prefix, n)).collect();
    // MGET: a Redis Cluster connection splits it by shard and reassembles the answer.
    let alive: Vec<Option<i64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut cluster.publisher())
        .await
        .ok()?;
    Some(alive.iter().map(Option::is_some).collect())
}

/// Adds a socket to the user's cluster-wide connection list and returns the `(node, sid)` of the
/// sockets to evict to stay within `cap`, oldest first; `None` when Redis cannot be reached.
///
/// Queued at once, in order with the user's other presence writes (so call it synchronously
/// where the socket is registered); the future only waits for the answer.
pub(crate) fn cap(
    cluster: &Arc<Cluster>,
    ns: &str,
    user: &str,
    sid: &str,
    cap: usize,
) -> impl Future<Output = Evicted> + Send + 'static {
    let (reply, answer) = oneshot::channel();
    cluster.writers.push(Op::Cap {
        ns: ns.to_owned(),
        user: user.to_owned(),
        sid: sid.to_owned(),
        cap,
        reply,
    });
    async move { answer.await.ok().flatten() }
}

/// Entries of dead nodes are dropped first (not atomic, and need not be: dropping them twice
/// is harmless); then one script adds the socket and evicts the oldest beyond the cap,
/// atomically. The script touches only its own key, as scripts in a Redis Cluster must.
async fn check_cap(
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
    let mut conn = cluster.publisher();
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

fn nodes_key(prefix: &str) -> String {
    format!("{prefix}:nodes")
}

fn view_key(prefix: &str, ns: &str, node: &str) -> String {
    format!("{prefix}:{ns}:view:{node}")
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}

/// With each heartbeat: this node's users and their socket counts, per namespace
/// (`{prefix}:{ns}:view:{node}`, a hash expiring after three beats), and the node in the
/// sorted set of nodes by last beat (`{prefix}:nodes`). One key per command, so it works on a
/// Redis Cluster too.
async fn publish_view(cluster: &Cluster) {
    let Some(node) = cluster.node_id.as_deref() else {
        return;
    };
    let ttl = u64::try_from((cluster.heartbeat * 3).as_millis()).unwrap_or(u64::MAX);
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
pub(crate) async fn cluster_view(
    cluster: &Cluster,
    ns: &str,
) -> Option<Vec<(String, Vec<(String, usize)>)>> {
    let mut conn = cluster.publisher();
    let ttl = u64::try_from((cluster.heartbeat * 3).as_millis()).unwrap_or(u64::MAX);
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
