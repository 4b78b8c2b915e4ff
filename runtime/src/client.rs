//! One connected socket, as a namespace's code sees it.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use crate::clients::ConnectedClients;
use crate::emit::EmitError;

/// The per-socket data tether keeps (stored in the socket's extensions; it holds no socket
/// reference, so a socket and its handlers never keep each other alive).
pub(crate) struct ClientData<M> {
    pub(crate) key: String,
    pub(crate) metadata: M,
    pub(crate) connected_at: Instant,
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
        self.socket.rooms().into_iter().map(|r| r.to_string()).collect()
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
