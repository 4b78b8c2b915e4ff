//! The application's own messages between nodes ([`ServerEvent`]): cache invalidation, config
//! reloads, anything the nodes of a cluster must all hear, sent with
//! [`Emitter::server_side_emit`](crate::Emitter::server_side_emit) and received from
//! [`Tether::server_events`](crate::Tether::server_events). They never reach a socket.

use serde_json::Value;

/// How many server events a receiver may fall behind before it misses some
/// ([`tokio::sync::broadcast`] semantics: a lagging receiver is told how many it missed).
pub const SERVER_EVENTS_CAPACITY: usize = 1024;

/// A message another node (or a worker) sent to every node of the cluster with
/// [`Emitter::server_side_emit`](crate::Emitter::server_side_emit), as socket.io's
/// `serverSideEmit` does.
///
/// ```
/// let event = tether::ServerEvent {
///     event: "cache:invalidate".to_owned(),
///     data: serde_json::json!({"key": "user:42"}),
/// };
/// assert_eq!(event.data["key"], "user:42");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ServerEvent {
    /// The event name the sender chose.
    pub event: String,
    /// Its payload.
    pub data: Value,
}
