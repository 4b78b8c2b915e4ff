//! Authentication with encrypted tokens: compact JWE, `alg: dir`, `enc: A256GCM`, a 32-byte key.
//!
//! The flow:
//! 1. a login endpoint (any HTTP handler) checks the user's credentials and
//!    [issues](KeySet::issue) a token from [`Claims`];
//! 2. the client passes it when connecting: in the socket.io `auth` payload
//!    (`io(url, { auth: { token } })`), an `Authorization: Bearer` header, a `token` cookie or the
//!    query string (see [`TokenSources`]);
//! 3. the namespace's middleware [accepts](JweVerifier::accept) the handshake: it verifies the
//!    token and maps its claims to the client's metadata through your function (which may look
//!    the user up, and refuse); a refusal reaches the client's `connect_error` with a stable code
//!    (see [`TokenError`]);
//! 4. when the token expires on a live socket, the socket receives `/ops/token-expired` and must
//!    send `/ops/login` with a fresh token within the grace period
//!    ([`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace)), which needs the
//!    verifier as the login verifier (`Tether::builder().login_verifier(verifier.clone())`), or
//!    it is disconnected with reason `expired_token`.
//!
//! Tokens are interoperable with other stacks using the same key, e.g. Node's `jose`
//! (`new CompactEncrypt(payload).setProtectedHeader({ alg: "dir", enc: "A256GCM" }).encrypt(key)`).
//!
//! ```
//! use std::time::Duration;
//! use serde::{Deserialize, Serialize};
//! use tether::{Handshake, SocketNok};
//! use tether::auth::{Claims, JweVerifier, Key, KeySet};
//!
//! #[derive(Debug, Serialize, Deserialize)]
//! struct Profile { name: String }
//!
//! // Once, at start-up: `let key = Key::from_env("TETHER_KEY")?;`
//! let key = Key::generate();
//! let verifier = JweVerifier::new(KeySet::new(key));
//!
//! // 1. login
//! let claims = Claims::new("42")
//!     .expires_in(Duration::from_secs(3600))
//!     .extra(Profile { name: "Ada".into() });
//! let token = verifier.issue(&claims).unwrap();
//!
//! // 2. + 3. connect, then the middleware
//! let hs = Handshake::builder().auth(serde_json::json!({ "token": token })).build();
//! let user = verifier.authenticate::<Claims<Profile>>(&hs).map_err(SocketNok::from).unwrap();
//! assert_eq!(user.claims().extra.name, "Ada");
//!
//! // A refusal, as the client sees it.
//! let hs = Handshake::builder().auth(serde_json::json!({ "token": "garbage" })).build();
//! let nok = SocketNok::from(verifier.authenticate::<Claims<Profile>>(&hs).unwrap_err());
//! assert_eq!(nok.code(), "malformed_token");
//! ```

mod claims;
mod error;
mod key;
mod middleware;
mod sources;
mod token;
mod verifier;

pub use claims::{Claims, NoExtra};
pub use error::{TokenError, TokenErrorKind};
pub(crate) use key::decode_key_text;
pub use key::{IssueError, Key, KeyError, KeySet};
pub use sources::{TokenSource, TokenSources};
pub use verifier::{JweVerifier, TokenVerifier, Verified};
