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

use socketioxide::socket::Sid;

use crate::clients::{Client, ClientData, ConnectedClients};
use crate::protocol::{Kick, TOKEN_EXPIRED_EVENT, TokenExpired};

/// Sets when a connected client's token expires (`None`: never) and (re)starts its timer.
pub(super) fn watch<M: Send + Sync + 'static>(
    client: &Client<M>,
    at: Option<SystemTime>,
    grace: Duration,
) {
    let mut deadline = client.data().expiry();
    let generation = deadline.cancel();
    let timer = at.map(|at| {
        let task = enforce(client.clients().clone(), client.id(), at, generation, grace);
        tokio::spawn(task).abort_handle()
    });
    deadline.set(at, timer);
}

/// Stops a socket's timer (on disconnect).
pub(super) fn stop<M>(data: &ClientData<M>) {
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
    tracing::debug!(sid = %sid, ns = client.namespace(), "token expired on a live socket");
    if let Err(e) = client.emit(TOKEN_EXPIRED_EVENT, &TokenExpired::new(grace)) {
        tracing::debug!(sid = %sid, error = %e, "could not tell a socket its token expired");
    }
    drop(client);
    tokio::time::sleep(grace).await;
    let Some(client) = current(&clients, sid, generation) else {
        return;
    };
    client.kick(&Kick::new(
        "expired_token",
        format!("the token expired and no fresh token was sent (`/ops/login`) within {grace:?}"),
    ));
}

/// The client, if it is still connected and its expiry has not changed since the timer started.
fn current<M: Send + Sync + 'static>(
    clients: &ConnectedClients<M>,
    sid: Sid,
    generation: u64,
) -> Option<Client<M>> {
    let client = clients.by_socket_id(sid)?;
    let unchanged = client.data().expiry().is_current(generation);
    unchanged.then_some(client)
}
