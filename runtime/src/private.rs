//! Items the `#[socket_namespace]` expansion uses. Not a public API: no semver guarantees.

use std::fmt::Display;

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned, Deserializer, IgnoredAny};
use serde_json::Value;

use crate::SocketError;

pub use ::core;
pub use ::std;

/// What a listener produced for the client's ack callback.
#[derive(Debug)]
pub enum Reply {
    /// The listener returns nothing: no ack is sent.
    None,
    /// Acknowledge with this value.
    Value(Value),
}

impl Reply {
    /// The listener returns `()`.
    pub fn none() -> Self {
        Self::None
    }

    /// The listener returns a plain serialisable value.
    pub fn value<T: Serialize + ?Sized>(value: &T) -> Self {
        match serde_json::to_value(value) {
            Ok(v) => Self::Value(v),
            Err(e) => {
                tracing::error!(error = %e, "a listener's return value failed to serialise");
                Self::Value(to_value(&SocketError::internal()))
            }
        }
    }

    /// The listener returns a `Result`: `Ok` acks the value, `Err` acks
    /// `{"error": {"code", "message"}}`.
    pub fn result<T: Serialize, E: Into<SocketError>>(result: Result<T, E>) -> Self {
        match result {
            Ok(v) => Self::value(&v),
            Err(e) => Self::Value(to_value(&e.into())),
        }
    }
}

pub(crate) fn to_value(err: &SocketError) -> Value {
    // Serialising a SocketError (two strings) cannot fail.
    serde_json::to_value(err).unwrap_or(Value::Null)
}

/// The payload of a listener that takes none: accepts (and ignores) anything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPayload;

impl<'de> Deserialize<'de> for NoPayload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| NoPayload)
    }
}

/// Turns the `client_connection_key` field into the key of the connected-clients map.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a `client_connection_key`",
    label = "this field must implement `Display` (a string, a number, a UUID…)",
    note = "the key of the connected-clients map is the field's `to_string()`"
)]
pub trait ClientKey {
    /// The map key.
    fn to_key(&self) -> String;
}

impl<T: Display + ?Sized> ClientKey for T {
    fn to_key(&self) -> String {
        self.to_string()
    }
}

/// Implemented by every type a listener can take as its payload.
#[diagnostic::on_unimplemented(
    message = "listener payload `{Self}` must implement `serde::Deserialize`",
    label = "this payload type does not implement `serde::Deserialize`",
    note = "add `#[derive(serde::Deserialize)]` to `{Self}`"
)]
pub trait Payload {}

impl<T: DeserializeOwned> Payload for T {}

/// Fails to compile, on the payload type's span, when `T` is not a valid payload.
pub fn assert_payload<T: Payload>() {}

pub use ::serde;

/// Turns the `user_key` field into the user a connection belongs to (`None`: anonymous).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be used as a `user_key`",
    label = "this field must be a string, a number or an `Option` of one",
    note = "`None` marks an anonymous connection"
)]
pub trait UserKey {
    /// The user id, if any.
    fn user_key(&self) -> Option<String>;
}

impl UserKey for String {
    fn user_key(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl UserKey for str {
    fn user_key(&self) -> Option<String> {
        Some(self.to_owned())
    }
}

impl<T: UserKey + ?Sized> UserKey for &T {
    fn user_key(&self) -> Option<String> {
        (**self).user_key()
    }
}

impl<T: UserKey> UserKey for Option<T> {
    fn user_key(&self) -> Option<String> {
        self.as_ref().and_then(UserKey::user_key)
    }
}

macro_rules! user_key_display {
    ($($t:ty),*) => {$(
        impl UserKey for $t {
            fn user_key(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )*};
}
user_key_display!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize
);

/// What an authorization hook may return: `bool` (false → `forbidden`) or
/// `Result<(), impl Into<SocketError>>`.
#[diagnostic::on_unimplemented(
    message = "an authorization hook must return `bool` or `Result<(), SocketError>`, not `{Self}`"
)]
pub trait Authorization {
    /// Normalises the hook's answer.
    fn into_authorization(self) -> Result<(), SocketError>;
}

impl Authorization for bool {
    fn into_authorization(self) -> Result<(), SocketError> {
        if self {
            Ok(())
        } else {
            Err(SocketError::forbidden("not allowed"))
        }
    }
}

impl<E: Into<SocketError>> Authorization for Result<(), E> {
    fn into_authorization(self) -> Result<(), SocketError> {
        self.map_err(Into::into)
    }
}

/// Implemented by every type an event variant can carry.
#[diagnostic::on_unimplemented(
    message = "event payload `{Self}` must implement `serde::Serialize`",
    label = "this payload type does not implement `serde::Serialize`",
    note = "add `#[derive(serde::Serialize)]` to `{Self}`"
)]
pub trait EventPayload {}

impl<T: Serialize + ?Sized> EventPayload for T {}

/// Fails to compile, on the payload type's span, when `T` is not a valid event payload.
pub fn assert_event_payload<T: EventPayload + ?Sized>() {}
