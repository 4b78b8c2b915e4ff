//! Who a socket is, decided once at the handshake and again at each `/ops/login` and
//! `/ops/logout`: the same decision (the namespace's middleware) both times, so a refusal at
//! the door refuses a login too, and the key, metadata, user and channels follow the new
//! identity.

use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

use serde_json::Value;
use socketioxide::extract::SocketRef;

use super::expiry;
use super::runtime::{Runtime, connection_info_reply};
use crate::clients::Client;
use crate::error::SocketError;
use crate::handshake::{Handshake, SocketNok};
use crate::listener::guarded;
use crate::namespace::Namespace;
use crate::protocol::Kick;

/// What the namespace decided a handshake makes of a socket.
pub(super) struct Identity<M> {
    /// The metadata (`()` without a middleware).
    pub(super) metadata: M,
    /// The user (`None`: anonymous).
    pub(super) user: Option<String>,
    /// The client key; `None`: keyed by socket id.
    pub(super) key: Option<String>,
    /// When the credentials expire.
    pub(super) expires_at: Option<SystemTime>,
}

/// A socket's new user, and when its credentials expire.
type NewUser = (Option<String>, Option<SystemTime>);

impl<T: Namespace> Runtime<T> {
    /// The namespace's decision on a handshake: its middleware (or `()` metadata without one),
    /// then the user it names, refused with `unauthenticated` when the namespace needs one.
    pub(super) async fn decide(
        &self,
        s: &SocketRef,
        hs: Handshake,
    ) -> Result<Identity<T::Metadata>, SocketNok> {
        let (metadata, expires_at) = match &self.def.middleware {
            Some(middleware) => {
                match guarded(middleware(self.state.clone(), hs), "middleware", s).await {
                    Some(Ok(ok)) => {
                        let at = ok.expiry();
                        (ok.into_metadata(), at)
                    }
                    Some(Err(nok)) => {
                        tracing::debug!(sid = %s.id, ns = T::PATH, code = nok.code(), "refused");
                        return Err(nok);
                    }
                    None => return Err(SocketNok::internal()),
                }
            }
            None => (unit_metadata::<T>()?, None),
        };
        let user = self.def.user.as_ref().and_then(|user| user(&metadata));
        self.check_anonymous(user.as_deref())?;
        let key = self.def.key.as_ref().map(|key| key(&metadata));
        Ok(Identity {
            metadata,
            user,
            key,
            expires_at,
        })
    }

    fn check_anonymous(&self, user: Option<&str>) -> Result<(), SocketNok> {
        if user.is_none() && !self.def.anonymous_allowed() {
            return Err(SocketNok::with_code(
                "unauthenticated",
                format!("namespace `{}` requires a signed-in user", T::PATH),
            ));
        }
        Ok(())
    }

    /// `/ops/login` with `Some(token)`, `/ops/logout` with `None`. A login in a namespace with
    /// a middleware is decided again by it, on the handshake the socket connected with, its
    /// credentials replaced by `token`; without one, the login verifier names the user. A
    /// logout signs the socket out (its key and metadata stay), which a namespace that needs a
    /// signed-in user refuses by disconnecting the socket, telling it why. A refused login
    /// leaves the socket as it was.
    pub(super) async fn relogin(
        &self,
        client: &Client<T::Metadata>,
        token: Option<String>,
        asked: bool,
    ) -> Result<Value, SocketError> {
        let logout = token.is_none();
        let decided = if token.is_some() && self.def.middleware.is_some() {
            let parts = client.socket().req_parts();
            let hs = Handshake::new(
                client.id().to_string(),
                T::PATH.to_owned(),
                Value::Null,
                parts.uri.query(),
                parts.headers.clone(),
            )
            .for_relogin(token);
            self.decide(client.socket(), hs).await.map(|identity| {
                let user = (identity.user.clone(), identity.expires_at);
                (Some(identity), user)
            })
        } else {
            self.verify_login(token).await.map(|user| (None, user))
        };
        let (identity, (user, expires_at)) = match decided {
            Ok(decided) => decided,
            Err(nok) => {
                if logout {
                    client.kick(&Kick::new(nok.code().to_owned(), nok.message().to_owned()));
                }
                return Err(nok.into());
            }
        };
        let client = match identity {
            Some(identity) => self.reidentify(client, identity),
            None => client.clone(),
        };
        let previous = self.clients.set_user(client.id(), user);
        // The fresh token's expiry replaces the old one (an expired socket is saved by this).
        expiry::watch(&client, expires_at, self.settings.token_grace);
        self.recheck_channels(&client).await;
        self.enforce_cap(&client);
        let new_user = previous.clone().flatten() != client.user_id();
        if new_user {
            tracing::info!(
                ns = T::PATH,
                sid = %client.id(),
                user = client.user_id().as_deref().unwrap_or(""),
                previous = previous.clone().flatten().as_deref().unwrap_or(""),
                "{}",
                if client.user_id().is_some() { "login" } else { "logout" }
            );
        }
        self.user_changed(&client, previous).await;
        let reply = connection_info_reply(&client, asked);
        if new_user {
            self.hand_kept(&client);
        }
        Ok(reply)
    }

    /// A logout, or a login without a middleware: the login verifier names the user of a
    /// login; a logout leaves the socket anonymous when the namespace allows it.
    async fn verify_login(&self, token: Option<String>) -> Result<NewUser, SocketNok> {
        let Some(token) = token else {
            self.check_anonymous(None)?;
            return Ok((None, None));
        };
        let Some(verifier) = &self.settings.login else {
            return Err(SocketNok::with_code(
                "login_unavailable",
                "this server accepts no login on a live socket (no login verifier is configured)",
            ));
        };
        let login = verifier.0.verify(token).await.map_err(SocketNok::from)?;
        Ok((Some(login.user_id), login.expires_at))
    }

    /// Gives the socket the key and metadata of its new identity.
    fn reidentify(
        &self,
        client: &Client<T::Metadata>,
        identity: Identity<T::Metadata>,
    ) -> Client<T::Metadata> {
        let key = identity.key.unwrap_or_else(|| client.id().to_string());
        let data = Arc::new(client.data().with_identity(key, identity.metadata));
        client.socket().extensions.insert(data.clone());
        self.clients
            .replace_data(client.id(), data)
            .unwrap_or_else(|| client.clone())
    }

    /// Leaves the channels the channel hook now refuses (after a login or a logout). Without
    /// the hook, clients join no channel by themselves and server code's joins stand.
    async fn recheck_channels(&self, client: &Client<T::Metadata>) {
        if self.def.authorize_channel.is_none() {
            return;
        }
        for channel in client.channels() {
            if self.authorize_join(client, &channel).await.is_err() {
                self.clients.leave_channel(client, &channel);
            }
        }
    }

    /// Runs the `on_user_change` hook when the socket's user really changed.
    async fn user_changed(&self, client: &Client<T::Metadata>, previous: Option<Option<String>>) {
        let (Some(previous), Some(hook)) = (previous, &self.def.on_user_change) else {
            return;
        };
        if previous != client.user_id() {
            let fut = hook(self.state.clone(), client.clone(), previous);
            guarded(fut, "on_user_change", client.socket()).await;
        }
    }
}

/// A namespace without a middleware has `()` metadata; anything else is a hand-written
/// `Namespace` impl that forgot its middleware.
fn unit_metadata<T: Namespace>() -> Result<T::Metadata, SocketNok> {
    let unit: Box<dyn Any> = Box::new(());
    match unit.downcast::<T::Metadata>() {
        Ok(m) => Ok(*m),
        Err(_) => {
            tracing::error!(
                ns = T::PATH,
                "namespace has a metadata type but no middleware to produce it"
            );
            Err(SocketNok::internal())
        }
    }
}
