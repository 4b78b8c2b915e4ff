//! The error a listener or an `/ops/*` request answers with: `{"error": {"code", "message"}}`.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;

/// An error a listener returns; the client receives it as the ack
/// `{"error": {"code": "...", "message": "..."}}`.
///
/// ```
/// use tether::SocketError;
/// let err = SocketError::new("forbidden", "only admins may do that");
/// assert_eq!(
///     serde_json::to_value(&err).unwrap(),
///     serde_json::json!({"error": {"code": "forbidden", "message": "only admins may do that"}})
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketError {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl SocketError {
    /// An error with a stable code and a human-readable message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// `invalid_payload`: the event's payload did not match the listener's type.
    pub fn invalid_payload(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("invalid_payload", message)
    }

    /// `forbidden`: the client may not do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("forbidden", message)
    }

    /// `not_found`: what the client named does not exist.
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new("not_found", message)
    }

    /// `internal`: the server failed; the message should not leak details.
    pub fn internal() -> Self {
        Self::new("internal", "the server failed to process the event")
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The ack a client receives: `{"error": {"code", "message"}}`.
    pub(crate) fn to_ack(&self) -> serde_json::Value {
        // Two strings always serialise.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SocketError {}

impl Serialize for SocketError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        Outer {
            error: Inner {
                code: &self.code,
                message: &self.message,
            },
        }
        .serialize(serializer)
    }
}
