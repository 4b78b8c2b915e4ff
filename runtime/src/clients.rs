//! The connected-clients map of one namespace on this node.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use serde::Serialize;
use socketioxide::SocketIo;
use socketioxide::extract::SocketRef;
use socketioxide::operators::BroadcastOperators;
use socketioxide::socket::Sid;

use crate::client::{Client, ClientData};
use crate::emit::{Delivery, EmitError, delivery};

/// The socket.io room every socket of a client key joins: `client:{key}`.
pub fn client_room(key: &str) -> String {
    format!("client:{key}")
}

struct Entry<M> {
    data: Arc<ClientData<M>>,
    socket: SocketRef,
}

struct State<M> {
    by_sid: HashMap<Sid, Entry<M>>,
    /// key → sockets in connection order (oldest first).
    by_key: HashMap<String, Vec<Sid>>,
}

struct Inner<M> {
    path: &'static str,
    io: SocketIo,
    state: RwLock<State<M>>,
}

/// The clients connected to one namespace on this node, keyed by their client connection key.
///
/// One key may have several sockets (a user with two tabs): a second socket never replaces the
/// first, and the first one's disconnect leaves the second registered. Reachable from listeners
/// ([`Client::clients`]) and from the rest of the app ([`Tether::clients`](crate::Tether::clients)).
///
/// Lookups return snapshots (clones of [`Client`]s); no lock is held while you use them.
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
        let state = self.inner.state.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("ConnectedClients")
            .field("namespace", &self.inner.path)
            .field("sockets", &state.by_sid.len())
            .field("keys", &state.by_key.len())
            .finish()
    }
}

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    pub(crate) fn new(path: &'static str, io: SocketIo) -> Self {
        Self {
            inner: Arc::new(Inner {
                path,
                io,
                state: RwLock::new(State {
                    by_sid: HashMap::new(),
                    by_key: HashMap::new(),
                }),
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<M>> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is a
        // few infallible map operations), so a poisoned lock is safe to keep using.
        self.inner.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<M>> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn client(&self, entry: &Entry<M>) -> Client<M> {
        Client {
            data: Arc::clone(&entry.data),
            socket: entry.socket.clone(),
            clients: self.clone(),
        }
    }

    pub(crate) fn insert(&self, data: Arc<ClientData<M>>, socket: SocketRef) -> Client<M> {
        let sid = socket.id;
        let mut state = self.write();
        state
            .by_key
            .entry(data.key.clone())
            .or_default()
            .push(sid);
        let entry = Entry { data, socket };
        let client = self.client(&entry);
        state.by_sid.insert(sid, entry);
        client
    }

    pub(crate) fn remove(&self, sid: Sid) -> Option<Client<M>> {
        let mut state = self.write();
        let entry = state.by_sid.remove(&sid)?;
        if let Some(sids) = state.by_key.get_mut(&entry.data.key) {
            sids.retain(|s| *s != sid);
            if sids.is_empty() {
                state.by_key.remove(&entry.data.key);
            }
        }
        drop(state);
        Some(self.client(&entry))
    }

    /// The namespace path.
    pub fn namespace(&self) -> &'static str {
        self.inner.path
    }

    /// Every socket of a client key, oldest first; empty when the key is not connected here.
    pub fn get(&self, key: &str) -> Vec<Client<M>> {
        let state = self.read();
        state
            .by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|sid| state.by_sid.get(sid))
            .map(|e| self.client(e))
            .collect()
    }

    /// The client with this socket id.
    pub fn by_socket_id(&self, sid: Sid) -> Option<Client<M>> {
        self.read().by_sid.get(&sid).map(|e| self.client(e))
    }

    /// Whether at least one socket of this key is connected here.
    pub fn contains(&self, key: &str) -> bool {
        self.read().by_key.contains_key(key)
    }

    /// How many sockets are connected.
    pub fn len(&self) -> usize {
        self.read().by_sid.len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.read().by_sid.is_empty()
    }

    /// How many distinct keys are connected.
    pub fn key_count(&self) -> usize {
        self.read().by_key.len()
    }

    /// The connected keys.
    pub fn keys(&self) -> Vec<String> {
        self.read().by_key.keys().cloned().collect()
    }

    /// Every connected client (one entry per socket).
    pub fn all(&self) -> Vec<Client<M>> {
        self.read()
            .by_sid
            .values()
            .map(|e| self.client(e))
            .collect()
    }

    /// The clients whose metadata matches a predicate, e.g. every admin.
    pub fn filter(&self, mut predicate: impl FnMut(&M) -> bool) -> Vec<Client<M>> {
        self.read()
            .by_sid
            .values()
            .filter(|e| predicate(&e.data.metadata))
            .map(|e| self.client(e))
            .collect()
    }

    fn operators(&self) -> Option<BroadcastOperators> {
        self.inner.io.of(self.inner.path)
    }

    /// Emits to every socket of a client key on this node. The payload is serialised once.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_to<T: Serialize + ?Sized>(
        &self,
        key: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let targeted = self.read().by_key.get(key).map_or(0, Vec::len);
        if targeted == 0 {
            return Ok(Delivery::default());
        }
        self.broadcast(targeted, |ops| ops.to(client_room(key)), event, data)
            .await
    }

    /// Emits to every socket of the namespace on this node.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_all<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let targeted = self.len();
        self.broadcast(targeted, |ops| ops, event, data).await
    }

    /// Emits to every socket except those of one client key (e.g. the sender's other tabs too).
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_all_except<T: Serialize + ?Sized>(
        &self,
        except_key: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let targeted = {
            let state = self.read();
            state.by_sid.len() - state.by_key.get(except_key).map_or(0, Vec::len)
        };
        self.broadcast(
            targeted,
            |ops| ops.except(client_room(except_key)),
            event,
            data,
        )
        .await
    }

    /// Emits to every socket in a socket.io room on this node.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_to_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let Some(ops) = self.operators() else {
            return Ok(Delivery::default());
        };
        let targeted = ops.clone().to(room.to_owned()).sockets().len();
        self.broadcast(targeted, |ops| ops.to(room.to_owned()), event, data)
            .await
    }

    async fn broadcast<T: Serialize + ?Sized>(
        &self,
        targeted: usize,
        select: impl FnOnce(BroadcastOperators) -> BroadcastOperators,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        if targeted == 0 {
            // Still check the payload serialises, so a bad payload is reported the same way
            // whether or not anyone is connected.
            serde_json::to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
            return Ok(Delivery::default());
        }
        let Some(ops) = self.operators() else {
            return Ok(Delivery::default());
        };
        let result = select(ops).emit(event, data).await;
        delivery(targeted, result)
    }
}
