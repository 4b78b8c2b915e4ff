//! Puts a namespace on the socket.io server: its connected-clients map, its handlers, and (in
//! cluster mode) the sink through which other nodes' messages reach its sockets.

use std::sync::Arc;

use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::socket::DisconnectReason;

use super::presence::announcer;
use super::runtime::{Runtime, Settings};
use crate::clients::ConnectedClients;
use crate::handshake::SocketNok;
use crate::metrics;
use crate::namespace::{Namespace, NamespaceDef};
use crate::presence::Tracking;
use crate::remote::Remote;

/// What keeps a mounted namespace's handlers working: the socket.io server holds them weakly,
/// so that it does not keep the namespace (and, through its map, itself) alive.
pub(crate) type Keep = Arc<dyn std::any::Any + Send + Sync>;

/// Mounts a namespace on a socket.io server; returns its connected-clients map, and what must
/// be held for the namespace to keep serving (the [`Tether`](crate::Tether) holds it).
pub(crate) fn mount<T: Namespace>(
    io: &SocketIo,
    state: Arc<T>,
    settings: Arc<Settings>,
    remote: Option<Arc<dyn Remote>>,
) -> (ConnectedClients<T::Metadata>, Keep) {
    let def = NamespaceDef::<T>::collect();
    let tracking = Tracking {
        users: def.on_user_online.is_some() || def.on_user_offline.is_some(),
        channels: def.presence.clone(),
        grace: def.presence.as_ref().map_or(settings.presence_grace, |p| {
            p.grace_or(settings.presence_grace)
        }),
    };
    let clients =
        ConnectedClients::new(T::PATH, io.clone(), remote.clone(), def.recovery, tracking);
    if let Some(remote) = &remote {
        // Weak: the remote outlives no namespace, and must not keep one alive.
        let (sink, presence, resync) = (
            clients.downgrade(),
            clients.downgrade(),
            clients.downgrade(),
        );
        remote.attach(
            T::PATH,
            Box::new(move |inbound| match sink.upgrade() {
                Some(clients) => clients.deliver(inbound),
                None => Box::pin(async {}),
            }),
            Box::new(move || {
                presence
                    .upgrade()
                    .map(|c| c.presence_entries())
                    .unwrap_or_default()
            }),
            Box::new(move || {
                if let Some(clients) = resync.upgrade() {
                    clients.resync();
                }
            }),
            clients.roster_hooks(),
        );
    }
    let rt = Arc::new(Runtime {
        def,
        state,
        clients: clients.clone(),
        settings,
    });
    clients.on_announce(announcer(Arc::downgrade(&rt)));
    if let Some(share) = &rt.def.share_metadata {
        clients.share_metadata(share.clone());
    }
    let evicting = Arc::downgrade(&rt);
    clients.on_evict(Box::new(move |s: SocketRef| {
        if let Some(rt) = evicting.upgrade() {
            tokio::spawn(async move {
                rt.disconnected(s, DisconnectReason::ServerNSDisconnect)
                    .await;
            });
        }
    }));
    let middleware = {
        let rt = Arc::downgrade(&rt);
        move |s: SocketRef, TryData(auth): TryData<Value>| {
            let rt = rt.upgrade();
            async move {
                let admitted = match rt {
                    Some(rt) => rt.admit(&s, auth.unwrap_or(Value::Null)).await,
                    // The tether was dropped.
                    None => Err(SocketNok::with_code(
                        "server_shutdown",
                        "this server is shutting down; connect again",
                    )),
                };
                if let Err(nok) = &admitted {
                    metrics::refusal(T::PATH, nok.code());
                    // Refused: its connect is decided.
                    super::admission::release(s.req_parts());
                }
                admitted
            }
        }
    };
    let handler = {
        let rt = Arc::downgrade(&rt);
        move |s: SocketRef| {
            let rt = rt.upgrade();
            async move {
                match rt {
                    Some(rt) => rt.connected(s).await,
                    None => s.disconnect().unwrap_or_default(),
                }
            }
        }
    };
    io.ns(T::PATH, handler.with(middleware));
    (clients, rt)
}
