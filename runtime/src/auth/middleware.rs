//! The JWE verifier plugged into the runtime: a ready-made connection middleware
//! ([`JweVerifier::accept`]) and the `/ops/login` verifier ([`LoginVerifier`] for [`JweVerifier`]).

use std::future::Future;

use serde::de::DeserializeOwned;

use super::claims::Claims;
use super::verifier::{JweVerifier, Verified};
use crate::error::SocketError;
use crate::handshake::{Handshake, SocketNok, SocketOk};
use crate::login::{Login, LoginFuture, LoginVerifier};

impl JweVerifier {
    /// The whole token part of a connection middleware: finds the token in the handshake (see
    /// [`TokenSources`](super::TokenSources)), verifies it into claims `C`, and hands them to
    /// `to_metadata`, which builds the client's metadata (it may look the user up, and refuse).
    ///
    /// - A missing or bad token refuses the connection with its stable code (`missing_token`,
    ///   `malformed_token`, `invalid_token`, `expired_token`, `not_yet_valid`); `to_metadata`
    ///   is not called.
    /// - A refusal from `to_metadata` (anything that converts into a [`SocketNok`]) is passed on
    ///   as it is.
    /// - An accepted connection carries the token's expiry
    ///   ([`SocketOk::expiry`]): once it passes, the socket must log in again with a fresh token
    ///   or be disconnected (see [`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace)).
    ///
    /// ```
    /// use serde::{Deserialize, Serialize};
    /// use tether::auth::{Claims, JweVerifier, Key, Verified};
    /// use tether::{Handshake, SocketNok, SocketOk, socket_namespace};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Profile { name: String }
    ///
    /// #[derive(Debug, Clone)]
    /// struct Member { user_id: String, name: String }
    ///
    /// struct Chat { verifier: JweVerifier, banned: Vec<String> }
    ///
    /// #[socket_namespace(path = "/chat", client_connection_key = "user_id")]
    /// impl Chat {
    ///     #[middleware]
    ///     async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
    ///         self.verifier
    ///             .accept(hs, |token: Verified<Claims<Profile>>| async move {
    ///                 let claims = token.into_claims();
    ///                 // A real app would look the user up in its database here.
    ///                 if self.banned.contains(&claims.sub) {
    ///                     return Err(SocketNok::with_code("banned", "this account is banned"));
    ///                 }
    ///                 Ok(Member { user_id: claims.sub, name: claims.extra.name })
    ///             })
    ///             .await
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let chat = Chat { verifier: JweVerifier::new(Key::generate()), banned: vec!["666".into()] };
    /// let token = |sub: &str| {
    ///     let claims = Claims::new(sub)
    ///         .expires_in(std::time::Duration::from_secs(3600))
    ///         .extra(Profile { name: "Ada".into() });
    ///     chat.verifier.issue(&claims).unwrap()
    /// };
    /// let hs = |token: &str| Handshake::builder().auth(serde_json::json!({ "token": token })).build();
    ///
    /// let ok = chat.authenticate(&hs(&token("42"))).await.unwrap();
    /// assert_eq!(ok.metadata().user_id, "42");
    /// assert!(ok.expiry().is_some());
    ///
    /// let refused = chat.authenticate(&hs(&token("666"))).await.unwrap_err();
    /// assert_eq!(refused.to_string(), "banned: this account is banned");
    /// let refused = chat.authenticate(&hs("garbage")).await.unwrap_err();
    /// assert_eq!(refused.code(), "malformed_token");
    /// let refused = chat.authenticate(&Handshake::builder().build()).await.unwrap_err();
    /// assert_eq!(refused.code(), "missing_token");
    /// # }
    /// ```
    ///
    /// # Errors
    /// The refusal the client receives in its `connect_error`.
    pub async fn accept<C, M, E, F, Fut>(
        &self,
        hs: &Handshake,
        to_metadata: F,
    ) -> Result<SocketOk<M>, SocketNok>
    where
        C: DeserializeOwned,
        F: FnOnce(Verified<C>) -> Fut,
        Fut: Future<Output = Result<M, E>>,
        E: Into<SocketNok>,
    {
        let verified = self.authenticate::<C>(hs).map_err(SocketNok::from)?;
        let expires_at = verified.expires_at();
        let metadata = to_metadata(verified).await.map_err(Into::into)?;
        Ok(SocketOk::new(metadata).expires_at(expires_at))
    }

    /// A [`LoginVerifier`] that verifies the token into claims `C` and lets `to_login` decide
    /// who the socket becomes (it may look the user up, and refuse). The login expires when
    /// the token does, or earlier when `to_login` sets an earlier expiry.
    ///
    /// The verifier itself is a [`LoginVerifier`] too, for the common case: the token's `sub`
    /// is the user id.
    ///
    /// ```
    /// use tether::auth::{Claims, JweVerifier, Key, Verified};
    /// use tether::{Login, SocketError, Tether};
    ///
    /// let verifier = JweVerifier::new(Key::generate());
    /// // The common case: `sub` is the user.
    /// let builder = Tether::builder().login_verifier(verifier.clone());
    /// // Or decide yourself.
    /// let builder = Tether::builder().login_verifier(verifier.login_with(
    ///     |token: Verified<Claims>| async move {
    ///         match token.claims().sub.as_str() {
    ///             "666" => Err(SocketError::forbidden("this account is banned")),
    ///             sub => Ok(Login::new(format!("user-{sub}"))),
    ///         }
    ///     },
    /// ));
    /// ```
    pub fn login_with<C, F, Fut>(self, to_login: F) -> impl LoginVerifier
    where
        C: DeserializeOwned + 'static,
        F: Fn(Verified<C>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Login, SocketError>> + Send + 'static,
    {
        move |token: String| {
            let verified = self.verify_token::<C>(&token);
            let expires_at = verified.as_ref().ok().and_then(Verified::expires_at);
            let login = verified.map(&to_login);
            async move {
                let login = login.map_err(SocketError::from)?.await?;
                let earliest = match (login.expires_at, expires_at) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Ok(login.expires_at(earliest))
            }
        }
    }
}

/// `/ops/login` with a JWE token: the token's `sub` becomes the socket's user, and the login
/// expires with the token (after which the socket must log in again; see
/// [`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace)). A refused token is acked
/// as `{"error": {"code", "message"}}` with the same codes as a refused connection.
///
/// ```
/// use std::time::Duration;
/// use tether::auth::{Claims, JweVerifier, Key};
/// use tether::LoginVerifier;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let verifier = JweVerifier::new(Key::generate());
/// let token = verifier.issue(&Claims::new("42").expires_in(Duration::from_secs(60))).unwrap();
/// let login = verifier.verify(token).await.unwrap();
/// assert_eq!(login.user_id, "42");
/// assert!(login.expires_at.is_some());
///
/// let err = verifier.verify("garbage".into()).await.unwrap_err();
/// assert_eq!(err.code(), "malformed_token");
///
/// // Plug it in: `Tether::builder().login_verifier(verifier)`.
/// # }
/// ```
impl LoginVerifier for JweVerifier {
    fn verify(&self, token: String) -> LoginFuture<'_> {
        let login = self
            .verify_token::<Claims>(&token)
            .map(|verified| {
                let expires_at = verified.expires_at();
                Login::new(verified.into_claims().sub).expires_at(expires_at)
            })
            .map_err(SocketError::from);
        Box::pin(std::future::ready(login))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use super::*;
    use crate::auth::{Key, KeySet};

    fn verifier() -> JweVerifier {
        JweVerifier::new(KeySet::new(Key::generate())).with_leeway(Duration::ZERO)
    }

    fn hs(token: &str) -> Handshake {
        Handshake::builder().auth(json!({ "token": token })).build()
    }

    #[tokio::test]
    async fn accept_maps_claims_and_carries_the_expiry() {
        let v = verifier();
        let claims = Claims::new("7").expires_in(Duration::from_secs(60));
        let token = v.issue(&claims).unwrap();
        let ok = v
            .accept(&hs(&token), |t: Verified<Claims>| async move {
                Ok::<_, SocketNok>(format!("user {}", t.claims().sub))
            })
            .await
            .unwrap();
        assert_eq!(ok.metadata(), "user 7");
        assert_eq!(ok.expiry(), claims.expiry());
    }

    #[tokio::test]
    async fn accept_refuses_bad_tokens_without_calling_the_user_function() {
        let v = verifier();
        let other = verifier().issue(&Claims::new("1").expires_in(Duration::from_secs(60)));
        let expired = v.issue(&json!({"sub": "1", "exp": 1})).unwrap();
        let cases = [
            (Handshake::builder().build(), "missing_token"),
            (hs("x.y"), "malformed_token"),
            (hs(&other.unwrap()), "invalid_token"),
            (hs(&expired), "expired_token"),
            (
                Handshake::builder().auth(json!({"token": 5})).build(),
                "malformed_token",
            ),
        ];
        for (hs, code) in cases {
            let nok = v
                .accept(&hs, |_: Verified<Claims>| async move {
                    Err::<(), _>(SocketNok::with_code("called", "for a bad token"))
                })
                .await
                .unwrap_err();
            assert_eq!(nok.code(), code);
        }
    }

    #[tokio::test]
    async fn accept_passes_the_user_functions_refusal_on() {
        let v = verifier();
        let token = v
            .issue(&Claims::new("1").expires_in(Duration::from_secs(60)))
            .unwrap();
        let nok = v
            .accept(&hs(&token), |_: Verified<Claims>| async move {
                Err::<(), _>(SocketNok::with_code("banned", "no"))
            })
            .await
            .unwrap_err();
        assert_eq!(nok.to_string(), "banned: no");
    }

    #[tokio::test]
    async fn claims_of_the_wrong_shape_are_an_invalid_token() {
        #[derive(Debug, serde::Deserialize)]
        struct NeedsRole {
            #[allow(dead_code)]
            role: String,
        }
        let v = verifier();
        let token = v
            .issue(&Claims::new("1").expires_in(Duration::from_secs(60)))
            .unwrap();
        let nok = v
            .accept(&hs(&token), |_: Verified<NeedsRole>| async move {
                Ok::<_, SocketNok>(())
            })
            .await
            .unwrap_err();
        assert_eq!(nok.code(), "invalid_token");
        assert!(nok.message().contains("missing field `role`"), "{nok}");
    }

    #[tokio::test]
    async fn login_verifier_uses_sub_and_exp_and_maps_errors_to_codes() {
        let v = verifier();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let token = v.issue(&Claims::new("42").expires_at(at)).unwrap();
        let login = LoginVerifier::verify(&v, token).await.unwrap();
        assert_eq!(login, Login::new("42").expires_at(Some(at)));

        let expired = v.issue(&json!({"sub": "1", "exp": 1})).unwrap();
        let err = LoginVerifier::verify(&v, expired).await.unwrap_err();
        assert_eq!(err.code(), "expired_token");
        let no_sub = v.issue(&json!({"exp": 4_000_000_000u64})).unwrap();
        let err = LoginVerifier::verify(&v, no_sub).await.unwrap_err();
        assert_eq!(err.code(), "invalid_token");
    }

    #[tokio::test]
    async fn login_with_decides_the_user_and_keeps_the_token_expiry() {
        let v = verifier();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(4_000_000_000);
        let lv = v.clone().login_with(|t: Verified<Claims>| async move {
            if t.claims().sub == "666" {
                return Err(SocketError::forbidden("banned"));
            }
            Ok(Login::new(format!("u{}", t.claims().sub)))
        });
        let token = v.issue(&Claims::new("1").expires_at(at)).unwrap();
        assert_eq!(
            lv.verify(token).await.unwrap(),
            Login::new("u1").expires_at(Some(at))
        );
        let banned = v.issue(&Claims::new("666").expires_at(at)).unwrap();
        assert_eq!(lv.verify(banned).await.unwrap_err().code(), "forbidden");
        assert_eq!(
            lv.verify("nope".into()).await.unwrap_err().code(),
            "malformed_token"
        );
    }
}
