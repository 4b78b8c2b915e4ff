//! One connected socket, as a namespace's code sees it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use std::time::{Instant, SystemTime};

use serde::Serialize;
use socketioxide::extract::SocketRef;
use socketioxide::socket::Sid;

use super::data::ClientData;
use super::map::ConnectedClients;
use crate::delivery::EmitError;
use crate::metrics::{Dropped, dropped, forced_disconnect};
use crate::protocol::{
    CONNECTION_INFO_EVENT, ConnectionInfo, DISCONNECTED_EVENT, Kick, RecoveryInfo,
};

/// How often a socket whose send queue was full is asked again to disconnect.
const DISCONNECT_RETRY: Duration = Duration::from_millis(100);

/// A connected client: one socket, its key in the connected-clients map and its typed metadata.
///
/// Listeners and hooks receive `&Client<M>`; [`ConnectedClients`] hands out clones. Cloning is
/// cheap (two reference counts).
///
/// ```
/// # use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
/// #[derive(Clone)]
/// struct Member { user_id: String, name: String }
///
/// struct Chat;
///
/// #[socket_namespace(path = "/chat", user_key = "user_id")]
/// impl Chat {
/// #   #[middleware]
/// #   async fn auth(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
/// #       let user = hs.auth_str("user").unwrap_or("ada").to_owned();
/// #       Ok(SocketOk::new(Member { name: user.clone(), user_id: user }))
/// #   }
///     #[on_connect]
///     async fn greet(&self, client: &Client<Member>) {
///         let _ = client.emit("welcome", &format!("hello {}", client.metadata().name));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// // Outside a listener: user 42's sockets on this node.
/// for client in tether.clients::<Chat>().user_sockets("42") {
///     client.disconnect();
/// }
/// # }
/// ```
pub struct Client<M> {
    data: Arc<ClientData<M>>,
    socket: SocketRef,
    clients: ConnectedClients<M>,
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
    pub(crate) fn new(
        data: Arc<ClientData<M>>,
        socket: SocketRef,
        clients: ConnectedClients<M>,
    ) -> Self {
        Self {
            data,
            socket,
            clients,
        }
    }

    /// What tether keeps for this socket.
    pub(crate) fn data(&self) -> &Arc<ClientData<M>> {
        &self.data
    }

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

    /// Emits the connection info to this socket ([`CONNECTION_INFO_EVENT`]), with what its
    /// recovery found after a connect that asked. With recovery on, no recorded event goes out
    /// between reading the socket's offset and sending it, so the offset the client receives
    /// is never behind an event it already has.
    pub(crate) fn send_connection_info(&self, recovery: Option<RecoveryInfo>) -> ConnectionInfo {
        let cursor = self.clients.history().map(|_| self.data.cursor());
        let info = ConnectionInfo {
            offset: cursor.as_ref().map(|c| c.last().to_string()),
            recovery,
            ..self.info_without_offset()
        };
        if let Err(e) = self.emit(CONNECTION_INFO_EVENT, &info) {
            // Counted as a dropped emit by `emit`.
            tracing::debug!(sid = %self.id(), error = %e, "connection info not sent");
        }
        drop(cursor);
        info
    }

    /// The connection info tether sends as `/ops/connection-success`.
    pub fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            offset: self.clients.offset_of(&self.data),
            ..self.info_without_offset()
        }
    }

    fn info_without_offset(&self) -> ConnectionInfo {
        let session = self.data.session();
        ConnectionInfo {
            client_id: self.socket.id.to_string(),
            client_key: self.data.key.clone(),
            user_id: session.user.clone(),
            channels: session.channels.iter().cloned().collect(),
            namespace: self.socket.ns().to_owned(),
            offset: None,
            recovery: None,
        }
    }

    /// When the socket connected.
    pub fn connected_at(&self) -> Instant {
        self.data.connected_at
    }

    /// The underlying socketioxide socket, for anything tether does not wrap.
    ///
    /// Don't register socketioxide handlers on it (`on`, `on_fallback`) from a listener or a
    /// hook: they start in socketioxide's receive path, where socketioxide holds the socket's
    /// handler tables (as it does for its own synchronous handlers), so that call would wait
    /// forever. Declare listeners with `#[on]` instead.
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
        let sent = self.socket.emit(event, data).map_err(EmitError::from);
        if let Err(EmitError::BufferFull | EmitError::Closed) = sent {
            dropped(self.namespace(), Dropped::Emit, 1);
        }
        sent
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
    ///
    /// This always works, even when the socket has stopped reading and its send queue is full
    /// (so the disconnect packet cannot be queued): tether then unregisters the socket at once
    /// (it leaves every index and room, receives nothing more, its queued and future events
    /// are not handled, and the hook runs), counts it in
    /// [`FORCED_DISCONNECTS`](crate::metrics::FORCED_DISCONNECTS), and retries the
    /// socket.io disconnect every 100 ms. The transport itself closes on the first retry that
    /// finds room, or at engine.io's next ping, which fails on a full queue
    /// ([`TetherBuilder::ping_interval`](crate::TetherBuilder::ping_interval), 25 s by default):
    /// socketioxide offers no way to close a transport whose queue is full sooner.
    pub fn disconnect(&self) {
        match self.socket.clone().disconnect() {
            Ok(()) => {}
            Err(socketioxide::SocketError::Closed) => {
                tracing::debug!(sid = %self.socket.id, "disconnect of a closed socket");
            }
            Err(socketioxide::SocketError::InternalChannelFull) => self.force_disconnect(),
        }
    }

    /// Unregisters a socket whose send queue is full, then keeps trying to close it.
    fn force_disconnect(&self) {
        if self.data.close() {
            return; // Already unregistered (or disconnecting).
        }
        tracing::info!(sid = %self.id(), ns = self.namespace(), "send queue full: socket unregistered, transport closes when it can");
        forced_disconnect(self.namespace());
        self.socket.leave_all();
        self.clients.evict(self.socket.clone());
        let socket = self.socket.clone();
        tokio::spawn(async move {
            let mut retry = tokio::time::interval(DISCONNECT_RETRY);
            retry.tick().await;
            loop {
                retry.tick().await;
                match socket.clone().disconnect() {
                    Err(socketioxide::SocketError::InternalChannelFull) => {}
                    Ok(()) | Err(socketioxide::SocketError::Closed) => break,
                }
            }
        });
    }

    /// Tells this socket why ([`DISCONNECTED_EVENT`]), then disconnects it (logged at info).
    pub(crate) fn kick(&self, kick: &Kick) {
        tracing::info!(sid = %self.id(), code = kick.code, "disconnecting socket");
        self.kick_quietly(kick);
    }

    /// [`kick`](Self::kick) logged at debug only: for disconnects a client caused (abuse),
    /// which must not let it fill the log.
    pub(crate) fn kick_quietly(&self, kick: &Kick) {
        if self.data.is_closed() {
            return; // Already on its way out.
        }
        tracing::debug!(sid = %self.id(), code = kick.code, "disconnecting socket");
        if let Err(e) = self.socket.emit(DISCONNECTED_EVENT, kick) {
            dropped(self.namespace(), Dropped::Notice, 1);
            tracing::debug!(sid = %self.id(), error = %e, "could not tell a kicked socket why");
        }
        self.disconnect();
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
