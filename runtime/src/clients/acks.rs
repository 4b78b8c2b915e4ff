//! `emit_with_ack` from the connected-clients map: this node's sockets asked directly, the
//! other nodes' through the [`Remote`](crate::remote::Remote) port, one answer per socket.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use socketioxide::AckError;

use super::fanout::refuse_reserved;
use super::map::ConnectedClients;
use crate::acks::{AckFailure, MAX_ACK_TIMEOUT, SocketAck};
use crate::delivery::{EmitError, serialize_once};
use crate::protocol::Target;
use crate::remote::Order;

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Emits `event` to the sockets selected by `targets` minus `except` on every node, asking
    /// each for an ack; returns each socket's answer (or timeout) within `timeout` (plus
    /// [`ACK_GRACE`](crate::ACK_GRACE) for other nodes' answers).
    pub(crate) async fn emit_with_ack_targets<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
        timeout: Duration,
    ) -> Result<Vec<SocketAck>, EmitError> {
        refuse_reserved(event)?;
        let data = serialize_once(payload)?;
        let Some(remote) = self.remote() else {
            return Ok(self
                .acks_local(targets, except, event, &data, timeout)
                .await);
        };
        let ns = self.namespace();
        remote.admit(ns, targets, except, &Order::Emit { event, data: &data })?;
        let (mut acks, others) = futures_util::future::join(
            self.acks_local(targets, except, event, &data, timeout),
            remote.emit_with_ack(ns, targets, except, event, &data, timeout),
        )
        .await;
        acks.extend(others.unwrap_or_default());
        Ok(acks)
    }

    /// Asks the selected sockets of this node for an ack, each within `timeout`.
    pub(crate) async fn acks_local(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        data: &RawValue,
        timeout: Duration,
    ) -> Vec<SocketAck> {
        let timeout = timeout.min(MAX_ACK_TIMEOUT);
        let node = self
            .remote()
            .and_then(|r| r.node_id())
            .unwrap_or("local")
            .to_owned();
        let sockets: Vec<_> = self
            .read()
            .selected(targets, except)
            .into_iter()
            .map(|e| e.socket.clone())
            .collect();
        let asks = sockets.into_iter().map(|socket| {
            let node = node.clone();
            async move {
                let reply = match socket
                    .timeout(timeout)
                    .emit_with_ack::<_, Value>(event, data)
                {
                    Err(_) => Err(AckFailure::Disconnected),
                    Ok(ack) => match ack.await {
                        Ok(value) => Ok(value),
                        Err(AckError::Timeout) => Err(AckFailure::Timeout),
                        Err(AckError::Decode(_)) => Err(AckFailure::Unreadable),
                        Err(AckError::Socket(_)) => Err(AckFailure::Disconnected),
                    },
                };
                SocketAck::new(socket.id.to_string(), node, reply)
            }
        });
        futures_util::future::join_all(asks).await
    }
}
