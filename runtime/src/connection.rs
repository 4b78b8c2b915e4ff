//! The life of one connection: handshake → middleware → register → connection info →
//! `on_connect`; disconnect → unregister → `on_disconnect`.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::FutureExt;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::__private::{Reply, to_value};
use crate::client::{Client, ClientData};
use crate::clients::ConnectedClients;
use crate::cluster::Cluster;
use crate::error::{SocketError, SocketNok};
use crate::expiry;
use crate::handshake::Handshake;
use crate::login::Verifier;
use crate::namespace::{Namespace, NamespaceDef};
use crate::registry::{Kick, kick_socket};

/// The event carrying [`ConnectionInfo`](crate::ConnectionInfo) to one socket.
pub const CONNECTION_INFO_EVENT: &str = "/ops/connection-success";

/// The query parameter a client names channels to join at connect with (comma-separated).
pub const CHANNEL_QUERY: &str = "channel_id";

/// Everything a namespace's connections share.
pub(crate) struct Runtime<T: Namespace> {
    pub(crate) def: NamespaceDef<T>,
    pub(crate) state: Arc<T>,
    pub(crate) clients: ConnectedClients<T::Metadata>,
    pub(crate) login: Option<Arc<Verifier>>,
    /// How long a socket whose token expired may take to log in again.
    pub(crate) token_grace: Duration,
}

/// Mounts a namespace on a socket.io server; returns its connected-clients map.
pub(crate) fn mount<T: Namespace>(
    io: &SocketIo,
    state: Arc<T>,
    login: Option<Arc<Verifier>>,
    token_grace: Duration,
    cluster: Option<Arc<Cluster>>,
) -> ConnectedClients<T::Metadata> {
    let clients = ConnectedClients::new(T::PATH, io.clone(), cluster.clone());
    if let Some(cluster) = &cluster {
        let (sink, presence) = (clients.downgrade(), clients.downgrade());
        cluster.register(
            T::PATH,
            Box::new(move |envelope| match sink.upgrade() {
                Some(clients) => clients.deliver_remote(envelope),
                None => Box::pin(async {}),
            }),
            Box::new(move || {
                presence
                    .upgrade()
                    .map(|c| c.presence_entries())
                    .unwrap_or_default()
            }),
        );
    }
    let rt = Arc::new(Runtime {
        def: NamespaceDef::<T>::collect(),
        state,
        clients: clients.clone(),
        login,
        token_grace,
    });
    let middleware = {
        let rt = rt.clone();
        move |s: SocketRef, TryData(auth): TryData<Value>| {
            let rt = rt.clone();
            async move { rt.admit(&s, auth.unwrap_or(Value::Null)).await }
        }
    };
    let handler = move |s: SocketRef| {
        let rt = rt.clone();
        async move { rt.connected(s).await }
    };
    io.ns(T::PATH, handler.with(middleware));
    clients
}

impl<T: Namespace> Runtime<T> {
    /// Runs the middleware and, when it accepts, prepares the socket before the CONNECT packet
    /// goes out: its data in the extensions and its listeners registered, so that an event sent
    /// right after connecting is never lost.
    async fn admit(self: &Arc<Self>, s: &SocketRef, auth: Value) -> Result<(), SocketNok> {
        let parts = s.req_parts();
        let hs = Handshake::new(
            s.id.to_string(),
            T::PATH.to_owned(),
            auth,
            parts.uri.query(),
            parts.headers.clone(),
        );
        let channels = requested_channels(&hs)?;
        let mut expires_at = None;
        let metadata = match &self.def.middleware {
            Some(middleware) => {
                match guarded(middleware(self.state.clone(), hs), "middleware", s).await {
                    Some(Ok(ok)) => {
                        expires_at = ok.expiry();
                        ok.into_metadata()
                    }
                    Some(Err(nok)) => {
                        tracing::debug!(sid = %s.id, ns = T::PATH, code = nok.code(), "connection refused");
                        return Err(nok);
                    }
                    None => return Err(SocketNok::internal()),
                }
            }
            None => unit_metadata::<T>()?,
        };
        let user = self.def.user.as_ref().and_then(|user| user(&metadata));
        if user.is_none() && !self.def.anonymous_allowed() {
            return Err(SocketNok::with_code(
                "unauthenticated",
                format!("namespace `{}` requires a signed-in user", T::PATH),
            ));
        }
        let key = match &self.def.key {
            Some(key) => key(&metadata),
            None => s.id.to_string(),
        };
        let data = Arc::new(ClientData::new(key, metadata, user));
        // The timer starts once the socket is connected (`connected`).
        data.expiry().at = expires_at;
        s.extensions.insert(data.clone());
        if !channels.is_empty() {
            let client = Client {
                data: data.clone(),
                socket: s.clone(),
                clients: self.clients.clone(),
            };
            for channel in channels {
                self.authorize_join(&client, &channel).await.map_err(|e| {
                    SocketNok::with_code(e.code().to_owned(), e.message().to_owned())
                })?;
                data.session().channels.insert(channel);
            }
        }
        for (_, register) in &self.def.listeners {
            register(s, &self.state, &self.clients);
        }
        let rt = self.clone();
        s.on_fallback(
            move |s: SocketRef,
                  event: socketioxide::extract::Event,
                  TryData(payload): TryData<Value>,
                  ack: AckSender,
                  asked: AckAsked| {
                let rt = rt.clone();
                async move { rt.on_other_event(s, event.0, payload, ack, asked.0).await }
            },
        );
        let rt = self.clone();
        s.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
            let rt = rt.clone();
            async move { rt.disconnected(s, reason).await }
        });
        Ok(())
    }

    async fn connected(&self, s: SocketRef) {
        let Some(data) = s.extensions.get::<Arc<ClientData<T::Metadata>>>() else {
            tracing::error!(sid = %s.id, "connected socket has no tether data");
            return;
        };
        let client = self.clients.insert(data.clone(), s.clone());
        if data.closed.load(Ordering::SeqCst) || !s.connected() {
            // socketioxide spawns this handler, and a socket can close before it runs (even
            // before socketioxide marks it connected): its disconnect handler then found nothing
            // to unregister. `closed` is set before that handler unregisters, and checked here
            // after the insert, so one of the two always removes the entry.
            self.clients.remove(s.id);
            tracing::debug!(sid = %s.id, ns = T::PATH, "socket closed before its connect handler ran");
            return;
        }
        tracing::debug!(sid = %s.id, ns = T::PATH, key = client.key(), "client connected");
        self.enforce_cap(&client);
        send_connection_info(&client);
        expiry::watch(&client, client.token_expires_at(), self.token_grace);
        if let Some(hook) = &self.def.on_connect {
            guarded(hook(self.state.clone(), client), "on_connect", &s).await;
        }
    }

    async fn disconnected(&self, s: SocketRef, reason: DisconnectReason) {
        if let Some(data) = s.extensions.get::<Arc<ClientData<T::Metadata>>>() {
            data.closed.store(true, Ordering::SeqCst);
            expiry::stop(&data);
        }
        let Some(client) = self.clients.remove(s.id) else {
            return;
        };
        tracing::debug!(sid = %s.id, ns = T::PATH, key = client.key(), ?reason, "client disconnected");
        if let Some(hook) = &self.def.on_disconnect {
            guarded(
                hook(self.state.clone(), client, reason),
                "on_disconnect",
                &s,
            )
            .await;
        }
    }

    /// Disconnects the user's oldest sockets beyond the namespace's cap.
    pub(crate) fn enforce_cap(&self, client: &Client<T::Metadata>) {
        let (Some(cap), Some(user)) = (self.def.max_connections_per_user, client.user_id()) else {
            return;
        };
        if let Some(cluster) = self.clients.cluster() {
            // Cluster-wide and atomic: Redis decides which sockets go, wherever they are.
            let (cluster, clients, sid) = (cluster.clone(), self.clients.clone(), client.id());
            // Queued now, so it reaches Redis in order with this user's presence writes.
            let checked = crate::cluster::cap(&cluster, T::PATH, &user, &sid.to_string(), cap);
            tokio::spawn(async move {
                let Some(evicted) = checked.await else {
                    // Redis is away: hold the cap on this node at least.
                    for old in clients.over_cap(&user, cap) {
                        kick_socket(&old, &cap_kick(&user, cap));
                    }
                    return;
                };
                for (node, sid) in evicted {
                    let kick = cap_kick(&user, cap);
                    if Some(node.as_str()) == cluster.node_id.as_deref() {
                        if let Some(old) = clients
                            .all()
                            .into_iter()
                            .find(|c| c.id().to_string() == sid)
                        {
                            kick_socket(&old, &kick);
                        }
                    } else {
                        let body = crate::cluster::Body::KickSocket { sid: &sid, kick };
                        let target = [crate::registry::Target::User(user.clone())];
                        cluster.publish(T::PATH, &target, &[], body).await;
                    }
                }
            });
            return;
        }
        for old in self.clients.over_cap(&user, cap) {
            kick_socket(&old, &cap_kick(&user, cap));
        }
    }

    /// Runs the channel authorization hook; without one, clients may not join channels.
    pub(crate) async fn authorize_join(
        &self,
        client: &Client<T::Metadata>,
        channel: &str,
    ) -> Result<(), SocketError> {
        let Some(hook) = &self.def.authorize_channel else {
            return Err(SocketError::forbidden(format!(
                "clients may not join channels in `{}` (the namespace has no channel authorization hook)",
                T::PATH
            )));
        };
        let fut = hook(self.state.clone(), client.clone(), channel.to_owned());
        guarded(fut, "authorize_channel", &client.socket)
            .await
            .unwrap_or_else(|| Err(SocketError::internal()))
    }
}

fn cap_kick(user: &str, cap: usize) -> Kick {
    Kick::new(
        "connection_limit",
        format!("user `{user}` may hold at most {cap} connections; this, the oldest, was closed"),
    )
}

/// The channels named in the connection query (`channel_id=a,b`), validated.
fn requested_channels(hs: &Handshake) -> Result<Vec<String>, SocketNok> {
    let Some(raw) = hs.query(CHANNEL_QUERY) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| {
            validate_channel(c)
                .map(|()| c.to_owned())
                .map_err(|e| SocketNok::with_code(e.code().to_owned(), e.message().to_owned()))
        })
        .collect()
}

/// Longest channel name a client may use.
pub const MAX_CHANNEL_LEN: usize = 64;

/// Checks a channel name a client sent: 1 to 64 characters of `A-Z a-z 0-9 _ - . :`.
pub(crate) fn validate_channel(channel: &str) -> Result<(), SocketError> {
    let ok = !channel.is_empty()
        && channel.len() <= MAX_CHANNEL_LEN
        && channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(SocketError::new(
            "invalid_channel",
            format!(
                "channel names are 1 to {MAX_CHANNEL_LEN} characters of letters, digits, `_`, `-`, `.` and `:`"
            ),
        ))
    }
}

pub(crate) fn send_connection_info<M: Send + Sync + 'static>(client: &Client<M>) {
    if let Err(e) = client.emit(CONNECTION_INFO_EVENT, &client.connection_info()) {
        tracing::debug!(sid = %client.id(), error = %e, "connection info not sent");
    }
}

/// A namespace without a middleware has `()` metadata; anything else is a hand-written
/// `Namespace` impl that forgot its middleware.
fn unit_metadata<T: Namespace>() -> Result<T::Metadata, SocketNok> {
    let unit: Box<dyn Any> = Box::new(());
    match unit.downcast::<T::Metadata>() {
        Ok(m) => Ok(*m),
        Err(_) => {
            tracing::error!(
                ns = T::PATH,
                "namespace has a metadata type but no middleware to produce it"
            );
            Err(SocketNok::internal())
        }
    }
}

/// Whether the client asked for an ack (socketioxide keeps the ack id private).
pub(crate) struct AckAsked(pub(crate) bool);

impl socketioxide::handler::FromMessageParts<socketioxide::adapter::LocalAdapter> for AckAsked {
    type Error = std::convert::Infallible;
    fn from_message_parts(
        _: &Arc<socketioxide::socket::Socket>,
        _: &mut socketioxide_core::Value,
        ack_id: &Option<i64>,
    ) -> Result<Self, Self::Error> {
        Ok(Self(ack_id.is_some()))
    }
}

/// The tether client behind a socket, for a message handler.
pub(crate) fn client_of<M: Send + Sync + 'static>(
    s: &SocketRef,
    clients: &ConnectedClients<M>,
) -> Option<Client<M>> {
    let data = s.extensions.get::<Arc<ClientData<M>>>();
    if data.is_none() {
        tracing::error!(sid = %s.id, "an event reached a socket that tether did not register");
    }
    data.map(|data| Client {
        data,
        socket: s.clone(),
        clients: clients.clone(),
    })
}

/// Runs user code, turning a panic into `None` (logged) so one bad call never takes more down.
pub(crate) async fn guarded<O>(
    fut: impl Future<Output = O> + Send,
    what: &str,
    s: &SocketRef,
) -> Option<O> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(out) => Some(out),
        Err(panic) => {
            tracing::error!(sid = %s.id, ns = s.ns(), panic = panic_message(&panic), "{what} panicked");
            None
        }
    }
}

/// Runs a listener; a panic is answered with an `internal` error ack.
pub(crate) async fn run_guarded(
    fut: impl Future<Output = Reply> + Send,
    event: &str,
    s: &SocketRef,
) -> Reply {
    // Not `guarded`: its label would be formatted on every event, not only on a panic.
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(reply) => reply,
        Err(panic) => {
            tracing::error!(sid = %s.id, ns = s.ns(), event, panic = panic_message(&panic), "listener panicked");
            Reply::Value(to_value(&SocketError::internal()))
        }
    }
}

/// Sends a listener's reply as the ack when the client asked for one; an error nobody will
/// see in an ack is logged instead of dropped silently.
pub(crate) fn send_reply(s: &SocketRef, ack: AckSender, asked: bool, reply: Reply, event: &str) {
    match reply {
        Reply::Value(value) if asked => {
            if let Err(e) = ack.send(&value) {
                tracing::debug!(sid = %s.id, event, error = %e, "ack not sent");
            }
        }
        Reply::Value(Value::Object(map)) if map.contains_key("error") => {
            tracing::info!(sid = %s.id, event, error = %serde_json::Value::Object(map), "error for an event sent without ack");
        }
        Reply::Value(_) | Reply::None => {}
    }
}

fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic>")
}
