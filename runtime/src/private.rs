//! What the `#[socket_namespace]` and `#[derive(Events)]` expansions need beyond the public API:
//! absolute paths to the crates they use, and the traits that turn a user's mistake into a
//! diagnostic on the user's own token. Not a public API: no semver guarantees. The runtime itself
//! never imports from here.

use std::fmt::Display;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::SocketError;

pub use ::core;
pub use ::std;

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

/// The `Ok` type of a listener's `Result`: its ack, in TypeScript typings.
pub trait ResultOk {
    /// `T` of `Result<T, E>`.
    type Ok;
}

impl<T, E> ResultOk for Result<T, E> {
    type Ok = T;
}
