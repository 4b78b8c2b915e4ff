//! Configuring a [`Tether`]: the [`TetherBuilder`], its defaults, and what can go wrong.

use std::any::{Any, TypeId};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use socketioxide::{SocketIo, SocketIoBuilder};

mod limits;

use limits::default_rate_limit;
pub use limits::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTACHMENTS, DEFAULT_MAX_CHANNELS_PER_SOCKET,
    DEFAULT_MAX_CONCURRENT_HANDSHAKES, DEFAULT_MAX_CONNECTIONS_PER_IP,
    DEFAULT_MAX_HANDSHAKES_PER_IP, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_EVENTS,
    DEFAULT_SEND_QUEUE, DEFAULT_WS_READ_BUFFER,
};

use crate::cluster::{Cluster, ClusterConfig, ClusterError};
use crate::connection::{self, Admission, PerIp, Settings};
use crate::handshake::AllowedOrigins;
use crate::login::{LoginVerifier, Verifier};
use crate::namespace::{Namespace, NamespaceDef};
use crate::presence::DEFAULT_PRESENCE_GRACE;
use crate::protocol::DEFAULT_TOKEN_GRACE;
use crate::protocol::Target;
use crate::rate::RateLimit;
use crate::remote::Remote;
use crate::tether::{Drain, Mounted, Tether};

type Mount = Box<
    dyn FnOnce(
            &SocketIo,
            Arc<Settings>,
            Option<Arc<dyn Remote>>,
        ) -> (TypeId, Arc<dyn Any + Send + Sync>, Drain)
        + Send,
>;

/// Configures and builds a [`Tether`]: which namespaces it serves and how.
///
/// ```
/// # use tether::{socket_namespace, Tether};
/// struct Lobby;
///
/// #[socket_namespace(path = "/lobby")]
/// impl Lobby {
///     #[on("ping")]
///     async fn ping(&self) -> &'static str {
///         "pong"
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tether::BuildError> {
/// let tether = Tether::builder().namespace(Lobby).build().await?;
/// let app: axum::Router = axum::Router::new().layer(tether.layer());
/// assert_eq!(tether.clients::<Lobby>().len(), 0);
/// # Ok(()) }
/// ```
pub struct TetherBuilder {
    mounts: Vec<(&'static str, Mount)>,
    /// The namespaces with recovery on.
    recovering: Vec<&'static str>,
    socketio: SocketIoBuilder,
    login: Option<Verifier>,
    token_grace: Duration,
    presence_grace: Duration,
    max_pending_events: usize,
    max_channels: usize,
    max_message_size: usize,
    max_attachments: usize,
    max_connections_per_ip: usize,
    max_handshakes_per_ip: usize,
    max_concurrent_handshakes: Option<usize>,
    rate_limit: Option<RateLimit>,
    cluster: Option<ClusterConfig>,
    allowed_origins: Option<Result<AllowedOrigins, String>>,
}

impl fmt::Debug for TetherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TetherBuilder")
            .field(
                "namespaces",
                &self.mounts.iter().map(|(p, _)| p).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why a [`Tether`] could not be built.
///
/// ```
/// # use tether::{BuildError, Tether, socket_namespace};
/// struct Chat;
/// #[socket_namespace(path = "/chat")]
/// impl Chat {}
///
/// struct LegacyChat;
/// #[socket_namespace(path = "/chat")]
/// impl LegacyChat {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let err = Tether::builder().namespace(Chat).namespace(LegacyChat).build().await.unwrap_err();
/// assert!(matches!(err, BuildError::DuplicatePath("/chat")));
/// assert_eq!(err.to_string(), "two namespaces are mounted at `/chat`");
///
/// let builder = Tether::builder().allowed_origins(["https://app.example.com/login"]);
/// assert!(matches!(builder.build().await, Err(BuildError::InvalidOrigin(_))));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum BuildError {
    /// Two namespaces share a path.
    DuplicatePath(&'static str),
    /// A namespace path is not a valid socket.io namespace path.
    InvalidPath(&'static str),
    /// Redis could not be reached (cluster mode).
    Cluster(ClusterError),
    /// An entry of [`TetherBuilder::allowed_origins`] is not an origin.
    InvalidOrigin(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicatePath(p) => write!(f, "two namespaces are mounted at `{p}`"),
            Self::Cluster(e) => write!(f, "cluster: {e}"),
            Self::InvalidOrigin(e) => write!(f, "allowed_origins: {e}"),
            Self::InvalidPath(p) => {
                write!(
                    f,
                    "namespace path `{p}` must start with `/` and contain no spaces"
                )
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// How long a socket's first events wait for its connect handler (and `on_connect`) at most.
const CONNECT_GATE: Duration = Duration::from_secs(10);

impl TetherBuilder {
    fn new() -> Self {
        let socketio = SocketIo::builder()
            .max_buffer_size(DEFAULT_SEND_QUEUE)
            .ws_read_buffer_size(DEFAULT_WS_READ_BUFFER)
            .ws_max_message_size(DEFAULT_MAX_MESSAGE_SIZE)
            .ws_max_frame_size(DEFAULT_MAX_MESSAGE_SIZE)
            .max_payload(DEFAULT_MAX_MESSAGE_SIZE as u64)
            .with_parser(limits::bounded_parser!(
                DEFAULT_MAX_MESSAGE_SIZE,
                DEFAULT_MAX_ATTACHMENTS
            ))
            .connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        Self {
            mounts: Vec::new(),
            recovering: Vec::new(),
            socketio,
            login: None,
            token_grace: DEFAULT_TOKEN_GRACE,
            presence_grace: DEFAULT_PRESENCE_GRACE,
            max_pending_events: DEFAULT_MAX_PENDING_EVENTS,
            max_channels: DEFAULT_MAX_CHANNELS_PER_SOCKET,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_attachments: DEFAULT_MAX_ATTACHMENTS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            max_handshakes_per_ip: DEFAULT_MAX_HANDSHAKES_PER_IP,
            max_concurrent_handshakes: Some(DEFAULT_MAX_CONCURRENT_HANDSHAKES),
            rate_limit: Some(default_rate_limit()),
            cluster: None,
            allowed_origins: None,
        }
    }

    /// Serves a namespace. `state` is the struct whose `impl` carries `#[socket_namespace]`;
    /// it is shared by every connection (`&self` in its methods).
    #[must_use]
    pub fn namespace<T: Namespace>(mut self, state: T) -> Self {
        let state = Arc::new(state);
        if NamespaceDef::<T>::collect().recovery.is_some() {
            self.recovering.push(T::PATH);
        }
        self.mounts.push((
            T::PATH,
            Box::new(move |io, settings, remote| {
                let (clients, keep) = connection::mount::<T>(io, state.clone(), settings, remote);
                let draining = clients.clone();
                let drain: Drain = Box::new(move |kick| draining.kick(&Target::All, kick));
                (
                    TypeId::of::<T>(),
                    Arc::new(Mounted::new(clients, state, keep)) as Arc<dyn Any + Send + Sync>,
                    drain,
                )
            }),
        ));
        self
    }

    /// Cluster mode: this node joins the others through Redis at `url`, so every emit reaches the
    /// matching sockets on every node. Without it, tether runs embedded on one node.
    #[must_use]
    pub fn redis(self, url: impl Into<String>) -> Self {
        self.cluster(ClusterConfig::new(url))
    }

    /// Cluster mode with every setting (prefix, degraded start, heartbeat).
    #[must_use]
    pub fn cluster(mut self, config: ClusterConfig) -> Self {
        self.cluster = Some(config);
        self
    }

    /// Enables `/ops/login` on live sockets in every namespace: `verifier` turns the token into
    /// a user (see [`LoginVerifier`]).
    #[must_use]
    pub fn login_verifier(mut self, verifier: impl LoginVerifier) -> Self {
        self.login = Some(Verifier(Box::new(verifier)));
        self
    }

    /// How long a socket whose token expired may take to log in again (`/ops/login` with a
    /// fresh token) before it is disconnected with reason `expired_token` (default
    /// [`DEFAULT_TOKEN_GRACE`], 30 s). The socket is told when its token expires
    /// ([`TOKEN_EXPIRED_EVENT`](crate::TOKEN_EXPIRED_EVENT)); the expiry comes from the
    /// middleware's [`SocketOk::expires_at`](crate::SocketOk::expires_at) and from each login.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = tether::Tether::builder().token_grace(Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn token_grace(mut self, grace: Duration) -> Self {
        self.token_grace = grace;
        self
    }

    /// How long a user whose last socket left stays online and a channel member, for every
    /// namespace that does not set its own ([`Presence::grace`](crate::Presence::grace)); default
    /// [`DEFAULT_PRESENCE_GRACE`] (5 s). A socket that comes back within it (a reload, a blip, a
    /// drained node) changes nothing: no `member_left`/`member_joined`, no
    /// `on_user_offline`/`on_user_online`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = tether::Tether::builder().presence_grace(Duration::from_secs(2));
    /// ```
    #[must_use]
    pub fn presence_grace(mut self, grace: Duration) -> Self {
        self.presence_grace = grace;
        self
    }

    /// The origins (`https://app.example.com`, `http://localhost:3000`) whose pages may
    /// connect with a token in a cookie or in the URL's query.
    ///
    /// A browser attaches cookies to a connection any page opens, so without this check a page
    /// on another site could connect as the signed-in user (cross-site WebSocket hijacking).
    /// Until origins are listed, tether reads no cookie token at all; once listed, a cookie or
    /// query token on a connection whose `Origin` is not in the list is refused with
    /// `forbidden_origin`. Tokens in `auth.token` or an `Authorization` header (which a page
    /// can only send if it holds the token) are not affected, nor are clients that send no
    /// `Origin` (non-browser clients; browsers always send it on WebSocket upgrades and
    /// cross-origin requests). See [`Handshake::origin_allowed`](crate::Handshake::origin_allowed)
    /// for a middleware that reads cookies itself.
    ///
    /// [`build`](Self::build) fails with [`BuildError::InvalidOrigin`] for an entry that is not
    /// an origin (a path, a wildcard, `null`).
    ///
    /// ```
    /// let builder = tether::Tether::builder()
    ///     .allowed_origins(["https://chat.example.com", "http://localhost:3000"]);
    /// ```
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.allowed_origins = Some(AllowedOrigins::new(origins));
        self
    }

    /// Any other socketioxide setting, e.g. `|b| b.req_path("/ws")`.
    #[must_use]
    pub fn configure_socketio(
        mut self,
        f: impl FnOnce(SocketIoBuilder) -> SocketIoBuilder,
    ) -> Self {
        self.socketio = f(self.socketio);
        self
    }

    /// Builds the socket.io server, joins the cluster (with [`redis`](Self::redis)) and mounts
    /// the namespaces.
    ///
    /// # Errors
    /// When two namespaces share a path, a path is invalid, Redis cannot be reached (unless
    /// [`ClusterConfig::start_degraded`] is set), or a namespace with recovery on would run on
    /// a Redis Cluster (recovery needs one Redis server).
    pub async fn build(self) -> Result<Tether, BuildError> {
        let mut paths = std::collections::HashSet::new();
        for (path, _) in &self.mounts {
            if !path.starts_with('/') || path.contains(char::is_whitespace) {
                return Err(BuildError::InvalidPath(path));
            }
            if !paths.insert(*path) {
                return Err(BuildError::DuplicatePath(path));
            }
        }
        let cluster = match &self.cluster {
            Some(config) if config.is_redis_cluster() && !self.recovering.is_empty() => {
                return Err(BuildError::Cluster(ClusterError(format!(
                    "recovery (namespace `{}`) needs one Redis server (with replicas or Sentinel), \
                     not a Redis Cluster: its emits are recorded and published in one script, \
                     which a Redis Cluster cannot run across the shards of the recipients' channels",
                    self.recovering[0]
                ))));
            }
            Some(config) => {
                let paths: Vec<&'static str> = paths.into_iter().collect();
                let cluster = Cluster::join(config, &paths)
                    .await
                    .map_err(BuildError::Cluster)?;
                if !self.recovering.is_empty() {
                    cluster.check_eviction(self.recovering.clone());
                }
                Some(cluster)
            }
            None => None,
        };
        let allowed_origins = self
            .allowed_origins
            .transpose()
            .map_err(BuildError::InvalidOrigin)?;
        let (layer, io) = self.socketio.build_layer();
        let settings = Arc::new(Settings {
            login: self.login,
            token_grace: self.token_grace,
            presence_grace: self.presence_grace,
            max_pending_events: self.max_pending_events,
            max_channels: self.max_channels,
            rate_limit: self.rate_limit,
            per_ip: PerIp::new(self.max_connections_per_ip, self.max_handshakes_per_ip),
            admission: self.max_concurrent_handshakes.map(Admission::new),
            connect_gate: CONNECT_GATE,
            allowed_origins,
            closing: std::sync::atomic::AtomicBool::new(false),
        });
        let remote = cluster.clone().map(|c| c as Arc<dyn Remote>);
        let (namespaces, drains) = self
            .mounts
            .into_iter()
            .map(|(_, mount)| {
                let (id, mounted, drain) = mount(&io, settings.clone(), remote.clone());
                ((id, mounted), drain)
            })
            .unzip();
        Ok(Tether::new(
            io, layer, namespaces, cluster, settings, drains,
        ))
    }
}

impl Tether {
    /// Starts configuring a tether.
    pub fn builder() -> TetherBuilder {
        TetherBuilder::new()
    }
}
