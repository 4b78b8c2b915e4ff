//! The port to other nodes: what the connected-clients map and the layers above it ask of a
//! cluster, and how a cluster hands back what other nodes published.
//!
//! Like socketioxide's adapter trait, this is the only way the map reaches Redis: the map holds
//! an `Arc<dyn Remote>` (none in embedded mode) and never names the cluster that implements it.
//! Work flows down through [`Remote`]; what other nodes publish flows back up through one
//! [`Sink`] per namespace, registered with [`Remote::attach`].

use std::future::Future;
use std::pin::Pin;

use serde_json::value::RawValue;

use crate::acks::SocketAck;
use crate::delivery::{Delivery, EmitError};
use crate::offline::Kept;
use crate::presence::{Announce, Group};
use crate::protocol::{Kick, Target};
use crate::recovery::{Missed, Position, Recovery};

/// A boxed future of the port (the trait is used as `dyn Remote`).
pub(crate) type RemoteFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// `(node id, [(user, sockets)])` for every live node.
pub(crate) type ClusterView = Vec<(String, Vec<(String, usize)>)>;

/// What a message asks the nodes holding its targets to do.
#[derive(Debug, Clone)]
pub(crate) enum Order<'a> {
    /// Emit `event` with `data` (serialised once, by the publisher) to the local sockets.
    Emit { event: &'a str, data: &'a RawValue },
    /// Disconnect the local sockets, telling them why first.
    Kick { kick: Kick },
    /// Disconnect one socket (a cluster-wide connection cap evicted it).
    KickSocket { sid: &'a str, kick: Kick },
    /// Put the local sockets of the targets into `channel` (`join`) or take them out, telling
    /// each its new connection info; answer `reply_to` under `request` with the sockets changed.
    Member {
        channel: &'a str,
        join: bool,
        request: &'a str,
        reply_to: &'a str,
    },
    /// Hand the application's own message to this node's receivers
    /// ([`ServerEvent`](crate::ServerEvent)); no socket gets it.
    Server { event: &'a str, data: &'a RawValue },
    /// Answer `reply_to` under `request` with the connection info of each local socket of the
    /// targets.
    Fetch { request: &'a str, reply_to: &'a str },
    /// Emit `event` with `data` asking each local socket for an ack; answer the publishing node
    /// (`reply_to`) with each socket's, within `timeout_ms`, under `request`.
    EmitWithAck {
        event: &'a str,
        data: &'a RawValue,
        request: &'a str,
        reply_to: &'a str,
        timeout_ms: u64,
    },
}

/// A message another node (or a Redis-only emitter) published, as the cluster hands it to the
/// namespace it names.
#[derive(Debug)]
pub(crate) struct Inbound<'a> {
    /// Who it is for.
    pub(crate) targets: &'a [Target],
    /// Who is excluded.
    pub(crate) except: &'a [Target],
    /// What to do.
    pub(crate) order: Order<'a>,
    /// Where the emit was recorded (recovery on): every node holding a recipient, the
    /// publisher's included, delivers it in the history's order.
    pub(crate) position: Option<Position>,
}

/// What delivering one inbound message still has to do; awaited before the next one, so a node
/// delivers a publisher's messages in order.
pub(crate) type Delivering = Pin<Box<dyn Future<Output = ()> + Send>>;
/// Receives the inbound messages of one namespace on this node.
pub(crate) type Sink = Box<dyn Fn(Inbound<'_>) -> Delivering + Send + Sync>;
/// Makes every socket of a namespace with recovery on catch up from the history (after this
/// node may have missed recorded emits: its pub/sub link was lost, or its inbox overflowed).
pub(crate) type Resync = Box<dyn Fn() + Send + Sync>;
/// Lists the `(user, socket id)` pairs a namespace holds, to rewrite presence after an outage
/// and to publish the cluster view.
pub(crate) type PresenceSource = Box<dyn Fn() -> Vec<(String, String)> + Send + Sync>;

/// `(group, user, socket id)` of every tracked socket a namespace holds, to rewrite its presence.
pub(crate) type RosterSource = Box<dyn Fn() -> Vec<(Group, String, String)> + Send + Sync>;

/// What cluster-wide presence needs of a namespace that tracks groups.
pub(crate) struct RosterHooks {
    /// How long a departure waits before it counts.
    pub(crate) grace: std::time::Duration,
    /// The tracked sockets the namespace holds.
    pub(crate) entries: RosterSource,
    /// Announces a change (called on the one node that takes it).
    pub(crate) announce: Announce,
}

/// The remote work a node can ask for. Implemented by the Redis cluster.
pub(crate) trait Remote: Send + Sync + 'static {
    /// This node's id; `None` for a process that serves no sockets.
    fn node_id(&self) -> Option<&str>;

    /// Whether the link to the cluster is up (a Redis-only emitter: always).
    fn is_connected(&self) -> bool;

    /// Routes the inbound messages of namespace `ns` to `sink`; `resync` is called when the
    /// node may have missed recorded emits; `roster`, when the namespace tracks presence.
    fn attach(
        &self,
        ns: &str,
        sink: Sink,
        presence: PresenceSource,
        resync: Resync,
        roster: Option<RosterHooks>,
    );

    /// This node starts (`true`) or stops holding a recipient: follow its messages or not.
    fn follow(&self, ns: &str, target: &Target, yes: bool);

    /// Records (`true`) or removes a socket of `user` held by this node, in the order of the
    /// calls for each user. Returns at once.
    fn set_presence(&self, ns: &str, user: &str, sid: &str, present: bool);

    /// Records (`true`) or removes socket `sid` of `user` in a tracked `group`, in the order of
    /// the calls for each user; an arrival or a departure is announced through the namespace's
    /// [`RosterHooks`] on the one node that takes it. Returns at once.
    fn set_member(&self, ns: &str, group: &Group, user: &str, sid: &str, present: bool);

    /// The users of a tracked `group` on every node, each once, those within their grace
    /// included, sorted, this node's changes made before the call included; `None` when the
    /// cluster cannot be reached.
    fn members<'a>(
        &'a self,
        ns: &'a str,
        group: &'a Group,
    ) -> RemoteFuture<'a, Option<Vec<String>>>;

    /// Whether [`publish`](Remote::publish) would carry this order: its event name is not
    /// reserved and its envelope fits the cluster's bound. Asked before anything is delivered,
    /// so a refused emit reaches no socket, here or elsewhere.
    fn admit(
        &self,
        ns: &str,
        targets: &[Target],
        except: &[Target],
        order: &Order<'_>,
    ) -> Result<(), EmitError>;

    /// Publishes an order to the nodes holding `targets`; answers how many node subscriptions
    /// received it, or `None` when the cluster could not be reached (or refused the order: see
    /// [`admit`](Remote::admit)).
    fn publish<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        order: Order<'a>,
    ) -> RemoteFuture<'a, Option<usize>>;

    /// Counts a new socket of `user` under a cluster-wide cap; answers the `(node, socket id)`
    /// pairs to evict, oldest first (`None`: the cluster could not be asked). Queued at once, in
    /// order with the user's presence writes; the future only waits for the answer.
    fn cap(
        &self,
        ns: &str,
        user: &str,
        sid: &str,
        cap: usize,
    ) -> RemoteFuture<'static, Option<Vec<(String, String)>>>;

    /// The live nodes holding sockets of `user`, with how many each.
    fn user_nodes<'a>(
        &'a self,
        ns: &'a str,
        user: &'a str,
    ) -> RemoteFuture<'a, Option<Vec<(String, usize)>>>;

    /// Every live node's users in `ns`, with their socket counts.
    fn view<'a>(&'a self, ns: &'a str) -> RemoteFuture<'a, Option<ClusterView>>;

    /// Recovery: records an emit in its targets' streams and publishes it, in one step, to every
    /// node holding a recipient (this one included: its sockets get it through Redis too, so
    /// every node delivers in the history's order). Answers the position and how many node
    /// subscriptions received it; `None` when Redis could not be reached (nothing recorded).
    fn record<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        order: Order<'a>,
        recovery: Recovery,
    ) -> RemoteFuture<'a, Option<(Position, usize)>>;

    /// Waits, for a bounded time, until the node follows every recipient it was asked to follow
    /// so far; `false` when it could not (Redis is away).
    fn followed(&self) -> RemoteFuture<'static, bool>;

    /// Emits with acks to the sockets of `targets` on the other nodes (this node's own are the
    /// caller's), and collects their answers until every node that received it answered or
    /// `timeout` plus [`ACK_GRACE`](crate::ACK_GRACE) passed. `None` when the cluster could not
    /// be reached, or for a process that serves no sockets (it cannot receive answers).
    fn emit_with_ack<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        event: &'a str,
        data: &'a RawValue,
        timeout: std::time::Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>>;

    /// Puts the sockets of `targets` on the other nodes into `channel` (`join`) or takes them
    /// out, and collects each node's answer (the sockets changed, with their channels) until
    /// every node that received the order answered or `timeout` passed. A node answers once it
    /// follows the channel, so emits to it that follow reach the sockets. `None` when the
    /// cluster could not be reached.
    fn membership<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        channel: &'a str,
        join: bool,
        timeout: std::time::Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>>;

    /// The connection info of every socket of `targets` on the other nodes, as answers
    /// (`reply`: the info), collected until every node that received the request answered or
    /// `timeout` passed. `None` when the cluster could not be reached.
    fn fetch<'a>(
        &'a self,
        ns: &'a str,
        targets: &'a [Target],
        except: &'a [Target],
        timeout: std::time::Duration,
    ) -> RemoteFuture<'a, Option<Vec<SocketAck>>>;

    /// Sends this node's sockets' acks to the node that asked (`to`), under its `request`.
    fn reply_acks(
        &self,
        to: &str,
        request: &str,
        acks: Vec<SocketAck>,
    ) -> RemoteFuture<'static, ()>;

    /// Keeps an event in `user`'s offline inbox until `expires_ms`; `false` when Redis could
    /// not be reached.
    fn keep<'a>(&'a self, ns: &'a str, user: &'a str, kept: Vec<Kept>) -> RemoteFuture<'a, bool>;

    /// Takes every unexpired event of `user`'s offline inbox, so that no other socket gets
    /// them; `None` when Redis could not be reached.
    fn take_kept<'a>(&'a self, ns: &'a str, user: &'a str) -> RemoteFuture<'a, Option<Vec<Kept>>>;

    /// What a client at `since` missed on `streams` (with `None`: only the history's head, for
    /// a socket that asks for nothing); `None` when Redis could not be reached.
    fn missed<'a>(
        &'a self,
        ns: &'a str,
        streams: &'a [Target],
        since: Option<Position>,
        recovery: Recovery,
    ) -> RemoteFuture<'a, Option<Missed>>;
}

/// Publishes an order and takes the outcome into `delivery`: the one recipe every remote emit
/// and kick follows.
pub(crate) async fn publish_into(
    remote: &dyn Remote,
    delivery: &mut Delivery,
    ns: &str,
    targets: &[Target],
    except: &[Target],
    order: Order<'_>,
) {
    delivery.published(remote.publish(ns, targets, except, order).await);
}
