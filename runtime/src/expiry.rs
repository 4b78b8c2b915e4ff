//! Expiry on a live socket: when the token a socket authenticated with expires, the socket is
//! told ([`TOKEN_EXPIRED_EVENT`]) and, unless it logs in again (`/ops/login`) within the grace
//! period, disconnected with reason `expired_token`.
//!
//! The expiry comes from the middleware ([`SocketOk::expires_at`](crate::SocketOk::expires_at))
//! and is replaced by each `/ops/login` (the login token's expiry) and cleared by
//! `/ops/logout`. Each socket with an expiry has one timer task; it holds no socket reference
//! (it looks the socket up when it fires) and is aborted when the expiry changes or the socket
//! disconnects.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use socketioxide::socket::Sid;
use tokio::task::AbortHandle;

use crate::client::{Client, ClientData};
use crate::clients::ConnectedClients;
use crate::registry::{Kick, kick_socket};

/// The event a socket receives when its token expires, with a [`TokenExpired`] payload.
pub const TOKEN_EXPIRED_EVENT: &str = "/ops/token-expired";

/// How long a socket whose token expired may take to log in again before it is disconnected,
/// unless [`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace) says otherwise.
pub const DEFAULT_TOKEN_GRACE: Duration = Duration::from_secs(30);

/// The payload of [`TOKEN_EXPIRED_EVENT`]:
/// `{"code": "expired_token", "message": "...", "grace_seconds": 30}`.
///
/// On receiving it, a client sends `/ops/login` `{token}` with a fresh token within
/// `grace_seconds`; otherwise it receives `/ops/disconnected` `{code: "expired_token", ..}` and is
/// disconnected.
///
/// ```
/// use tether::TokenExpired;
/// let payload: TokenExpired = serde_json::from_value(serde_json::json!({
///     "code": "expired_token", "message": "the token expired", "grace_seconds": 1.5
/// })).unwrap();
/// assert_eq!(payload.grace_seconds, 1.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenExpired {
    /// Always `expired_token`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// How long the socket has to log in again, in seconds.
    pub grace_seconds: f64,
}

/// The expiry of one socket and the timer enforcing it.
#[derive(Debug, Default)]
pub(crate) struct Expiry {
    /// When the socket's token expires.
    pub(crate) at: Option<SystemTime>,
    timer: Option<AbortHandle>,
    /// Bumped on every change, so a timer that already woke up can tell it is stale.
    generation: u64,
}

impl Expiry {
    fn cancel(&mut self) -> u64 {
        self.generation = self.generation.wrapping_add(1);
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
        self.generation
    }
}

/// Sets when a connected client's token expires (`None`: never) and (re)starts its timer.
pub(crate) fn watch<M: Send + Sync + 'static>(
    client: &Client<M>,
    at: Option<SystemTime>,
    grace: Duration,
) {
    let mut expiry = client.data.expiry();
    let generation = expiry.cancel();
    expiry.at = at;
    if let Some(at) = at {
        let task = enforce(client.clients.clone(), client.id(), at, generation, grace);
        expiry.timer = Some(tokio::spawn(task).abort_handle());
    }
}

/// Stops a socket's timer (on disconnect).
pub(crate) fn stop<M>(data: &ClientData<M>) {
    data.expiry().cancel();
}

/// The timer of one socket: tell it at `at`, disconnect it `grace` later.
async fn enforce<M: Send + Sync + 'static>(
    clients: ConnectedClients<M>,
    sid: Sid,
    at: SystemTime,
    generation: u64,
    grace: Duration,
) {
    let left = at
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    tokio::time::sleep(left).await;
    let Some(client) = current(&clients, sid, generation) else {
        return;
    };
    let told = TokenExpired {
        code: "expired_token".to_owned(),
        message: format!(
            "the token expired; send a fresh one with `/ops/login` within {grace:?} or this \
             socket is disconnected"
        ),
        grace_seconds: grace.as_secs_f64(),
    };
    tracing::debug!(sid = %sid, ns = client.namespace(), "token expired on a live socket");
    if let Err(e) = client.emit(TOKEN_EXPIRED_EVENT, &told) {
        tracing::debug!(sid = %sid, error = %e, "could not tell a socket its token expired");
    }
    drop(client);
    tokio::time::sleep(grace).await;
    let Some(client) = current(&clients, sid, generation) else {
        return;
    };
    let kick = Kick::new(
        "expired_token",
        format!("the token expired and no fresh token was sent (`/ops/login`) within {grace:?}"),
    );
    kick_socket(&client, &kick);
}

/// The client, if it is still connected and its expiry has not changed since the timer started.
fn current<M: Send + Sync + 'static>(
    clients: &ConnectedClients<M>,
    sid: Sid,
    generation: u64,
) -> Option<Client<M>> {
    let client = clients.by_socket_id(sid)?;
    let unchanged = client.data.expiry().generation == generation;
    unchanged.then_some(client)
}
