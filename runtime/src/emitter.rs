//! The emitter: push typed events to users, channels, client keys or everyone, from anywhere.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::value::RawValue;

use crate::acks::{DEFAULT_ACK_TIMEOUT, MAX_ACK_TIMEOUT, SocketAck};
use crate::clients::{Client, ConnectedClients};
use crate::cluster::{Cluster, ClusterConfig, ClusterError, DEFAULT_PREFIX};
use crate::delivery::{Delivery, EmitError, serialize_once};
use crate::events::Events;
use crate::namespace::{Namespace, NamespaceDef};
use crate::offline::{Kept, MAX_KEEP};
use crate::protocol::{Kick, Target, is_reserved_event};
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
    /// With the namespace's recovery settings: a recovery namespace's emits are recorded.
    Redis(Arc<dyn Remote>, Option<Recovery>),
}

impl<M> Clone for Backend<M> {
    fn clone(&self) -> Self {
        match self {
            Self::Node(c) => Self::Node(c.clone()),
            Self::Redis(c, r) => Self::Redis(c.clone(), *r),
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
    /// maximum envelope size. A Redis Cluster's seed list works too.
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
            backend: Backend::Redis(remote, NamespaceDef::<T>::collect().recovery),
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
            Backend::Redis(r, _) => Some(r),
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

    /// Disconnects every socket of the user on every node, telling each why first
    /// (`/ops/disconnected`). Returns the sockets kicked here and the nodes reached.
    pub async fn kick_user(&self, user: &str, kick: &Kick) -> Delivery {
        let mut delivery = Delivery::default();
        if let Backend::Node(c) = &self.backend {
            delivery.sockets = c.kick_user(user, kick);
        }
        if let Some(remote) = self.remote() {
            let targets = [Target::User(user.to_owned())];
            let order = Order::Kick { kick: kick.clone() };
            publish_into(&**remote, &mut delivery, T::PATH, &targets, &[], order).await;
        } else if delivery.sockets > 0 {
            delivery.nodes = 1;
        }
        delivery
    }

    fn emit_to(&self, target: Target) -> Emit<'_, T> {
        Emit {
            emitter: self,
            targets: vec![target],
            except: Vec::new(),
            timeout: DEFAULT_ACK_TIMEOUT,
            persist: None,
        }
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
        Emit {
            emitter: self,
            targets: users.into_iter().map(|u| Target::User(u.into())).collect(),
            except: Vec::new(),
            timeout: DEFAULT_ACK_TIMEOUT,
            persist: None,
        }
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

/// One emit being addressed: add targets and exclusions, then [`emit`](Emit::emit).
#[must_use = "an emit does nothing until `.emit(event).await`"]
pub struct Emit<'a, T: Namespace> {
    emitter: &'a Emitter<T>,
    targets: Vec<Target>,
    except: Vec<Target>,
    timeout: Duration,
    persist: Option<Duration>,
}

impl<T: Namespace> fmt::Debug for Emit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("targets", &self.targets)
            .field("except", &self.except)
            .field("timeout", &self.timeout)
            .field("persist", &self.persist)
            .finish()
    }
}

impl<T: Namespace> Emit<'_, T> {
    /// Also to every socket of this user.
    pub fn and_user(mut self, user: impl Into<String>) -> Self {
        self.targets.push(Target::User(user.into()));
        self
    }

    /// Also to every member of this channel.
    pub fn and_channel(mut self, channel: impl Into<String>) -> Self {
        self.targets.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this user.
    pub fn except_user(mut self, user: impl Into<String>) -> Self {
        self.except.push(Target::User(user.into()));
        self
    }

    /// Except the members of this channel.
    pub fn except_channel(mut self, channel: impl Into<String>) -> Self {
        self.except.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this client key (e.g. the sender).
    pub fn except_client(mut self, key: impl Into<String>) -> Self {
        self.except.push(Target::Client(key.into()));
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for each socket's ack (default
    /// [`DEFAULT_ACK_TIMEOUT`], at most [`MAX_ACK_TIMEOUT`](crate::MAX_ACK_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(MAX_ACK_TIMEOUT);
        self
    }

    /// Sends the event asking every socket for an ack, on every node, and returns one answer per
    /// socket: its id, its node, and the ack's value or why there is none
    /// ([`AckFailure::Timeout`](crate::AckFailure::Timeout) naming a socket that did not
    /// answer in time). Returns within the [`timeout`](Self::timeout) plus
    /// [`ACK_GRACE`](crate::ACK_GRACE), even when a node dies meanwhile (its sockets are then
    /// missing from the answers). Acked emits are not recorded for recovery.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: tether::Emitter<T>) -> Result<(), tether::EmitError> {
    /// let ev = tether::AnyEvent::new("confirm", serde_json::json!({"order": 42}));
    /// for answer in emitter.to_user("42").timeout(Duration::from_secs(2)).emit_with_ack(ev).await? {
    ///     match answer.reply {
    ///         Ok(value) => println!("{} on {} said {value}", answer.socket, answer.node),
    ///         Err(why) => println!("{} on {}: {why:?}", answer.socket, answer.node),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`emit`](Self::emit); and [`EmitError::AcksNeedANode`] from an emitter that serves no
    /// sockets ([`Emitter::connect_redis`]), which cannot receive the answers.
    pub async fn emit_with_ack(self, event: T::Events) -> Result<Vec<SocketAck>, EmitError> {
        match &self.emitter.backend {
            Backend::Node(clients) => {
                clients
                    .emit_with_ack_targets(
                        &self.targets,
                        &self.except,
                        event.name(),
                        &event,
                        self.timeout,
                    )
                    .await
            }
            Backend::Redis(..) => Err(EmitError::AcksNeedANode),
        }
    }

    /// Keeps the event for every targeted user who is offline everywhere, for `ttl` (at most
    /// [`MAX_KEEP`](crate::MAX_KEEP)): the first of the user's sockets to connect within it
    /// (on any node) receives it, asked for an ack; once acked, no other device receives it
    /// (one not acked within [`DEFAULT_ACK_TIMEOUT`] is kept again for the next socket). A user
    /// online somewhere receives the event as usual instead. [`Delivery::kept`] counts the
    /// users whose inbox took it.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: tether::Emitter<T>) -> Result<(), tether::EmitError> {
    /// let ev = tether::AnyEvent::new("invoice", serde_json::json!({"id": 7}));
    /// let delivery = emitter.to_user("42").persist(Duration::from_secs(86_400)).emit(ev).await?;
    /// assert!(delivery.delivered() || delivery.kept == 1 || delivery.cluster_unavailable);
    /// # Ok(()) }
    /// ```
    pub fn persist(mut self, ttl: Duration) -> Self {
        self.persist = Some(ttl);
        self
    }

    /// The targeted users offline everywhere get the event in their inbox; the other targets
    /// are left for a live emit. Returns how many users it was kept for, and whether keeping
    /// failed for one (Redis away).
    async fn keep_for_offline(
        &mut self,
        ttl: Duration,
        event: &str,
        data: &RawValue,
    ) -> Result<(usize, bool), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let (mut kept, mut failed) = (0, false);
        let mut live = Vec::with_capacity(self.targets.len());
        for target in std::mem::take(&mut self.targets) {
            let Target::User(user) = &target else {
                live.push(target);
                continue;
            };
            if self.emitter.is_online(user).await {
                live.push(target);
                continue;
            }
            let done = match &self.emitter.backend {
                Backend::Node(clients) => clients.keep(user, event, data, ttl).await,
                Backend::Redis(remote, _) => {
                    let expires_ms = SystemTime::now()
                        .checked_add(ttl.min(MAX_KEEP))
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(u64::MAX, |d| {
                            u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
                        });
                    let kept = Kept {
                        event: event.to_owned(),
                        data: data.to_owned(),
                        expires_ms,
                    };
                    remote.keep(T::PATH, user, vec![kept]).await
                }
            };
            kept += usize::from(done);
            failed |= !done;
        }
        self.targets = live;
        Ok((kept, failed))
    }

    /// Sends the event. The payload is serialised once for all recipients.
    ///
    /// # Errors
    /// When the payload cannot be serialised ([`EmitError::Serialize`]), the event name is
    /// reserved ([`EmitError::ReservedEvent`]: `/ops/…`, `connect`, `disconnect`, …), or, in
    /// cluster mode, its envelope would exceed the cluster's bound ([`EmitError::TooLarge`]).
    /// Then nothing was sent, to any socket.
    pub async fn emit(self, event: T::Events) -> Result<Delivery, EmitError> {
        let mut this = self;
        let (mut kept, mut failed) = (0, false);
        if let Some(ttl) = this.persist {
            let data = serialize_once(&event)?;
            (kept, failed) = this.keep_for_offline(ttl, event.name(), &data).await?;
            if this.targets.is_empty() {
                let mut delivery = Delivery::default();
                delivery.kept = kept;
                delivery.cluster_unavailable = failed;
                return Ok(delivery);
            }
        }
        let mut delivery = this.emit_now(event).await?;
        delivery.kept = kept;
        delivery.cluster_unavailable |= failed;
        Ok(delivery)
    }

    async fn emit_now(self, event: T::Events) -> Result<Delivery, EmitError> {
        match &self.emitter.backend {
            Backend::Node(clients) => {
                clients
                    .emit_targets(&self.targets, &self.except, event.name(), &event)
                    .await
            }
            Backend::Redis(remote, recovery) => {
                let data = serialize_once(&event)?;
                let order = Order::Emit {
                    event: event.name(),
                    data: &data,
                };
                let (targets, except) = (&self.targets, &self.except);
                remote.admit(T::PATH, targets, except, &order)?;
                let mut delivery = Delivery::default();
                match recovery {
                    Some(recovery) if !targets.contains(&Target::All) => {
                        match remote
                            .record(T::PATH, targets, except, order, *recovery)
                            .await
                        {
                            Some((pos, nodes)) => {
                                delivery.nodes = nodes;
                                delivery.stored_at(pos);
                            }
                            None => delivery.cluster_unavailable = true,
                        }
                    }
                    _ => {
                        publish_into(&**remote, &mut delivery, T::PATH, targets, except, order)
                            .await;
                    }
                }
                Ok(delivery)
            }
        }
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
