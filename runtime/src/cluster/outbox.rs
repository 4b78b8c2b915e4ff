//! What leaves a node (or a Redis-only emitter): an order checked (no reserved event name,
//! within `max_envelope_size`), put in an envelope, signed when the cluster has a key, and
//! published on each target's channel.
//!
//! An emit is checked before any socket gets it ([`Cluster::admit`], through the `Remote` port),
//! so a refused emit reaches nobody, here or elsewhere; [`Cluster::publish`] checks again what it
//! writes, so nothing that another node would drop is ever published.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::config::ClusterState;
use super::envelope::Envelope;
use super::node::Cluster;
use super::sign::SIG_LEN;
use crate::delivery::EmitError;
use crate::protocol::{Target, is_reserved_event, redis_channel};
use crate::remote::Order;

/// Refuses an emit of a reserved event name; kicks name no event (the node that carries one out
/// sends `/ops/disconnected` itself).
fn refuse_reserved(order: &Order<'_>) -> Result<(), EmitError> {
    match order {
        Order::Emit { event, .. } | Order::EmitWithAck { event, .. }
            if is_reserved_event(event) =>
        {
            Err(EmitError::ReservedEvent((*event).to_owned()))
        }
        _ => Ok(()),
    }
}

impl Cluster {
    /// Whether an envelope of `json_len` bytes of JSON, signed if there is a key, fits.
    fn fits(&self, json_len: usize) -> Result<(), EmitError> {
        let sig = if self.guard.key.is_some() {
            SIG_LEN + 1
        } else {
            0
        };
        let (size, max) = (json_len + sig, self.guard.max_envelope);
        if size > max {
            return Err(EmitError::TooLarge { size, max });
        }
        Ok(())
    }

    /// Checks an order before anything is delivered: [`publish`](Self::publish) will carry it.
    /// The size is counted without writing the envelope, with the longest id this process
    /// gives, so it is an upper bound.
    pub(super) fn admit(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: &Order<'_>,
    ) -> Result<(), EmitError> {
        refuse_reserved(order)?;
        if self.surely_fits(ns, targets, except, order) {
            return Ok(());
        }
        let id = format!("{}-{}", self.origin, u64::MAX);
        let envelope = Envelope::new(
            &id,
            self.node_id.as_deref(),
            ns,
            targets.to_vec(),
            except.to_vec(),
            order.clone(),
        );
        self.fits(envelope.encoded_len())
    }

    /// Whether an emit's envelope is below the bound whatever its ids: its payload (JSON
    /// already, copied as it is) plus every other string at its longest escaped form (6 bytes a
    /// character) plus the field names and ids. Most emits are far below the bound: they skip
    /// the exact count, which writes the whole envelope once more.
    fn surely_fits(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: &Order<'_>,
    ) -> bool {
        /// The field names, punctuation, message id and node id, with room to spare.
        const OVERHEAD: usize = 1024;
        let Order::Emit { event, data } = order else {
            return false;
        };
        /// A target's tag and punctuation (`{"kind":"channel","id":""},` is 28 bytes), with
        /// room to spare.
        const PER_TARGET: usize = 40;
        let names = |list: &[Target]| -> usize {
            list.iter()
                .map(|t| match t {
                    Target::All => PER_TARGET,
                    Target::User(s) | Target::Channel(s) | Target::Client(s) => {
                        6 * s.len() + PER_TARGET
                    }
                })
                .sum()
        };
        let strings = 6 * (ns.len() + event.len()) + names(targets) + names(except);
        let most = data.get().len() + strings + OVERHEAD + super::sign::SIG_LEN + 1;
        most <= self.guard.max_envelope
    }

    /// A fresh message id: unique to this process.
    pub(super) fn next_message_id(&self) -> String {
        format!(
            "{}-{}",
            self.origin,
            self.seq.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// An order from this process, in a fresh envelope, sealed (see [`seal`](Self::seal)).
    pub(super) fn seal_order(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: Order<'_>,
    ) -> Result<Vec<u8>, EmitError> {
        let id = self.next_message_id();
        let envelope = Envelope::new(
            &id,
            self.node_id.as_deref(),
            ns,
            targets.to_vec(),
            except.to_vec(),
            order,
        );
        self.seal(&envelope)
    }

    /// The message to publish: the envelope's JSON, signed when there is a key.
    pub(super) fn seal(&self, envelope: &Envelope<'_>) -> Result<Vec<u8>, EmitError> {
        let json = serde_json::to_vec(envelope).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.seal_bytes(json)
    }

    /// A message from JSON: checked against the bound, signed when there is a key.
    pub(super) fn seal_bytes(&self, json: Vec<u8>) -> Result<Vec<u8>, EmitError> {
        self.fits(json.len())?;
        Ok(match &self.guard.key {
            Some(key) => key.sign(&json),
            None => json,
        })
    }

    /// Publishes an envelope on each target's channel; returns how many node subscriptions
    /// received it, or `None` when Redis could not be reached, or the order was refused (see
    /// [`admit`](Self::admit), which emits pass first; a kick whose message is over the bound
    /// is refused here, and logged).
    ///
    /// While a node is reconnecting to Redis it does not try: the emit returns at once (local
    /// delivery is already done) instead of waiting on a connection that is known to be down.
    pub(super) async fn publish(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: Order<'_>,
    ) -> Option<usize> {
        if self.subs.is_some() && self.state() != ClusterState::Connected {
            crate::metrics::redis_publish_skipped();
            return None;
        }
        if let Err(e) = refuse_reserved(&order) {
            tracing::error!(error = %e, ns, "not published");
            return None;
        }
        let message = match self.seal_order(ns, targets, except, order) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, ns, "not published");
                return None;
            }
        };
        let channels: Vec<String> = targets
            .iter()
            .map(|target| redis_channel(&self.prefix, ns, target))
            .collect();
        let started = Instant::now();
        let published = self.publishes.publish(channels, message).await;
        crate::metrics::redis_publish(started, published.is_ok());
        match published {
            Ok(nodes) => Some(nodes),
            Err(e) => {
                tracing::warn!(error = %e, ns, "publish to Redis failed; remote sockets missed this emit");
                None
            }
        }
    }
}
