//! One emit being addressed ([`Emit`]): its targets and exclusions, then how it goes out —
//! an emit, an emit asking for acks, or kept for offline users.

use std::fmt;
use std::time::Duration;

use serde_json::value::RawValue;

use super::{Backend, Emitter};
use crate::acks::{ClusterClient, DEFAULT_ACK_TIMEOUT, MAX_ACK_TIMEOUT, SocketAck};
use crate::delivery::{Delivery, EmitError, serialize_once};
use crate::events::Events;
use crate::namespace::Namespace;
use crate::offline::Kept;
use crate::protocol::{Kick, Target, is_reserved_event, validate_channel};
use crate::remote::{Order, publish_into};

/// One emit being addressed: add targets and exclusions, then [`emit`](Emit::emit).
///
/// ```
/// # use tether::{AnyEvent, Target, Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tether::EmitError> {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// # let log = tether.record_emits::<Chat>();
/// let emitter = tether.emitter::<Chat>();
/// // To the channel and to user 42's sockets, but not the tab that sent the message.
/// let delivery = emitter
///     .to_channel("general")
///     .and_user("42")
///     .except_client("tab-1")
///     .emit(AnyEvent::new("message", serde_json::json!({"text": "hi"})))
///     .await?;
/// assert!(delivery.is_offline()); // nobody is connected yet
/// # let sent = &log.emits()[0];
/// # assert_eq!(sent.targets, [Target::Channel("general".into()), Target::User("42".into())]);
/// # assert_eq!(sent.except, [Target::Client("tab-1".into())]);
/// # Ok(()) }
/// ```
#[must_use = "an emit does nothing until `.emit(event).await`"]
pub struct Emit<'a, T: Namespace> {
    emitter: &'a Emitter<T>,
    targets: Vec<Target>,
    except: Vec<Target>,
    timeout: Duration,
    persist: Option<Duration>,
}

impl<T: Namespace> fmt::Debug for Emit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Emit")
            .field("targets", &self.targets)
            .field("except", &self.except)
            .field("timeout", &self.timeout)
            .field("persist", &self.persist)
            .finish()
    }
}

impl<'a, T: Namespace> Emit<'a, T> {
    /// An emit to `targets`, without exclusions.
    pub(super) fn new(emitter: &'a Emitter<T>, targets: Vec<Target>) -> Self {
        Self {
            emitter,
            targets,
            except: Vec::new(),
            timeout: DEFAULT_ACK_TIMEOUT,
            persist: None,
        }
    }
}

impl<T: Namespace> Emit<'_, T> {
    /// Also to every socket of this user.
    pub fn and_user(mut self, user: impl Into<String>) -> Self {
        self.targets.push(Target::User(user.into()));
        self
    }

    /// Also to every member of this channel.
    pub fn and_channel(mut self, channel: impl Into<String>) -> Self {
        self.targets.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this user.
    pub fn except_user(mut self, user: impl Into<String>) -> Self {
        self.except.push(Target::User(user.into()));
        self
    }

    /// Except the members of this channel.
    pub fn except_channel(mut self, channel: impl Into<String>) -> Self {
        self.except.push(Target::Channel(channel.into()));
        self
    }

    /// Except the sockets of this client key (e.g. the sender).
    pub fn except_client(mut self, key: impl Into<String>) -> Self {
        self.except.push(Target::Client(key.into()));
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for each socket's ack (default
    /// [`DEFAULT_ACK_TIMEOUT`], at most [`MAX_ACK_TIMEOUT`](crate::MAX_ACK_TIMEOUT)).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(MAX_ACK_TIMEOUT);
        self
    }

    /// Sends the event asking every socket for an ack, on every node, and returns one answer per
    /// socket: its id, its node, and the ack's value or why there is none
    /// ([`AckFailure::Timeout`](crate::AckFailure::Timeout) naming a socket that did not
    /// answer in time). Returns within the [`timeout`](Self::timeout) plus
    /// [`ACK_GRACE`](crate::ACK_GRACE), even when a node dies meanwhile (its sockets are then
    /// missing from the answers). Acked emits are not recorded for recovery.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: tether::Emitter<T>) -> Result<(), tether::EmitError> {
    /// let ev = tether::AnyEvent::new("confirm", serde_json::json!({"order": 42}));
    /// for answer in emitter.to_user("42").timeout(Duration::from_secs(2)).emit_with_ack(ev).await? {
    ///     match answer.reply {
    ///         Ok(value) => println!("{} on {} said {value}", answer.socket, answer.node),
    ///         Err(why) => println!("{} on {}: {why:?}", answer.socket, answer.node),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`emit`](Self::emit). Nothing was sent then.
    pub async fn emit_with_ack(self, event: T::Events) -> Result<Vec<SocketAck>, EmitError> {
        match &self.emitter.backend {
            Backend::Node(clients) => {
                clients
                    .emit_with_ack_targets(
                        &self.targets,
                        &self.except,
                        event.name(),
                        &event,
                        self.timeout,
                    )
                    .await
            }
            Backend::Redis(remote, ..) => {
                let data = serialize_once(&event)?;
                let order = Order::Emit {
                    event: event.name(),
                    data: &data,
                };
                remote.admit(T::PATH, &self.targets, &self.except, &order)?;
                let answers = remote
                    .emit_with_ack(
                        T::PATH,
                        &self.targets,
                        &self.except,
                        event.name(),
                        &data,
                        self.timeout,
                    )
                    .await;
                Ok(answers.unwrap_or_default())
            }
        }
    }

    /// Puts every socket of the targets, on every node, into `channel`: each is told its new
    /// connection info ([`CONNECTION_INFO_EVENT`](crate::CONNECTION_INFO_EVENT)), and the
    /// emits to the channel that follow reach it. Returns one answer per socket (its channels
    /// now) once every node answered, or after the [`timeout`](Self::timeout). Works from an
    /// emitter that serves no sockets too (a worker). Server-side joins are not capped by
    /// `max_channels_per_socket`, nor checked by `#[authorize_channel]`.
    ///
    /// ```no_run
    /// # async fn demo<T: tether::Namespace>(emitter: tether::Emitter<T>) -> Result<(), tether::EmitError> {
    /// let joined = emitter.to_user("42").join("project-7").await?;
    /// println!("{} sockets of user 42 are in project-7", joined.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`EmitError::InvalidChannel`] for a name that is not a channel's. Nothing changed then.
    pub async fn join(self, channel: impl Into<String>) -> Result<Vec<SocketAck>, EmitError> {
        self.membership(channel.into(), true).await
    }

    /// Disconnects every socket of the targets (but the excluded ones) on every node, each told
    /// why first (`/ops/disconnected {code, message}`), from a node or a worker. Answers the
    /// sockets disconnected on this node and the node subscriptions reached.
    ///
    /// ```no_run
    /// # async fn demo<T: tether::Namespace>(emitter: tether::Emitter<T>) {
    /// let kick = tether::Kick::new("session_revoked", "you were signed out everywhere");
    /// emitter.to_client("device-7").disconnect(&kick).await;
    /// emitter.to_channel("room:9").except_user("moderator").disconnect(&kick).await;
    /// # }
    /// ```
    pub async fn disconnect(self, kick: &Kick) -> Delivery {
        let (targets, except) = (&self.targets, &self.except);
        let mut delivery = Delivery::default();
        if let Backend::Node(clients) = &self.emitter.backend {
            delivery.sockets = clients.kick_selected(targets, except, kick);
        }
        match self.emitter.remote() {
            Some(remote) => {
                let order = Order::Kick { kick: kick.clone() };
                publish_into(&**remote, &mut delivery, T::PATH, targets, except, order).await;
            }
            None if delivery.sockets > 0 => delivery.nodes = 1,
            None => {}
        }
        delivery
    }

    /// Takes every socket of the targets, on every node, out of `channel` (see
    /// [`join`](Self::join)).
    ///
    /// # Errors
    /// [`EmitError::InvalidChannel`] for a name that is not a channel's.
    pub async fn leave(self, channel: impl Into<String>) -> Result<Vec<SocketAck>, EmitError> {
        self.membership(channel.into(), false).await
    }

    /// Every socket of the targets, on every node, with its connection info (id, client key,
    /// user, channels) and its node; within the [`timeout`](Self::timeout) (a node that does
    /// not answer in time is missing). Works from an emitter that serves no sockets too.
    ///
    /// ```no_run
    /// # async fn demo<T: tether::Namespace>(emitter: tether::Emitter<T>) {
    /// for client in emitter.to_user("42").clients().await {
    ///     println!("{} on {}: {:?}", client.info.client_id, client.node, client.info.channels);
    /// }
    /// # }
    /// ```
    pub async fn clients(self) -> Vec<ClusterClient> {
        let (targets, except) = (&self.targets, &self.except);
        let answers = match &self.emitter.backend {
            Backend::Node(clients) => clients.fetch(targets, except, self.timeout).await,
            Backend::Redis(remote, ..) => remote
                .fetch(T::PATH, targets, except, self.timeout)
                .await
                .unwrap_or_default(),
        };
        answers
            .into_iter()
            .filter_map(ClusterClient::from_answer)
            .collect()
    }

    async fn membership(self, channel: String, join: bool) -> Result<Vec<SocketAck>, EmitError> {
        let (targets, except) = (&self.targets, &self.except);
        match &self.emitter.backend {
            Backend::Node(clients) => {
                clients
                    .membership(targets, except, &channel, join, self.timeout)
                    .await
            }
            Backend::Redis(remote, ..) => {
                validate_channel(&channel)
                    .map_err(|e| EmitError::InvalidChannel(e.message().to_owned()))?;
                let answers = remote
                    .membership(T::PATH, targets, except, &channel, join, self.timeout)
                    .await;
                Ok(answers.unwrap_or_default())
            }
        }
    }

    /// Keeps the event for every targeted user who is offline everywhere, for `ttl` (at most
    /// [`MAX_KEEP`](crate::MAX_KEEP)): the first of the user's sockets to connect within it
    /// (on any node) receives it, asked for an ack; once acked, no other device receives it
    /// (one not acked within [`DEFAULT_ACK_TIMEOUT`] is kept again for the next socket). A user
    /// online somewhere receives the event as usual instead. [`Delivery::kept`] counts the
    /// users whose inbox took it.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo<T: tether::Namespace<Events = tether::AnyEvent>>(emitter: tether::Emitter<T>) -> Result<(), tether::EmitError> {
    /// let ev = tether::AnyEvent::new("invoice", serde_json::json!({"id": 7}));
    /// let delivery = emitter.to_user("42").persist(Duration::from_secs(86_400)).emit(ev).await?;
    /// assert!(delivery.delivered() || delivery.kept == 1 || delivery.cluster_unavailable);
    /// # Ok(()) }
    /// ```
    pub fn persist(mut self, ttl: Duration) -> Self {
        self.persist = Some(ttl);
        self
    }

    /// The targeted users offline everywhere get the event in their inbox; the other targets
    /// are left for a live emit. Returns how many users it was kept for, and whether keeping
    /// failed for one (Redis away).
    async fn keep_for_offline(
        &mut self,
        ttl: Duration,
        event: &str,
        data: &RawValue,
    ) -> Result<(usize, bool), EmitError> {
        if is_reserved_event(event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let (mut kept, mut failed) = (0, false);
        let mut live = Vec::with_capacity(self.targets.len());
        for target in std::mem::take(&mut self.targets) {
            let Target::User(user) = &target else {
                live.push(target);
                continue;
            };
            if self.emitter.is_online(user).await {
                live.push(target);
                continue;
            }
            let done = match &self.emitter.backend {
                Backend::Node(clients) => clients.keep(user, event, data, ttl).await,
                Backend::Redis(remote, ..) => {
                    let kept = Kept::new(event, data, ttl);
                    remote.keep(T::PATH, user, vec![kept]).await
                }
            };
            kept += usize::from(done);
            failed |= !done;
        }
        self.targets = live;
        Ok((kept, failed))
    }

    /// Sends the event. The payload is serialised once for all recipients.
    ///
    /// # Errors
    /// When the payload cannot be serialised ([`EmitError::Serialize`]), the event name is
    /// reserved ([`EmitError::ReservedEvent`]: `/ops/…`, `connect`, `disconnect`, …), or, in
    /// cluster mode, its envelope would exceed the cluster's bound ([`EmitError::TooLarge`]).
    /// Then nothing was sent, to any socket.
    pub async fn emit(self, event: T::Events) -> Result<Delivery, EmitError> {
        let mut this = self;
        let (mut kept, mut failed) = (0, false);
        if let Some(ttl) = this.persist {
            let data = serialize_once(&event)?;
            (kept, failed) = this.keep_for_offline(ttl, event.name(), &data).await?;
            if this.targets.is_empty() {
                let mut delivery = Delivery::default();
                delivery.kept = kept;
                delivery.cluster_unavailable = failed;
                return Ok(delivery);
            }
        }
        let mut delivery = this.emit_now(event).await?;
        delivery.kept = kept;
        delivery.cluster_unavailable |= failed;
        Ok(delivery)
    }

    async fn emit_now(self, event: T::Events) -> Result<Delivery, EmitError> {
        match &self.emitter.backend {
            Backend::Node(clients) => {
                clients
                    .emit_targets(&self.targets, &self.except, event.name(), &event)
                    .await
            }
            Backend::Redis(remote, recovery, _) => {
                let data = serialize_once(&event)?;
                let order = Order::Emit {
                    event: event.name(),
                    data: &data,
                };
                let (targets, except) = (&self.targets, &self.except);
                remote.admit(T::PATH, targets, except, &order)?;
                let mut delivery = Delivery::default();
                match recovery {
                    Some(recovery) if !targets.contains(&Target::All) => {
                        match remote
                            .record(T::PATH, targets, except, order, *recovery)
                            .await
                        {
                            Some((pos, nodes)) => {
                                delivery.nodes = nodes;
                                delivery.stored_at(pos);
                            }
                            None => delivery.cluster_unavailable = true,
                        }
                    }
                    _ => {
                        publish_into(&**remote, &mut delivery, T::PATH, targets, except, order)
                            .await;
                    }
                }
                Ok(delivery)
            }
        }
    }
}
