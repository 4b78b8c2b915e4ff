//! The emitter: push typed events to users, channels, client keys or everyone, from anywhere
//! ([`Emitter`]; `emit`: one emit being addressed, [`Emit`]).

mod emit;

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

pub use emit::Emit;

use crate::clients::{Client, ConnectedClients};
use crate::cluster::{Cluster, ClusterConfig, ClusterError, DEFAULT_PREFIX};
use crate::delivery::{Delivery, EmitError};
use crate::namespace::{Namespace, NamespaceDef};
use crate::presence::{Group, Presence};
use crate::protocol::{Kick, Target};
use crate::recovery::Recovery;
use crate::remote::{Order, Remote, publish_into};

/// Pushes events of namespace `T` to its clients. Cheap to clone; usable from axum handlers,
/// background tasks and listeners.
///
/// ```no_run
/// # use tether::{Emitter, Events};
/// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: Emitter<T>) -> Result<(), tether::EmitError> {
/// let ev = tether::AnyEvent::new("/users/ping", serde_json::json!({"hello": "world"}));
/// let delivery = emitter.to_user("42").except_client("tab-1").emit(ev).await?;
/// println!("reached {} sockets", delivery.sockets);
/// # Ok(()) }
/// ```
pub struct Emitter<T: Namespace> {
    backend: Backend<T::Metadata>,
    _namespace: PhantomData<fn() -> T>,
}

/// Where an emitter sends: through a node (local sockets, then Redis in cluster mode), or
/// straight to Redis from a process that serves no sockets.
enum Backend<M> {
    Node(ConnectedClients<M>),
    /// With the namespace's recovery settings (a recovery namespace's emits are recorded) and
    /// presence settings (which channels' members are tracked).
    Redis(Arc<dyn Remote>, Option<Recovery>, Option<Presence>),
}

impl<M> Clone for Backend<M> {
    fn clone(&self) -> Self {
        match self {
            Self::Node(c) => Self::Node(c.clone()),
            Self::Redis(c, r, p) => Self::Redis(c.clone(), *r, p.clone()),
        }
    }
}

impl<T: Namespace> Clone for Emitter<T> {
    fn clone(&self) -> Self {
        Self {
            backend: self.backend.clone(),
            _namespace: PhantomData,
        }
    }
}

impl<T: Namespace> fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("namespace", &T::PATH)
            .finish()
    }
}

impl<T: Namespace> Emitter<T> {
    pub(crate) fn new(clients: ConnectedClients<T::Metadata>) -> Self {
        Self {
            backend: Backend::Node(clients),
            _namespace: PhantomData,
        }
    }

    /// An emitter for a process that serves no sockets (a worker, a CLI), like socket.io's
    /// redis-emitter: it publishes to the cluster at `url` with the default prefix.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect_redis(url: &str) -> Result<Self, ClusterError> {
        Self::connect_redis_with_prefix(url, DEFAULT_PREFIX).await
    }

    /// [`connect_redis`](Self::connect_redis) with the cluster's key prefix.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect_redis_with_prefix(url: &str, prefix: &str) -> Result<Self, ClusterError> {
        Self::connect_redis_with(&ClusterConfig::new(url).prefix(prefix)).await
    }

    /// [`connect_redis`](Self::connect_redis) with the cluster's settings: its prefix, its key
    /// (the emitter signs what it publishes, as the nodes require when they have one) and its
    /// maximum envelope size, and its TLS certificates. A Redis Cluster's seed list, and a
    /// master found through Sentinel, work too.
    ///
    /// ```no_run
    /// # use tether::{AnyEvent, Emitter, socket_namespace};
    /// # use tether::cluster::{ClusterConfig, ClusterKey};
    /// # struct Chat;
    /// # #[socket_namespace(path = "/chat")]
    /// # impl Chat {}
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = ClusterConfig::new("redis://10.0.0.5:6379/")
    ///     .key(ClusterKey::from_env("TETHER_CLUSTER_KEY")?);
    /// let worker = Emitter::<Chat>::connect_redis_with(&config).await?;
    /// worker.to_user("42").emit(AnyEvent::new("note", serde_json::json!("hi"))).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn connect_redis_with(config: &ClusterConfig) -> Result<Self, ClusterError> {
        let remote: Arc<dyn Remote> = Cluster::publisher_only(config).await?;
        Ok(Self {
            backend: {
                let def = NamespaceDef::<T>::collect();
                Backend::Redis(remote, def.recovery, def.presence)
            },
            _namespace: PhantomData,
        })
    }

    /// The connected clients of the namespace on this node; `None` for a Redis-only emitter.
    pub fn clients(&self) -> Option<&ConnectedClients<T::Metadata>> {
        match &self.backend {
            Backend::Node(c) => Some(c),
            Backend::Redis(..) => None,
        }
    }

    fn remote(&self) -> Option<&Arc<dyn Remote>> {
        match &self.backend {
            Backend::Node(c) => c.remote(),
            Backend::Redis(r, ..) => Some(r),
        }
    }

    /// Whether the user has a socket on this node or, in cluster mode, on any live node.
    pub async fn is_online(&self, user: &str) -> bool {
        if let Backend::Node(c) = &self.backend
            && c.is_online(user)
        {
            return true;
        }
        self.user_nodes(user).await.iter().any(|(_, n)| *n > 0)
    }

    /// The live nodes holding sockets of the user, with how many each (cluster mode; this node
    /// alone in embedded mode). A node that died without cleanup stops counting once its
    /// heartbeat expires.
    pub async fn user_nodes(&self, user: &str) -> Vec<(String, usize)> {
        match (self.remote(), &self.backend) {
            (Some(remote), _) => remote.user_nodes(T::PATH, user).await.unwrap_or_default(),
            (None, Backend::Node(c)) => {
                let n = c.user_sockets(user).len();
                if n > 0 {
                    vec![("local".to_owned(), n)]
                } else {
                    Vec::new()
                }
            }
            (None, Backend::Redis(..)) => Vec::new(),
        }
    }

    /// The connected users of this namespace on every live node, with their socket counts:
    /// `(node id, [(user, sockets)])`. In cluster mode each node refreshes its part with every
    /// heartbeat, so the view may be up to one beat old; in embedded mode it is this node's
    /// users, now, under the node id `local`. Empty for a Redis-only emitter when Redis cannot
    /// be reached.
    pub async fn cluster_view(&self) -> Vec<(String, Vec<(String, usize)>)> {
        match (self.remote(), &self.backend) {
            (Some(remote), _) => remote.view(T::PATH).await.unwrap_or_default(),
            (None, Backend::Node(c)) => vec![("local".to_owned(), c.user_counts())],
            (None, Backend::Redis(..)) => Vec::new(),
        }
    }

    /// The users connected anywhere in the cluster (see [`cluster_view`](Self::cluster_view)),
    /// sorted, each once.
    pub async fn online_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self
            .cluster_view()
            .await
            .into_iter()
            .flat_map(|(_, users)| users.into_iter().map(|(u, _)| u))
            .collect();
        users.sort();
        users.dedup();
        users
    }

    /// The users in `channel` on every node, each once whatever their sockets, sorted. With
    /// [`presence`](crate::NamespaceDef::presence) on for the channel, users within their grace
    /// (their last socket just left) are included, as `member_left` has not been sent for them;
    /// otherwise the channel's sockets are asked for their users (see
    /// [`Emit::clients`]).
    ///
    /// ```
    /// # use tether::{socket_namespace, Tether};
    /// struct Rooms;
    ///
    /// #[socket_namespace(path = "/rooms", presence = true)]
    /// impl Rooms {}
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let tether = Tether::builder().namespace(Rooms).build().await.unwrap();
    /// assert!(tether.emitter::<Rooms>().members("lobby").await.is_empty());
    /// # }
    /// ```
    pub async fn members(&self, channel: &str) -> Vec<String> {
        let tracked = match &self.backend {
            Backend::Node(c) => c.roster_members(channel).await,
            Backend::Redis(remote, _, presence) => {
                let tracked = presence.as_ref().is_some_and(|p| p.tracks(channel));
                let group = Group::Channel(channel.to_owned());
                match tracked {
                    true => remote.members(T::PATH, &group).await,
                    false => None,
                }
            }
        };
        if let Some(users) = tracked {
            return users;
        }
        let mut users: Vec<String> = self
            .to_channel(channel)
            .clients()
            .await
            .into_iter()
            .filter_map(|c| c.info.user_id)
            .collect();
        users.sort();
        users.dedup();
        users
    }

    /// Sends the application's own message to every other node of the cluster, as socket.io's
    /// `serverSideEmit` does: each receives it from
    /// [`Tether::server_events`](crate::Tether::server_events) (cache invalidation, a config
    /// reload). No socket gets it. Works from a worker too ([`connect_redis`](Self::connect_redis)).
    /// In embedded mode there is no other node: nothing is sent. The answer's `nodes` counts
    /// the node subscriptions the message reached, the sender's own included (it ignores it).
    ///
    /// ```no_run
    /// # async fn run(tether: tether::Tether) -> Result<(), tether::EmitError> {
    /// # struct Chat;
    /// # #[tether::socket_namespace(path = "/chat")] impl Chat {}
    /// let emitter = tether.emitter::<Chat>();
    /// emitter
    ///     .server_side_emit("cache:invalidate", &serde_json::json!({"key": "user:42"}))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// When the payload cannot be serialised, or its envelope is over the cluster's
    /// [`max_envelope_size`](crate::cluster::ClusterConfig::max_envelope_size).
    pub async fn server_side_emit<P: serde::Serialize + ?Sized>(
        &self,
        event: &str,
        data: &P,
    ) -> Result<Delivery, EmitError> {
        let data = serde_json::value::to_raw_value(data)
            .map_err(|e| EmitError::Serialize(e.to_string()))?;
        let mut delivery = Delivery::default();
        let Some(remote) = self.remote() else {
            return Ok(delivery);
        };
        let targets = [Target::All];
        let order = Order::Server { event, data: &data };
        remote.admit(T::PATH, &targets, &[], &order)?;
        publish_into(&**remote, &mut delivery, T::PATH, &targets, &[], order).await;
        Ok(delivery)
    }

    /// Disconnects every socket of the user on every node, telling each why first
    /// (`/ops/disconnected`). Returns the sockets kicked here and the nodes reached.
    pub async fn kick_user(&self, user: &str, kick: &Kick) -> Delivery {
        self.to_user(user).disconnect(kick).await
    }

    fn emit_to(&self, target: Target) -> Emit<'_, T> {
        Emit::new(self, vec![target])
    }

    /// To every socket of a user.
    pub fn to_user(&self, user: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::User(user.into()))
    }

    /// To every socket of several users (each socket once, even if listed twice).
    pub fn to_users<I>(&self, users: I) -> Emit<'_, T>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Emit::new(
            self,
            users.into_iter().map(|u| Target::User(u.into())).collect(),
        )
    }

    /// To every member of a channel.
    pub fn to_channel(&self, channel: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::Channel(channel.into()))
    }

    /// To every socket of a client key.
    pub fn to_client(&self, key: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::Client(key.into()))
    }

    /// To every socket of the namespace.
    pub fn to_all(&self) -> Emit<'_, T> {
        self.emit_to(Target::All)
    }
}

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// A typed emitter for namespace `T` (the namespace of these clients), e.g. in
    /// `#[on_user_online]` hooks.
    pub fn emitter<T>(&self) -> Emitter<T>
    where
        T: Namespace<Metadata = M>,
    {
        Emitter::new(self.clone())
    }
}

impl<M: Send + Sync + 'static> Client<M> {
    /// A typed emitter for namespace `T` (the namespace of this client).
    pub fn emitter<T>(&self) -> Emitter<T>
    where
        T: Namespace<Metadata = M>,
    {
        Emitter::new(self.clients().clone())
    }
}
