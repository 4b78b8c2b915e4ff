//! What a connection middleware returns: an accepted connection with its metadata
//! ([`SocketOk`]), or a refusal with a stable code ([`SocketNok`]).

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use crate::error::SocketError;

/// A connection accepted by a `#[middleware]`, carrying the client's new typed metadata and,
/// when the client authenticated with an expiring token, when that token expires.
///
/// ```
/// # #[derive(Clone)] struct User { id: String }
/// use std::time::{Duration, SystemTime};
/// use tether::SocketOk;
/// let ok = SocketOk::new(User { id: "42".into() });
/// assert_eq!(ok.metadata().id, "42");
/// assert_eq!(ok.expiry(), None);
///
/// let at = SystemTime::now() + Duration::from_secs(3600);
/// let ok = ok.expires_at(Some(at));
/// assert_eq!(ok.expiry(), Some(at));
/// ```
#[derive(Debug, Clone)]
pub struct SocketOk<M> {
    metadata: M,
    expires_at: Option<SystemTime>,
}

impl<M> SocketOk<M> {
    /// Accepts the connection with this metadata.
    pub fn new(metadata: M) -> Self {
        Self {
            metadata,
            expires_at: None,
        }
    }

    /// Sets when the client's credentials expire (a token's `exp`). Once that time passes, the
    /// socket receives `/ops/token-expired` and is disconnected with reason `expired_token`
    /// unless it logs in again (`/ops/login`) within the grace period
    /// ([`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace)). `None` (the default):
    /// the connection never expires.
    ///
    /// [`JweVerifier::accept`](crate::auth::JweVerifier::accept) sets it from the token.
    #[must_use]
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }

    /// When the client's credentials expire, if they do (see [`expires_at`](Self::expires_at)).
    pub fn expiry(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The metadata the client will carry.
    pub fn metadata(&self) -> &M {
        &self.metadata
    }

    /// Takes the metadata out.
    pub fn into_metadata(self) -> M {
        self.metadata
    }
}

/// A connection refused by a `#[middleware]`.
///
/// The client receives it in its `connect_error` event. socket.io's CONNECT_ERROR packet (as
/// socketioxide sends it) only carries a `message`, so the stable, machine-readable code travels
/// as the message's first word: `expired_token: the token expired`. [`SocketNok::parse`] reads
/// it back; JS clients can do `err.message.split(":")[0]`.
///
/// Codes tether itself uses: `missing_token`, `malformed_token`, `invalid_token`,
/// `expired_token`, `not_yet_valid`, `refused` (the default), `internal` (the middleware panicked).
///
/// ```
/// use tether::SocketNok;
/// let nok = SocketNok::with_code("expired_token", "the token expired");
/// assert_eq!(nok.to_string(), "expired_token: the token expired");
/// assert_eq!(SocketNok::parse("expired_token: the token expired"), Some(("expired_token", "the token expired")));
/// assert_eq!(SocketNok::new("go away").code(), "refused");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketNok {
    code: Cow<'static, str>,
    message: Cow<'static, str>,
}

impl SocketNok {
    /// Refuses with code `refused` and this message.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self::with_code("refused", message)
    }

    /// Refuses with a stable code (a `snake_case` word) and a human-readable message.
    ///
    /// A code that is not a single `[a-z0-9_]` word would break the `code: message` framing;
    /// it is replaced by `refused` (and the original kept in the message).
    pub fn with_code(
        code: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        let code = code.into();
        let message = message.into();
        if is_code(&code) {
            Self { code, message }
        } else {
            Self {
                code: Cow::Borrowed("refused"),
                message: Cow::Owned(format!("{code}: {message}")),
            }
        }
    }

    /// The connection failed because of a bug on the server (a panicking middleware).
    pub fn internal() -> Self {
        Self::with_code("internal", "the server failed to process the connection")
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Splits a `connect_error` message into `(code, message)`, if it has the tether framing.
    pub fn parse(message: &str) -> Option<(&str, &str)> {
        let (code, rest) = message.split_once(": ")?;
        is_code(code).then_some((code, rest))
    }
}

fn is_code(code: &str) -> bool {
    !code.is_empty()
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl fmt::Display for SocketNok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for SocketNok {}

impl From<SocketNok> for SocketError {
    fn from(nok: SocketNok) -> Self {
        SocketError::new(nok.code, nok.message)
    }
}

impl From<SocketError> for SocketNok {
    /// Refuses a connection for the same reason an error ack gives (e.g. a channel in the
    /// connection query that the namespace does not allow).
    fn from(err: SocketError) -> Self {
        SocketNok::with_code(err.code().to_owned(), err.message().to_owned())
    }
}
