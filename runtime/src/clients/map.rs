//! The connected-clients map of one namespace on this node: its state, and the one place where
//! a socket enters or leaves an index (and the node follows or unfollows a recipient).

use std::fmt;
use std::sync::{
    Arc, Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak,
};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use super::client::Client;
use super::data::ClientData;
use super::history::History;
use super::index::{Change, Entry, Indexes};
use crate::delivery::Delivery;
use crate::metrics::NamespaceMetrics;
use crate::offline::Inboxes;
use crate::presence::{Announce, Roster, Tracking};
use crate::protocol::Target;
use crate::recovery::Recovery;
use crate::remote::Remote;
use crate::server_events::{SERVER_EVENTS_CAPACITY, ServerEvent};
use crate::testing::{EmitLog, RecordedEmit};

pub(super) struct Inner<M> {
    path: &'static str,
    io: SocketIo,
    indexes: RwLock<Indexes<M>>,
    recorder: RwLock<Option<EmitLog>>,
    remote: Option<Arc<dyn Remote>>,
    /// Recovery on: the namespace's history.
    history: Option<History>,
    /// Embedded mode: the offline inboxes (cluster mode keeps them in Redis).
    inboxes: Mutex<Inboxes>,
    /// What unregisters a socket that cannot be told to disconnect (set by the connection
    /// layer, which runs the namespace's disconnect hook).
    evict: OnceLock<EvictFn>,
    /// Turns metadata into JSON for fetches, when the namespace shares it.
    pub(super) share: OnceLock<ShareFn<M>>,
    /// What presence tracks.
    pub(super) tracking: Tracking,
    /// Embedded mode: the presence groups (cluster mode keeps them in Redis).
    pub(super) roster: Mutex<Roster>,
    /// Announces presence changes (set by the connection layer).
    pub(super) announce: OnceLock<Announce>,
    /// Where other nodes' server events go.
    server_events: tokio::sync::broadcast::Sender<ServerEvent>,
    /// The namespace's metric handles (its gauges exist, at 0, from the start).
    pub(super) metrics: NamespaceMetrics,
}

/// Turns a socket's metadata into JSON, for the nodes that fetch it.
pub(crate) type ShareFn<M> = Arc<dyn Fn(&M) -> serde_json::Value + Send + Sync>;

/// Unregisters a socket as if it had disconnected.
pub(crate) type EvictFn = Box<dyn Fn(SocketRef) + Send + Sync>;

/// The clients connected to one namespace on this node, keyed by their client connection key.
///
/// One key may have several sockets (a user with two tabs): a second socket never replaces the
/// first, and the first one's disconnect leaves the second registered. Reachable from listeners
/// ([`Client::clients`]) and from the rest of the app ([`Tether::clients`](crate::Tether::clients)).
///
/// Lookups return snapshots (clones of [`Client`]s); no lock is held while you use them.
///
/// ```
/// # use tether::{socket_namespace, Tether};
/// struct Lobby;
///
/// #[socket_namespace(path = "/lobby")]
/// impl Lobby {}
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Lobby).build().await.unwrap();
/// let clients = tether.clients::<Lobby>();
/// assert!(clients.is_empty());
/// assert!(clients.get("some-key").is_empty());
/// assert!(!clients.is_online("alice"));
/// # }
/// ```
pub struct ConnectedClients<M> {
    inner: Arc<Inner<M>>,
}

impl<M> Clone for ConnectedClients<M> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<M> fmt::Debug for ConnectedClients<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let indexes = self
            .inner
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ConnectedClients")
            .field("namespace", &self.inner.path)
            .field("sockets", &indexes.by_sid.len())
            .field("keys", &indexes.len_of(Target::Client))
            .finish()
    }
}

/// A [`ConnectedClients`] that does not keep the map alive (for the cluster's message routing).
pub(crate) struct WeakClients<M>(Weak<Inner<M>>);

impl<M> WeakClients<M> {
    pub(crate) fn upgrade(&self) -> Option<ConnectedClients<M>> {
        self.0.upgrade().map(|inner| ConnectedClients { inner })
    }
}

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    pub(crate) fn new(
        path: &'static str,
        io: SocketIo,
        remote: Option<Arc<dyn Remote>>,
        recovery: Option<Recovery>,
        tracking: Tracking,
    ) -> Self {
        let history = recovery.map(|config| History::new(config, remote.is_none()));
        Self {
            inner: Arc::new(Inner {
                path,
                io,
                indexes: RwLock::new(Indexes::default()),
                recorder: RwLock::new(None),
                remote,
                history,
                inboxes: Mutex::default(),
                evict: OnceLock::new(),
                share: OnceLock::new(),
                tracking,
                roster: Mutex::default(),
                announce: OnceLock::new(),
                server_events: tokio::sync::broadcast::Sender::new(SERVER_EVENTS_CAPACITY),
                metrics: NamespaceMetrics::new(path),
            }),
        }
    }

    pub(super) fn inner(&self) -> &Inner<M> {
        &self.inner
    }

    pub(super) fn read(&self) -> RwLockReadGuard<'_, Indexes<M>> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is a
        // few infallible map operations), so a poisoned lock is safe to keep using.
        self.inner
            .indexes
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn write(&self) -> RwLockWriteGuard<'_, Indexes<M>> {
        self.inner
            .indexes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle that does not keep the map alive.
    pub(crate) fn downgrade(&self) -> WeakClients<M> {
        WeakClients(Arc::downgrade(&self.inner))
    }

    /// The namespace path.
    pub fn namespace(&self) -> &'static str {
        self.inner.path
    }

    /// Counts one received event that has no user listener (`/ops/*`, or unknown).
    pub(crate) fn count_ops_event(&self, event: &str) {
        self.inner.metrics.ops_received(event);
    }

    /// Sets what [`evict`](Self::evict) runs (once, when the namespace is mounted).
    pub(crate) fn on_evict(&self, evict: EvictFn) {
        if self.inner.evict.set(evict).is_err() {
            tracing::error!(ns = self.inner.path, "eviction handler set twice");
        }
    }

    /// Shares the sockets' metadata with fetches (once, when the namespace is mounted).
    pub(crate) fn share_metadata(&self, share: ShareFn<M>) {
        let _ = self.inner.share.set(share);
    }

    /// Unregisters a socket now, as its disconnect would (see [`Client::disconnect`]).
    pub(crate) fn evict(&self, socket: SocketRef) {
        match self.inner.evict.get() {
            Some(evict) => evict(socket),
            None => drop(self.remove(socket.id)),
        }
    }

    pub(crate) fn remote(&self) -> Option<&Arc<dyn Remote>> {
        self.inner.remote.as_ref()
    }

    /// The offline inboxes of embedded mode.
    pub(super) fn inner_inboxes(&self) -> &Mutex<Inboxes> {
        &self.inner.inboxes
    }

    /// The namespace's recovery history; `None` when recovery is off.
    pub(crate) fn history(&self) -> Option<&History> {
        self.inner.history.as_ref()
    }

    /// The socketioxide operators of this namespace.
    pub(super) fn operators(&self) -> Option<BroadcastOperators> {
        self.inner.io.of(self.inner.path)
    }

    pub(super) fn client(&self, entry: &Entry<M>) -> Client<M> {
        Client::new(Arc::clone(&entry.data), entry.socket.clone(), self.clone())
    }

    /// Indexes `sid` under a recipient and joins its room. The first socket of a recipient
    /// makes the node follow it; each socket of a user is recorded in the cluster's presence
    /// (queued under the lock, so a user's presence writes keep the order they happened in).
    pub(super) fn index_add(&self, indexes: &mut Indexes<M>, target: &Target, socket: &SocketRef) {
        let change = indexes.add(target, socket.id);
        if change == Change::None {
            return;
        }
        if let Some(room) = target.room() {
            socket.join(room);
        }
        self.tell_remote(target, socket.id, change, true);
    }

    /// Removes `sid` from under a recipient and its room; the last socket's departure unfollows
    /// the recipient.
    pub(super) fn index_remove(
        &self,
        indexes: &mut Indexes<M>,
        target: &Target,
        socket: &SocketRef,
    ) {
        let change = indexes.remove(target, socket.id);
        if change == Change::None {
            return;
        }
        if let Some(room) = target.room() {
            socket.leave(room);
        }
        self.tell_remote(target, socket.id, change, false);
    }

    fn tell_remote(&self, target: &Target, sid: Sid, change: Change, added: bool) {
        if change == Change::Edge && matches!(target, Target::User(_)) {
            self.inner.metrics.user(added);
        }
        let Some(remote) = &self.inner.remote else {
            return;
        };
        if change == Change::Edge {
            remote.follow(self.inner.path, target, added);
        }
        if let Target::User(user) = target {
            remote.set_presence(self.inner.path, user, &sid.to_string(), added);
        }
    }

    /// Puts a connected socket in the map, under its key, its user and its channels.
    pub(crate) fn insert(&self, data: Arc<ClientData<M>>, socket: SocketRef) -> Client<M> {
        let mut indexes = self.write();
        for target in recipients(&data) {
            self.index_add(&mut indexes, &target, &socket);
        }
        if self.inner.tracking.is_on() {
            let session = data.session().clone();
            if let Some(user) = &session.user {
                self.roster(user, &self.groups_of(&session.channels), socket.id, true);
            }
        }
        let entry = Entry { data, socket };
        let client = self.client(&entry);
        indexes.by_sid.insert(client.id(), entry);
        self.inner.metrics.socket(true);
        client
    }

    /// Takes a socket out of the map; `None` when it was not in it.
    pub(crate) fn remove(&self, sid: Sid) -> Option<Client<M>> {
        let mut indexes = self.write();
        let entry = indexes.by_sid.remove(&sid)?;
        self.inner.metrics.socket(false);
        for target in recipients(&entry.data) {
            self.index_remove(&mut indexes, &target, &entry.socket);
        }
        if self.inner.tracking.is_on() {
            let session = entry.data.session().clone();
            if let Some(user) = &session.user {
                self.roster(user, &self.groups_of(&session.channels), sid, false);
            }
        }
        drop(indexes);
        Some(self.client(&entry))
    }

    /// Replaces a socket's data (a new identity: its key and metadata may differ), re-indexing
    /// it under its new key; the new [`Client`], or `None` when the socket is not here.
    pub(crate) fn replace_data(&self, sid: Sid, data: Arc<ClientData<M>>) -> Option<Client<M>> {
        let mut indexes = self.write();
        let entry = indexes.by_sid.get(&sid)?;
        let socket = entry.socket.clone();
        let (old, new) = (entry.data.key.clone(), data.key.clone());
        if old != new {
            self.index_remove(&mut indexes, &Target::Client(old), &socket);
            self.index_add(&mut indexes, &Target::Client(new), &socket);
        }
        let entry = Entry { data, socket };
        let client = self.client(&entry);
        indexes.by_sid.insert(sid, entry);
        Some(client)
    }

    /// `(user, socket id)` of every signed-in socket here, to rewrite the cluster's presence.
    pub(crate) fn presence_entries(&self) -> Vec<(String, String)> {
        self.read()
            .users()
            .flat_map(|(user, sids)| sids.iter().map(move |sid| (user.clone(), sid.to_string())))
            .collect()
    }

    /// A receiver of the server events other nodes send to this namespace.
    pub(crate) fn server_events(&self) -> tokio::sync::broadcast::Receiver<ServerEvent> {
        self.inner.server_events.subscribe()
    }

    /// Hands a server event another node sent to this node's receivers.
    pub(super) fn server_event(&self, event: &str, data: &serde_json::value::RawValue) {
        match serde_json::from_str(data.get()) {
            // No receiver: nobody listens on this node, which is fine.
            Ok(data) => drop(self.inner.server_events.send(ServerEvent {
                event: event.to_owned(),
                data,
            })),
            Err(e) => tracing::debug!(error = %e, event, "server event not JSON"),
        }
    }

    /// Starts recording emits (for tests).
    pub(crate) fn start_recording(&self) -> EmitLog {
        let mut recorder = self
            .inner
            .recorder
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        recorder.get_or_insert_with(EmitLog::default).clone()
    }

    /// Records an emit when recording is on.
    pub(super) fn record<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
        delivery: Delivery,
    ) {
        let recorder = self
            .inner
            .recorder
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(log) = recorder.as_ref() {
            log.push(RecordedEmit {
                targets: targets.to_vec(),
                except: except.to_vec(),
                event: event.to_owned(),
                payload: serde_json::to_value(payload).unwrap_or(serde_json::Value::Null),
                delivery,
            });
        }
    }
}

/// The recipients a socket is indexed under: its key, its user, its channels.
pub(super) fn recipients<M>(data: &ClientData<M>) -> Vec<Target> {
    let session = data.session();
    std::iter::once(Target::Client(data.key.clone()))
        .chain(session.user.clone().map(Target::User))
        .chain(session.channels.iter().cloned().map(Target::Channel))
        .collect()
}
