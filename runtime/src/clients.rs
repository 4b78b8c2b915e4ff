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
use crate::cluster::{Body, Cluster, Envelope};
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

impl<M> State<M> {
    fn index_of<'a>(
        &'a mut self,
        target: &'a Target,
    ) -> Option<(&'a mut HashMap<String, Vec<Sid>>, &'a str)> {
        match target {
            Target::User(u) => Some((&mut self.by_user, u)),
            Target::Channel(c) => Some((&mut self.by_channel, c)),
            Target::Client(k) => Some((&mut self.by_key, k)),
            Target::All => None,
        }
    }
}

struct Inner<M> {
    path: &'static str,
    io: SocketIo,
    state: RwLock<State<M>>,
    recorder: RwLock<Option<EmitLog>>,
    cluster: Option<Arc<Cluster>>,
}

/// A weak [`ConnectedClients`].
pub(crate) struct WeakClients<M>(std::sync::Weak<Inner<M>>);

impl<M> WeakClients<M> {
    pub(crate) fn upgrade(&self) -> Option<ConnectedClients<M>> {
        self.0.upgrade().map(|inner| ConnectedClients { inner })
    }
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
    pub(crate) fn new(path: &'static str, io: SocketIo, cluster: Option<Arc<Cluster>>) -> Self {
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
                cluster,
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

    /// A handle that does not keep the map alive (for the cluster's message routing).
    pub(crate) fn downgrade(&self) -> WeakClients<M> {
        WeakClients(Arc::downgrade(&self.inner))
    }

    /// `(user, socket id)` of every signed-in socket here, to rewrite the cluster's presence.
    pub(crate) fn presence_entries(&self) -> Vec<(String, String)> {
        let state = self.read();
        state
            .by_user
            .iter()
            .flat_map(|(user, sids)| sids.iter().map(move |sid| (user.clone(), sid.to_string())))
            .collect()
    }

    /// The cluster this namespace is part of, if any.
    pub(crate) fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.inner.cluster.as_ref()
    }

    /// Indexes `sid` under a recipient (user, channel or client key). The first socket of a
    /// recipient makes the node follow its Redis channel; the first socket of a user is also
    /// recorded in the cluster's presence.
    pub(crate) fn index_add(&self, state: &mut State<M>, target: &Target, sid: Sid) {
        let Some((map, name)) = state.index_of(target) else {
            return;
        };
        let sids = map.entry(name.to_owned()).or_default();
        if sids.contains(&sid) {
            return;
        }
        sids.push(sid);
        let first = sids.len() == 1;
        if let Some(cluster) = &self.inner.cluster {
            if first {
                cluster.follow(self.inner.path, target, true);
            }
            if let Target::User(user) = target {
                self.write_presence(cluster, user, sid, true);
            }
        }
    }

    /// Removes `sid` from under a recipient; the last socket's departure unfollows it.
    pub(crate) fn index_remove(&self, state: &mut State<M>, target: &Target, sid: Sid) {
        let Some((map, name)) = state.index_of(target) else {
            return;
        };
        let Some(sids) = map.get_mut(name) else {
            return;
        };
        let before = sids.len();
        sids.retain(|s| *s != sid);
        if sids.len() == before {
            return;
        }
        let last = sids.is_empty();
        if last {
            map.remove(name);
        }
        if let Some(cluster) = &self.inner.cluster {
            if last {
                cluster.follow(self.inner.path, target, false);
            }
            if let Target::User(user) = target {
                self.write_presence(cluster, user, sid, false);
            }
        }
    }

    /// Queued synchronously (under the state lock), so a user's presence writes reach Redis in
    /// the order they happened here.
    fn write_presence(&self, cluster: &Arc<Cluster>, user: &str, sid: Sid, present: bool) {
        cluster.set_presence(self.inner.path, user, &sid.to_string(), present);
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
        self.index_add(&mut state, &Target::Client(data.key.clone()), sid);
        socket.join(client_room(&data.key));
        let session = data.session().clone();
        if let Some(user) = session.user {
            socket.join(user_room(&user));
            self.index_add(&mut state, &Target::User(user), sid);
        }
        for channel in session.channels {
            socket.join(channel_room(&channel));
            self.index_add(&mut state, &Target::Channel(channel), sid);
        }
        let entry = Entry { data, socket };
        let client = self.client(&entry);
        state.by_sid.insert(sid, entry);
        client
    }

    pub(crate) fn remove(&self, sid: Sid) -> Option<Client<M>> {
        let mut state = self.write();
        let entry = state.by_sid.remove(&sid)?;
        self.index_remove(&mut state, &Target::Client(entry.data.key.clone()), sid);
        let session = entry.data.session().clone();
        if let Some(user) = session.user {
            self.index_remove(&mut state, &Target::User(user), sid);
        }
        for channel in session.channels {
            self.index_remove(&mut state, &Target::Channel(channel), sid);
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

    /// Emits `event` to the sockets selected by `targets` minus `except`, here and (in cluster
    /// mode) on every node that holds one of them, serialising the payload once; every emit of
    /// the [`Emitter`](crate::Emitter) and of client relays ends here.
    pub(crate) async fn emit_targets<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        let serialize_error = |e: serde_json::Error| EmitError::Serialize(e.to_string());
        let result = match &self.inner.cluster {
            None => self.emit_local(targets, except, event, payload).await,
            Some(cluster) => {
                let raw = Cluster::raw(payload).map_err(serialize_error)?;
                let mut delivery = self.emit_local(targets, except, event, &*raw).await?;
                let body = Body::Emit { event, data: &raw };
                delivery.published(
                    cluster
                        .publish(self.inner.path, targets, except, body)
                        .await,
                );
                Ok(delivery)
            }
        };
        if let Ok(delivery) = &result {
            self.record(targets, except, event, payload, *delivery);
        }
        result
    }

    /// Emits to the matching sockets of this node only.
    pub(crate) async fn emit_local<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        let targeted = self.count_targets(targets, except);
        match self.operators() {
            Some(ops) if targeted > 0 => {
                let mut ops = ops;
                if !targets.contains(&Target::All) {
                    ops = ops.to(targets.iter().filter_map(Target::room).collect::<Vec<_>>());
                }
                if !except.is_empty() {
                    ops = ops.except(except.iter().filter_map(Target::room).collect::<Vec<_>>());
                }
                let mut delivery = delivery(targeted, ops.emit(event, payload).await)?;
                delivery.nodes = 1;
                Ok(delivery)
            }
            // Nobody to reach: still check the payload serialises, so a bad payload is
            // reported the same way whether or not anyone is connected.
            _ => serde_json::to_value(payload)
                .map(|_| Delivery::default())
                .map_err(|e| EmitError::Serialize(e.to_string())),
        }
    }

    /// Carries out an envelope another node (or a Redis-only emitter) published.
    pub(crate) fn deliver_remote(
        &self,
        envelope: &Envelope<'_>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'static>> {
        let (targets, except) = (envelope.targets.clone(), envelope.except.clone());
        let Some(body) = envelope.body() else {
            tracing::warn!(id = envelope.id, "ignoring an envelope with missing fields");
            return Box::pin(async {});
        };
        match body {
            Body::Emit { event, data } => {
                let this = self.clone();
                let (event, data) = (event.to_owned(), data.to_owned());
                Box::pin(async move {
                    if let Err(e) = this.emit_local(&targets, &except, &event, &*data).await {
                        tracing::warn!(error = %e, event, "remote emit not delivered");
                    }
                })
            }
            Body::Kick { kick } => {
                for target in &targets {
                    for client in self.sockets_of(target) {
                        crate::registry::kick_socket(&client, &kick);
                    }
                }
                Box::pin(async {})
            }
            Body::KickSocket { sid, kick } => {
                if let Some(client) = self.all().into_iter().find(|c| c.id().to_string() == sid) {
                    crate::registry::kick_socket(&client, &kick);
                }
                Box::pin(async {})
            }
        }
    }

    /// The local sockets of one target.
    pub(crate) fn sockets_of(&self, target: &Target) -> Vec<Client<M>> {
        match target {
            Target::All => self.all(),
            Target::User(u) => self.user_sockets(u),
            Target::Channel(c) => self.channel_members(c),
            Target::Client(k) => self.get(k),
        }
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
