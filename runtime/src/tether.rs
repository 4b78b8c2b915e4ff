//! A running [`Tether`]: the tower layer to mount on axum, and every namespace's clients,
//! state and emitter.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use socketioxide::SocketIo;
use socketioxide::layer::SocketIoLayer;

use crate::clients::ConnectedClients;
use crate::cluster::{Cluster, ClusterState, ClusterStats};
use crate::connection::{Keep, Settings};
use crate::emitter::Emitter;
use crate::layer::TetherLayer;
use crate::namespace::Namespace;
use crate::protocol::Kick;
use crate::testing::EmitLog;

/// One mounted namespace: its connected clients, its state, and what keeps its handlers
/// working.
pub(crate) struct Mounted<T: Namespace> {
    clients: ConnectedClients<T::Metadata>,
    state: Arc<T>,
    _keep: Keep,
}

impl<T: Namespace> Mounted<T> {
    pub(crate) fn new(clients: ConnectedClients<T::Metadata>, state: Arc<T>, keep: Keep) -> Self {
        Self {
            clients,
            state,
            _keep: keep,
        }
    }
}

/// Tells every socket of one namespace why, then disconnects it; returns how many.
pub(crate) type Drain = Box<dyn Fn(&Kick) -> usize + Send + Sync>;

struct Inner {
    io: SocketIo,
    layer: SocketIoLayer,
    namespaces: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    cluster: Option<Arc<Cluster>>,
    settings: Arc<Settings>,
    drains: Vec<Drain>,
}

/// A running tether: the tower layer to mount on axum, and access to every namespace's clients.
///
/// Cheap to clone; hand it to axum handlers as state.
///
/// ```
/// # use tether::{Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// use axum::extract::State;
/// use axum::routing::get;
///
/// async fn online(State(tether): State<Tether>) -> String {
///     format!("{} sockets on /chat", tether.clients::<Chat>().len())
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tether::BuildError> {
/// let tether = Tether::builder().namespace(Chat).build().await?;
/// let app: axum::Router = axum::Router::new()
///     .route("/online", get(online))
///     .with_state(tether.clone())
///     .layer(tether.layer());
/// assert_eq!(online(State(tether)).await, "0 sockets on /chat");
/// # let _ = app;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Tether {
    inner: Arc<Inner>,
}

impl fmt::Debug for Tether {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tether")
            .field("namespaces", &self.inner.namespaces.len())
            .finish_non_exhaustive()
    }
}

impl Tether {
    pub(crate) fn new(
        io: SocketIo,
        layer: SocketIoLayer,
        namespaces: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
        cluster: Option<Arc<Cluster>>,
        settings: Arc<Settings>,
        drains: Vec<Drain>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                io,
                layer,
                namespaces,
                cluster,
                settings,
                drains,
            }),
        }
    }

    /// The handshake slots of this tether (`None`: no bound).
    pub(crate) fn admission(&self) -> Option<Arc<crate::connection::Admission>> {
        self.inner.settings.admission.clone()
    }

    /// The tower layer that serves socket.io; add it to an axum `Router` with `.layer(..)`. It
    /// holds this tether, so the app need not keep a `Tether` handle for it to run.
    pub fn layer(&self) -> TetherLayer {
        TetherLayer::new(self.inner.layer.clone(), self.clone())
    }

    /// The connected clients of namespace `T` on this node.
    ///
    /// # Panics
    /// When `T` was not mounted on this tether: that is a wiring bug, not a runtime condition.
    pub fn clients<T: Namespace>(&self) -> ConnectedClients<T::Metadata> {
        self.try_clients::<T>()
            .unwrap_or_else(|| not_mounted::<T>())
    }

    /// The connected clients of namespace `T`, or `None` when it is not mounted.
    pub fn try_clients<T: Namespace>(&self) -> Option<ConnectedClients<T::Metadata>> {
        self.mounted::<T>().map(|m| m.clients.clone())
    }

    fn mounted<T: Namespace>(&self) -> Option<&Mounted<T>> {
        self.inner
            .namespaces
            .get(&TypeId::of::<T>())
            .and_then(|any| any.downcast_ref::<Mounted<T>>())
    }

    /// The state of namespace `T`: the struct given to [`TetherBuilder::namespace`](crate::TetherBuilder::namespace).
    ///
    /// # Panics
    /// When `T` was not mounted on this tether.
    pub fn state<T: Namespace>(&self) -> Arc<T> {
        match self.mounted::<T>() {
            Some(m) => m.state.clone(),
            None => not_mounted::<T>(),
        }
    }

    /// The emitter of namespace `T`: push its events to users, channels, client keys or everyone.
    ///
    /// # Panics
    /// When `T` was not mounted on this tether.
    pub fn emitter<T: Namespace>(&self) -> Emitter<T> {
        Emitter::new(self.clients::<T>())
    }

    /// The server events other nodes (and workers) send to namespace `T` with
    /// [`Emitter::server_side_emit`]: each receiver gets every event that arrives after it was
    /// made, in order; one that falls more than
    /// [`SERVER_EVENTS_CAPACITY`](crate::SERVER_EVENTS_CAPACITY) behind is told how many it
    /// missed. A node does not receive its own.
    ///
    /// ```no_run
    /// # async fn run(tether: tether::Tether) {
    /// # struct Chat;
    /// # #[tether::socket_namespace(path = "/chat")] impl Chat {}
    /// let mut events = tether.server_events::<Chat>();
    /// tokio::spawn(async move {
    ///     while let Ok(ev) = events.recv().await {
    ///         if ev.event == "cache:invalidate" {
    ///             // drop ev.data["key"] from the local cache
    ///         }
    ///     }
    /// });
    /// # }
    /// ```
    ///
    /// # Panics
    /// When `T` was not mounted on this tether.
    pub fn server_events<T: Namespace>(
        &self,
    ) -> tokio::sync::broadcast::Receiver<crate::ServerEvent> {
        self.clients::<T>().server_events()
    }

    /// Starts recording the emits of namespace `T` (for tests); see [`EmitLog`].
    ///
    /// # Panics
    /// When `T` was not mounted on this tether.
    pub fn record_emits<T: Namespace>(&self) -> EmitLog {
        self.clients::<T>().start_recording()
    }

    /// The node's link to Redis ([`ClusterState::Embedded`] without [`TetherBuilder::redis`](crate::TetherBuilder::redis)).
    pub fn cluster_state(&self) -> ClusterState {
        self.inner
            .cluster
            .as_ref()
            .map_or(ClusterState::Embedded, |c| c.state())
    }

    /// A receiver that sees every change of [`cluster_state`](Self::cluster_state); `None` in
    /// embedded mode.
    pub fn watch_cluster(&self) -> Option<tokio::sync::watch::Receiver<ClusterState>> {
        self.inner.cluster.as_ref().map(|c| c.watch())
    }

    /// What this node exchanged with the cluster; `None` in embedded mode.
    pub fn cluster_stats(&self) -> Option<ClusterStats> {
        self.inner.cluster.as_ref().map(|c| c.stats())
    }

    /// This node's id in the cluster; `None` in embedded mode.
    pub fn node_id(&self) -> Option<&str> {
        self.inner.cluster.as_ref().and_then(|c| c.node_id())
    }

    /// Whether the tether is draining: [`close`](Self::close) was called, or the last handle was
    /// dropped. A health check that answers "not ready" then makes a load balancer send new
    /// clients to other nodes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let tether = tether::Tether::builder().build().await.expect("an empty tether");
    /// assert!(!tether.is_closing());
    /// tether.close().await;
    /// assert!(tether.is_closing());
    /// # }
    /// ```
    pub fn is_closing(&self) -> bool {
        self.inner.settings.closing.load(Ordering::SeqCst)
    }

    /// The underlying socketioxide server, for anything tether does not wrap.
    pub fn socketio(&self) -> &SocketIo {
        &self.inner.io
    }

    /// Drains this node for a graceful shutdown (call it on SIGTERM, before the HTTP server
    /// stops): new handshakes are refused with `server_shutdown`; every socket is told
    /// ([`DISCONNECTED_EVENT`](crate::DISCONNECTED_EVENT)
    /// `{"code": "server_shutdown", "reconnect": true}`, see [`Kick::server_shutdown`]) and
    /// disconnected, so its client reconnects to another node (and, with recovery on, receives
    /// what it missed there); in cluster mode this node's presence, view and heartbeat are
    /// removed from Redis at once, so the other nodes see its users offline right away rather
    /// than after three heartbeats, and its cluster tasks stop. Returns how many sockets were
    /// told. Calling it again does nothing more.
    ///
    /// ```no_run
    /// # async fn run(tether: tether::Tether, app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
    /// let draining = tether.clone();
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         draining.close().await;
    ///     })
    ///     .await
    /// # }
    /// ```
    pub async fn close(&self) -> usize {
        if self.inner.settings.closing.swap(true, Ordering::SeqCst) {
            return 0;
        }
        let held = self
            .inner
            .cluster
            .as_ref()
            .map(|c| c.held_sockets())
            .unwrap_or_default();
        // Out of the cluster first: its presence is gone before the node gets busy
        // disconnecting every socket (their own presence removals are then not needed).
        if let Some(cluster) = &self.inner.cluster {
            cluster.leave(held).await;
        }
        let kick = Kick::server_shutdown();
        let told = self.inner.drains.iter().map(|drain| drain(&kick)).sum();
        // socketioxide's own `close` is not called: it would remove the namespaces, and a late
        // handshake would be refused with `Invalid namespace` rather than `server_shutdown`.
        told
    }
}

/// Dropping the last handle (every `Tether` clone, and every router holding its
/// [`layer`](Tether::layer)) stops the tether: its sockets are told `server_shutdown` and
/// disconnected, and in cluster mode it leaves the cluster as [`Tether::close`] does (in a task,
/// when a Tokio runtime is running; otherwise its tasks just stop and its presence expires with
/// its heartbeat).
impl Drop for Inner {
    fn drop(&mut self) {
        if self.settings.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        let held = self
            .cluster
            .as_ref()
            .map(|c| c.held_sockets())
            .unwrap_or_default();
        let kick = Kick::server_shutdown();
        for drain in &self.drains {
            drain(&kick);
        }
        let Some(cluster) = self.cluster.clone() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move { cluster.leave(held).await });
            }
            Err(_) => cluster.stop(),
        }
    }
}

fn not_mounted<T: Namespace>() -> ! {
    panic!(
        "namespace `{}` ({}) is not mounted on this tether; add it with `Tether::builder().namespace(..)`",
        T::PATH,
        std::any::type_name::<T>()
    )
}
