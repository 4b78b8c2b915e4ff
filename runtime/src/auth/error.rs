//! Why a token was refused, with the stable codes clients see.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::error::SocketError;
use crate::handshake::SocketNok;

/// The family of a [`TokenError`]; each maps to one stable code.
///
/// ```
/// use tether::auth::TokenErrorKind;
/// assert_eq!(TokenErrorKind::Expired.code(), "expired_token");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenErrorKind {
    /// `missing_token`: no configured source of the handshake carried a token.
    Missing,
    /// `malformed_token`: not a compact JWE at all (too long, wrong number of parts, bad base64,
    /// a header or payload that is not a JSON object), or a token field of the wrong type.
    Malformed,
    /// `invalid_token`: a well-formed token the server does not accept: another algorithm
    /// (including `alg: none`), an unknown key id, made with another key, tampered with, or
    /// claims that do not have the expected shape.
    Invalid,
    /// `expired_token`: its `exp` has passed (beyond the leeway).
    Expired,
    /// `not_yet_valid`: its `nbf` is still in the future (beyond the leeway).
    NotYetValid,
    /// `forbidden_origin`: a cookie or query token on a connection opened by a page whose
    /// origin is not among [`TetherBuilder::allowed_origins`](crate::TetherBuilder::allowed_origins)
    /// (cross-site WebSocket hijacking).
    ForbiddenOrigin,
}

impl TokenErrorKind {
    /// The stable, machine-readable code.
    pub const fn code(self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Malformed => "malformed_token",
            Self::Invalid => "invalid_token",
            Self::Expired => "expired_token",
            Self::NotYetValid => "not_yet_valid",
            Self::ForbiddenOrigin => "forbidden_origin",
        }
    }
}

/// A token was missing or refused.
///
/// [`code`](Self::code) is one of the stable codes `missing_token`, `malformed_token`,
/// `invalid_token`, `expired_token`, `not_yet_valid`, `forbidden_origin`; [`message`](Self::message) tells a developer
/// what was wrong. Neither ever contains the token, its claims or key material.
///
/// It converts into a refused connection ([`SocketNok`]) or an error ack ([`SocketError`]) that
/// carry the same code and message:
///
/// ```
/// use tether::auth::{JweVerifier, Key, KeySet};
/// use tether::SocketNok;
///
/// let verifier = JweVerifier::new(KeySet::new(Key::generate()));
/// let err = verifier.verify_token::<serde_json::Value>("not-a-token").unwrap_err();
/// assert_eq!(err.code(), "malformed_token");
/// let nok = SocketNok::from(err);
/// assert!(nok.to_string().starts_with("malformed_token: "));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenError {
    reason: Reason,
}

/// The precise reason; private so messages can improve without breaking anyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reason {
    Custom {
        kind: TokenErrorKind,
        message: Cow<'static, str>,
    },
    Missing {
        looked_in: String,
    },
    TooLarge {
        len: usize,
        max: usize,
    },
    Empty,
    NotCompact,
    BadBase64 {
        part: &'static str,
    },
    BadHeader,
    BadIvOrTag,
    PayloadNotObject,
    WrongType {
        source: String,
        found: &'static str,
    },
    UnsupportedAlgorithm,
    UnsupportedEncryption,
    Compressed,
    CriticalHeader,
    EncryptedKeyPresent,
    UnknownKeyId,
    Undecryptable,
    MissingExp,
    BadTimeClaim {
        claim: &'static str,
    },
    ClaimsShape {
        detail: Option<String>,
    },
    Expired {
        ago: Duration,
        expired_at: u64,
    },
    NotYetValid {
        wait: Duration,
        not_before: u64,
    },
    ForbiddenOrigin {
        source: String,
    },
}

impl TokenError {
    pub(crate) fn new(reason: Reason) -> Self {
        Self { reason }
    }

    /// An error of this kind with your own message, for a custom
    /// [`TokenVerifier`](super::TokenVerifier). Clients see the message: do not put the token or
    /// secrets in it.
    ///
    /// ```
    /// use tether::auth::{TokenError, TokenErrorKind};
    /// let err = TokenError::custom(TokenErrorKind::Invalid, "the session was revoked");
    /// assert_eq!(err.to_string(), "invalid_token: the session was revoked");
    /// ```
    pub fn custom(kind: TokenErrorKind, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Reason::Custom {
            kind,
            message: message.into(),
        })
    }

    /// No token was found; `looked_in` lists where (for the message).
    pub(crate) fn missing(looked_in: String) -> Self {
        Self::new(Reason::Missing { looked_in })
    }

    /// The family of the error.
    pub fn kind(&self) -> TokenErrorKind {
        match &self.reason {
            Reason::Custom { kind, .. } => *kind,
            Reason::Missing { .. } => TokenErrorKind::Missing,
            Reason::TooLarge { .. }
            | Reason::Empty
            | Reason::NotCompact
            | Reason::BadBase64 { .. }
            | Reason::BadHeader
            | Reason::BadIvOrTag
            | Reason::PayloadNotObject
            | Reason::WrongType { .. } => TokenErrorKind::Malformed,
            Reason::UnsupportedAlgorithm
            | Reason::UnsupportedEncryption
            | Reason::Compressed
            | Reason::CriticalHeader
            | Reason::EncryptedKeyPresent
            | Reason::UnknownKeyId
            | Reason::Undecryptable
            | Reason::MissingExp
            | Reason::BadTimeClaim { .. }
            | Reason::ClaimsShape { .. } => TokenErrorKind::Invalid,
            Reason::Expired { .. } => TokenErrorKind::Expired,
            Reason::NotYetValid { .. } => TokenErrorKind::NotYetValid,
            Reason::ForbiddenOrigin { .. } => TokenErrorKind::ForbiddenOrigin,
        }
    }

    /// The stable code: `missing_token`, `malformed_token`, `invalid_token`, `expired_token` or
    /// `not_yet_valid`.
    pub fn code(&self) -> &'static str {
        self.kind().code()
    }

    /// For `expired_token`: when the token expired, in seconds since the Unix epoch.
    pub fn expired_at(&self) -> Option<u64> {
        match self.reason {
            Reason::Expired { expired_at, .. } => Some(expired_at),
            _ => None,
        }
    }

    /// A human-readable explanation, without the code. It never contains the token, its claims
    /// or key material.
    pub fn message(&self) -> String {
        match &self.reason {
            Reason::Custom { message, .. } => message.clone().into_owned(),
            Reason::Missing { looked_in } => {
                format!("no token found in the handshake (looked in: {looked_in})")
            }
            Reason::TooLarge { len, max } => {
                format!("the token is {len} bytes long, more than the {max} allowed")
            }
            Reason::Empty => "the token is empty".to_owned(),
            Reason::NotCompact => {
                "the token is not a compact JWE (five base64url parts separated by dots)".to_owned()
            }
            Reason::BadBase64 { part } => {
                format!("the token's {part} is not valid unpadded base64url")
            }
            Reason::BadHeader => "the token's protected header is not a JSON object".to_owned(),
            Reason::BadIvOrTag => {
                "the token's initialization vector must be 12 bytes and its tag 16 bytes (A256GCM)"
                    .to_owned()
            }
            Reason::PayloadNotObject => "the token's payload is not a JSON object".to_owned(),
            Reason::WrongType { source, found } => {
                format!("{source} must be a string, got {found}")
            }
            Reason::UnsupportedAlgorithm => {
                "the token's `alg` is not `dir` (only `alg: dir` with `enc: A256GCM` is accepted)"
                    .to_owned()
            }
            Reason::UnsupportedEncryption => {
                "the token's `enc` is not `A256GCM` (only `alg: dir` with `enc: A256GCM` is accepted)"
                    .to_owned()
            }
            Reason::Compressed => "compressed tokens (`zip` header) are not accepted".to_owned(),
            Reason::CriticalHeader => {
                "the token has a `crit` header, and this server understands no extension".to_owned()
            }
            Reason::EncryptedKeyPresent => {
                "the token carries an encrypted key, which `alg: dir` forbids".to_owned()
            }
            Reason::UnknownKeyId => "the token's key id (`kid`) is not one of the server's keys \
                 (was its key removed after a rotation?)"
                .to_owned(),
            Reason::Undecryptable => {
                "the token could not be decrypted: it was made with another key or altered".to_owned()
            }
            Reason::MissingExp => {
                "the token has no `exp` claim, and this server requires one".to_owned()
            }
            Reason::BadTimeClaim { claim } => {
                format!("the token's `{claim}` claim is not a number of seconds since the Unix epoch")
            }
            Reason::ClaimsShape { detail: Some(detail) } => {
                format!("the token's claims do not have the shape the server expects ({detail})")
            }
            Reason::ClaimsShape { detail: None } => {
                "the token's claims do not have the shape the server expects".to_owned()
            }
            Reason::Expired { ago, .. } => {
                format!("the token expired {} s ago", ago.as_secs())
            }
            Reason::NotYetValid { wait, .. } => {
                format!("the token is not valid for another {} s", wait.as_secs())
            }
            Reason::ForbiddenOrigin { source } => format!(
                "a token in {source} is accepted only from the pages the server allows, and this \
                 connection's `Origin` is not one of them; send it in `auth.token` instead"
            ),
        }
    }
}

impl fmt::Display for TokenError {
    /// `code: message`, the same framing as [`SocketNok`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.message())
    }
}

impl std::error::Error for TokenError {}

impl From<TokenError> for SocketNok {
    fn from(err: TokenError) -> Self {
        SocketNok::with_code(err.code(), err.message())
    }
}

impl From<TokenError> for SocketError {
    fn from(err: TokenError) -> Self {
        SocketError::new(err.code(), err.message())
    }
}

/// What a JSON value is, for "must be a string, got …" messages (never the value itself).
pub(crate) fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn every_reason() -> Vec<Reason> {
        vec![
            Reason::Custom {
                kind: TokenErrorKind::Invalid,
                message: "revoked".into(),
            },
            Reason::Missing {
                looked_in: "auth.token".into(),
            },
            Reason::TooLarge {
                len: 9000,
                max: 8192,
            },
            Reason::Empty,
            Reason::NotCompact,
            Reason::BadBase64 { part: "tag" },
            Reason::BadHeader,
            Reason::BadIvOrTag,
            Reason::PayloadNotObject,
            Reason::WrongType {
                source: "auth.token".into(),
                found: "a number",
            },
            Reason::UnsupportedAlgorithm,
            Reason::UnsupportedEncryption,
            Reason::Compressed,
            Reason::CriticalHeader,
            Reason::EncryptedKeyPresent,
            Reason::UnknownKeyId,
            Reason::Undecryptable,
            Reason::MissingExp,
            Reason::BadTimeClaim { claim: "exp" },
            Reason::ClaimsShape {
                detail: Some("missing field `role`".into()),
            },
            Reason::ClaimsShape { detail: None },
            Reason::Expired {
                ago: Duration::from_secs(5),
                expired_at: 1,
            },
            Reason::NotYetValid {
                wait: Duration::from_secs(5),
                not_before: 1,
            },
        ]
    }

    #[test]
    fn every_error_displays_as_its_code_then_a_message() {
        for reason in every_reason() {
            let err = TokenError::new(reason);
            let shown = err.to_string();
            let (code, message) = SocketNok::parse(&shown).expect("code: message framing");
            assert_eq!(code, err.code());
            assert_eq!(message, err.message());
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn codes_are_the_documented_stable_ones() {
        let codes: std::collections::BTreeSet<_> = every_reason()
            .into_iter()
            .map(|r| TokenError::new(r).code())
            .collect();
        let expected: std::collections::BTreeSet<_> = [
            "missing_token",
            "malformed_token",
            "invalid_token",
            "expired_token",
            "not_yet_valid",
        ]
        .into();
        assert_eq!(codes, expected);
    }

    #[test]
    fn converts_to_a_refusal_and_an_error_ack_with_the_same_code() {
        let err = TokenError::new(Reason::Expired {
            ago: Duration::from_secs(3),
            expired_at: 10,
        });
        let nok = SocketNok::from(err.clone());
        assert_eq!(nok.code(), "expired_token");
        assert_eq!(nok.message(), "the token expired 3 s ago");
        let ack = SocketError::from(err);
        assert_eq!(ack.code(), "expired_token");
        assert_eq!(ack.message(), "the token expired 3 s ago");
    }
}
