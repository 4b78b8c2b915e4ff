//! Acks across nodes: a node asks the nodes holding the other recipients of an
//! `emit_with_ack`, and each answers with its sockets' acks on the asking node's own channel,
//! `{prefix}:acks:{node}`, which every node follows from the start.
//!
//! An answer is JSON, signed like an envelope when the cluster has a key:
//! `{"v": 1, "request": "…", "node": "<answering node>", "acks": [SocketAck, …]}`.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use super::config::ClusterState;
use super::guard::Refusal;
use super::node::Cluster;
use super::sign::open;
use super::transport::{Incoming, Link};
use crate::acks::{ACK_GRACE, SocketAck};
use crate::protocol::{Target, redis_channel};
use crate::remote::{Order, RemoteFuture};

/// The channel on which a node receives the answers to its requests.
pub(super) fn acks_channel(prefix: &str, node: &str) -> String {
    format!("{prefix}:acks:{node}")
}

/// The requests of this node still waiting for answers: request id → where answers go.
pub(super) type Pending = Mutex<HashMap<String, mpsc::UnboundedSender<Vec<SocketAck>>>>;

#[derive(Serialize, Deserialize)]
struct Answer {
    v: u32,
    request: String,
    node: String,
    acks: Vec<SocketAck>,
}

/// What a request asks of the nodes.
enum Ask<'a> {
    Emit {
        event: &'a str,
        data: &'a RawValue,
        timeout_ms: u64,
    },
    Member {
        channel: &'a str,
        join: bool,
    },
    Fetch,
}

/// The pub/sub link on which a process that serves no sockets receives answers.
pub(super) struct Listener {
    _link: Link,
    reader: tokio::task::JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Forgets a request when its caller is done (or gone).
struct Forget<'a>(&'a Pending, &'a str);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(self.1);
    }
}

impl Cluster {
    /// See `Remote::emit_with_ack`.
    pub(super) async fn emit_with_ack(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        event: &str,
        data: &RawValue,
        timeout: Duration,
    ) -> Option<Vec<SocketAck>> {
        let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
        let ask = Ask::Emit {
            event,
            data,
            timeout_ms,
        };
        self.ask(ns, targets, except, timeout + ACK_GRACE, ask)
            .await
    }

    /// See `Remote::membership`.
    pub(super) async fn membership(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        channel: &str,
        join: bool,
        timeout: Duration,
    ) -> Option<Vec<SocketAck>> {
        let ask = Ask::Member { channel, join };
        self.ask(ns, targets, except, timeout, ask).await
    }

    /// See `Remote::fetch`.
    pub(super) async fn fetch(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        timeout: Duration,
    ) -> Option<Vec<SocketAck>> {
        self.ask(ns, targets, except, timeout, Ask::Fetch).await
    }

    /// Publishes an order that the nodes holding `targets` answer on this process's ack
    /// channel, and collects the answers until every node that received it answered or
    /// `wait` passed.
    async fn ask<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        wait: Duration,
        ask: Ask<'a>,
    ) -> Option<Vec<SocketAck>> {
        if self.subs.is_some() && self.state() != ClusterState::Connected {
            return None;
        }
        let reply_to = self.reply_address().await?;
        let request = self.next_message_id();
        let (tx, mut answers) = mpsc::unbounded_channel();
        self.pending_acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(request.clone(), tx);
        let _forget = Forget(&self.pending_acks, &request);
        let deadline = tokio::time::Instant::now() + wait;
        let order = match ask {
            Ask::Emit {
                event,
                data,
                timeout_ms,
            } => Order::EmitWithAck {
                event,
                data,
                request: &request,
                reply_to: &reply_to,
                timeout_ms,
            },
            Ask::Fetch => Order::Fetch {
                request: &request,
                reply_to: &reply_to,
            },
            Ask::Member { channel, join } => Order::Member {
                channel,
                join,
                request: &request,
                reply_to: &reply_to,
            },
        };
        let reached = self.publish(ns, targets, except, order).await?;
        // This node's own subscriptions were counted too, but it does not answer itself.
        let own = match &self.subs {
            Some((wanted, _)) => targets
                .iter()
                .filter(|t| wanted.contains(&redis_channel(&self.prefix, ns, t)))
                .count(),
            None => 0,
        };
        // A node following several of the targets is counted once per target but answers
        // once: then this waits for the deadline.
        let mut expected = reached.saturating_sub(own);
        let mut acks = Vec::new();
        while expected > 0 {
            match tokio::time::timeout_at(deadline, answers.recv()).await {
                Ok(Some(batch)) => {
                    acks.extend(batch);
                    expected -= 1;
                }
                _ => break,
            }
        }
        Some(acks)
    }

    /// See `Remote::reply_acks`.
    pub(super) fn reply_acks(
        &self,
        to: &str,
        request: &str,
        acks: Vec<SocketAck>,
    ) -> RemoteFuture<'static, ()> {
        let answer = Answer {
            v: 1,
            request: request.to_owned(),
            node: self.node_id.clone().unwrap_or_default(),
            acks,
        };
        let message = serde_json::to_vec(&answer).map(|json| self.seal_bytes(json));
        let channel = acks_channel(&self.prefix, to);
        let publishes = self.publishes.clone();
        Box::pin(async move {
            let message = match message {
                Ok(Ok(m)) => m,
                Ok(Err(e)) => return tracing::warn!(error = %e, "acks not sent"),
                Err(e) => return tracing::warn!(error = %e, "acks not sent"),
            };
            if let Err(e) = publishes.publish(vec![channel], message).await {
                tracing::warn!(error = %e, "acks not sent: Redis");
            }
        })
    }

    /// Where answers to this process's requests go: a node's ack channel (which it follows
    /// from the start), or, for a process that serves no sockets, one it starts following now
    /// on a pub/sub link of its own. `None` when that link cannot be made.
    async fn reply_address(&self) -> Option<String> {
        if let Some(node) = self.node_id.as_deref() {
            return Some(node.to_owned());
        }
        let mut listener = self.replies.lock().await;
        let alive = listener.as_ref().is_some_and(|l| !l.reader.is_finished());
        if !alive {
            let topology = self.topology.as_ref()?;
            let channel = acks_channel(&self.prefix, &self.origin);
            let (mut link, mut feed) = match topology.subscribe_link().await {
                Ok(link) => link,
                Err(e) => {
                    tracing::warn!(error = %e, "no link for answers from the nodes");
                    return None;
                }
            };
            if let Err(e) = link.subscribe(std::slice::from_ref(&channel)).await {
                tracing::warn!(error = %e, "no link for answers from the nodes");
                return None;
            }
            let cluster = self.me.clone();
            let reader = tokio::spawn(async move {
                loop {
                    match feed.next().await {
                        Incoming::Message { channel, payload } => {
                            let Some(cluster) = cluster.upgrade() else {
                                return;
                            };
                            cluster.receive_acks(&channel, &payload);
                        }
                        Incoming::Dropped(_) => {}
                        Incoming::Lost => return,
                    }
                }
            });
            *listener = Some(Listener {
                _link: link,
                reader,
            });
        }
        Some(self.origin.clone())
    }

    /// Takes an answer that arrived on this node's ack channel.
    pub(super) fn receive_acks(&self, channel: &str, message: &[u8]) {
        let answer = match open(self.guard.key.as_ref(), message) {
            Ok(json) => serde_json::from_slice::<Answer>(json).ok(),
            Err(why) => {
                self.guard.reject(channel, why.into());
                return;
            }
        };
        let Some(answer) = answer.filter(|a| a.v == 1) else {
            self.guard
                .reject(channel, Refusal::Malformed("not an ack answer"));
            return;
        };
        let pending = self
            .pending_acks
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Gone: the caller's deadline passed.
        if let Some(tx) = pending.get(&answer.request) {
            let _ = tx.send(answer.acks);
        }
    }
}
