//! The [`Namespace`] trait that `#[socket_namespace]` implements, and the [`NamespaceDef`] it
//! declares its middleware, listeners and hooks in.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use socketioxide::extract::SocketRef;
use socketioxide::socket::DisconnectReason;

use crate::clients::{Client, ConnectedClients, ShareFn};
use crate::error::SocketError;
use crate::events::Events;
use crate::handshake::{Handshake, SocketNok, SocketOk};
use crate::listener::{self, Concurrency, Policy, Reply};
use crate::presence::Presence;
use crate::protocol::Relay;
use crate::rate::{Buckets, RateLimit};
use crate::recovery::Recovery;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type KeyFn<M> = Arc<dyn Fn(&M) -> String + Send + Sync>;
type MiddlewareFn<T, M> =
    Arc<dyn Fn(Arc<T>, Handshake) -> BoxFuture<Result<SocketOk<M>, SocketNok>> + Send + Sync>;
type ConnectFn<T, M> = Arc<dyn Fn(Arc<T>, Client<M>) -> BoxFuture<()> + Send + Sync>;
type DisconnectFn<T, M> =
    Arc<dyn Fn(Arc<T>, Client<M>, DisconnectReason) -> BoxFuture<()> + Send + Sync>;
type Registrar<T, M> =
    Arc<dyn Fn(&SocketRef, &Policy, &Arc<T>, &ConnectedClients<M>) + Send + Sync>;
type UserChangeFn<T, M> =
    Arc<dyn Fn(Arc<T>, Client<M>, Option<String>) -> BoxFuture<()> + Send + Sync>;
type PresenceFn<T, M> =
    Arc<dyn Fn(Arc<T>, String, ConnectedClients<M>) -> BoxFuture<()> + Send + Sync>;
type UserFn<M> = Arc<dyn Fn(&M) -> Option<String> + Send + Sync>;
type AuthorizeFn<T, M, A> =
    Arc<dyn Fn(Arc<T>, Client<M>, A) -> BoxFuture<Result<(), SocketError>> + Send + Sync>;

/// A socket.io namespace: a struct whose methods handle its connections and events.
///
/// Implemented by `#[socket_namespace]`. The macro's expansion is an ordinary implementation
/// that uses public items only, so a namespace can also be written by hand:
///
/// ```
/// use tether::{AnyEvent, Namespace, NamespaceDef, NoPayload, Reply, SocketError};
///
/// struct Echo;
///
/// impl Namespace for Echo {
///     type Metadata = ();
///     type Events = AnyEvent;
///     const PATH: &'static str = "/echo";
///
///     fn define(def: &mut NamespaceDef<Self>) {
///         def.on::<serde_json::Value, _, _>("echo", |_this, _client, payload| async move {
///             Reply::value(&payload)
///         });
///         def.on::<NoPayload, _, _>("fail", |_this, _client, _| async move {
///             Reply::result::<(), _>(Err(SocketError::forbidden("never")))
///         });
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = tether::Tether::builder().namespace(Echo).build().await.unwrap();
/// # let _ = tether;
/// # }
/// ```
pub trait Namespace: Send + Sync + Sized + 'static {
    /// The typed metadata the middleware attaches to each client (`()` without a middleware).
    type Metadata: Send + Sync + 'static;

    /// The server→client events of this namespace ([`AnyEvent`](crate::AnyEvent) when they are
    /// not declared).
    type Events: Events;

    /// The namespace path, e.g. `/chat`.
    const PATH: &'static str;

    /// Declares the middleware, listeners and hooks.
    fn define(def: &mut NamespaceDef<Self>);
}

/// The parts of a namespace, declared by [`Namespace::define`].
///
/// ```
/// use tether::{AnyEvent, Handshake, Namespace, NamespaceDef, NoPayload, Reply, SocketNok, SocketOk};
///
/// struct Device { id: String, user: Option<String> }
///
/// struct Devices;
///
/// impl Namespace for Devices {
///     type Metadata = Device;
///     type Events = AnyEvent;
///     const PATH: &'static str = "/devices";
///
///     fn define(def: &mut NamespaceDef<Self>) {
///         def.middleware(|_this, hs: Handshake| async move {
///             let user = hs.auth_str("user").map(str::to_owned);
///             match hs.query("device") {
///                 Some(id) => Ok(SocketOk::new(Device { id: id.to_owned(), user })),
///                 None => Err(SocketNok::with_code("missing_device", "add `?device=…`")),
///             }
///         });
///         def.client_key(|device| device.id.clone()); // `emitter.to_client("phone-1")`
///         def.user_key(|device| device.user.clone());
///         def.on::<NoPayload, _, _>("ping", |_this, _client, _| async { Reply::value("pong") });
///         assert_eq!(def.events().collect::<Vec<_>>(), ["ping"]);
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = tether::Tether::builder().namespace(Devices).build().await.unwrap();
/// # let _ = tether;
/// # }
/// ```
pub struct NamespaceDef<T: Namespace> {
    pub(crate) key: Option<KeyFn<T::Metadata>>,
    pub(crate) user: Option<UserFn<T::Metadata>>,
    pub(crate) anonymous: Option<bool>,
    pub(crate) max_connections_per_user: Option<usize>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) recovery: Option<Recovery>,
    pub(crate) presence: Option<Presence>,
    pub(crate) share_metadata: Option<ShareFn<T::Metadata>>,
    pub(crate) middleware: Option<MiddlewareFn<T, T::Metadata>>,
    pub(crate) listeners: Vec<ListenerDef<T>>,
    pub(crate) on_connect: Option<ConnectFn<T, T::Metadata>>,
    pub(crate) on_disconnect: Option<DisconnectFn<T, T::Metadata>>,
    pub(crate) on_user_change: Option<UserChangeFn<T, T::Metadata>>,
    pub(crate) on_user_online: Option<PresenceFn<T, T::Metadata>>,
    pub(crate) on_user_offline: Option<PresenceFn<T, T::Metadata>>,
    pub(crate) authorize_channel: Option<AuthorizeFn<T, T::Metadata, String>>,
    pub(crate) authorize_relay: Option<AuthorizeFn<T, T::Metadata, Relay>>,
}

impl<T: Namespace> fmt::Debug for NamespaceDef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceDef")
            .field("path", &T::PATH)
            .field("keyed_by_metadata", &self.key.is_some())
            .field("middleware", &self.middleware.is_some())
            .field(
                "listeners",
                &self.listeners.iter().map(|l| l.event).collect::<Vec<_>>(),
            )
            .field("users", &self.user.is_some())
            .field("anonymous", &self.anonymous_allowed())
            .field("on_connect", &self.on_connect.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .finish()
    }
}

impl<T: Namespace> NamespaceDef<T> {
    pub(crate) fn collect() -> Self {
        let mut def = Self {
            key: None,
            user: None,
            anonymous: None,
            max_connections_per_user: None,
            rate_limit: None,
            recovery: None,
            presence: None,
            share_metadata: None,
            authorize_channel: None,
            authorize_relay: None,
            middleware: None,
            listeners: Vec::new(),
            on_connect: None,
            on_disconnect: None,
            on_user_change: None,
            on_user_online: None,
            on_user_offline: None,
        };
        T::define(&mut def);
        def
    }

    /// Turns recovery on: every event emitted to a user, a channel or a client key is recorded
    /// and sent with its position as a last argument, and a reconnecting client that sends back
    /// its last position (`auth.recover`) receives what it missed (see [`Recovery`]).
    pub fn recovery(&mut self, recovery: Recovery) {
        self.recovery = Some(recovery);
    }

    /// Turns channel presence on (`#[socket_namespace(presence = true)]`, or `presence = "2s"`
    /// for the grace): [`Emitter::members`](crate::Emitter::members) lists a channel's users
    /// cluster-wide, and members receive [`MEMBER_JOINED_EVENT`](crate::MEMBER_JOINED_EVENT) /
    /// [`MEMBER_LEFT_EVENT`](crate::MEMBER_LEFT_EVENT) (see [`Presence`]).
    pub fn presence(&mut self, presence: Presence) {
        self.presence = Some(presence);
    }

    /// Lets [`Emit::clients`](crate::Emit::clients) return each socket's metadata
    /// ([`ClusterClient::metadata_as`](crate::ClusterClient::metadata_as)), from any node or
    /// worker (`#[socket_namespace(share_metadata = true)]`). Off by default: metadata may hold
    /// what should stay on the node.
    pub fn share_metadata(&mut self)
    where
        T::Metadata: serde::Serialize,
    {
        self.share_metadata = Some(Arc::new(|metadata: &T::Metadata| {
            serde_json::to_value(metadata).unwrap_or(serde_json::Value::Null)
        }));
    }

    /// Keys the connected-clients map by a value derived from the metadata (the
    /// `client_connection_key`); without it, clients are keyed by socket id.
    pub fn client_key(&mut self, key: impl Fn(&T::Metadata) -> String + Send + Sync + 'static) {
        self.key = Some(Arc::new(key));
    }

    /// Names the metadata field that says which user a connection belongs to (`user_key`);
    /// `None` from it means an anonymous connection.
    pub fn user_key(
        &mut self,
        user: impl Fn(&T::Metadata) -> Option<String> + Send + Sync + 'static,
    ) {
        self.user = Some(Arc::new(user));
    }

    /// Whether connections without a user are accepted. Default: `true` without a
    /// [`user_key`](Self::user_key), `false` with one (refused with code `unauthenticated`).
    pub fn allow_anonymous(&mut self, allow: bool) {
        self.anonymous = Some(allow);
    }

    pub(crate) fn anonymous_allowed(&self) -> bool {
        self.anonymous.unwrap_or(self.user.is_none())
    }

    /// Limits how many events one socket may send in this namespace, all events together
    /// (`#[socket_namespace(rate = "50/s", burst = 100)]`), instead of the builder's
    /// [`rate_limit`](crate::TetherBuilder::rate_limit). An event over it is answered with the
    /// error ack `rate_limited` carrying `retry_after_ms`, and not run; a socket that keeps
    /// sending far over it is disconnected (`/ops/disconnected {code: "rate_limited"}`).
    pub fn rate_limit(&mut self, limit: RateLimit) {
        self.rate_limit = Some(limit);
    }

    /// Caps the sockets one user may hold in this namespace; a connection over the cap
    /// disconnects the user's oldest socket, which is first told why (`connection_limit`).
    pub fn max_connections_per_user(&mut self, cap: usize) {
        self.max_connections_per_user = Some(cap.max(1));
    }

    /// Decides whether a client may join a channel by itself (`/ops/join`, or `channel_id` in
    /// the connection query). Without it, clients cannot join channels; server code always can.
    pub fn authorize_channel<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, Client<T::Metadata>, String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SocketError>> + Send + 'static,
    {
        self.authorize_channel = Some(Arc::new(move |this, client, channel| {
            Box::pin(hook(this, client, channel))
        }));
    }

    /// Decides whether a client may relay an event to a user, channel or client
    /// (`/ops/user`, `/ops/channel`, `/ops/client`). Without it, every relay is refused.
    pub fn authorize_relay<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, Client<T::Metadata>, Relay) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), SocketError>> + Send + 'static,
    {
        self.authorize_relay = Some(Arc::new(move |this, client, relay| {
            Box::pin(hook(this, client, relay))
        }));
    }

    /// Sets the connection middleware.
    pub fn middleware<F, Fut>(&mut self, middleware: F)
    where
        F: Fn(Arc<T>, Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SocketOk<T::Metadata>, SocketNok>> + Send + 'static,
    {
        self.middleware = Some(Arc::new(move |this, hs| Box::pin(middleware(this, hs))));
    }

    /// Adds a listener for `event` whose payload deserialises into `P`. By default a socket's
    /// events run one at a time in the order they arrived (acks too); see
    /// [`ListenerDef::concurrent`].
    ///
    /// Call it as `def.on::<Payload, _, _>("event", |this, client, payload| async move { .. })`.
    pub fn on<P, F, Fut>(&mut self, event: &'static str, listener: F) -> &mut ListenerDef<T>
    where
        P: DeserializeOwned + Send + Sync + 'static,
        F: Fn(Arc<T>, Client<T::Metadata>, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = Arc::new(listener);
        let registrar: Registrar<T, T::Metadata> =
            Arc::new(move |socket, policy, this, clients| {
                let (this, clients) = (this.clone(), clients.clone());
                listener::register(
                    socket,
                    event,
                    policy.clone(),
                    this,
                    clients,
                    listener.clone(),
                );
            });
        self.listeners.push(ListenerDef {
            event,
            policy: Policy::default(),
            registrar,
        });
        let last = self.listeners.len() - 1;
        &mut self.listeners[last]
    }

    /// Sets the hook run once a client is connected and registered.
    pub fn on_connect<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, Client<T::Metadata>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_connect = Some(Arc::new(move |this, client| Box::pin(hook(this, client))));
    }

    /// Sets the hook run after a client disconnected and was unregistered.
    pub fn on_disconnect<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, Client<T::Metadata>, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_disconnect = Some(Arc::new(move |this, client, reason| {
            Box::pin(hook(this, client, reason))
        }));
    }

    /// Sets the hook run after a socket's user changed through `/ops/login` or `/ops/logout`;
    /// it receives the previous user (the new one is [`Client::user_id`]).
    pub fn on_user_change<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, Client<T::Metadata>, Option<String>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_user_change = Some(Arc::new(move |this, client, previous| {
            Box::pin(hook(this, client, previous))
        }));
    }

    /// Sets the hook run when a user comes online: their first socket anywhere in the cluster
    /// connected (or logged in), and they were not online within the grace before. Runs once,
    /// on one node, with the user id and this node's clients (for
    /// [`ConnectedClients::emitter`](crate::ConnectedClients::emitter)).
    pub fn on_user_online<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, String, ConnectedClients<T::Metadata>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_user_online = Some(Arc::new(move |this, user, clients| {
            Box::pin(hook(this, user, clients))
        }));
    }

    /// Sets the hook run when a user goes offline: their last socket anywhere in the cluster
    /// left (or logged out, or its node died) and none came back within the grace. Runs once,
    /// on one node (not always one that held the user's sockets).
    pub fn on_user_offline<F, Fut>(&mut self, hook: F)
    where
        F: Fn(Arc<T>, String, ConnectedClients<T::Metadata>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_user_offline = Some(Arc::new(move |this, user, clients| {
            Box::pin(hook(this, user, clients))
        }));
    }

    /// The declared event names.
    pub fn events(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.listeners.iter().map(|l| l.event)
    }
}

/// One listener of a namespace, as [`NamespaceDef::on`] declared it.
///
/// ```
/// use tether::{AnyEvent, Namespace, NamespaceDef, RateLimit, Reply};
///
/// struct Search;
///
/// impl Namespace for Search {
///     type Metadata = ();
///     type Events = AnyEvent;
///     const PATH: &'static str = "/search";
///
///     fn define(def: &mut NamespaceDef<Self>) {
///         let listener = def
///             .on::<String, _, _>("search", |_this, _client, query| async move {
///                 Reply::value(&format!("results for {query}"))
///             })
///             .concurrent() // a slow lookup does not hold up the socket's other events
///             .rate_limit(RateLimit::per_second(2).burst(5));
///         assert_eq!(listener.event(), "search");
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = tether::Tether::builder().namespace(Search).build().await.unwrap();
/// # let _ = tether;
/// # }
/// ```
pub struct ListenerDef<T: Namespace> {
    event: &'static str,
    policy: Policy,
    registrar: Registrar<T, T::Metadata>,
}

impl<T: Namespace> fmt::Debug for ListenerDef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerDef")
            .field("event", &self.event)
            .field("concurrent", &(self.policy.mode == Concurrency::Concurrent))
            .field("rate_limit", &self.policy.limit.as_ref().map(|b| b.limit()))
            .finish_non_exhaustive()
    }
}

impl<T: Namespace> ListenerDef<T> {
    /// Runs this listener's events as they arrive, each in its own task, instead of one at a
    /// time in order with the socket's other events (`#[on("event", concurrent)]`). For
    /// listeners whose order does not matter and that may take long (a slow lookup that should
    /// not hold up the socket's other events).
    pub fn concurrent(&mut self) -> &mut Self {
        self.policy.mode = Concurrency::Concurrent;
        self
    }

    /// Limits how often one user (or, for an anonymous socket, one socket) may send this event,
    /// across all its sockets on this node (`#[on("say", rate = "5/s", burst = 10)]`); on top
    /// of the namespace's per-socket limit. An event over it is answered with the error ack
    /// `rate_limited` carrying `retry_after_ms`, and not run.
    pub fn rate_limit(&mut self, limit: RateLimit) -> &mut Self {
        self.policy.limit = Some(Arc::new(Buckets::new(limit)));
        self
    }

    /// The event name.
    pub fn event(&self) -> &'static str {
        self.event
    }

    /// Registers the listener on a socket that has just been admitted.
    pub(crate) fn register(
        &self,
        socket: &SocketRef,
        state: &Arc<T>,
        clients: &ConnectedClients<T::Metadata>,
    ) {
        (self.registrar)(socket, &self.policy, state, clients);
    }
}
