//! Listener plumbing: what a listener answers ([`Reply`]), how its payload is read, how a panic
//! is contained, and how the answer reaches the client's ack callback.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny};
use serde_json::Value;
use socketioxide::extract::{AckSender, SocketRef, TryData};
use socketioxide::handler::FromMessageParts;
use socketioxide::socket::Socket;

use crate::clients::{Client, ClientData, ConnectedClients};
use crate::error::SocketError;
use crate::inline_handler::Inline;
use crate::metrics::{self, Dropped, dropped, rate_limit_disconnect};
use crate::protocol::Kick;
use crate::rate::Buckets;
use crate::serial::Job;

/// What a listener answers to the client's ack callback.
///
/// `#[socket_namespace]` builds it from the listener's return type: `()` → [`Reply::none`],
/// `T: Serialize` → [`Reply::value`], `Result<T, E: Into<SocketError>>` → [`Reply::result`].
/// A hand-written [`Namespace`](crate::Namespace) returns it from the closures it gives
/// [`NamespaceDef::on`](crate::NamespaceDef::on).
///
/// ```
/// use tether::{Reply, SocketError};
/// let ok: Result<u32, SocketError> = Ok(7);
/// assert_eq!(Reply::result(ok).ack(), Some(&serde_json::json!(7)));
/// let err: Result<u32, SocketError> = Err(SocketError::forbidden("no"));
/// assert_eq!(
///     Reply::result(err).ack(),
///     Some(&serde_json::json!({"error": {"code": "forbidden", "message": "no"}}))
/// );
/// assert_eq!(Reply::none().ack(), None);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    ack: Option<Value>,
    /// The code of an error reply, for the metrics (not read back from the JSON, which a
    /// listener's own value could imitate).
    error: Option<String>,
}

impl Reply {
    /// The listener answers nothing: no ack is sent.
    pub fn none() -> Self {
        Self {
            ack: None,
            error: None,
        }
    }

    /// Acknowledge with a serialisable value (an `internal` error when it does not serialise).
    pub fn value<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_value(value) {
            Ok(v) => Self::json(v),
            Err(e) => {
                tracing::error!(error = %e, "a listener's return value failed to serialise");
                Self::error(&SocketError::internal())
            }
        }
    }

    /// `Ok` acknowledges the value, `Err` acknowledges `{"error": {"code", "message"}}`.
    pub fn result<T: Serialize, E: Into<SocketError>>(result: Result<T, E>) -> Self {
        match result {
            Ok(v) => Self::value(&v),
            Err(e) => Self::error(&e.into()),
        }
    }

    /// Acknowledge with a JSON value as it is.
    pub(crate) fn json(value: Value) -> Self {
        Self {
            ack: Some(value),
            error: None,
        }
    }

    /// Acknowledge with an error.
    pub fn error(err: &SocketError) -> Self {
        Self {
            ack: Some(err.to_ack()),
            error: Some(err.code().to_owned()),
        }
    }

    /// The ack value, if any.
    pub fn ack(&self) -> Option<&Value> {
        self.ack.as_ref()
    }
}

/// The payload of a listener that takes none: accepts (and ignores) anything, including no
/// argument at all.
///
/// ```
/// let none: tether::NoPayload = serde_json::from_value(serde_json::json!({"any": 1})).unwrap();
/// # let _ = none;
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPayload;

impl<'de> Deserialize<'de> for NoPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| NoPayload)
    }
}

/// How a listener's events run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Concurrency {
    /// One at a time with the socket's other events and `/ops/*` requests, in arrival order.
    #[default]
    InOrder,
    /// As they arrive, each in its own task (`#[on("event", concurrent)]`).
    Concurrent,
}

/// How one listener's events are let in and run.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    pub(crate) mode: Concurrency,
    /// The listener's own rate limit, per user (per socket for an anonymous one).
    pub(crate) limit: Option<Arc<Buckets>>,
}

/// Hands one incoming event to its socket's queue, or runs it at once for a concurrent
/// listener; returns what socketioxide spawns. `work` builds the job from the ack sender. An
/// event over a rate limit is answered with `rate_limited` (and a client that keeps going far
/// over it is disconnected); when the queue is full the event is answered with `overloaded`.
/// Neither runs.
pub(crate) fn schedule<M: Send + Sync + 'static>(
    client: &Client<M>,
    policy: &Policy,
    ack: AckSender,
    asked: bool,
    event: &str,
    work: impl FnOnce(AckSender) -> Job,
) -> Option<Job> {
    if let Err(err) = admit_rate(client, policy.limit.as_deref()) {
        send_reply(client.socket(), ack, asked, Reply::error(&err), event);
        return None;
    }
    if policy.mode == Concurrency::Concurrent {
        return Some(work(ack));
    }
    match client.data().serial.reserve() {
        Some(slot) => slot.run(work(ack)),
        None => {
            let err = SocketError::new(
                "overloaded",
                "too many events of this socket are waiting; wait for their acks before sending more",
            );
            send_reply(client.socket(), ack, asked, Reply::error(&err), event);
        }
    }
    None
}

/// Takes the event from the socket's bucket, then from the listener's (the user's, or the
/// socket's when it has none). Over a limit: `rate_limited` with the wait, and a client that
/// keeps sending far over it is disconnected.
fn admit_rate<M: Send + Sync + 'static>(
    client: &Client<M>,
    listener: Option<&Buckets>,
) -> Result<(), SocketError> {
    let throttle = &client.data().throttle;
    let refused = match (throttle.take(), throttle.limit()) {
        (Err(wait), Some(limit)) => Some((wait, limit)),
        _ => listener.and_then(|buckets| {
            let key = client.user_id().unwrap_or_else(|| client.id().to_string());
            buckets.take(&key).err().map(|wait| (wait, buckets.limit()))
        }),
    };
    let Some((wait, limit)) = refused else {
        return Ok(());
    };
    if throttle.refused(limit) {
        // Counted, not logged above debug: the client chose this, and must not fill the log.
        rate_limit_disconnect(client.namespace());
        client.kick_quietly(&Kick::new(
            "rate_limited",
            "this socket kept sending events far over its rate limit",
        ));
    }
    Err(SocketError::rate_limited(wait))
}

/// Registers one listener on a socket: reads the payload (an `invalid_payload` error ack when
/// it does not match `P`), runs the listener in the socket's order (or concurrently) with a
/// panic guard, and sends its reply.
pub(crate) fn register<S, M, P, F, Fut>(
    socket: &SocketRef,
    event: &'static str,
    policy: Policy,
    state: Arc<S>,
    clients: ConnectedClients<M>,
    listener: Arc<F>,
) where
    S: Send + Sync + 'static,
    M: Send + Sync + 'static,
    P: DeserializeOwned + Send + Sync + 'static,
    F: Fn(Arc<S>, Client<M>, P) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let received = metrics::received(clients.namespace(), event);
    socket.on(
        event,
        Inline(
            move |s: Arc<Socket>, mut v: socketioxide::handler::Value, ack_id: Option<i64>| {
                let Ok(TryData::<P>(payload)) = TryData::from_message_parts(&s, &mut v, &ack_id);
                let Ok(ack) = AckSender::from_message_parts(&s, &mut v, &ack_id);
                let asked = AckAsked(ack_id.is_some());
                let s = SocketRef::from(s);
                let client = client_of(&s, &clients)?;
                received.increment(1);
                let (state, listener) = (state.clone(), listener.clone());
                // Everything the listener logs carries the namespace, event, socket and user.
                let span = tracing::debug_span!(
                    parent: connection_span(&s),
                    "event",
                    event,
                    user = client.user_id().as_deref().unwrap_or("")
                );
                schedule(&client.clone(), &policy, ack, asked.0, event, move |ack| {
                    Box::pin(tracing::Instrument::instrument(
                        async move {
                            // A listener without payload accepts an event sent with no arguments.
                            let payload = payload.or_else(|e| no_payload::<P>().ok_or(e));
                            let reply = match payload {
                                // Boxed: the user's future would otherwise be inlined into this one.
                                Ok(payload) => {
                                    run_guarded(
                                        Box::pin(listener(state, client, payload)),
                                        event,
                                        &s,
                                    )
                                    .await
                                }
                                Err(e) => {
                                    let message = format!("the `{event}` payload is invalid: {e}");
                                    // Client-caused: at debug, without the error (it may quote the value).
                                    tracing::debug!(sid = %s.id, event, "invalid payload");
                                    Reply::error(&SocketError::invalid_payload(message))
                                }
                            };
                            send_reply(&s, ack, asked.0, reply, event);
                        },
                        span,
                    ))
                })
            },
        ),
    );
}

/// `Some(NoPayload)` when `P` is [`NoPayload`].
fn no_payload<P: 'static>() -> Option<P> {
    let any: Box<dyn Any> = Box::new(NoPayload);
    any.downcast::<P>().ok().map(|p| *p)
}

/// The span of one connection (`connection`: namespace, socket id, and the user it connected
/// as), kept in the socket's extensions from its handshake on; each of its events' spans (the
/// event, and the user then: a login changes it) is a child of it, so a subscriber shows an
/// event inside its connection.
#[derive(Clone)]
pub(crate) struct ConnectionSpan(pub(crate) tracing::Span);

/// The connection span of socket `s` (a disabled span when it has none).
pub(crate) fn connection_span(s: &SocketRef) -> tracing::Span {
    s.extensions
        .get::<ConnectionSpan>()
        .map_or_else(tracing::Span::none, |c| c.0)
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
    let Some(data) = s.extensions.get::<Arc<ClientData<M>>>() else {
        tracing::error!(sid = %s.id, "an event reached a socket that tether did not register");
        return None;
    };
    if data.is_closed() {
        tracing::debug!(sid = %s.id, "event of a disconnecting socket ignored");
        return None;
    }
    Some(Client::new(data, s.clone(), clients.clone()))
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
async fn run_guarded(fut: impl Future<Output = Reply> + Send, event: &str, s: &SocketRef) -> Reply {
    // Not `guarded`: its label would be formatted on every event, not only on a panic.
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(reply) => reply,
        Err(panic) => {
            tracing::error!(sid = %s.id, ns = s.ns(), event, panic = panic_message(&panic), "listener panicked");
            Reply::error(&SocketError::internal())
        }
    }
}

/// Sends a reply as the ack when the client asked for one; an error nobody will see in an ack
/// is logged instead of dropped silently.
pub(crate) fn send_reply(s: &SocketRef, ack: AckSender, asked: bool, reply: Reply, event: &str) {
    if let Some(code) = &reply.error {
        metrics::error_ack(s.ns(), code);
    }
    match reply.ack {
        Some(value) if asked => {
            if let Err(e) = ack.send(&value) {
                dropped(s.ns(), Dropped::Ack, 1);
                tracing::debug!(sid = %s.id, event, error = %e, "ack not sent");
            }
        }
        Some(Value::Object(map)) if map.contains_key("error") => {
            // Client-caused: at debug, and only the code (the message may quote the client).
            let code = map["error"]
                .get("code")
                .and_then(Value::as_str)
                .unwrap_or("");
            tracing::debug!(sid = %s.id, event, code, "error for an event sent without ack");
        }
        Some(_) | None => {}
    }
}

pub(crate) fn panic_message(panic: &Box<dyn Any + Send>) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("<non-string panic>")
}
