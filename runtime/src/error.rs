//! The error a listener or an `/ops/*` request answers with: `{"error": {"code", "message"}}`.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

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
    retry_after: Option<Duration>,
}

impl SocketError {
    /// An error with a stable code and a human-readable message.
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            retry_after: None,
        }
    }

    /// `rate_limited`: the client sent more events than its rate limit allows; it may send
    /// again after `retry_after` (the ack carries it as `retry_after_ms`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let err = tether::SocketError::rate_limited(Duration::from_millis(250));
    /// assert_eq!(
    ///     serde_json::to_value(&err).unwrap()["error"]["retry_after_ms"],
    ///     250
    /// );
    /// ```
    pub fn rate_limited(retry_after: Duration) -> Self {
        let ms = retry_after.as_millis().max(1);
        Self {
            retry_after: Some(Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))),
            ..Self::new(
                "rate_limited",
                format!("too many events; send again in {ms} ms"),
            )
        }
    }

    /// When the client may try again (set for `rate_limited`).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
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
            #[serde(skip_serializing_if = "Option::is_none")]
            retry_after_ms: Option<u128>,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        Outer {
            error: Inner {
                code: &self.code,
                message: &self.message,
                retry_after_ms: self.retry_after.map(|d| d.as_millis()),
            },
        }
        .serialize(serializer)
    }
}
