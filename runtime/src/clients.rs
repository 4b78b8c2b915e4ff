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
use crate::registry::Target;
use crate::testing::{EmitLog, RecordedEmit};

/// The socket.io room every socket of a client key joins: `client:{key}`.
pub fn client_room(key: &str) -> String {
    format!("client:{key}")
}

/// The socket.io room every socket of a user joins: `user:{id}`.
pub fn user_room(user: &str) -> String {
    format!("user:{user}")
}

/// The socket.io room of a channel: `channel:{name}`.
pub fn channel_room(channel: &str) -> String {
    format!("channel:{channel}")
}

pub(crate) struct Entry<M> {
    pub(crate) data: Arc<ClientData<M>>,
    pub(crate) socket: SocketRef,
}

pub(crate) struct State<M> {
    pub(crate) by_sid: HashMap<Sid, Entry<M>>,
    /// key → sockets in connection order (oldest first).
    pub(crate) by_key: HashMap<String, Vec<Sid>>,
    /// user → sockets in connection (or login) order, oldest first.
    pub(crate) by_user: HashMap<String, Vec<Sid>>,
    /// channel → member sockets.
    pub(crate) by_channel: HashMap<String, Vec<Sid>>,
}

/// Adds `sid` under `name` in a multimap.
pub(crate) fn index_add(map: &mut HashMap<String, Vec<Sid>>, name: &str, sid: Sid) {
    let sids = map.entry(name.to_owned()).or_default();
    if !sids.contains(&sid) {
        sids.push(sid);
    }
}

/// Removes `sid` from under `name` in a multimap, dropping the entry when it empties.
pub(crate) fn index_remove(map: &mut HashMap<String, Vec<Sid>>, name: &str, sid: Sid) {
    if let Some(sids) = map.get_mut(name) {
        sids.retain(|s| *s != sid);
        if sids.is_empty() {
            map.remove(name);
        }
    }
}

struct Inner<M> {
    path: &'static str,
    io: SocketIo,
    state: RwLock<State<M>>,
    recorder: RwLock<Option<EmitLog>>,
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
        let state = self
            .inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner);
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
                    by_user: HashMap::new(),
                    by_channel: HashMap::new(),
                }),
                recorder: RwLock::new(None),
            }),
        }
    }

    pub(crate) fn read(&self) -> std::sync::RwLockReadGuard<'_, State<M>> {
        // A panic while holding the lock cannot leave the maps half-updated (every update is a
        // few infallible map operations), so a poisoned lock is safe to keep using.
        self.inner
            .state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<M>> {
        self.inner
            .state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn client(&self, entry: &Entry<M>) -> Client<M> {
        Client {
            data: Arc::clone(&entry.data),
            socket: entry.socket.clone(),
            clients: self.clone(),
        }
    }

    pub(crate) fn insert(&self, data: Arc<ClientData<M>>, socket: SocketRef) -> Client<M> {
        let sid = socket.id;
        let mut state = self.write();
        index_add(&mut state.by_key, &data.key, sid);
        socket.join(client_room(&data.key));
        let session = data.session().clone();
        if let Some(user) = &session.user {
            index_add(&mut state.by_user, user, sid);
            socket.join(user_room(user));
        }
        for channel in &session.channels {
            index_add(&mut state.by_channel, channel, sid);
            socket.join(channel_room(channel));
        }
        let entry = Entry { data, socket };
        let client = self.client(&entry);
        state.by_sid.insert(sid, entry);
        client
    }

    pub(crate) fn remove(&self, sid: Sid) -> Option<Client<M>> {
        let mut state = self.write();
        let entry = state.by_sid.remove(&sid)?;
        index_remove(&mut state.by_key, &entry.data.key, sid);
        let session = entry.data.session().clone();
        if let Some(user) = &session.user {
            index_remove(&mut state.by_user, user, sid);
        }
        for channel in &session.channels {
            index_remove(&mut state.by_channel, channel, sid);
        }
        drop(state);
        Some(self.client(&entry))
    }

    /// Starts recording emits made through [`Emitter`](crate::Emitter)s (for tests).
    pub(crate) fn start_recording(&self) -> EmitLog {
        let mut recorder = self
            .inner
            .recorder
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        recorder.get_or_insert_with(EmitLog::default).clone()
    }

    fn record<T: Serialize + ?Sized>(
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

    /// Emits `event` to the sockets selected by `targets` minus `except`, serialising the
    /// payload once; every emit of the [`Emitter`](crate::Emitter) and of client relays ends here.
    pub(crate) async fn emit_targets<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        let targeted = self.count_targets(targets, except);
        let result = match self.operators() {
            Some(ops) if targeted > 0 => {
                let mut ops = ops;
                if !targets.contains(&Target::All) {
                    ops = ops.to(targets.iter().filter_map(Target::room).collect::<Vec<_>>());
                }
                if !except.is_empty() {
                    ops = ops.except(except.iter().filter_map(Target::room).collect::<Vec<_>>());
                }
                delivery(targeted, ops.emit(event, payload).await)
            }
            // Nobody to reach: still check the payload serialises, so a bad payload is
            // reported the same way whether or not anyone is connected.
            _ => serde_json::to_value(payload)
                .map(|_| Delivery::default())
                .map_err(|e| EmitError::Serialize(e.to_string())),
        };
        if let Ok(delivery) = &result {
            self.record(targets, except, event, payload, *delivery);
        }
        result
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

    pub(crate) fn operators(&self) -> Option<BroadcastOperators> {
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
        self.emit_targets(&[Target::Client(key.to_owned())], &[], event, data)
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
        self.emit_targets(&[Target::All], &[], event, data).await
    }

    /// Emits to every socket except those of one client key (e.g. the sender's, all tabs).
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_all_except<T: Serialize + ?Sized>(
        &self,
        except_key: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let except = [Target::Client(except_key.to_owned())];
        self.emit_targets(&[Target::All], &except, event, data)
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
        let ops = ops.to(room.to_owned());
        let targeted = ops.clone().sockets().len();
        delivery(targeted, ops.emit(event, data).await)
    }
}
