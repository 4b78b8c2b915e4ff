//! The [`Namespace`] trait that `#[socket_namespace]` implements, and the connection flow:
//! handshake → middleware → register → `on_connect`; disconnect → unregister → `on_disconnect`.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use serde::de::DeserializeOwned;
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{AckSender, Event, SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use crate::client::{Client, ClientData};
use crate::clients::{ConnectedClients, client_room};
use crate::error::{SocketError, SocketNok, SocketOk};
use crate::handshake::Handshake;
use crate::__private::{Reply, to_value};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type KeyFn<M> = Arc<dyn Fn(&M) -> String + Send + Sync>;
type MiddlewareFn<T, M> =
    Arc<dyn Fn(Arc<T>, Handshake) -> BoxFuture<Result<SocketOk<M>, SocketNok>> + Send + Sync>;
type ConnectFn<T, M> = Arc<dyn Fn(Arc<T>, Client<M>) -> BoxFuture<()> + Send + Sync>;
type DisconnectFn<T, M> =
    Arc<dyn Fn(Arc<T>, Client<M>, DisconnectReason) -> BoxFuture<()> + Send + Sync>;
type Registrar<T, M> = Arc<dyn Fn(&SocketRef, &Arc<T>, &ConnectedClients<M>) + Send + Sync>;

/// A socket.io namespace: a struct whose methods handle its connections and events.
///
/// Implemented by `#[socket_namespace]`; implementing it by hand is possible (the macro's
/// expansion is an ordinary implementation) but rarely useful.
pub trait Namespace: Send + Sync + Sized + 'static {
    /// The typed metadata the middleware attaches to each client (`()` without a middleware).
    type Metadata: Send + Sync + 'static;

    /// The namespace path, e.g. `/chat`.
    const PATH: &'static str;

    /// Declares the middleware, listeners and hooks.
    fn define(def: &mut NamespaceDef<Self>);
}

/// The parts of a namespace, declared by [`Namespace::define`].
pub struct NamespaceDef<T: Namespace> {
    key: Option<KeyFn<T::Metadata>>,
    middleware: Option<MiddlewareFn<T, T::Metadata>>,
    listeners: Vec<(&'static str, Registrar<T, T::Metadata>)>,
    on_connect: Option<ConnectFn<T, T::Metadata>>,
    on_disconnect: Option<DisconnectFn<T, T::Metadata>>,
}

impl<T: Namespace> fmt::Debug for NamespaceDef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NamespaceDef")
            .field("path", &T::PATH)
            .field("keyed_by_metadata", &self.key.is_some())
            .field("middleware", &self.middleware.is_some())
            .field(
                "listeners",
                &self.listeners.iter().map(|(e, _)| e).collect::<Vec<_>>(),
            )
            .field("on_connect", &self.on_connect.is_some())
            .field("on_disconnect", &self.on_disconnect.is_some())
            .finish()
    }
}

impl<T: Namespace> NamespaceDef<T> {
    pub(crate) fn collect() -> Self {
        let mut def = Self {
            key: None,
            middleware: None,
            listeners: Vec::new(),
            on_connect: None,
            on_disconnect: None,
        };
        T::define(&mut def);
        def
    }

    /// Keys the connected-clients map by a value derived from the metadata (the
    /// `client_connection_key`); without it, clients are keyed by socket id.
    pub fn client_key(&mut self, key: impl Fn(&T::Metadata) -> String + Send + Sync + 'static) {
        self.key = Some(Arc::new(key));
    }

    /// Sets the connection middleware.
    pub fn middleware<F, Fut>(&mut self, middleware: F)
    where
        F: Fn(Arc<T>, Handshake) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<SocketOk<T::Metadata>, SocketNok>> + Send + 'static,
    {
        self.middleware = Some(Arc::new(move |this, hs| Box::pin(middleware(this, hs))));
    }

    /// Adds a listener for `event` whose payload deserialises into `P`.
    ///
    /// Call it as `def.on::<Payload, _, _>("event", |this, client, payload| async move { .. })`.
    pub fn on<P, F, Fut>(&mut self, event: &'static str, listener: F)
    where
        P: DeserializeOwned + Send + Sync + 'static,
        F: Fn(Arc<T>, Client<T::Metadata>, P) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Reply> + Send + 'static,
    {
        let listener = Arc::new(listener);
        let registrar: Registrar<T, T::Metadata> = Arc::new(move |socket, this, clients| {
            let (this, clients, listener) = (this.clone(), clients.clone(), listener.clone());
            socket.on(
                event,
                move |s: SocketRef, TryData(payload): TryData<P>, ack: AckSender, asked: AckAsked| {
                    let client = client_of(&s, &clients);
                    async move {
                        let Some(client) = client else { return };
                        let reply = match payload {
                            Ok(payload) => {
                                let fut = listener(this, client, payload);
                                run_guarded(fut, event, &s).await
                            }
                            Err(e) => {
                                let message = format!("the `{event}` payload is invalid: {e}");
                                tracing::warn!(sid = %s.id, event, error = %e, "invalid payload");
                                Reply::Value(to_value(&SocketError::invalid_payload(message)))
                            }
                        };
                        send_reply(&s, ack, asked.0, reply, event);
                    }
                },
            );
        });
        self.listeners.push((event, registrar));
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

    /// The declared event names.
    pub fn events(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.listeners.iter().map(|(e, _)| *e)
    }
}

/// Whether the client asked for an ack (socketioxide keeps the ack id private).
struct AckAsked(bool);

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

fn client_of<M: Send + Sync + 'static>(
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

async fn run_guarded(fut: impl Future<Output = Reply> + Send, event: &str, s: &SocketRef) -> Reply {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(reply) => reply,
        Err(panic) => {
            tracing::error!(sid = %s.id, event, panic = panic_message(&panic), "listener panicked");
            Reply::Value(to_value(&SocketError::internal()))
        }
    }
}

fn send_reply(s: &SocketRef, ack: AckSender, asked: bool, reply: Reply, event: &str) {
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

/// Mounts a namespace on a socket.io server; returns its connected-clients map.
pub(crate) fn mount<T: Namespace>(io: &SocketIo, state: Arc<T>) -> ConnectedClients<T::Metadata> {
    let def = Arc::new(NamespaceDef::<T>::collect());
    let clients = ConnectedClients::new(T::PATH, io.clone());

    let middleware = {
        let (def, state, clients) = (def.clone(), state.clone(), clients.clone());
        move |s: SocketRef, TryData(auth): TryData<Value>| {
            let (def, state, clients) = (def.clone(), state.clone(), clients.clone());
            async move { admit(&def, state, &clients, &s, auth.unwrap_or(Value::Null)).await }
        }
    };
    let handler = {
        let (def, clients) = (def.clone(), clients.clone());
        move |s: SocketRef| {
            let (def, state, clients) = (def.clone(), state.clone(), clients.clone());
            async move { connected(&def, state, &clients, s).await }
        }
    };
    io.ns(T::PATH, handler.with(middleware));
    clients
}

/// Runs the middleware and, when it accepts, prepares the socket before the CONNECT packet goes
/// out: its data in the extensions and its listeners registered, so that an event sent right
/// after connecting is never lost.
async fn admit<T: Namespace>(
    def: &NamespaceDef<T>,
    state: Arc<T>,
    clients: &ConnectedClients<T::Metadata>,
    s: &SocketRef,
    auth: Value,
) -> Result<(), SocketNok> {
    let parts = s.req_parts();
    let hs = Handshake::new(
        s.id.to_string(),
        T::PATH.to_owned(),
        auth,
        parts.uri.query(),
        parts.headers.clone(),
    );
    let metadata = match &def.middleware {
        Some(middleware) => {
            let fut = middleware(state.clone(), hs);
            match AssertUnwindSafe(fut).catch_unwind().await {
                Ok(Ok(ok)) => ok.into_metadata(),
                Ok(Err(nok)) => {
                    tracing::debug!(sid = %s.id, ns = T::PATH, code = nok.code(), "connection refused");
                    return Err(nok);
                }
                Err(panic) => {
                    tracing::error!(sid = %s.id, ns = T::PATH, panic = panic_message(&panic), "middleware panicked; connection refused");
                    return Err(SocketNok::internal());
                }
            }
        }
        None => unit_metadata::<T>()?,
    };
    let key = match &def.key {
        Some(key) => key(&metadata),
        None => s.id.to_string(),
    };
    s.extensions.insert(Arc::new(ClientData {
        key,
        metadata,
        connected_at: Instant::now(),
    }));
    for (_, register) in &def.listeners {
        register(s, &state, clients);
    }
    s.on_fallback(unknown_event);
    let on_disconnect = def.on_disconnect.clone();
    let clients = clients.clone();
    s.on_disconnect(move |s: SocketRef, reason: DisconnectReason| {
        let client = clients.remove(s.id);
        let (on_disconnect, state) = (on_disconnect.clone(), state.clone());
        async move {
            let (Some(client), Some(hook)) = (client, on_disconnect) else {
                return;
            };
            if let Err(panic) = AssertUnwindSafe(hook(state, client, reason))
                .catch_unwind()
                .await
            {
                tracing::error!(sid = %s.id, panic = panic_message(&panic), "on_disconnect hook panicked");
            }
        }
    });
    Ok(())
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

async fn connected<T: Namespace>(
    def: &NamespaceDef<T>,
    state: Arc<T>,
    clients: &ConnectedClients<T::Metadata>,
    s: SocketRef,
) {
    let Some(data) = s.extensions.get::<Arc<ClientData<T::Metadata>>>() else {
        tracing::error!(sid = %s.id, "connected socket has no tether data");
        return;
    };
    s.join(client_room(&data.key));
    let client = clients.insert(data, s.clone());
    tracing::debug!(sid = %s.id, ns = T::PATH, key = client.key(), "client connected");
    if let Some(hook) = &def.on_connect
        && let Err(panic) = AssertUnwindSafe(hook(state, client)).catch_unwind().await
    {
        tracing::error!(sid = %s.id, panic = panic_message(&panic), "on_connect hook panicked");
    }
}

async fn unknown_event(s: SocketRef, Event(event): Event, ack: AckSender, asked: AckAsked) {
    tracing::debug!(sid = %s.id, event, "event without a listener");
    let err = SocketError::new("unknown_event", format!("no listener for event `{event}`"));
    send_reply(&s, ack, asked.0, Reply::Value(to_value(&err)), &event);
}
