//! Distribution over Redis: an emit reaches the right sockets on every node, and only the nodes
//! that hold a recipient receive it.
//!
//! Each node subscribes to the Redis channels of the recipients it holds —
//! `{prefix}:{ns}:user:{id}`, `{prefix}:{ns}:channel:{name}`, `{prefix}:{ns}:client:{key}` —
//! subscribing when its first local socket of a recipient appears and unsubscribing when the
//! last leaves, plus `{prefix}:{ns}:all` for broadcasts. An emit delivers to the local sockets
//! and publishes one [envelope](self#envelope) on each target's channel; PUBLISH's answer tells
//! how many nodes received it. A node ignores its own messages, so nothing is delivered twice.
//!
//! The same code runs on one Redis server (PUBLISH / SUBSCRIBE) and on a Redis Cluster
//! (sharded pub/sub: SPUBLISH / SSUBSCRIBE, so each channel lives on one shard); the difference
//! is confined to `transport`.

mod envelope;
mod presence;
mod subscriber;
mod transport;

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::{mpsc, watch};

pub use envelope::VERSION as ENVELOPE_VERSION;
pub(crate) use envelope::{Body, Envelope, channel};
pub(crate) use subscriber::SubCmd;
use transport::{Conn, Topology};

use crate::registry::Target;

/// The default prefix of tether's Redis keys and channels.
pub const DEFAULT_PREFIX: &str = "tether";

/// How a node reaches Redis: one server, or a Redis Cluster.
///
/// # Redis Cluster
///
/// With a Redis Cluster (Redis ≥ 7), give the seed nodes as
/// `redis+cluster://host:port,host:port` (with `user:password@` before the hosts if needed), or
/// with [`ClusterConfig::redis_cluster`]. Tether then uses **sharded
/// pub/sub**: each recipient channel lives on the shard that owns its slot, publishes are
/// `SPUBLISH`, subscriptions `SSUBSCRIBE`, so a message crosses only the shard of its channel
/// (plain `PUBLISH` in a cluster is broadcast to every shard). This uses redis-rs's
/// `cluster_async::ClusterConnection` with RESP3 push messages (`ssubscribe`, and the
/// `push_sender` of `ClusterClientBuilder`). Everything else (presence, the connection cap,
/// kicks, heartbeats) works the same; the cap's script only touches its own key, as cluster
/// scripts must.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub(crate) url: String,
    pub(crate) seeds: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) start_degraded: bool,
    pub(crate) heartbeat: Duration,
}

impl ClusterConfig {
    /// Redis at `url`: `redis://host:port/db` for one server, `redis+cluster://h1:p1,h2:p2` for
    /// a Redis Cluster; with the default prefix.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            seeds: Vec::new(),
            prefix: DEFAULT_PREFIX.to_owned(),
            start_degraded: false,
            heartbeat: Duration::from_secs(2),
        }
    }

    /// A Redis Cluster reached through these seed nodes (`redis://host:port` each; one is
    /// enough, the others are found from it). Uses sharded pub/sub (Redis ≥ 7).
    pub fn redis_cluster<I>(seeds: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let seeds: Vec<String> = seeds.into_iter().map(Into::into).collect();
        Self {
            url: format!("Redis Cluster [{}]", seeds.join(", ")),
            seeds,
            ..Self::new("")
        }
    }

    fn topology(&self) -> Result<Topology, ClusterError> {
        if self.seeds.is_empty() {
            Topology::parse(&self.url)
        } else {
            Ok(Topology::Cluster(self.seeds.clone()))
        }
    }

    /// The prefix of every key and channel (several apps can share one Redis).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Start even when Redis is unreachable (serving local sockets, connecting in the
    /// background) instead of failing `build()`.
    #[must_use]
    pub fn start_degraded(mut self, yes: bool) -> Self {
        self.start_degraded = yes;
        self
    }

    /// How often the node tells Redis it is alive; its presence entries expire after three
    /// missed beats (a crashed node stops counting within that time).
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every.max(Duration::from_millis(100));
        self
    }
}

/// The node's link to Redis, as the app can watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterState {
    /// Embedded single-node mode: no Redis.
    Embedded,
    /// Subscribed and publishing.
    Connected,
    /// Redis is unreachable; local delivery goes on, remote delivery resumes on reconnect.
    Reconnecting {
        /// Failed attempts so far.
        attempts: u32,
    },
}

/// Why the cluster could not be joined.
#[derive(Debug)]
pub struct ClusterError(pub(crate) String);

impl fmt::Display for ClusterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ClusterError {}

/// What delivering one envelope still has to do; awaited before the next one, so a node
/// delivers a publisher's messages in order.
pub(crate) type Delivering = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;
/// Receives the envelopes of one namespace on this node.
pub(crate) type Sink = Box<dyn Fn(&Envelope<'_>) -> Delivering + Send + Sync>;
/// Lists the `(user, socket id)` pairs a namespace holds, to rewrite presence after an outage.
pub(crate) type PresenceSource = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

struct Namespaced {
    sink: Sink,
    presence: PresenceSource,
}

/// A node's (or a Redis-only emitter's) connection to the cluster.
pub(crate) struct Cluster {
    pub(crate) node_id: Option<String>,
    /// Prefixes the ids of the messages this process publishes: the node id, or a random id
    /// for a Redis-only emitter, so two processes never number messages alike.
    origin: String,
    pub(crate) prefix: String,
    pub(crate) heartbeat: Duration,
    publisher: Conn,
    subs: Option<mpsc::UnboundedSender<SubCmd>>,
    state: watch::Receiver<ClusterState>,
    namespaces: RwLock<HashMap<String, Namespaced>>,
    seq: AtomicU64,
    seen: Mutex<Seen>,
    received: AtomicU64,
    /// Presence writes, in order per user (see `presence`).
    writers: presence::Writers,
}

/// What a node exchanged with the cluster since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Messages published (emits, kicks).
    pub published: u64,
    /// Messages received from other nodes (or Redis-only emitters) and acted on.
    pub received: u64,
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cluster")
            .field("node_id", &self.node_id)
            .field("prefix", &self.prefix)
            .field("state", &*self.state.borrow())
            .finish_non_exhaustive()
    }
}

/// Ids of recently delivered multi-target messages.
#[derive(Default)]
struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    const CAP: usize = 8192;

    fn first_time(&mut self, id: &str) -> bool {
        if self.set.contains(id) {
            return false;
        }
        if self.order.len() == Self::CAP
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.set.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        true
    }
}

fn random_id() -> String {
    josekit::util::random_bytes(8)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cluster {
    /// Joins the cluster as a node serving `namespaces`.
    pub(crate) async fn join(
        config: &ClusterConfig,
        namespaces: &[&'static str],
    ) -> Result<Arc<Self>, ClusterError> {
        let topology = config.topology()?;
        let publisher = match topology.connect(false).await {
            Ok(p) => p,
            Err(e) if !config.start_degraded => {
                return Err(ClusterError(format!(
                    "cannot reach Redis at {}: {e} (set `start_degraded` to start anyway)",
                    config.url
                )));
            }
            Err(e) => {
                tracing::warn!(error = %e, "Redis unreachable at start; starting degraded");
                topology
                    .connect(true)
                    .await
                    .map_err(|e| ClusterError(format!("Redis client: {e}")))?
            }
        };
        let (subs_tx, subs_rx) = mpsc::unbounded_channel();
        let (state_tx, state_rx) = watch::channel(ClusterState::Reconnecting { attempts: 0 });
        let node_id = random_id();
        let (writers, queues) = presence::Writers::new();
        let cluster = Arc::new(Self {
            node_id: Some(node_id.clone()),
            origin: node_id.clone(),
            prefix: config.prefix.clone(),
            heartbeat: config.heartbeat,
            publisher,
            subs: Some(subs_tx),
            state: state_rx,
            namespaces: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            seen: Mutex::new(Seen::default()),
            received: AtomicU64::new(0),
            writers,
        });
        let broadcasts = namespaces
            .iter()
            .map(|ns| channel(&config.prefix, ns, &Target::All))
            .collect();
        tracing::info!(
            node = node_id,
            redis = topology.describe(),
            "joined the tether cluster"
        );
        tokio::spawn(subscriber::run(
            topology,
            subs_rx,
            Arc::downgrade(&cluster),
            state_tx,
            broadcasts,
        ));
        tokio::spawn(presence::heartbeat(Arc::downgrade(&cluster)));
        for queue in queues {
            tokio::spawn(presence::write(Arc::downgrade(&cluster), queue));
        }
        Ok(cluster)
    }

    /// A publisher only: no subscriptions, no node id (a worker or CLI). `url` as in
    /// [`ClusterConfig::new`].
    pub(crate) async fn publisher_only(url: &str, prefix: &str) -> Result<Arc<Self>, ClusterError> {
        let publisher = Topology::parse(url)?
            .connect(false)
            .await
            .map_err(|e| ClusterError(format!("cannot reach Redis at {url}: {e}")))?;
        let (_, state) = watch::channel(ClusterState::Connected);
        Ok(Arc::new(Self {
            node_id: None,
            origin: format!("emitter-{}", random_id()),
            prefix: prefix.to_owned(),
            heartbeat: Duration::from_secs(2),
            publisher,
            subs: None,
            state,
            namespaces: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            seen: Mutex::new(Seen::default()),
            received: AtomicU64::new(0),
            writers: presence::Writers::none(),
        }))
    }

    pub(crate) fn register(&self, ns: &str, sink: Sink, presence: PresenceSource) {
        self.namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(ns.to_owned(), Namespaced { sink, presence });
    }

    /// Counters of what this node exchanged.
    pub(crate) fn stats(&self) -> ClusterStats {
        ClusterStats {
            published: self.seq.load(Ordering::Relaxed),
            received: self.received.load(Ordering::Relaxed),
        }
    }

    /// The current link state.
    pub(crate) fn state(&self) -> ClusterState {
        *self.state.borrow()
    }

    /// A receiver that sees every state change.
    pub(crate) fn watch(&self) -> watch::Receiver<ClusterState> {
        self.state.clone()
    }

    /// This node starts (`true`) or stops holding a recipient.
    pub(crate) fn follow(&self, ns: &str, target: &Target, yes: bool) {
        if let Some(subs) = &self.subs {
            let ch = channel(&self.prefix, ns, target);
            let _ = subs.send(if yes {
                SubCmd::Subscribe(ch)
            } else {
                SubCmd::Unsubscribe(ch)
            });
        }
    }

    pub(crate) fn publisher(&self) -> Conn {
        self.publisher.clone()
    }

    /// Publishes an envelope on each target's channel; returns how many node subscriptions
    /// received it, or `None` when Redis could not be reached.
    ///
    /// While a node is reconnecting to Redis it does not try: the emit returns at once (local
    /// delivery is already done) instead of waiting on a connection that is known to be down.
    pub(crate) async fn publish(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        body: Body<'_>,
    ) -> Option<usize> {
        if self.subs.is_some() && self.state() != ClusterState::Connected {
            return None;
        }
        let id = format!(
            "{}-{}",
            self.origin,
            self.seq.fetch_add(1, Ordering::Relaxed)
        );
        let envelope = Envelope::new(
            &id,
            self.node_id.as_deref(),
            ns,
            targets.to_vec(),
            except.to_vec(),
            body,
        );
        let bytes = match serde_json::to_vec(&envelope) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "envelope did not serialise");
                return None;
            }
        };
        let channels: Vec<String> = targets
            .iter()
            .map(|target| channel(&self.prefix, ns, target))
            .collect();
        match self.publisher.publish(&channels, &bytes).await {
            Ok(nodes) => Some(nodes),
            Err(e) => {
                tracing::warn!(error = %e, ns, "publish to Redis failed; remote sockets missed this emit");
                None
            }
        }
    }

    /// An emit's payload, serialised once, as the envelope carries it.
    pub(crate) fn raw<T: serde::Serialize + ?Sized>(
        payload: &T,
    ) -> Result<Box<RawValue>, serde_json::Error> {
        serde_json::value::to_raw_value(payload)
    }

    fn receive(&self, channel_name: &str, payload: &[u8]) -> Option<Delivering> {
        let envelope: Envelope<'_> = match serde_json::from_slice(payload) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(channel = channel_name, error = %e, "ignoring a malformed envelope");
                return None;
            }
        };
        if envelope.v != envelope::VERSION {
            tracing::warn!(
                channel = channel_name,
                v = envelope.v,
                "ignoring an envelope of another version"
            );
            return None;
        }
        if envelope.node.is_some() && envelope.node == self.node_id.as_deref() {
            return None;
        }
        if envelope.targets.len() > 1
            && !self
                .seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .first_time(envelope.id)
        {
            return None;
        }
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match namespaces.get(envelope.ns) {
            Some(ns) => {
                self.received.fetch_add(1, Ordering::Relaxed);
                Some((ns.sink)(&envelope))
            }
            None => {
                tracing::debug!(
                    ns = envelope.ns,
                    "envelope for a namespace this node does not serve"
                );
                None
            }
        }
    }

    /// Called by the subscriber each time it (re)connects, after a heartbeat: rewrite this
    /// node's presence, which may have changed, or been lost, while Redis was away.
    fn on_connected(&self) {
        let entries: Vec<(String, String, String)> = {
            let namespaces = self
                .namespaces
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            namespaces
                .iter()
                .flat_map(|(ns, n)| {
                    (n.presence)()
                        .into_iter()
                        .map(move |(user, sid)| (ns.clone(), user, sid))
                })
                .collect()
        };
        presence::restore(self, entries);
    }

    /// `(namespace, user → sockets)` for every namespace this node serves, for the cluster view.
    pub(crate) fn local_users(&self) -> Vec<(String, HashMap<String, usize>)> {
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        namespaces
            .iter()
            .map(|(ns, n)| {
                let mut users: HashMap<String, usize> = HashMap::new();
                for (user, _) in (n.presence)() {
                    *users.entry(user).or_default() += 1;
                }
                (ns.clone(), users)
            })
            .collect()
    }

    /// Records (`true`) or removes a socket of `user` held by this node, in Redis, in the order
    /// of the calls for each user. Returns at once.
    pub(crate) fn set_presence(&self, ns: &str, user: &str, sid: &str, present: bool) {
        presence::set(self, ns, user, sid, present);
    }
}

pub(crate) use presence::{cap, cluster_view, online_nodes};
