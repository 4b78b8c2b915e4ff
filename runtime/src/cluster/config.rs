//! How a node reaches Redis ([`ClusterConfig`]), and what the app can watch of the link
//! ([`ClusterState`], [`ClusterStats`]).

use std::time::Duration;

use super::sign::ClusterKey;
use super::tls::TlsFiles;
use super::topology::names_a_redis_cluster;

/// The default prefix of tether's Redis keys and channels.
pub const DEFAULT_PREFIX: &str = "tether";

/// The largest envelope a node publishes or accepts unless
/// [`ClusterConfig::max_envelope_size`] says otherwise: the largest message a client may send by
/// default ([`DEFAULT_MAX_MESSAGE_SIZE`](crate::DEFAULT_MAX_MESSAGE_SIZE), 1 MiB), so a relay of
/// it fits, plus 64 KiB for the envelope's other fields and its signature.
pub const DEFAULT_MAX_ENVELOPE_SIZE: usize = 1024 * 1024 + 64 * 1024;

/// How a node reaches Redis: one server, a Redis Cluster, or the master that Redis Sentinel
/// names; each over TLS or not.
///
/// | URL | Redis |
/// | --- | --- |
/// | `redis://[user:pass@]host:port[/db]` | one server |
/// | `rediss://[user:pass@]host:port[/db]` | one server, over TLS |
/// | `redis+cluster://[user:pass@]host:port,host:port` | a Redis Cluster (seed nodes) |
/// | `rediss+cluster://[user:pass@]host:port,host:port` | a Redis Cluster, over TLS |
/// | `redis+sentinel://[user:pass@]host:port,host:port/master[/db]` | the master Sentinel names |
/// | `rediss+sentinel://[user:pass@]host:port,host:port/master[/db]` | the same, over TLS |
///
/// # TLS
///
/// A `rediss` URL connects over TLS (rustls), checking the server's certificate against
/// Mozilla's root certificates (built in, the `webpki-roots` crate: the CAs public managed Redis
/// services use), or only against the CA given with
/// [`tls_ca_certificate`](Self::tls_ca_certificate) (a private CA, as self-hosted servers and
/// some managed services use; the operating system's trust store is not read); [`tls_client_certificate`](Self::tls_client_certificate) adds a
/// client certificate for servers that ask for one (`tls-auth-clients yes`). The host in the URL
/// must be named in the server's certificate (an IP address as an IP SAN). redis-rs's
/// `rediss://…/#insecure`, which skips every check, is refused: trust the CA instead (tests
/// generate one). rustls uses the crypto provider the application installed, or ring if it
/// installed none.
///
/// # Redis Sentinel
///
/// With `redis+sentinel://` (or [`ClusterConfig::sentinel`]), the node asks the sentinels which
/// server is the master named `master` (the first path segment), and uses it as one server. The
/// URL's `user:password` and `db` are the master's (sentinels are asked without credentials); a
/// sentinel without a port listens on 26379. When the master is lost or demoted, the node asks
/// the sentinels again and follows the promoted replica, as it reconnects after a lost Redis:
/// emits made meanwhile reach local sockets only. `rediss+sentinel://` reaches the sentinels
/// and the master over TLS, with the same certificates.
///
/// ```
/// use tether::cluster::ClusterConfig;
///
/// let private_ca = "-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n";
/// let tls = ClusterConfig::new("rediss://:s3cret@redis.internal:6380/").tls_ca_certificate(private_ca);
/// let sentinel = ClusterConfig::new("redis+sentinel://:s3cret@10.0.0.1:26379,10.0.0.2:26379/mymaster");
/// let same = ClusterConfig::sentinel(["10.0.0.1:26379", "10.0.0.2:26379"], "mymaster");
/// # let _ = (tls, sentinel, same);
/// ```
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
///
/// # Trust
///
/// Whoever can `PUBLISH` on this Redis can hand envelopes to every node. A node always drops an
/// envelope larger than [`max_envelope_size`](Self::max_envelope_size) and one that emits a
/// reserved event name (`/ops/…`, or socket.io's `connect`, `disconnect`, …); with a
/// [`key`](Self::key) it also drops every envelope not signed with that key. **Without a key it
/// delivers any well-formed envelope**: anyone with access to Redis can then emit any other
/// event to any socket. Set a key in production, or keep Redis reachable by the nodes only.
///
/// ```
/// use tether::cluster::{ClusterConfig, ClusterKey};
///
/// let config = ClusterConfig::new("redis://10.0.0.5:6379/")
///     .key(ClusterKey::from_base64url("q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k").unwrap())
///     .max_envelope_size(256 * 1024);
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct ClusterConfig {
    pub(crate) url: String,
    pub(crate) seeds: Vec<String>,
    pub(crate) prefix: String,
    pub(crate) start_degraded: bool,
    pub(crate) heartbeat: Duration,
    pub(crate) key: Option<ClusterKey>,
    pub(crate) max_envelope_size: usize,
    pub(crate) tls: TlsFiles,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("url", &redacted_url(&self.url))
            .field(
                "seeds",
                &self
                    .seeds
                    .iter()
                    .map(|s| redacted_url(s))
                    .collect::<Vec<_>>(),
            )
            .field("prefix", &self.prefix)
            .field("start_degraded", &self.start_degraded)
            .field("heartbeat", &self.heartbeat)
            .field("key", &self.key)
            .field("max_envelope_size", &self.max_envelope_size)
            .field("tls", &self.tls)
            .finish()
    }
}

/// A Redis URL with its password (and user) replaced by `***`, for logs and errors: tether never
/// prints credentials, and applications can log the URL they were given the same way.
///
/// ```
/// use tether::cluster::redacted_url;
/// assert_eq!(redacted_url("redis://:s3cret@db:6379/0"), "redis://***@db:6379/0");
/// assert_eq!(redacted_url("redis://app:s3cret@db:6379"), "redis://***@db:6379");
/// assert_eq!(redacted_url("redis://db:6379"), "redis://db:6379");
/// assert_eq!(redacted_url("redis+cluster://u:p@a:1,b:2"), "redis+cluster://***@a:1,b:2");
/// assert_eq!(redacted_url("rediss+sentinel://:p@a:1/m"), "rediss+sentinel://***@a:1/m");
/// ```
pub fn redacted_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        // Not a URL we can read: it may hold anything.
        return "<unreadable Redis URL>".to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

impl ClusterConfig {
    /// Redis at `url` (the table above: `redis://host:port/db` for one server,
    /// `redis+cluster://h1:p1,h2:p2` for a Redis Cluster, `redis+sentinel://h1:p1,h2:p2/master`
    /// through Sentinel, `rediss…` over TLS), with the default prefix. The URL is checked when
    /// the node is built: a bad one fails `build()` with an error that names it (without its
    /// password).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            seeds: Vec::new(),
            prefix: DEFAULT_PREFIX.to_owned(),
            start_degraded: false,
            heartbeat: Duration::from_secs(2),
            key: None,
            max_envelope_size: DEFAULT_MAX_ENVELOPE_SIZE,
            tls: TlsFiles::default(),
        }
    }

    /// Whether this names a Redis Cluster (seeds, or a `redis+cluster://` URL).
    pub(crate) fn is_redis_cluster(&self) -> bool {
        !self.seeds.is_empty() || names_a_redis_cluster(&self.url)
    }

    /// The master named `master` that these sentinels (`host:port` each; one is enough, the
    /// others are asked when it is down) monitor: the same as
    /// `redis+sentinel://host:port,host:port/master`. Use the URL form for a master that needs a
    /// password, a database other than 0, or TLS.
    ///
    /// ```
    /// use tether::cluster::ClusterConfig;
    ///
    /// let config = ClusterConfig::sentinel(["10.0.0.1:26379", "10.0.0.2:26379"], "mymaster");
    /// # let _ = config;
    /// ```
    pub fn sentinel<I>(sentinels: I, master: impl AsRef<str>) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let hosts: Vec<String> = sentinels
            .into_iter()
            .map(|s| s.as_ref().trim().to_owned())
            .collect();
        Self::new(format!(
            "redis+sentinel://{}/{}",
            hosts.join(","),
            master.as_ref()
        ))
    }

    /// Trusts the CA certificate(s) in `pem` (one or more PEM `CERTIFICATE` blocks) for a
    /// `rediss` URL, instead of the built-in public roots: for a server whose certificate a
    /// private CA signed. A file that holds no certificate, or a URL that is not `rediss`, fails
    /// `build()`.
    ///
    /// ```no_run
    /// use tether::cluster::ClusterConfig;
    ///
    /// let ca = std::fs::read("/etc/redis/tls/ca.crt").expect("the CA certificate");
    /// let config = ClusterConfig::new("rediss://redis.internal:6380/").tls_ca_certificate(ca);
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn tls_ca_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca = Some(pem.into());
        self
    }

    /// Presents this client certificate (`cert_pem`: the certificate, then any intermediates)
    /// and proves it with `key_pem` (its private key, PKCS#8, PKCS#1 or SEC1), for a server that
    /// checks clients (`tls-auth-clients yes`): mutual TLS. The key is never printed.
    ///
    /// ```no_run
    /// use tether::cluster::ClusterConfig;
    ///
    /// let read = |path| std::fs::read(path).expect("a TLS file");
    /// let config = ClusterConfig::new("rediss://redis.internal:6380/")
    ///     .tls_ca_certificate(read("/etc/redis/tls/ca.crt"))
    ///     .tls_client_certificate(read("/etc/tether/redis.crt"), read("/etc/tether/redis.key"));
    /// # let _ = config;
    /// ```
    #[must_use]
    pub fn tls_client_certificate(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.client = Some((cert_pem.into(), key_pem.into()));
        self
    }

    /// A Redis Cluster reached through these seed nodes (`redis://host:port` each, or
    /// `rediss://host:port` over TLS; one is enough, the others are found from it). Uses sharded
    /// pub/sub (Redis ≥ 7).
    pub fn redis_cluster<I>(seeds: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        let seeds: Vec<String> = seeds.into_iter().map(Into::into).collect();
        Self {
            url: format!(
                "Redis Cluster [{}]",
                seeds
                    .iter()
                    .map(|s| redacted_url(s))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
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

    /// Signs every envelope this node (or a Redis-only emitter built with this configuration)
    /// publishes with `key`, and drops every envelope that is not signed with it (counted in
    /// [`ClusterStats::rejected`], logged at `debug`). Every node of the cluster, and every
    /// process publishing to it, needs the same key; the "Signed envelopes" section of docs/cluster.md says
    /// how another language signs.
    #[must_use]
    pub fn key(mut self, key: ClusterKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The largest envelope, in bytes, this node publishes or accepts (default
    /// [`DEFAULT_MAX_ENVELOPE_SIZE`]; at least 1 KiB), signature included. An emit whose
    /// envelope would be larger fails with [`EmitError::TooLarge`](crate::EmitError::TooLarge)
    /// before any socket gets it; a larger envelope from Redis is dropped and counted in
    /// [`ClusterStats::rejected`]. Raise it with
    /// [`TetherBuilder::max_message_size`](crate::TetherBuilder::max_message_size) if clients
    /// relay larger messages. Redis itself disconnects a subscriber that a single message of more
    /// than its `client-output-buffer-limit pubsub` (32 MB by default) is sent to; the node then
    /// reconnects and resubscribes.
    #[must_use]
    pub fn max_envelope_size(mut self, bytes: usize) -> Self {
        self.max_envelope_size = bytes.max(1024);
        self
    }
}

/// The node's link to Redis, as the app can watch it.
///
/// ```
/// use tether::cluster::ClusterState;
///
/// // A health check: a node whose Redis is away still serves its own sockets.
/// fn health(state: ClusterState) -> &'static str {
///     match state {
///         ClusterState::Embedded | ClusterState::Connected => "ok",
///         ClusterState::Reconnecting { .. } => "degraded",
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = tether::Tether::builder().build().await.unwrap(); // no `.redis(..)`
/// assert_eq!(tether.cluster_state(), ClusterState::Embedded);
/// assert_eq!(health(tether.cluster_state()), "ok");
/// assert_eq!(health(ClusterState::Reconnecting { attempts: 3 }), "degraded");
/// # }
/// ```
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
///
/// ```
/// use tether::cluster::ClusterStats;
///
/// // Worth a warning: envelopes refused (wrong key? too large?) or dropped (inbox full).
/// fn losses(stats: &ClusterStats) -> Option<String> {
///     let lost = stats.rejected + stats.dropped;
///     (lost > 0).then(|| format!("{lost} of {} messages lost", stats.received + lost))
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = tether::Tether::builder().build().await.unwrap();
/// assert_eq!(tether.cluster_stats(), None); // embedded: no cluster
/// assert_eq!(losses(&ClusterStats::default()), None);
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ClusterStats {
    /// Messages published (emits, kicks).
    pub published: u64,
    /// Messages received from other nodes (or Redis-only emitters) and acted on.
    pub received: u64,
    /// Messages from Redis refused: larger than
    /// [`max_envelope_size`](ClusterConfig::max_envelope_size), unsigned or wrongly signed when
    /// the node has a [`key`](ClusterConfig::key), malformed, of another version, or emitting a
    /// reserved event name.
    pub rejected: u64,
    /// Messages from Redis the node had no room for (its inbox was full: Redis sent faster than
    /// the node delivered), and presence writes that overflowed their queue (written again with
    /// the next heartbeat).
    pub dropped: u64,
}
