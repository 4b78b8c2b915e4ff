//! The node's heartbeat: a key that expires after three missed beats, so a crashed node's
//! entries stop counting, refreshed with the node's part of the cluster view.

use std::sync::Weak;

use super::keys::{lifetime_ms, node_key};
use super::node::Cluster;
use super::presence::publish_view;
use super::transport::RETRIES;
use super::writer::rewrite_presence;

/// Refreshes this node's heartbeat (retrying briefly); returns whether its key still existed,
/// `None` when Redis could not be reached.
pub(crate) async fn beat(cluster: &Cluster) -> Option<bool> {
    let node = cluster.node_id.as_deref()?;
    let ttl = lifetime_ms(cluster.heartbeat);
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
/// rewrites the node's presence, and so does a beat after presence writes were dropped.
pub(crate) async fn heartbeat(cluster: Weak<Cluster>) {
    let mut first = true;
    loop {
        let every = {
            let Some(cluster) = cluster.upgrade() else {
                return;
            };
            let _beating = cluster.beating.lock().await;
            if cluster.is_leaving() {
                return;
            }
            let alive = beat(&cluster).await;
            if alive.is_some() {
                publish_view(&cluster).await;
            }
            if alive == Some(false) && !first {
                tracing::info!(
                    "this node's heartbeat had expired in Redis; rewriting its presence"
                );
                cluster.writers.take_overflow();
                rewrite_presence(&cluster);
            } else if alive.is_some() && cluster.writers.take_overflow() {
                // Presence writes were dropped (their queues were full): repair.
                rewrite_presence(&cluster);
            }
            first = false;
            cluster.heartbeat
        };
        tokio::time::sleep(every).await;
    }
}
