//! The per-user connection cap: a new socket over the cap disconnects the user's oldest, on
//! whichever node it is (cluster-wide and atomic through the remote port; this node's sockets
//! only while the cluster is away).

use crate::clients::{Client, ConnectedClients};
use crate::namespace::Namespace;
use crate::protocol::{Kick, Target};
use crate::remote::Order;

use super::runtime::Runtime;

impl<T: Namespace> Runtime<T> {
    /// Disconnects the user's oldest sockets beyond the namespace's cap.
    pub(super) fn enforce_cap(&self, client: &Client<T::Metadata>) {
        let (Some(cap), Some(user)) = (self.def.max_connections_per_user, client.user_id()) else {
            return;
        };
        let Some(remote) = self.clients.remote().cloned() else {
            cap_here(&self.clients, &user, cap);
            return;
        };
        // Queued now, so it reaches the cluster in order with this user's presence writes.
        let checked = remote.cap(T::PATH, &user, &client.id().to_string(), cap);
        let clients = self.clients.clone();
        tokio::spawn(async move {
            let Some(evicted) = checked.await else {
                // The cluster is away: hold the cap on this node at least.
                cap_here(&clients, &user, cap);
                return;
            };
            for (node, sid) in evicted {
                let kick = cap_kick(&user, cap);
                if Some(node.as_str()) == remote.node_id() {
                    if let Some(old) = clients.by_socket_id_str(&sid) {
                        old.kick(&kick);
                    }
                } else {
                    let target = [Target::User(user.clone())];
                    let order = Order::KickSocket { sid: &sid, kick };
                    remote.publish(T::PATH, &target, &[], order).await;
                }
            }
        });
    }
}

/// Disconnects the user's oldest sockets on this node beyond the cap.
fn cap_here<M: Send + Sync + 'static>(clients: &ConnectedClients<M>, user: &str, cap: usize) {
    for old in clients.over_cap(user, cap) {
        old.kick(&cap_kick(user, cap));
    }
}

fn cap_kick(user: &str, cap: usize) -> Kick {
    Kick::new(
        "connection_limit",
        format!("user `{user}` may hold at most {cap} connections; this, the oldest, was closed"),
    )
}
