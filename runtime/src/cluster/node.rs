//! A node's (or a Redis-only emitter's) connection to the cluster: its state (publishing is in
//! `outbox`, receiving in `inbox`).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::acks::{Listener, Pending};
use super::batch::Publishes;
use super::config::{ClusterConfig, ClusterState, ClusterStats, redacted_url};
use super::error::ClusterError;
use super::guard::Guard;
use super::queue::Writers;
use super::topology::Topology;
use super::transport::Conn;
use super::wanted::Wanted;
use crate::presence::Change;
use crate::protocol::{Target, redis_channel};
use crate::remote::{PresenceSource, RemoteFuture, Resync, RosterHooks, Sink};

/// How long a recovering socket waits for its node to follow its recipients.
const FOLLOW_WAIT: Duration = Duration::from_secs(2);

/// Ids of recently delivered multi-target messages: a FIFO of the last [`Seen::CAP`], since a
/// message reaches a node on its targets' channels within moments of each other. (Not an LRU
/// crate: nothing is looked up twice for long, and eviction by age is what this needs.)
#[derive(Default)]
pub(super) struct Seen {
    set: HashSet<String>,
    order: VecDeque<String>,
}

impl Seen {
    const CAP: usize = 8192;

    pub(super) fn first_time(&mut self, id: &str) -> bool {
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

/// What the node serves of one namespace.
pub(super) struct Namespaced {
    pub(super) sink: Sink,
    pub(super) presence: PresenceSource,
    pub(super) resync: Resync,
    /// Presence, when the namespace tracks groups.
    pub(super) roster: Option<RosterHooks>,
}

/// A node's (or a Redis-only emitter's) connection to the cluster.
pub(crate) struct Cluster {
    pub(super) node_id: Option<String>,
    /// Prefixes the ids of the messages this process publishes: the node id, or a random id
    /// for a Redis-only emitter, so two processes never number messages alike.
    pub(super) origin: String,
    pub(super) prefix: String,
    pub(super) heartbeat: Duration,
    pub(super) publisher: Conn,
    /// Emits' publishes, batched, on the publisher's connection (see `batch`).
    pub(super) publishes: Publishes,
    /// The connection of presence writes (see [`background`](Self::background)).
    pub(super) background: Conn,
    /// The channels to follow, and the subscriber's wake-up; `None` for a publisher only.
    pub(super) subs: Option<(Arc<Wanted>, mpsc::Sender<()>)>,
    pub(super) state: watch::Receiver<ClusterState>,
    pub(super) namespaces: RwLock<HashMap<String, Namespaced>>,
    pub(super) seq: AtomicU64,
    pub(super) seen: Mutex<Seen>,
    /// The bounds and key of what is published and received, and the counters.
    pub(super) guard: Arc<Guard>,
    /// Presence writes, in order per user (see `writer`).
    pub(super) writers: Writers,
    /// The channel on which this node receives acks from other nodes (`None`: a publisher).
    pub(super) acks_channel: Option<String>,
    /// This node's `emit_with_ack` requests waiting for other nodes' answers.
    pub(super) pending_acks: Pending,
    /// Set when the node leaves (a graceful shutdown): its tasks stop.
    pub(super) leaving: std::sync::atomic::AtomicBool,
    /// Held by a heartbeat while it writes, and by [`leave`](Self::leave) before it removes
    /// the node: a beat in flight cannot write the node's key back after it was removed.
    pub(super) beating: tokio::sync::Mutex<()>,
    /// Tells the node's tasks it is leaving.
    pub(super) shutdown: watch::Sender<bool>,
    /// A process that serves no sockets: how to reach Redis for a link of answers.
    pub(super) topology: Option<Topology>,
    /// Its link of answers, made on first use.
    pub(super) replies: tokio::sync::Mutex<Option<Listener>>,
    /// This cluster itself, for the tasks it starts.
    pub(super) me: std::sync::Weak<Cluster>,
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

/// 16 hex digits from OpenSSL's CSPRNG (through josekit, already a dependency).
pub(super) fn random_id() -> String {
    josekit::util::random_bytes(8)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Cluster {
    /// A publisher only: no subscriptions, no node id (a worker or CLI).
    pub(crate) async fn publisher_only(config: &ClusterConfig) -> Result<Arc<Self>, ClusterError> {
        let topology = Topology::of(config)?;
        let publisher = topology.connect(false).await.map_err(|e| {
            ClusterError(format!(
                "cannot reach Redis at {}: {}",
                redacted_url(&config.url),
                topology.explain(&e)
            ))
        })?;
        let (_, state) = watch::channel(ClusterState::Connected);
        Ok(Arc::new_cyclic(|me| Self {
            node_id: None,
            origin: format!("emitter-{}", random_id()),
            prefix: config.prefix.clone(),
            heartbeat: config.heartbeat,
            background: publisher.clone(),
            publishes: Publishes::new(publisher.clone()),
            publisher,
            subs: None,
            state,
            namespaces: RwLock::new(HashMap::new()),
            seq: AtomicU64::new(0),
            seen: Mutex::new(Seen::default()),
            guard: Arc::new(Guard::new(config.max_envelope_size, config.key.clone())),
            writers: Writers::none(),
            acks_channel: None,
            pending_acks: Pending::default(),
            leaving: std::sync::atomic::AtomicBool::new(false),
            beating: tokio::sync::Mutex::new(()),
            shutdown: watch::Sender::new(false),
            topology: Some(topology),
            replies: tokio::sync::Mutex::new(None),
            me: me.clone(),
        }))
    }

    /// This node's id; `None` for a publisher only.
    pub(crate) fn node_id(&self) -> Option<&str> {
        self.node_id.as_deref()
    }

    /// Counters of what this node exchanged.
    pub(crate) fn stats(&self) -> ClusterStats {
        self.guard.stats(self.seq.load(Ordering::Relaxed))
    }

    /// The current link state.
    pub(crate) fn state(&self) -> ClusterState {
        *self.state.borrow()
    }

    /// A receiver that sees every state change.
    pub(crate) fn watch(&self) -> watch::Receiver<ClusterState> {
        self.state.clone()
    }

    /// A connection for commands (cheap to clone).
    pub(super) fn publisher(&self) -> Conn {
        self.publisher.clone()
    }

    /// The connection presence writes, presence-group scripts, cap checks, offline-inbox reads
    /// and recovery-history reads go through: work that follows sockets coming and going.
    /// Commands on one connection are answered in order, so on the publisher's connection the
    /// work of a reconnect storm (thousands of sockets at once) would hold up every emit and
    /// heartbeat behind it.
    pub(super) fn background(&self) -> Conn {
        self.background.clone()
    }

    /// Asks the subscriber to follow (`true`) or drop a recipient's channel. Never waits: the
    /// wish is recorded, and the subscriber woken when the channel's count crossed zero.
    pub(super) fn follow(&self, ns: &str, target: &Target, yes: bool) {
        if let Some((wanted, wake)) = &self.subs
            && wanted.follow(redis_channel(&self.prefix, ns, target), yes)
        {
            // Full: a wake-up is pending already, and it will see this change.
            let _ = wake.try_send(());
        }
    }

    /// Waits, at most [`FOLLOW_WAIT`], until the link follows every recipient asked for so far;
    /// `false` when it does not by then (Redis is away), or for a publisher only.
    pub(super) fn followed(&self) -> RemoteFuture<'static, bool> {
        let Some((wanted, wake)) = &self.subs else {
            return Box::pin(std::future::ready(false));
        };
        if self.state() != ClusterState::Connected {
            return Box::pin(std::future::ready(false));
        }
        let generation = wanted.generation();
        let mut applied = wanted.applied();
        let _ = wake.try_send(());
        Box::pin(async move {
            tokio::time::timeout(FOLLOW_WAIT, applied.wait_for(|g| *g >= generation))
                .await
                .is_ok_and(|r| r.is_ok())
        })
    }

    /// Makes the sockets of every namespace with recovery on catch up from the history: this
    /// node may have missed recorded emits (its link was lost, or its inbox overflowed).
    pub(super) fn resync_all(&self) {
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        for namespaced in namespaces.values() {
            (namespaced.resync)();
        }
    }

    /// `(namespace, user, socket id)` of every signed-in socket this node holds, a user's
    /// sockets in connection order.
    pub(crate) fn held_sockets(&self) -> Vec<(String, String, String)> {
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
    }

    /// `(namespace, user → sockets)` for every namespace this node serves, for the cluster view.
    pub(super) fn local_users(&self) -> Vec<(String, HashMap<String, usize>)> {
        let mut by_ns: HashMap<String, HashMap<String, usize>> = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .map(|ns| (ns.clone(), HashMap::new()))
            .collect();
        for (ns, user, _) in self.held_sockets() {
            *by_ns.entry(ns).or_default().entry(user).or_default() += 1;
        }
        by_ns.into_iter().collect()
    }

    /// The namespaces that track presence.
    pub(super) fn roster_namespaces(&self) -> Vec<String> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, n)| n.roster.is_some())
            .map(|(ns, _)| ns.clone())
            .collect()
    }

    /// Announces a presence change of `ns` (this node took it).
    pub(super) fn announce(&self, ns: &str, change: Change) {
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(roster) = namespaces.get(ns).and_then(|n| n.roster.as_ref()) {
            (roster.announce)(change);
        }
    }

    /// The tracked `(group, user, socket id)` this node holds in `ns`.
    fn roster_entries(&self, ns: &str) -> Vec<(crate::presence::Group, String, String)> {
        self.namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(ns)
            .and_then(|n| n.roster.as_ref().map(|r| (r.entries)()))
            .unwrap_or_default()
    }

    /// Whether this node holds tracked sockets in `ns`.
    pub(super) fn holds_roster_entries(&self, ns: &str) -> bool {
        !self.roster_entries(ns).is_empty()
    }

    /// Writes again every tracked socket this node holds in `ns` (after an outage, or after
    /// another node took this one for dead); arrivals are announced again.
    pub(super) fn rewrite_roster(&self, ns: &str) {
        for (group, user, sid) in self.roster_entries(ns) {
            self.writers.member(ns, &group, &user, &sid, true);
        }
    }
}
