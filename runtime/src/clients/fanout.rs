//! Emits from the connected-clients map: to this node's sockets, then (in cluster mode) through
//! the [`Remote`](crate::remote::Remote) port to the nodes that hold the other recipients; and
//! the sink that carries out what other nodes publish here.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::map::ConnectedClients;
use crate::delivery::{Delivery, EmitError, delivery, sent_to_one, serialize_once};
use crate::metrics::{Dropped, dropped};
use crate::protocol::{Target, is_reserved_event, validate_channel};
use crate::remote::{Delivering, Inbound, Order};

/// How much sooner than the asker a node answers an `emit_with_ack` for its sockets.
const REMOTE_ACK_MARGIN: Duration = Duration::from_millis(50);

impl<M: Send + Sync + 'static> ConnectedClients<M> {
    /// Emits `event` to the sockets selected by `targets` minus `except`, here and (in cluster
    /// mode) on every node that holds one of them, serialising the payload once; every emit of
    /// the [`Emitter`](crate::Emitter) and of client relays ends here. With recovery on, an
    /// emit to recipients (not to everyone) is recorded first (`history`).
    pub(crate) async fn emit_targets<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        refuse_reserved(event)?;
        let started = Instant::now();
        let delivery = self
            .emit_targets_timed(targets, except, event, payload)
            .await;
        self.inner().metrics.emitted(started);
        delivery
    }

    async fn emit_targets_timed<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        if let Some(history) = self.history()
            && !targets.contains(&Target::All)
        {
            let data = serialize_once(payload)?;
            let delivery = self
                .emit_recorded(history, targets, except, event, &data)
                .await?;
            self.record(targets, except, event, payload, delivery);
            return Ok(delivery);
        }
        let delivery = match self.remote() {
            None => self.emit_local(targets, except, event, payload).await?,
            Some(remote) => {
                let data = serialize_once(payload)?;
                let order = Order::Emit { event, data: &data };
                let ns = self.namespace();
                remote.admit(ns, targets, except, &order)?;
                // The publish leaves first: the other nodes fan out while this one does.
                let (published, local) = futures_util::future::join(
                    remote.publish(ns, targets, except, order),
                    self.emit_local(targets, except, event, &*data),
                )
                .await;
                let mut delivery = local?;
                delivery.published(published);
                delivery
            }
        };
        self.record(targets, except, event, payload, delivery);
        Ok(delivery)
    }

    /// Emits to the matching sockets of this node only.
    pub(crate) async fn emit_local<T: Serialize + ?Sized>(
        &self,
        targets: &[Target],
        except: &[Target],
        event: &str,
        payload: &T,
    ) -> Result<Delivery, EmitError> {
        let (targeted, single) = {
            let indexes = self.read();
            match indexes.single(targets, except) {
                Some(socket) => (1, Some(socket.clone())),
                None => (indexes.count_selected(targets, except), None),
            }
        };
        let mut delivery = match single {
            // One socket: sent to it directly, not through socketioxide's room and socket
            // lookups (the same packet, in the same order with the socket's other packets).
            Some(socket) => sent_to_one(socket.emit(event, payload))?,
            None => match self.operators() {
                Some(mut ops) if targeted > 0 => {
                    if !targets.contains(&Target::All) {
                        ops = ops.to(targets.iter().filter_map(Target::room).collect::<Vec<_>>());
                    }
                    if !except.is_empty() {
                        let rooms = except.iter().filter_map(Target::room).collect::<Vec<_>>();
                        ops = ops.except(rooms);
                    }
                    delivery(targeted, ops.emit(event, payload).await)?
                }
                // Nobody to reach: still check the payload serialises, so a bad payload is
                // reported the same way whether or not anyone is connected.
                _ => return serialize_once(payload).map(|_| Delivery::default()),
            },
        };
        dropped(self.namespace(), Dropped::Emit, delivery.failed);
        self.inner().metrics.sent(event, delivery.sockets);
        delivery.nodes = 1;
        Ok(delivery)
    }

    /// Carries out a message another node (or a Redis-only emitter) published.
    pub(crate) fn deliver(&self, inbound: Inbound<'_>) -> Delivering {
        match inbound.order {
            Order::Emit { event, data } => {
                if let Some(pos) = inbound.position {
                    self.deliver_recorded(pos, inbound.targets, inbound.except, event, data);
                    return Box::pin(async {});
                }
                let this = self.clone();
                let (targets, except) = (inbound.targets.to_vec(), inbound.except.to_vec());
                let (event, data) = (event.to_owned(), data.to_owned());
                Box::pin(async move {
                    if let Err(e) = this.emit_local(&targets, &except, &event, &*data).await {
                        tracing::warn!(error = %e, event, "remote emit not delivered");
                    }
                })
            }
            Order::EmitWithAck {
                event,
                data,
                request,
                reply_to,
                timeout_ms,
            } => {
                let Some(remote) = self.remote().cloned() else {
                    return Box::pin(async {});
                };
                let this = self.clone();
                let (targets, except) = (inbound.targets.to_vec(), inbound.except.to_vec());
                let (event, data) = (event.to_owned(), data.to_owned());
                let (request, reply_to) = (request.to_owned(), reply_to.to_owned());
                // Answered on its own task: the next messages are not held up by slow acks.
                tokio::spawn(async move {
                    // Answer a little before the asker's deadline, so that the answer (two
                    // hops away) is in before it.
                    let timeout =
                        Duration::from_millis(timeout_ms).saturating_sub(REMOTE_ACK_MARGIN);
                    let acks = this
                        .acks_local(&targets, &except, &event, &data, timeout)
                        .await;
                    remote.reply_acks(&reply_to, &request, acks).await;
                });
                Box::pin(async {})
            }
            Order::Fetch { request, reply_to } => {
                let Some(remote) = self.remote().cloned() else {
                    return Box::pin(async {});
                };
                let answers = self.fetch_local(inbound.targets, inbound.except);
                let (request, reply_to) = (request.to_owned(), reply_to.to_owned());
                tokio::spawn(async move { remote.reply_acks(&reply_to, &request, answers).await });
                Box::pin(async {})
            }
            Order::Member {
                channel,
                join,
                request,
                reply_to,
            } => {
                let Some(remote) = self.remote().cloned() else {
                    return Box::pin(async {});
                };
                let answers = if validate_channel(channel).is_ok() {
                    self.membership_local(inbound.targets, inbound.except, channel, join)
                } else {
                    Vec::new()
                };
                let (request, reply_to) = (request.to_owned(), reply_to.to_owned());
                tokio::spawn(async move {
                    // Followed before answering: the asker's next emit to the channel reaches
                    // these sockets.
                    if join && !answers.is_empty() {
                        remote.followed().await;
                    }
                    remote.reply_acks(&reply_to, &request, answers).await;
                });
                Box::pin(async {})
            }
            Order::Server { event, data } => {
                self.server_event(event, data);
                Box::pin(async {})
            }
            Order::Kick { kick } => {
                self.kick_selected(inbound.targets, inbound.except, &kick);
                Box::pin(async {})
            }
            Order::KickSocket { sid, kick } => {
                if let Some(client) = self.by_socket_id_str(sid) {
                    client.kick(&kick);
                }
                Box::pin(async {})
            }
        }
    }

    /// Emits to every socket of a client key on this node. The payload is serialised once.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_to<T: Serialize + ?Sized>(
        &self,
        key: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        self.emit_targets(&[Target::Client(key.to_owned())], &[], event, data)
            .await
    }

    /// Emits to every socket of the namespace on this node.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_all<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        self.emit_targets(&[Target::All], &[], event, data).await
    }

    /// Emits to every socket except those of one client key (e.g. the sender's, all tabs).
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_all_except<T: Serialize + ?Sized>(
        &self,
        except_key: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        let except = [Target::Client(except_key.to_owned())];
        self.emit_targets(&[Target::All], &except, event, data)
            .await
    }

    /// Emits to every socket in a socket.io room on this node.
    ///
    /// # Errors
    /// When the payload cannot be serialised.
    pub async fn emit_to_room<T: Serialize + ?Sized>(
        &self,
        room: &str,
        event: &str,
        data: &T,
    ) -> Result<Delivery, EmitError> {
        refuse_reserved(event)?;
        let Some(ops) = self.operators() else {
            return Ok(Delivery::default());
        };
        let ops = ops.to(room.to_owned());
        let targeted = ops.clone().sockets().len();
        let delivery = delivery(targeted, ops.emit(event, data).await)?;
        dropped(self.namespace(), Dropped::Emit, delivery.failed);
        Ok(delivery)
    }
}

/// Refuses an event name no emit may carry (see [`is_reserved_event`]).
pub(super) fn refuse_reserved(event: &str) -> Result<(), EmitError> {
    if is_reserved_event(event) {
        return Err(EmitError::ReservedEvent(event.to_owned()));
    }
    Ok(())
}
