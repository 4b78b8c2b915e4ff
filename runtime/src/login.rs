//! Login on a live socket: a pluggable verifier turns the token of `/ops/login` into a user.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::SystemTime;

use crate::error::SocketError;

/// Who a login token identifies.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tether::Login;
///
/// // After `at`, the socket is sent `/ops/token-expired` and must log in again.
/// let at = SystemTime::now() + Duration::from_secs(3600);
/// let login = Login::new("42").expires_at(Some(at));
/// assert_eq!(login.user_id, "42");
/// assert_eq!(login.expires_at, Some(at));
///
/// assert_eq!(Login::new("42").expires_at, None); // never expires
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Login {
    /// The user the socket now belongs to.
    pub user_id: String,
    /// When the token expires, if it does.
    pub expires_at: Option<SystemTime>,
}

impl Login {
    /// A login as `user_id`, with no expiry.
    pub fn new(user_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            expires_at: None,
        }
    }

    /// Sets when the token expires.
    #[must_use]
    pub fn expires_at(mut self, at: Option<SystemTime>) -> Self {
        self.expires_at = at;
        self
    }
}

/// The future a [`LoginVerifier`] returns.
///
/// ```
/// use std::collections::HashMap;
/// use tether::{Login, LoginFuture, LoginVerifier, SocketError};
///
/// /// API keys of devices, user by key.
/// struct ApiKeys(HashMap<String, String>);
///
/// impl LoginVerifier for ApiKeys {
///     fn verify(&self, token: String) -> LoginFuture<'_> {
///         Box::pin(async move {
///             match self.0.get(&token) {
///                 Some(user) => Ok(Login::new(user.clone())),
///                 None => Err(SocketError::new("invalid_token", "unknown API key")),
///             }
///         })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let keys = ApiKeys(HashMap::from([("k-7".to_owned(), "42".to_owned())]));
/// assert_eq!(keys.verify("k-7".into()).await.unwrap().user_id, "42");
/// assert_eq!(keys.verify("k-8".into()).await.unwrap_err().code(), "invalid_token");
/// let builder = tether::Tether::builder().login_verifier(keys);
/// # }
/// ```
pub type LoginFuture<'a> = Pin<Box<dyn Future<Output = Result<Login, SocketError>> + Send + 'a>>;

/// Verifies the token a client sends with `/ops/login` (the auth module supplies the JWE one).
///
/// Any `Fn(String) -> impl Future<Output = Result<Login, SocketError>>` is a verifier:
///
/// ```
/// use tether::{Login, SocketError, Tether};
/// let builder = Tether::builder().login_verifier(|token: String| async move {
///     match token.strip_prefix("user:") {
///         Some(user) => Ok(Login::new(user)),
///         None => Err(SocketError::new("invalid_token", "not a demo token")),
///     }
/// });
/// ```
pub trait LoginVerifier: Send + Sync + 'static {
    /// Checks `token`; the error is acked to the client as `{"error": {..}}`.
    fn verify(&self, token: String) -> LoginFuture<'_>;
}

impl<F, Fut> LoginVerifier for F
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Login, SocketError>> + Send + 'static,
{
    fn verify(&self, token: String) -> LoginFuture<'_> {
        Box::pin(self(token))
    }
}

pub(crate) struct Verifier(pub(crate) Box<dyn LoginVerifier>);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LoginVerifier")
    }
}
