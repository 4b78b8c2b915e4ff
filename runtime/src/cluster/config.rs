//! How a node reaches Redis ([`ClusterConfig`]), and what the app can watch of the link
//! ([`ClusterState`], [`ClusterStats`]).

use std::time::Duration;

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

/// What a node exchanged with the cluster since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Messages published (emits, kicks).
    pub published: u64,
    /// Messages received from other nodes (or Redis-only emitters) and acted on.
    pub received: u64,
}
