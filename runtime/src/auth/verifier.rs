//! Verifying tokens: keys + sources + rules in one value.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{Reason, TokenError};
use super::key::{IssueError, KeySet};
use super::sources::TokenSources;
use super::token::{self, Rules};
use crate::handshake::Handshake;

/// The claims of a verified token, with what the runtime needs to know about the token itself.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use tether::auth::Verified;
///
/// let at = SystemTime::now() + Duration::from_secs(60);
/// let verified = Verified::new("claims").with_expiry(Some(at));
/// assert_eq!(verified.expires_at(), Some(at));
/// assert_eq!(*verified.claims(), "claims");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified<C> {
    claims: C,
    expires_at: Option<SystemTime>,
    key_id: Option<String>,
}

impl<C> Verified<C> {
    /// Verified claims without expiry or key id (for custom [`TokenVerifier`]s).
    pub fn new(claims: C) -> Self {
        Self {
            claims,
            expires_at: None,
            key_id: None,
        }
    }

    /// Sets when the token expires.
    pub fn with_expiry(mut self, expires_at: Option<SystemTime>) -> Self {
        self.expires_at = expires_at;
        self
    }

    /// Sets the id of the key that verified the token.
    pub fn with_key_id(mut self, key_id: Option<String>) -> Self {
        self.key_id = key_id;
        self
    }

    /// The claims.
    pub fn claims(&self) -> &C {
        &self.claims
    }

    /// Takes the claims out.
    pub fn into_claims(self) -> C {
        self.claims
    }

    /// When the token expires (its `exp`), if it has one: when a live socket must log in again.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }

    /// The token's `kid` header, if it had one.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Transforms the claims, keeping expiry and key id.
    pub fn map<D>(self, f: impl FnOnce(C) -> D) -> Verified<D> {
        Verified {
            claims: f(self.claims),
            expires_at: self.expires_at,
            key_id: self.key_id,
        }
    }
}

/// Something that turns a token string into verified claims of type `C`.
///
/// [`JweVerifier`] implements it for every claims type; implement it yourself to accept another
/// kind of token (e.g. a session id looked up in a store) wherever tether takes a verifier.
///
/// ```
/// use tether::auth::{TokenError, TokenErrorKind, TokenVerifier, Verified};
///
/// /// Opaque session ids, looked up in a store.
/// struct Sessions(std::collections::HashMap<String, String>);
///
/// impl TokenVerifier<String> for Sessions {
///     fn verify(&self, token: &str) -> Result<Verified<String>, TokenError> {
///         match self.0.get(token) {
///             Some(user) => Ok(Verified::new(user.clone())),
///             None => Err(TokenError::custom(TokenErrorKind::Invalid, "unknown or revoked session")),
///         }
///     }
/// }
///
/// let sessions = Sessions([("s3cr3t".to_owned(), "42".to_owned())].into());
/// assert_eq!(sessions.verify("s3cr3t").unwrap().into_claims(), "42");
/// assert_eq!(sessions.verify("nope").unwrap_err().code(), "invalid_token");
/// ```
pub trait TokenVerifier<C>: Send + Sync {
    /// Verifies `token`; the error's code is what the client is told.
    fn verify(&self, token: &str) -> Result<Verified<C>, TokenError>;
}

impl<C, V: TokenVerifier<C> + ?Sized> TokenVerifier<C> for std::sync::Arc<V> {
    fn verify(&self, token: &str) -> Result<Verified<C>, TokenError> {
        (**self).verify(token)
    }
}

impl<C, V: TokenVerifier<C> + ?Sized> TokenVerifier<C> for &V {
    fn verify(&self, token: &str) -> Result<Verified<C>, TokenError> {
        (**self).verify(token)
    }
}

/// Verifies JWE tokens (`alg: dir`, `enc: A256GCM`) found in a handshake: the keys, where to look
/// for the token, and the rules, in one cheaply clonable value.
///
/// Defaults: the [default sources](TokenSources::default), a 30 s leeway on `exp` and `nbf`, an
/// `exp` claim required, tokens of at most 8 KiB.
///
/// ```
/// use std::time::Duration;
/// use serde::Deserialize;
/// use tether::Handshake;
/// use tether::auth::{Claims, JweVerifier, Key, KeySet};
///
/// #[derive(Debug, Deserialize)]
/// struct User { sub: String, exp: u64 }
///
/// let keys = KeySet::new(Key::generate());
/// let verifier = JweVerifier::new(keys.clone()).with_leeway(Duration::from_secs(5));
///
/// // The login endpoint issues a token…
/// let token = keys.issue(&Claims::new("42").expires_in(Duration::from_secs(3600))).unwrap();
/// // …the client passes it in `auth`, and the middleware authenticates the handshake.
/// let hs = Handshake::builder().auth(serde_json::json!({ "token": token })).build();
/// let user = verifier.authenticate::<User>(&hs).unwrap();
/// assert_eq!(user.claims().sub, "42");
/// assert!(user.expires_at().is_some());
///
/// let anonymous = Handshake::builder().build();
/// assert_eq!(verifier.authenticate::<User>(&anonymous).unwrap_err().code(), "missing_token");
/// ```
#[derive(Debug, Clone)]
pub struct JweVerifier {
    keys: KeySet,
    sources: TokenSources,
    rules: Rules,
}

impl JweVerifier {
    /// The default largest token accepted, in bytes.
    pub const DEFAULT_MAX_TOKEN_LEN: usize = 8 * 1024;
    /// The default leeway on `exp` and `nbf`, for clock skew between servers.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

    /// A verifier with these keys and the defaults.
    pub fn new(keys: impl Into<KeySet>) -> Self {
        Self {
            keys: keys.into(),
            sources: TokenSources::default(),
            rules: Rules {
                max_len: Self::DEFAULT_MAX_TOKEN_LEN,
                leeway: Self::DEFAULT_LEEWAY,
                require_exp: true,
            },
        }
    }

    /// Where [`authenticate`](Self::authenticate) looks for the token, in order.
    pub fn with_sources(mut self, sources: impl Into<TokenSources>) -> Self {
        self.sources = sources.into();
        self
    }

    /// How far past `exp` (and before `nbf`) a token is still accepted.
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.rules.leeway = leeway;
        self
    }

    /// The largest token accepted, in bytes; longer ones are refused (`malformed_token`) before
    /// any parsing.
    pub fn with_max_token_len(mut self, max: usize) -> Self {
        self.rules.max_len = max;
        self
    }

    /// Whether a token without an `exp` claim is refused (`invalid_token`); `true` by default.
    pub fn with_require_exp(mut self, require: bool) -> Self {
        self.rules.require_exp = require;
        self
    }

    /// The keys.
    pub fn keys(&self) -> &KeySet {
        &self.keys
    }

    /// The keys, to [rotate](KeySet::rotate) them.
    pub fn keys_mut(&mut self) -> &mut KeySet {
        &mut self.keys
    }

    /// Where tokens are looked for.
    pub fn sources(&self) -> &TokenSources {
        &self.sources
    }

    /// Issues a token with the current key; see [`KeySet::issue`].
    pub fn issue<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, IssueError> {
        self.keys.issue(claims)
    }

    /// Finds the token in the handshake (see [`TokenSources`]) and verifies it.
    pub fn authenticate<C: DeserializeOwned>(
        &self,
        hs: &Handshake,
    ) -> Result<Verified<C>, TokenError> {
        let token = self.sources.find(hs)?;
        self.verify_token(token)
    }

    /// Verifies a token string now.
    pub fn verify_token<C: DeserializeOwned>(
        &self,
        token: &str,
    ) -> Result<Verified<C>, TokenError> {
        self.verify_token_at(token, SystemTime::now())
    }

    /// Verifies a token string as if the time were `now` (for tests of expiry).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use tether::auth::{Claims, JweVerifier, Key};
    ///
    /// let verifier = JweVerifier::new(Key::generate()).with_leeway(Duration::ZERO);
    /// let token = verifier.issue(&Claims::new("42").expires_in(Duration::from_secs(60))).unwrap();
    /// let later = SystemTime::now() + Duration::from_secs(120);
    /// let err = verifier.verify_token_at::<Claims>(&token, later).unwrap_err();
    /// assert_eq!(err.code(), "expired_token");
    /// ```
    pub fn verify_token_at<C: DeserializeOwned>(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Verified<C>, TokenError> {
        let decoded = token::decode(&self.keys, token, self.rules, now)?;
        let claims =
            serde_json::from_value(serde_json::Value::Object(decoded.claims)).map_err(|e| {
                TokenError::new(Reason::ClaimsShape {
                    detail: safe_detail(&e),
                })
            })?;
        let expires_at = decoded
            .exp
            .and_then(|exp| Duration::try_from_secs_f64(exp.max(0.0)).ok())
            .and_then(|d| UNIX_EPOCH.checked_add(d));
        Ok(Verified {
            claims,
            expires_at,
            key_id: decoded.kid,
        })
    }
}

impl<C: DeserializeOwned> TokenVerifier<C> for JweVerifier {
    fn verify(&self, token: &str) -> Result<Verified<C>, TokenError> {
        self.verify_token(token)
    }
}

/// The part of a serde error that names a field but never quotes a claim's value.
fn safe_detail(err: &serde_json::Error) -> Option<String> {
    let text = err.to_string();
    let text = text.split(" at line ").next().unwrap_or_default();
    let names_a_field_only = (text.starts_with("missing field `")
        || text.starts_with("duplicate field `"))
        && text.matches('`').count() == 2;
    names_a_field_only.then(|| text.to_owned())
}

impl KeySet {
    /// Verifies `token` with the default checks of [`JweVerifier`] and returns
    /// its claims.
    ///
    /// ```
    /// use std::time::Duration;
    /// use serde::{Deserialize, Serialize};
    /// use tether::auth::{Claims, Key, KeySet};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Session { role: String }
    ///
    /// let keys = KeySet::new(Key::generate());
    /// let claims = Claims::new("42").expires_in(Duration::from_secs(60)).extra(Session { role: "admin".into() });
    /// let token = keys.issue(&claims).unwrap();
    /// let back: Claims<Session> = keys.verify(&token).unwrap();
    /// assert_eq!((back.sub.as_str(), back.extra.role.as_str()), ("42", "admin"));
    /// ```
    pub fn verify<C: serde::de::DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        JweVerifier::new(self.clone())
            .verify_token(token)
            .map(Verified::into_claims)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;
    use crate::auth::{Claims, Key};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Role {
        role: String,
    }

    fn verifier() -> JweVerifier {
        JweVerifier::new(KeySet::with_kid("k1", Key::generate()))
    }

    fn in_an_hour() -> Claims {
        Claims::new("42").expires_in(Duration::from_secs(3600))
    }

    #[test]
    fn issued_claims_verify_into_a_typed_struct_with_expiry_and_kid() {
        let v = verifier();
        let claims = in_an_hour().extra(Role {
            role: "admin".into(),
        });
        let token = v.issue(&claims).unwrap();
        let verified = v.verify_token::<Claims<Role>>(&token).unwrap();
        assert_eq!(verified.key_id(), Some("k1"));
        assert_eq!(verified.expires_at(), claims.expiry());
        assert_eq!(verified.into_claims(), claims);
    }

    #[test]
    fn any_user_struct_works_as_claims() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Mine {
            sub: String,
            exp: u64,
            tabs: Vec<u8>,
        }
        let v = verifier();
        let mine = Mine {
            sub: "x".into(),
            exp: 4_000_000_000,
            tabs: vec![1, 2],
        };
        let token = v.issue(&mine).unwrap();
        assert_eq!(v.verify_token::<Mine>(&token).unwrap().into_claims(), mine);
    }

    #[test]
    fn expired_token_is_refused_after_the_leeway_only() {
        let v = verifier().with_leeway(Duration::from_secs(10));
        let token = v.issue(&json!({"sub": "1", "exp": 1_000})).unwrap();
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        assert!(v.verify_token_at::<Claims>(&token, at(1_009)).is_ok());
        let err = v.verify_token_at::<Claims>(&token, at(1_010)).unwrap_err();
        assert_eq!(err.code(), "expired_token");
        assert_eq!(err.expired_at(), Some(1_000));
        assert_eq!(err.message(), "the token expired 10 s ago");
        let err = v.verify_token::<Claims>(&token).unwrap_err();
        assert_eq!(err.code(), "expired_token");
    }

    #[test]
    fn token_before_its_nbf_is_not_yet_valid() {
        let v = verifier().with_leeway(Duration::from_secs(10));
        let token = v
            .issue(&json!({"sub": "1", "exp": 5_000, "nbf": 2_000}))
            .unwrap();
        let at = |s| UNIX_EPOCH + Duration::from_secs(s);
        let err = v.verify_token_at::<Claims>(&token, at(1_980)).unwrap_err();
        assert_eq!(err.code(), "not_yet_valid");
        assert_eq!(err.message(), "the token is not valid for another 20 s");
        assert!(v.verify_token_at::<Claims>(&token, at(1_990)).is_ok());
    }

    #[test]
    fn exp_is_required_unless_disabled() {
        let v = verifier();
        let token = v.issue(&json!({"sub": "1"})).unwrap();
        let err = v.verify_token::<Claims>(&token).unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        assert!(err.message().contains("no `exp` claim"));
        let lenient = v.with_require_exp(false);
        let verified = lenient.verify_token::<Claims>(&token).unwrap();
        assert_eq!(verified.expires_at(), None);
    }

    #[test]
    fn time_claims_of_the_wrong_type_are_invalid() {
        let v = verifier();
        for claims in [
            json!({"sub": "1", "exp": "4000000000"}),
            json!({"sub": "1", "exp": 4_000_000_000u64, "nbf": [1]}),
        ] {
            let token = v.issue(&claims).unwrap();
            let err = v.verify_token::<Claims>(&token).unwrap_err();
            assert_eq!(err.code(), "invalid_token", "{claims}");
            assert!(err.message().contains("is not a number of seconds"));
        }
    }

    #[test]
    fn claims_of_the_wrong_shape_are_invalid_and_the_message_never_quotes_values() {
        let v = verifier();
        let token = v
            .issue(&json!({"sub": "1", "exp": 4_000_000_000u64, "role": 7}))
            .unwrap();
        let err = v.verify_token::<Claims<Role>>(&token).unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        assert_eq!(
            err.message(),
            "the token's claims do not have the shape the server expects"
        );

        let token = v
            .issue(&json!({"sub": "secret-user-id", "exp": 4_000_000_000u64}))
            .unwrap();
        let err = v.verify_token::<Claims<Role>>(&token).unwrap_err();
        assert_eq!(
            err.message(),
            "the token's claims do not have the shape the server expects (missing field `role`)"
        );
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Numeric {
            sub: u64,
        }
        let err = v.verify_token::<Numeric>(&token).unwrap_err();
        assert!(!err.to_string().contains("secret-user-id"), "{err}");
    }

    #[test]
    fn rotated_keys_verify_old_tokens_until_removed() {
        let mut v = verifier();
        let old_token = v.issue(&in_an_hour()).unwrap();
        v.keys_mut().rotate("k2", Key::generate());
        let new_token = v.issue(&in_an_hour()).unwrap();
        assert_eq!(
            v.verify_token::<Claims>(&old_token).unwrap().key_id(),
            Some("k1")
        );
        assert_eq!(
            v.verify_token::<Claims>(&new_token).unwrap().key_id(),
            Some("k2")
        );
        v.keys_mut().remove("k1");
        let err = v.verify_token::<Claims>(&old_token).unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        assert!(err.message().contains("key id"));
        assert!(v.verify_token::<Claims>(&new_token).is_ok());
    }

    #[test]
    fn token_without_kid_is_tried_with_every_key() {
        let old = Key::generate();
        let old_token = KeySet::new(old.clone()).issue(&in_an_hour()).unwrap();
        let keys = KeySet::with_kid("new", Key::generate())
            .with_previous("a", Key::generate())
            .with_previous("old", old);
        let v = JweVerifier::new(keys);
        assert_eq!(v.verify_token::<Claims>(&old_token).unwrap().key_id(), None);
    }

    #[test]
    fn token_with_an_unknown_kid_falls_back_to_unnamed_keys() {
        let key = Key::generate();
        let named_elsewhere = KeySet::with_kid("other-stack", key.clone())
            .issue(&in_an_hour())
            .unwrap();
        let v = JweVerifier::new(KeySet::new(key));
        assert!(v.verify_token::<Claims>(&named_elsewhere).is_ok());
    }

    #[test]
    fn token_made_with_another_key_is_invalid() {
        let token = verifier().issue(&in_an_hour()).unwrap();
        let other = JweVerifier::new(KeySet::with_kid("k1", Key::generate()));
        let err = other.verify_token::<Claims>(&token).unwrap_err();
        assert_eq!(err.code(), "invalid_token");
        assert_eq!(
            err.message(),
            "the token could not be decrypted: it was made with another key or altered"
        );
    }

    #[test]
    fn token_longer_than_the_limit_is_refused_before_parsing() {
        let v = verifier().with_max_token_len(100);
        let token = v.issue(&in_an_hour()).unwrap();
        assert!(token.len() > 100);
        let err = v.verify_token::<Claims>(&token).unwrap_err();
        assert_eq!(err.code(), "malformed_token");
        assert!(err.message().contains("more than the 100 allowed"));
    }

    #[test]
    fn authenticate_reads_the_configured_sources_in_order() {
        let v = verifier();
        let token = v.issue(&in_an_hour()).unwrap();
        let hs = Handshake::builder()
            .header("cookie", &format!("token={token}"))
            .allowed_origins(["https://app.example"])
            .build();
        assert_eq!(v.authenticate::<Claims>(&hs).unwrap().claims().sub, "42");
        let only_auth = v
            .clone()
            .with_sources(crate::auth::TokenSource::auth_field("token"));
        let err = only_auth.authenticate::<Claims>(&hs).unwrap_err();
        assert_eq!(err.code(), "missing_token");
    }

    #[test]
    fn the_trait_works_through_arc_and_dyn() {
        let v = verifier();
        let token = v.issue(&in_an_hour()).unwrap();
        let shared: std::sync::Arc<dyn TokenVerifier<Claims>> = std::sync::Arc::new(v);
        assert_eq!(shared.verify(&token).unwrap().claims().sub, "42");
    }

    #[test]
    fn safe_detail_keeps_field_names_and_drops_values() {
        let missing = serde_json::from_str::<Role>("{}").unwrap_err();
        assert_eq!(
            safe_detail(&missing).as_deref(),
            Some("missing field `role`")
        );
        let typed = serde_json::from_str::<Role>(r#"{"role": 5}"#).unwrap_err();
        assert_eq!(safe_detail(&typed), None);
    }
}
