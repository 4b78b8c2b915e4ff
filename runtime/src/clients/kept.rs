//! The offline inbox from the connected-clients map: keeping an event for a user offline
//! everywhere, and handing what was kept to the first of the user's sockets that connects.

use std::sync::PoisonError;
use std::time::Duration;

use serde_json::Value;
use serde_json::value::RawValue;

use super::client::Client;
use super::map::ConnectedClients;
use crate::acks::DEFAULT_ACK_TIMEOUT;
use crate::clock::now_ms;
use crate::offline::Kept;

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    fn inboxes(&self) -> std::sync::MutexGuard<'_, crate::offline::Inboxes> {
        self.inner_inboxes()
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps an event in `user`'s offline inbox for `ttl` (at most
    /// [`MAX_KEEP`](crate::MAX_KEEP)); `false` when
    /// it could not be kept (Redis away).
    pub(crate) async fn keep(
        &self,
        user: &str,
        event: &str,
        data: &RawValue,
        ttl: Duration,
    ) -> bool {
        let kept = Kept::new(event, data, ttl);
        match self.remote() {
            None => {
                self.inboxes().keep(user, [kept], now_ms());
                true
            }
            Some(remote) => remote.keep(self.namespace(), user, vec![kept]).await,
        }
    }

    /// Hands a socket what its user's offline inbox kept (taken, so no other socket gets it),
    /// each event asking for an ack; what is not acked within [`DEFAULT_ACK_TIMEOUT`] is kept
    /// again for the user's next socket.
    pub(crate) async fn deliver_kept(&self, client: &Client<M>) {
        let Some(user) = client.user_id() else {
            return;
        };
        let kept = match self.remote() {
            None => self.inboxes().take(&user, now_ms()),
            Some(remote) => remote
                .take_kept(self.namespace(), &user)
                .await
                .unwrap_or_default(),
        };
        if kept.is_empty() {
            return;
        }
        // Sent in order; the acks are awaited together.
        let asks: Vec<_> = kept
            .iter()
            .map(|k| {
                client
                    .socket()
                    .timeout(DEFAULT_ACK_TIMEOUT)
                    .emit_with_ack::<_, Value>(&k.event, &*k.data)
            })
            .collect();
        let mut unacked = Vec::new();
        for (k, ask) in kept.into_iter().zip(asks) {
            let acked = match ask {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if !acked {
                unacked.push(k);
            }
        }
        if unacked.is_empty() {
            return;
        }
        tracing::debug!(sid = %client.id(), kept = unacked.len(), "kept events not acked; kept again");
        match self.remote() {
            None => {
                self.inboxes().keep(&user, unacked, now_ms());
            }
            Some(remote) => {
                remote.keep(self.namespace(), &user, unacked).await;
            }
        }
    }
}
