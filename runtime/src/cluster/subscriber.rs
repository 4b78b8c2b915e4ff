//! The subscription side of a node: one Redis pub/sub link (a connection to a server, or one
//! per shard of a Redis Cluster) subscribed to the recipient channels of the sockets this node
//! holds. It reconnects with backoff and resubscribes.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::config::ClusterState;
use super::heartbeat::beat;
use super::node::{Cluster, SubCmd};
use super::transport::{Incoming, Topology};
use super::writer::rewrite_presence;

/// Longest pause between two reconnection attempts: remote delivery resumes within about
/// this long after Redis comes back.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(500);
const MIN_BACKOFF: Duration = Duration::from_millis(25);

fn apply(wanted: &mut HashMap<String, usize>, cmd: &SubCmd) -> Option<bool> {
    match cmd {
        SubCmd::Subscribe(ch) => {
            let n = wanted.entry(ch.clone()).or_default();
            *n += 1;
            (*n == 1).then_some(true)
        }
        SubCmd::Unsubscribe(ch) => {
            let n = wanted.get_mut(ch)?;
            *n -= 1;
            if *n == 0 {
                wanted.remove(ch);
                Some(false)
            } else {
                None
            }
        }
    }
}

/// Runs until the cluster is dropped.
pub(crate) async fn run(
    topology: Topology,
    mut cmds: mpsc::UnboundedReceiver<SubCmd>,
    cluster: Weak<Cluster>,
    state: watch::Sender<ClusterState>,
    broadcast_channels: Vec<String>,
) {
    let mut wanted: HashMap<String, usize> =
        broadcast_channels.into_iter().map(|c| (c, 1)).collect();
    let mut backoff = MIN_BACKOFF;
    let mut attempts: u32 = 0;
    loop {
        match topology.subscribe_link().await {
            Ok(mut link) => {
                let channels: Vec<String> = wanted.keys().cloned().collect();
                match link.subscribe(&channels).await {
                    Err(e) => {
                        if attempts == 0 || attempts.is_power_of_two() {
                            tracing::warn!(error = %e, attempts, "resubscribing to Redis failed; retrying");
                        }
                    }
                    Ok(()) => {
                        if attempts > 0 {
                            tracing::info!(
                                attempts,
                                channels = wanted.len(),
                                "Redis pub/sub reconnected"
                            );
                        }
                        attempts = 0;
                        backoff = MIN_BACKOFF;
                        if let Some(cluster) = cluster.upgrade() {
                            // The heartbeat before the presence is rewritten: entries of a node
                            // with no heartbeat read as dead (and are removed) elsewhere.
                            beat(&cluster).await;
                        }
                        state.send_replace(ClusterState::Connected);
                        if let Some(cluster) = cluster.upgrade() {
                            rewrite_presence(&cluster);
                        }
                        loop {
                            tokio::select! {
                                incoming = link.next() => match incoming {
                                    Incoming::Message { channel, payload } => {
                                        let Some(cluster) = cluster.upgrade() else { return };
                                        let delivering = cluster.receive(&channel, &payload);
                                        drop(cluster);
                                        if let Some(delivering) = delivering {
                                            delivering.await;
                                        }
                                    }
                                    Incoming::Dropped(channel) => {
                                        // A slot moved: follow the channel to its new shard.
                                        if wanted.contains_key(&channel)
                                            && let Err(e) = link.subscribe(&[channel]).await
                                        {
                                            tracing::warn!(error = %e, "Redis subscription change failed");
                                            break;
                                        }
                                    }
                                    Incoming::Lost => break,
                                },
                                cmd = cmds.recv() => {
                                    let Some(cmd) = cmd else { return };
                                    let result = match (apply(&mut wanted, &cmd), &cmd) {
                                        (Some(true), SubCmd::Subscribe(ch)) => {
                                            link.subscribe(std::slice::from_ref(ch)).await
                                        }
                                        (Some(false), SubCmd::Unsubscribe(ch)) => link.unsubscribe(ch).await,
                                        _ => Ok(()),
                                    };
                                    if let Err(e) = result {
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
        // Wait, still recording subscription changes so the resubscription is complete.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                cmd = cmds.recv() => {
                    let Some(cmd) = cmd else { return };
                    apply(&mut wanted, &cmd);
                }
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
