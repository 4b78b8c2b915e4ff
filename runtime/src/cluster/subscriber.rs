//! The subscription side of a node: one Redis pub/sub link (a connection to a server, or one
//! per shard of a Redis Cluster) subscribed to the recipient channels of the sockets this node
//! holds. It reconnects with backoff and resubscribes.

use std::collections::HashSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::config::ClusterState;
use super::guard::Guard;
use super::heartbeat::beat;
use super::inbox::{inbox, read};
use super::node::Cluster;
use super::topology::Topology;
use super::transport::{Incoming, Link};
use super::wanted::Wanted;
use super::writer::rewrite_presence;

/// Longest pause between two reconnection attempts: remote delivery resumes within about
/// this long after Redis comes back.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(500);
const MIN_BACKOFF: Duration = Duration::from_millis(25);

/// Aborts the link's reader when the loop lets the link go.
struct Reader(tokio::task::JoinHandle<()>);

impl Drop for Reader {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the subscriber works from: the channels to follow, the wake-up the cluster sends when
/// they change (closed when the cluster is dropped), and the bounds of what it receives.
pub(crate) struct Follow {
    pub(crate) wanted: Arc<Wanted>,
    pub(crate) wake: mpsc::Receiver<()>,
    pub(crate) guard: Arc<Guard>,
    /// Becomes `true` when the node leaves: the subscriber stops (its link closes).
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Makes the link follow the channels whose wish changed; `Err` when Redis failed.
async fn apply(
    link: &mut Link,
    wanted: &Wanted,
    subscribed: &mut HashSet<String>,
) -> redis::RedisResult<()> {
    let (changes, generation) = wanted.changes();
    // In batches, not one round trip per channel: a reconnect storm brings thousands of new
    // recipients at once, and the loop delivers nothing while it waits here. (Each channel is
    // in `changes` once, with whether it is wanted now, so the order between them is free.)
    let (mut add, mut gone) = (Vec::new(), Vec::new());
    for (channel, yes) in changes {
        if yes && !subscribed.contains(&channel) {
            add.push(channel);
        } else if !yes && subscribed.contains(&channel) {
            gone.push(channel);
        }
    }
    if !add.is_empty() {
        link.subscribe(&add).await?;
        subscribed.extend(add);
    }
    if !gone.is_empty() {
        link.unsubscribe(&gone).await?;
        for channel in &gone {
            subscribed.remove(channel);
        }
    }
    wanted.mark_applied(generation);
    Ok(())
}

/// Runs until the cluster is dropped.
pub(crate) async fn run(
    topology: Topology,
    mut follow: Follow,
    cluster: Weak<Cluster>,
    state: watch::Sender<ClusterState>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut attempts: u32 = 0;
    loop {
        match topology.subscribe_link().await {
            Ok((mut link, feed)) => {
                let (channels, generation) = follow.wanted.all();
                match link.subscribe(&channels).await {
                    Err(e) => {
                        if attempts == 0 || attempts.is_power_of_two() {
                            tracing::warn!(error = %e, attempts, "resubscribing to Redis failed; retrying");
                        }
                    }
                    Ok(()) => {
                        let attempts_before = attempts;
                        if attempts > 0 {
                            tracing::info!(
                                attempts,
                                channels = channels.len(),
                                "Redis pub/sub reconnected"
                            );
                        }
                        follow.wanted.mark_applied(generation);
                        let mut subscribed: HashSet<String> = channels.into_iter().collect();
                        let (tx, mut outlet) = inbox(follow.guard.clone());
                        let _reader = Reader(tokio::spawn(read(feed, tx)));
                        attempts = 0;
                        backoff = MIN_BACKOFF;
                        if let Some(cluster) = cluster.upgrade() {
                            // The heartbeat before the presence is rewritten: entries of a node
                            // with no heartbeat read as dead (and are removed) elsewhere.
                            let _beating = cluster.beating.lock().await;
                            if !cluster.is_leaving() {
                                beat(&cluster).await;
                            }
                        }
                        state.send_replace(ClusterState::Connected);
                        crate::metrics::cluster_connected(true);
                        if let Some(cluster) = cluster.upgrade() {
                            rewrite_presence(&cluster);
                            if attempts_before > 0 {
                                // Recorded emits published while the link was down never came.
                                cluster.resync_all();
                            }
                        }
                        loop {
                            tokio::select! {
                                incoming = outlet.recv() => match incoming {
                                    Some(Incoming::Message { channel, payload }) => {
                                        let Some(node) = cluster.upgrade() else { return };
                                        let delivering = node.receive(&channel, &payload);
                                        if follow.guard.take_recorded_lost() {
                                            node.resync_all();
                                        }
                                        drop(node);
                                        if let Some(delivering) = delivering {
                                            delivering.await;
                                        }
                                    }
                                    Some(Incoming::Dropped(channel)) => {
                                        // A slot moved: follow the channel to its new shard.
                                        if follow.wanted.contains(&channel)
                                            && let Err(e) = link.subscribe(&[channel]).await
                                        {
                                            tracing::warn!(error = %e, "Redis subscription change failed");
                                            break;
                                        }
                                    }
                                    Some(Incoming::Lost) | None => break,
                                },
                                _ = follow.shutdown.changed() => return,
                                wake = follow.wake.recv() => {
                                    if wake.is_none() {
                                        return;
                                    }
                                    if let Err(e) = apply(&mut link, &follow.wanted, &mut subscribed).await {
                                        tracing::warn!(error = %e, "Redis subscription change failed");
                                        break;
                                    }
                                }
                            }
                        }
                        tracing::warn!("lost the Redis pub/sub connection; reconnecting");
                    }
                }
            }
            Err(e) => {
                if attempts == 0 || attempts.is_power_of_two() {
                    tracing::warn!(error = %e, attempts, "cannot reach Redis; retrying");
                }
            }
        }
        attempts = attempts.saturating_add(1);
        state.send_replace(ClusterState::Reconnecting { attempts });
        crate::metrics::cluster_connected(false);
        // Changes meanwhile are kept in `wanted`: the next link subscribes to all of it. Stop
        // waiting early only when the cluster is dropped.
        let sleep = tokio::time::sleep(jittered(backoff));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                wake = follow.wake.recv() => if wake.is_none() { return },
                _ = follow.shutdown.changed() => return,
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// `backoff` scaled by a random factor in [0.5, 1.0]: nodes that lost Redis together do not all
/// come back in the same millisecond. (Not a retry crate such as `backon`: the wait also ends on
/// a wake-up or a shutdown, which this loop selects on.)
fn jittered(backoff: Duration) -> Duration {
    let byte = josekit::util::random_bytes(1)
        .first()
        .copied()
        .unwrap_or(u8::MAX);
    backoff.mul_f64(0.5 + f64::from(byte) / 510.0)
}
