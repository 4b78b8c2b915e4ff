//! What every connection of a namespace shares, and the checks they all make.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::clients::{Client, ConnectedClients};
use crate::error::SocketError;
use crate::handshake::AllowedOrigins;
use crate::listener::guarded;
use crate::login::Verifier;
use crate::namespace::{Namespace, NamespaceDef};
use crate::rate::RateLimit;

use super::per_ip::PerIp;

/// The settings every namespace of a tether shares (from the [`TetherBuilder`](crate::TetherBuilder)).
#[derive(Debug)]
pub(crate) struct Settings {
    /// Turns the token of `/ops/login` into a user; `None`: no login on a live socket.
    pub(crate) login: Option<Verifier>,
    /// How long a socket whose token expired may take to log in again.
    pub(crate) token_grace: Duration,
    /// The grace of presence for namespaces that set none.
    pub(crate) presence_grace: Duration,
    /// How many events of one socket may wait for the ones before them.
    pub(crate) max_pending_events: usize,
    /// How many channels a client may join (server-side joins are not limited).
    pub(crate) max_channels: usize,
    /// Every socket's rate limit, unless its namespace sets its own.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Sockets and handshakes per address (shared by all namespaces).
    pub(crate) per_ip: Arc<PerIp>,
    /// How long a socket's first events wait for its connect handler, at most.
    pub(crate) connect_gate: Duration,
    /// Whose pages may connect with a cookie or query token (`None`: cookie tokens off).
    pub(crate) allowed_origins: Option<AllowedOrigins>,
    /// How many new connections are worked on at once (`None`: no bound).
    pub(crate) admission: Option<Arc<super::admission::Admission>>,
    /// Set by [`Tether::close`](crate::Tether::close): handshakes are refused with
    /// `server_shutdown`.
    pub(crate) closing: std::sync::atomic::AtomicBool,
}

/// Everything a namespace's connections share.
pub(super) struct Runtime<T: Namespace> {
    pub(super) def: NamespaceDef<T>,
    pub(super) state: Arc<T>,
    pub(super) clients: ConnectedClients<T::Metadata>,
    pub(super) settings: Arc<Settings>,
}

impl<T: Namespace> Runtime<T> {
    /// Runs the channel authorization hook; without one, clients may not join channels. A
    /// socket already in as many channels as allowed may join no other.
    pub(super) async fn authorize_join(
        &self,
        client: &Client<T::Metadata>,
        channel: &str,
    ) -> Result<(), SocketError> {
        let joined = client.data().session().channels.len();
        if joined >= self.settings.max_channels && !client.in_channel(channel) {
            return Err(SocketError::new(
                "too_many_channels",
                format!(
                    "a socket may be in at most {} channels; leave one first",
                    self.settings.max_channels
                ),
            ));
        }
        let Some(hook) = &self.def.authorize_channel else {
            return Err(SocketError::forbidden(format!(
                "clients may not join channels in `{}` (the namespace has no channel authorization hook)",
                T::PATH
            )));
        };
        let fut = hook(self.state.clone(), client.clone(), channel.to_owned());
        guarded(fut, "authorize_channel", client.socket())
            .await
            .unwrap_or_else(|| Err(SocketError::internal()))
    }
}

/// The reply of an `/ops/*` request that changed (or asked for) the connection info, sent
/// once: as the ack when the client asked for one, otherwise as the
/// [`CONNECTION_INFO_EVENT`](crate::CONNECTION_INFO_EVENT) event (then the returned value is not sent).
pub(super) fn connection_info_reply<M: Send + Sync + 'static>(
    client: &Client<M>,
    asked: bool,
) -> Value {
    if asked {
        serde_json::to_value(client.connection_info()).unwrap_or(Value::Null)
    } else {
        client.send_connection_info(None);
        Value::Null
    }
}
