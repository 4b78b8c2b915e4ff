//! The subscription side of a node: one Redis pub/sub connection subscribed to the recipient
//! channels of the sockets this node holds. It reconnects with backoff and resubscribes.

use std::collections::HashMap;
use std::sync::Weak;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::{Cluster, ClusterState};

/// A change to the set of channels this node wants.
#[derive(Debug)]
pub(crate) enum SubCmd {
    Subscribe(String),
    Unsubscribe(String),
}

/// Longest pause between two reconnection attempts: remote delivery resumes within about
/// this long after Redis comes back.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(500);
const MIN_BACKOFF: Duration = Duration::from_millis(25);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Channels per SUBSCRIBE command when resubscribing.
const BATCH: usize = 512;

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
    client: redis::Client,
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
        let connected = tokio::time::timeout(CONNECT_TIMEOUT, client.get_async_pubsub()).await;
        match connected {
            Ok(Ok(pubsub)) => {
                let (mut sink, mut stream) = pubsub.split();
                let channels: Vec<String> = wanted.keys().cloned().collect();
                let mut ok = true;
                for batch in channels.chunks(BATCH) {
                    if let Err(e) = sink.subscribe(batch).await {
                        tracing::warn!(error = %e, "resubscribing to Redis failed");
                        ok = false;
                        break;
                    }
                }
                if ok {
                    if attempts > 0 {
                        tracing::info!(
                            attempts,
                            channels = wanted.len(),
                            "Redis pub/sub reconnected"
                        );
                    }
                    attempts = 0;
                    backoff = MIN_BACKOFF;
                    state.send_replace(ClusterState::Connected);
                    if let Some(cluster) = cluster.upgrade() {
                        cluster.on_connected();
                    }
                    loop {
                        tokio::select! {
                            msg = stream.next() => {
                                let Some(msg) = msg else { break };
                                let Some(cluster) = cluster.upgrade() else { return };
                                let delivering = cluster.receive(msg.get_channel_name(), msg.get_payload_bytes());
                                drop(cluster);
                                if let Some(delivering) = delivering {
                                    delivering.await;
                                }
                            }
                            cmd = cmds.recv() => {
                                let Some(cmd) = cmd else { return };
                                let result = match (apply(&mut wanted, &cmd), &cmd) {
                                    (Some(true), SubCmd::Subscribe(ch)) => sink.subscribe(ch).await,
                                    (Some(false), SubCmd::Unsubscribe(ch)) => sink.unsubscribe(ch).await,
                                    _ => Ok(()),
                                };
                                if let Err(e) = result {
                                    tracing::warn!(error = %e, "Redis subscription change failed");
                                    break;
                                }
                            }
                        }
                    }
                }
                tracing::warn!("lost the Redis pub/sub connection; reconnecting");
            }
            Ok(Err(e)) => {
                if attempts == 0 || attempts.is_power_of_two() {
                    tracing::warn!(error = %e, attempts, "cannot reach Redis; retrying");
                }
            }
            Err(_) => {
                if attempts == 0 || attempts.is_power_of_two() {
                    tracing::warn!(attempts, "connecting to Redis timed out; retrying");
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
