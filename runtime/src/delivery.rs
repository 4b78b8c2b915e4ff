//! What an emit reached ([`Delivery`]), and how it can fail ([`EmitError`]).

use std::fmt;

use serde::Serialize;
use serde_json::value::RawValue;
use socketioxide::{BroadcastError, SendError};

use crate::recovery::Position;

/// What an emit reached: sockets written to on this node, nodes reached, and whether it was
/// stored for recovery.
///
/// "Written" means handed to a socket's send queue, not received: a socket whose connection
/// blips loses what was written to it. In a namespace with recovery on, a recorded event
/// (`stored`) is not lost that way: the client receives it when it reconnects within the window.
/// An event that reached no socket and no node, and was not stored, went to nobody
/// ([`is_offline`](Self::is_offline)).
///
/// ```
/// let nobody = tether::Delivery::default();
/// assert!(!nobody.delivered() && !nobody.stored && nobody.is_offline());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// Sockets of this node the event was handed to.
    pub sockets: usize,
    /// Targeted sockets of this node that could not take it (closed, or a full send buffer).
    pub failed: usize,
    /// Nodes that received it. Embedded mode: 1 when a local socket did, else 0. Cluster mode:
    /// Redis's count of subscribers to the targets' channels (this node included when it holds
    /// a recipient); for an emit with several targets a node is counted once per target it holds.
    pub nodes: usize,
    /// Cluster mode only: Redis could not be reached, so only this node's sockets got it.
    pub cluster_unavailable: bool,
    /// Recovery on: the event was recorded in its recipients' streams (at
    /// [`position`](Self::position)). In cluster mode a recorded event reaches the sockets of
    /// every node, this one included, through Redis (so that every node delivers in the
    /// history's order): `sockets` counts this node's recipients it is on its way to.
    pub stored: bool,
    /// How many users, offline everywhere, had the event kept in their offline inbox
    /// ([`Emit::persist`](crate::Emit::persist)): the first of their sockets to connect within
    /// the time to live receives it.
    pub kept: usize,
    position: Option<Position>,
}

impl Delivery {
    /// Takes in the outcome of a publish to the cluster: how many node subscriptions received
    /// it, or `None` when Redis could not be reached.
    pub(crate) fn published(&mut self, nodes: Option<usize>) {
        match nodes {
            Some(nodes) => self.nodes = nodes,
            None => self.cluster_unavailable = true,
        }
    }

    /// Whether the event reached at least one socket, here or on another node.
    pub fn delivered(&self) -> bool {
        self.sockets > 0 || self.nodes > 0
    }

    /// Whether nobody got the event and nobody can: no socket, no node, not stored, not kept.
    pub fn is_offline(&self) -> bool {
        !self.delivered() && !self.stored && self.kept == 0
    }

    /// Where the event was recorded (`<ms>-<seq>`), when [`stored`](Self::stored).
    pub fn position(&self) -> Option<String> {
        self.position.map(|p| p.to_string())
    }

    /// Marks the event as recorded at `position`.
    pub(crate) fn stored_at(&mut self, position: Position) {
        self.stored = true;
        self.position = Some(position);
    }
}

/// An emit that could not be carried out at all.
///
/// ```
/// # use tether::{AnyEvent, EmitError, Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// let emitter = tether.emitter::<Chat>();
///
/// // `disconnect` is socket.io's own event: nothing is sent.
/// let ev = AnyEvent::new("disconnect", serde_json::json!(null));
/// let err = emitter.to_all().emit(ev).await.unwrap_err();
/// assert!(matches!(&err, EmitError::ReservedEvent(name) if name == "disconnect"));
///
/// // Channel names have no spaces: nobody joins it.
/// let err = emitter.to_user("42").join("team a").await.unwrap_err();
/// assert!(matches!(err, EmitError::InvalidChannel(_)));
/// # }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum EmitError {
    /// The payload could not be serialised.
    Serialize(String),
    /// The socket is closed.
    Closed,
    /// The socket's send buffer is full: the client does not read fast enough.
    BufferFull,
    /// The event name is reserved: tether's own (`/ops/…`) or one of socket.io's (`connect`,
    /// `connect_error`, `disconnect`, `disconnecting`, `newListener`, `removeListener`). Nothing
    /// was sent.
    ReservedEvent(String),
    /// Cluster mode: the envelope carrying this emit would be `size` bytes, more than the
    /// cluster's `max` ([`ClusterConfig::max_envelope_size`](crate::cluster::ClusterConfig::max_envelope_size)).
    /// Nothing was sent, not even to this node's sockets.
    TooLarge {
        /// The envelope's size in bytes (an upper bound).
        size: usize,
        /// The largest envelope the cluster takes.
        max: usize,
    },
    /// A channel name that is not one (1 to 64 characters of `A-Z a-z 0-9 _ - . :`).
    InvalidChannel(String),
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serialize(e) => write!(f, "the payload could not be serialised: {e}"),
            Self::Closed => f.write_str("the socket is closed"),
            Self::BufferFull => f.write_str("the socket's send buffer is full"),
            Self::ReservedEvent(name) => write!(
                f,
                "`{name}` is a reserved event name (`/ops/…` is tether's, and socket.io reserves \
                 `connect`, `connect_error`, `disconnect`, `disconnecting`, `newListener`, \
                 `removeListener`)"
            ),
            Self::InvalidChannel(why) => write!(f, "invalid channel: {why}"),
            Self::TooLarge { size, max } => write!(
                f,
                "the envelope would be {size} bytes, over the cluster's maximum of {max} \
                 (`ClusterConfig::max_envelope_size`)"
            ),
        }
    }
}

impl std::error::Error for EmitError {}

impl From<SendError> for EmitError {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Serialize(e) => Self::Serialize(e.to_string()),
            SendError::Socket(socketioxide::SocketError::InternalChannelFull) => Self::BufferFull,
            SendError::Socket(socketioxide::SocketError::Closed) => Self::Closed,
        }
    }
}

/// An emit's payload serialised once, as every recipient (local sockets and other nodes) gets it.
pub(crate) fn serialize_once<T: Serialize + ?Sized>(
    payload: &T,
) -> Result<Box<RawValue>, EmitError> {
    serde_json::value::to_raw_value(payload).map_err(|e| EmitError::Serialize(e.to_string()))
}

/// Turns the outcome of an emit to one socket into a [`Delivery`].
pub(crate) fn sent_to_one(result: Result<(), SendError>) -> Result<Delivery, EmitError> {
    match result {
        Ok(()) => Ok(Delivery {
            sockets: 1,
            ..Delivery::default()
        }),
        Err(SendError::Socket(e)) => {
            tracing::debug!(error = %e, "a socket did not take an emit");
            Ok(Delivery {
                failed: 1,
                ..Delivery::default()
            })
        }
        Err(SendError::Serialize(e)) => Err(EmitError::Serialize(e.to_string())),
    }
}

/// Turns a broadcast's outcome into a [`Delivery`] for `targeted` sockets.
pub(crate) fn delivery(
    targeted: usize,
    result: Result<(), BroadcastError>,
) -> Result<Delivery, EmitError> {
    match result {
        Ok(()) => Ok(Delivery {
            sockets: targeted,
            ..Delivery::default()
        }),
        Err(BroadcastError::Socket(errors)) => {
            let failed = errors.len().min(targeted);
            tracing::debug!(failed, targeted, "some sockets did not take a broadcast");
            Ok(Delivery {
                sockets: targeted - failed,
                failed,
                ..Delivery::default()
            })
        }
        Err(BroadcastError::Serialize(e)) => Err(EmitError::Serialize(e.to_string())),
        Err(BroadcastError::Adapter(e)) => {
            // The local adapter never fails; a custom one would be a bug in tether.
            tracing::error!(error = %e, "socket.io adapter error");
            Ok(Delivery {
                failed: targeted,
                ..Delivery::default()
            })
        }
    }
}
