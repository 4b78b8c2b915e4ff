//! Typed server→client events: the [`Events`] a namespace declares, or [`AnyEvent`] checked at
//! run time.

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::delivery::EmitError;

/// The server→client events of a namespace: an enum whose variants name the events and carry
/// their payloads, so emitting an undeclared event or a wrong payload does not compile.
///
/// Derive it with `#[derive(tether::Events)]`; `Serialize` must produce the payload only.
///
/// ```
/// use serde::Serialize;
/// use tether::Events as _; // `.name()`
///
/// #[derive(Serialize)]
/// struct Message { from: String, text: String }
///
/// #[derive(tether::Events)]
/// enum ChatEvent {
///     #[event("message")]
///     Message(Message),
///     #[event("typing")]
///     Typing,
/// }
///
/// let ev = ChatEvent::Message(Message { from: "ada".into(), text: "hi".into() });
/// assert_eq!(ev.name(), "message");
/// // The payload only: the name travels as the socket.io event.
/// assert_eq!(serde_json::to_value(&ev).unwrap(), serde_json::json!({"from": "ada", "text": "hi"}));
/// assert_eq!(ChatEvent::Typing.name(), "typing");
/// ```
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
