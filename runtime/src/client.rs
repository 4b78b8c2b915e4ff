//! One connected socket, as a namespace's code sees it.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant, SystemTime};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::clients::ConnectedClients;
use crate::emit::EmitError;
use crate::emitter::Emitter;
use crate::namespace::Namespace;

/// The per-socket data tether keeps (stored in the socket's extensions; it holds no socket
/// reference, so a socket and its handlers never keep each other alive).
pub(crate) struct ClientData<M> {
    pub(crate) key: String,
    pub(crate) metadata: M,
    pub(crate) connected_at: Instant,
    pub(crate) session: Mutex<Session>,
    /// When the socket's token expires, and the timer enforcing it (see `expiry.rs`).
    pub(crate) expiry: Mutex<crate::expiry::Expiry>,
    /// Set when the disconnect handler ran (which can happen before the connect handler).
    pub(crate) closed: AtomicBool,
}

/// What changes during a connection: the signed-in user and the joined channels.
#[derive(Debug, Clone, Default)]
pub(crate) struct Session {
    pub(crate) user: Option<String>,
    pub(crate) channels: BTreeSet<String>,
}

impl<M> ClientData<M> {
    pub(crate) fn new(key: String, metadata: M, user: Option<String>) -> Self {
        Self {
            key,
            metadata,
            connected_at: Instant::now(),
            session: Mutex::new(Session {
                user,
                channels: BTreeSet::new(),
            }),
            expiry: Mutex::default(),
            closed: AtomicBool::new(false),
        }
    }

    pub(crate) fn session(&self) -> MutexGuard<'_, Session> {
        // Session updates are single assignments; a poisoned lock holds consistent data.
        self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn expiry(&self) -> MutexGuard<'_, crate::expiry::Expiry> {
        self.expiry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A connected client: one socket, its key in the connected-clients map and its typed metadata.
///
/// Listeners and hooks receive `&Client<M>`; [`ConnectedClients`] hands out clones. Cloning is
/// cheap (two reference counts).
pub struct Client<M> {
    pub(crate) data: Arc<ClientData<M>>,
    pub(crate) socket: SocketRef,
    pub(crate) clients: ConnectedClients<M>,
}

impl<M> Clone for Client<M> {
    fn clone(&self) -> Self {
        Self {
            data: Arc::clone(&self.data),
            socket: self.socket.clone(),
            clients: self.clients.clone(),
        }
    }
}

impl<M: Send + Sync + 'static> Client<M> {
    /// The client's key in the connected-clients map: the `client_connection_key` field of its
    /// metadata, or its socket id when the namespace sets none. Several sockets may share a key.
    pub fn key(&self) -> &str {
        &self.data.key
    }

    /// The socket id.
    pub fn id(&self) -> Sid {
        self.socket.id
    }

    /// The metadata the middleware gave this client.
    pub fn metadata(&self) -> &M {
        &self.data.metadata
    }

    /// The user this socket belongs to; `None` for an anonymous socket. Changes on
    /// `/ops/login`, `/ops/logout` and [`ConnectedClients::register`].
    pub fn user_id(&self) -> Option<String> {
        self.data.session().user.clone()
    }

    /// When the token this socket authenticated with expires (from the middleware's
    /// [`SocketOk::expires_at`](crate::SocketOk::expires_at), then from each `/ops/login`);
    /// `None` when it does not expire. After it, the socket must log in again within the grace
    /// period or be disconnected.
    pub fn token_expires_at(&self) -> Option<SystemTime> {
        self.data.expiry().at
    }

    /// The channels this socket has joined.
    pub fn channels(&self) -> Vec<String> {
        self.data.session().channels.iter().cloned().collect()
    }

    /// Whether this socket has joined a channel.
    pub fn in_channel(&self, channel: &str) -> bool {
        self.data.session().channels.contains(channel)
    }

    /// The connection info tether sends as `/ops/connection-success`.
    pub fn connection_info(&self) -> ConnectionInfo {
        let session = self.data.session();
        ConnectionInfo {
            client_id: self.socket.id.to_string(),
            client_key: self.data.key.clone(),
            user_id: session.user.clone(),
            channels: session.channels.iter().cloned().collect(),
            namespace: self.socket.ns().to_owned(),
        }
    }

    /// A typed emitter for namespace `T` (the namespace of this client).
    pub fn emitter<T>(&self) -> Emitter<T>
    where
        T: Namespace<Metadata = M>,
    {
        Emitter::new(self.clients.clone())
    }

    /// When the socket connected.
    pub fn connected_at(&self) -> Instant {
        self.data.connected_at
    }

    /// The underlying socketioxide socket, for anything tether does not wrap.
    pub fn socket(&self) -> &SocketRef {
        &self.socket
    }

    /// The namespace path, e.g. `/chat`.
    pub fn namespace(&self) -> &str {
        self.socket.ns()
    }

    /// The connected clients of this client's namespace on this node.
    pub fn clients(&self) -> &ConnectedClients<M> {
        &self.clients
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.socket.connected()
    }

    /// Emits an event to this socket only.
    ///
    /// # Errors
    /// When the payload cannot be serialised, the socket is closed, or its send buffer is full.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.socket.emit(event, data).map_err(EmitError::from)
    }

    /// Joins a socket.io room (this socket only, this node).
    pub fn join(&self, room: impl Into<String>) {
        self.socket.join(room.into());
    }

    /// Leaves a socket.io room.
    pub fn leave(&self, room: impl Into<String>) {
        self.socket.leave(room.into());
    }

    /// The rooms this socket is in.
    pub fn rooms(&self) -> Vec<String> {
        self.socket
            .rooms()
            .into_iter()
            .map(|r| r.to_string())
            .collect()
    }

    /// Disconnects this socket (its `#[on_disconnect]` hook runs with
    /// `ServerNSDisconnect`).
    pub fn disconnect(&self) {
        if let Err(e) = self.socket.clone().disconnect() {
            tracing::debug!(sid = %self.socket.id, error = %e, "disconnect of a closed socket");
        }
    }
}

impl<M: fmt::Debug> fmt::Debug for Client<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.socket.id)
            .field("key", &self.data.key)
            .field("namespace", &self.socket.ns())
            .field("metadata", &self.data.metadata)
            .finish()
    }
}

/// Sent as `/ops/connection-success` to one socket on connect, after login/logout, and when the
/// client emits `/ops/connection`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionInfo {
    /// The socket id.
    pub client_id: String,
    /// The client's key in the connected-clients map.
    pub client_key: String,
    /// The signed-in user; `null` when anonymous.
    pub user_id: Option<String>,
    /// The joined channels, sorted.
    pub channels: Vec<String>,
    /// The namespace path.
    pub namespace: String,
}
