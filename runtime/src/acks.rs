//! Acks asked of clients: what one socket answered to an
//! [`Emit::emit_with_ack`](crate::Emit::emit_with_ack).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::protocol::ConnectionInfo;

/// How long [`Emit::emit_with_ack`](crate::Emit::emit_with_ack) waits for acks by default.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How much longer than its timeout an `emit_with_ack` waits for other nodes' answers (their
/// sockets' timeouts start when the request reaches them). After it, the call returns with what
/// it has: a node that died while its sockets were asked is missing from the answers.
pub const ACK_GRACE: Duration = Duration::from_millis(100);

/// The longest any socket is waited for, whatever a caller (or another node's request) asks.
pub const MAX_ACK_TIMEOUT: Duration = Duration::from_secs(600);

/// One socket's answer to an [`Emit::emit_with_ack`](crate::Emit::emit_with_ack).
///
/// ```
/// use tether::{AckFailure, SocketAck};
/// let answer: SocketAck = serde_json::from_value(serde_json::json!({
///     "socket": "Aa1", "node": "local", "reply": {"Err": "timeout"}
/// })).unwrap();
/// assert_eq!(answer.reply, Err(AckFailure::Timeout));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SocketAck {
    /// The socket id.
    pub socket: String,
    /// The node holding the socket (`"local"` in embedded mode).
    pub node: String,
    /// The client's ack (its first argument), or why there is none.
    pub reply: Result<Value, AckFailure>,
}

/// Why a socket did not ack.
///
/// ```
/// use tether::{AckFailure, SocketAck};
///
/// fn describe(answer: &SocketAck) -> String {
///     match &answer.reply {
///         Ok(value) => format!("{} acked {value}", answer.socket),
///         Err(AckFailure::Timeout) => format!("{} did not answer in time", answer.socket),
///         Err(AckFailure::Disconnected) => format!("{} is gone", answer.socket),
///         Err(other) => format!("{}: {other:?}", answer.socket),
///     }
/// }
///
/// let answer: SocketAck = serde_json::from_value(serde_json::json!({
///     "socket": "Aa1", "node": "local", "reply": {"Err": "disconnected"}
/// })).unwrap();
/// assert_eq!(describe(&answer), "Aa1 is gone");
/// assert_eq!(serde_json::to_value(AckFailure::Timeout).unwrap(), "timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AckFailure {
    /// No ack within the timeout.
    Timeout,
    /// The socket was closed, or its send queue was full: the event was not sent.
    Disconnected,
    /// The ack could not be read.
    Unreadable,
}

/// One socket of a target, on whichever node holds it, as
/// [`Emit::clients`](crate::Emit::clients) finds it.
///
/// ```
/// # use tether::{Tether, socket_namespace};
/// # struct Chat;
/// # #[socket_namespace(path = "/chat")]
/// # impl Chat {}
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let tether = Tether::builder().namespace(Chat).build().await.unwrap();
/// // Every socket in `general`, on every node.
/// let clients = tether.emitter::<Chat>().to_channel("general").clients().await;
/// for client in &clients {
///     println!("{} on {}: user {:?}", client.info.client_id, client.node, client.info.user_id);
/// }
/// assert!(clients.is_empty()); // nobody has connected yet
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ClusterClient {
    /// The node holding the socket (`"local"` in embedded mode).
    pub node: String,
    /// The socket's connection info: id, client key, user, channels, namespace.
    pub info: ConnectionInfo,
    /// The socket's metadata as JSON, when its namespace shares it
    /// ([`NamespaceDef::share_metadata`](crate::NamespaceDef::share_metadata)).
    pub metadata: Option<Value>,
}

impl ClusterClient {
    /// The socket an answer names, when its reply is a connection info.
    pub(crate) fn from_answer(answer: SocketAck) -> Option<Self> {
        let mut reply = answer.reply.ok()?;
        let metadata = reply.as_object_mut().and_then(|o| o.remove("metadata"));
        let info = serde_json::from_value(reply).ok()?;
        Some(Self {
            node: answer.node,
            info,
            metadata,
        })
    }

    /// The socket's metadata as the namespace's type `M` (a node or a worker of the namespace
    /// reads it back as it was given); `None` when the namespace does not share it.
    ///
    /// ```
    /// # use serde::Deserialize;
    /// #[derive(Deserialize, PartialEq, Debug)]
    /// struct Member { user_id: String }
    /// # let client: tether::ClusterClient = serde_json::from_value(serde_json::json!({
    /// #     "node": "local",
    /// #     "info": {"client_id": "s", "client_key": "s", "user_id": "42", "channels": [], "namespace": "/a"},
    /// #     "metadata": {"user_id": "42"}})).unwrap();
    /// let member: Option<Member> = client.metadata_as();
    /// assert_eq!(member, Some(Member { user_id: "42".into() }));
    /// ```
    pub fn metadata_as<M: serde::de::DeserializeOwned>(&self) -> Option<M> {
        serde_json::from_value(self.metadata.clone()?).ok()
    }
}

impl SocketAck {
    pub(crate) fn new(socket: String, node: String, reply: Result<Value, AckFailure>) -> Self {
        Self {
            socket,
            node,
            reply,
        }
    }
}
