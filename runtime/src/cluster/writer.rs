//! Presence writes, in order: a few queues, each drained by one task, a user always on the same
//! queue. So a socket's "present" can never overtake its "gone" (a stale entry that would keep a
//! user online), and a cap check never overtakes the departure of the socket it counts. While
//! Redis is away, writes are not attempted: removals are kept and replayed on reconnection,
//! before the node rewrites the presence of the sockets it holds then.

use std::sync::Weak;

use redis::AsyncCommands;
use tokio::sync::mpsc;

use super::cap::check_cap;
use super::config::ClusterState;
use super::keys::{conns_key, presence_key};
use super::node::Cluster;
use super::queue::Op;
use super::roster;
use super::transport::RETRIES;

/// Rewrites this node's presence after a reconnection (or when its heartbeat had expired): it may
/// have changed, or been lost, while Redis was away.
pub(crate) fn rewrite_presence(cluster: &Cluster) {
    cluster.writers.restore(cluster.held_sockets());
    for ns in cluster.roster_namespaces() {
        cluster.rewrite_roster(&ns);
    }
}

/// Drains one write queue until the cluster is dropped.
pub(crate) async fn write(cluster: Weak<Cluster>, mut queue: mpsc::UnboundedReceiver<Op>) {
    while let Some(op) = queue.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if cluster.is_leaving() {
            // `leave` removed this node's presence; nothing more is written.
            return;
        }
        cluster.writers.taken(&op);
        let Some(node) = cluster.node_id.clone() else {
            return;
        };
        let connected = cluster.state() == ClusterState::Connected;
        match op {
            Op::Flush { reply } => {
                let _ = reply.send(());
            }
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
            Op::Set { present: true, .. }
            | Op::Member { present: true, .. }
            | Op::Restore { .. }
                if !connected => {}
            Op::Set { present: false, .. } | Op::Member { present: false, .. } if !connected => {
                cluster.writers.keep(op);
            }
            Op::Member {
                ns,
                group,
                user,
                sid,
                present,
            } => {
                let mut result =
                    roster::write(&cluster, &node, &ns, &group, &user, &sid, present).await;
                for pause in RETRIES {
                    if result.is_ok() || cluster.state() != ClusterState::Connected {
                        break;
                    }
                    tokio::time::sleep(pause).await;
                    result =
                        roster::write(&cluster, &node, &ns, &group, &user, &sid, present).await;
                }
                match result {
                    Ok(Some(arrival)) => cluster.announce(&ns, arrival),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::debug!(error = %e, ns, "presence group not written");
                        if !present {
                            cluster.writers.keep(Op::Member {
                                ns,
                                group,
                                user,
                                sid,
                                present,
                            });
                        }
                    }
                }
            }
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
                        cluster.writers.keep(op);
                    }
                }
            }
        }
    }
}

/// Writes one `Set` or `Restore` (a `Cap` is answered by [`check_cap`]).
async fn apply(cluster: &Cluster, node: &str, op: &Op) -> redis::RedisResult<()> {
    let mut conn = cluster.background();
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
        Op::Cap { .. } | Op::Member { .. } | Op::Flush { .. } => Ok(()),
    }
}
