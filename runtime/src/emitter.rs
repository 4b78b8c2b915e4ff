//! The emitter: push typed events to users, channels, client keys or everyone, from anywhere.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde_json::Value;

use crate::clients::ConnectedClients;
use crate::emit::{Delivery, EmitError};
use crate::namespace::Namespace;
use crate::registry::Target;

/// The server→client events of a namespace: an enum whose variants name the events and carry
/// their payloads, so emitting an undeclared event or a wrong payload does not compile.
///
/// Derive it with `#[derive(tether::Events)]`; `Serialize` must produce the payload only.
pub trait Events: Serialize + Send + Sync + 'static {
    /// The event name this value is emitted as.
    fn name(&self) -> &str;
}

/// An event checked at run time rather than compile time, for namespaces that do not declare
/// their events (the default `Events` type of `#[socket_namespace]`).
///
/// ```
/// use tether::{AnyEvent, Events};
/// let ev = AnyEvent::new("notification", serde_json::json!({"text": "hi"}));
/// assert_eq!(ev.name(), "notification");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AnyEvent {
    name: Cow<'static, str>,
    payload: Value,
}

impl AnyEvent {
    /// An event `name` with a JSON payload.
    pub fn new(name: impl Into<Cow<'static, str>>, payload: Value) -> Self {
        Self {
            name: name.into(),
            payload,
        }
    }

    /// An event `name` whose payload is any serialisable value.
    ///
    /// # Errors
    /// When the payload does not serialise to JSON.
    pub fn from_serialize<T: Serialize + ?Sized>(
        name: impl Into<Cow<'static, str>>,
        payload: &T,
    ) -> Result<Self, EmitError> {
        let payload =
            serde_json::to_value(payload).map_err(|e| EmitError::Serialize(e.to_string()))?;
        Ok(Self::new(name, payload))
    }

    /// The payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }
}

impl Serialize for AnyEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.payload.serialize(serializer)
    }
}

impl Events for AnyEvent {
    fn name(&self) -> &str {
        &self.name
    }
}

/// Pushes events of namespace `T` to its clients. Cheap to clone; usable from axum handlers,
/// background tasks and listeners.
///
/// ```no_run
/// # use tether::{Emitter, Events};
/// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: Emitter<T>) -> Result<(), tether::EmitError> {
/// let ev = tether::AnyEvent::new("/users/ping", serde_json::json!({"hello": "world"}));
/// let delivery = emitter.to_user("42").except_client("tab-1").emit(ev).await?;
/// println!("reached {} sockets", delivery.sockets);
/// # Ok(()) }
/// ```
pub struct Emitter<T: Namespace> {
    clients: ConnectedClients<T::Metadata>,
    _namespace: PhantomData<fn() -> T>,
}

impl<T: Namespace> Clone for Emitter<T> {
    fn clone(&self) -> Self {
        Self::new(self.clients.clone())
    }
}

impl<T: Namespace> fmt::Debug for Emitter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emitter")
            .field("namespace", &T::PATH)
            .finish()
    }
}

impl<T: Namespace> Emitter<T> {
    pub(crate) fn new(clients: ConnectedClients<T::Metadata>) -> Self {
        Self {
            clients,
            _namespace: PhantomData,
        }
    }

    /// The connected clients of the namespace on this node.
    pub fn clients(&self) -> &ConnectedClients<T::Metadata> {
        &self.clients
    }

    fn emit_to(&self, target: Target) -> Emit<'_, T> {
        Emit {
            emitter: self,
            targets: vec![target],
            except: Vec::new(),
        }
    }

    /// To every socket of a user.
    pub fn to_user(&self, user: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::User(user.into()))
    }

    /// To every socket of several users (each socket once, even if listed twice).
    pub fn to_users<I>(&self, users: I) -> Emit<'_, T>
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Emit {
            emitter: self,
            targets: users.into_iter().map(|u| Target::User(u.into())).collect(),
            except: Vec::new(),
        }
    }

    /// To every member of a channel.
    pub fn to_channel(&self, channel: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::Channel(channel.into()))
    }

    /// To every socket of a client key.
    pub fn to_client(&self, key: impl Into<String>) -> Emit<'_, T> {
        self.emit_to(Target::Client(key.into()))
    }

    /// To every socket of the namespace.
    pub fn to_all(&self) -> Emit<'_, T> {
        self.emit_to(Target::All)
    }
}

/// One emit being addressed: add targets and exclusions, then [`emit`](Emit::emit).
#[must_use = "an emit does nothing until `.emit(event).await`"]
pub struct Emit<'a, T: Namespace> {
    emitter: &'a Emitter<T>,
    targets: Vec<Target>,
    except: Vec<Target>,
}

impl<T: Namespace> fmt::Debug for Emit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("targets", &self.targets)
            .field("except", &self.except)
            .finish()
    }
}

impl<T: Namespace> Emit<'_, T> {
    /// Also to every socket of this user.
    pub fn and_user(mut self, user: impl Into<String>) -> Self {
        self.targets.push(Target::User(user.into()));
        self
    }

    /// Also to every member of this channel.
    pub fn and_channel(mut self, channel: impl Into<String>) -> Self {
        self.targets.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this user.
    pub fn except_user(mut self, user: impl Into<String>) -> Self {
        self.except.push(Target::User(user.into()));
        self
    }

    /// Except the members of this channel.
    pub fn except_channel(mut self, channel: impl Into<String>) -> Self {
        self.except.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this client key (e.g. the sender).
    pub fn except_client(mut self, key: impl Into<String>) -> Self {
        self.except.push(Target::Client(key.into()));
        self
    }

    /// Sends the event. The payload is serialised once for all recipients.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit(self, event: T::Events) -> Result<Delivery, EmitError> {
        self.emitter
            .clients
            .emit_targets(&self.targets, &self.except, event.name(), &event)
            .await
    }
}
