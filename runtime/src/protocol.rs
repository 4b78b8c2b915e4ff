//! The wire contract: everything other programs rely on, in one place.
//!
//! A browser, a Python client or a worker publishing to Redis sees tether only through these
//! names and shapes; nothing here depends on the rest of the runtime.
//!
//! | client emits | payload | ack |
//! |---|---|---|
//! | `/ops/connection` | none | [`ConnectionInfo`] (also emitted as [`CONNECTION_INFO_EVENT`]) |
//! | `/ops/login` | `{token}` | [`ConnectionInfo`], or `{"error": ..}` |
//! | `/ops/logout` | none | [`ConnectionInfo`] (`user_id: null`) |
//! | `/ops/join` / `/ops/leave` | `{channel}` | [`ConnectionInfo`], or `{"error": ..}` |
//! | `/ops/user` / `/ops/channel` / `/ops/client` | `{to, event, data}` | `{delivered}`, or `{"error": ..}` |
//!
//! | server emits | payload | when |
//! |---|---|---|
//! | [`CONNECTION_INFO_EVENT`] | [`ConnectionInfo`] | on connect, after login/logout/join/leave, on `/ops/connection` |
//! | [`TOKEN_EXPIRED_EVENT`] | [`TokenExpired`] | the socket's token expired |
//! | [`DISCONNECTED_EVENT`] | [`Kick`] | right before tether disconnects the socket |
//!
//! No emit, relay or envelope may carry an event name under `/ops/` (tether's own) or one of
//! socket.io's reserved names (`connect`, `connect_error`, `disconnect`, `disconnecting`,
//! `newListener`, `removeListener`).
//!
//! Rooms: every socket of a user is in [`user_room`], of a client key in [`client_room`], of a
//! channel in [`channel_room`]. In cluster mode the Redis channel of a recipient is
//! `{prefix}:{ns}:user:{id}` / `channel:{name}` / `client:{key}`, and `{prefix}:{ns}:all`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::SocketError;

/// The event carrying [`ConnectionInfo`] to one socket.
pub const CONNECTION_INFO_EVENT: &str = "/ops/connection-success";

/// The event a socket receives right before tether disconnects it, with a [`Kick`].
pub const DISCONNECTED_EVENT: &str = "/ops/disconnected";

/// The event a socket receives when its token expires, with a [`TokenExpired`] payload.
pub const TOKEN_EXPIRED_EVENT: &str = "/ops/token-expired";

/// The requests every namespace answers (see the [module table](self)).
pub(crate) mod request {
    pub(crate) const CONNECTION: &str = "/ops/connection";
    pub(crate) const LOGIN: &str = "/ops/login";
    pub(crate) const LOGOUT: &str = "/ops/logout";
    pub(crate) const JOIN: &str = "/ops/join";
    pub(crate) const LEAVE: &str = "/ops/leave";
    pub(crate) const RELAY_USER: &str = "/ops/user";
    pub(crate) const RELAY_CHANNEL: &str = "/ops/channel";
    pub(crate) const RELAY_CLIENT: &str = "/ops/client";
    /// Every request above.
    pub(crate) const ALL: [&str; 8] = [
        CONNECTION,
        LOGIN,
        LOGOUT,
        JOIN,
        LEAVE,
        RELAY_USER,
        RELAY_CHANNEL,
        RELAY_CLIENT,
    ];
}

/// Every event name under this prefix is tether's own: clients cannot relay one.
pub(crate) const OPS_PREFIX: &str = "/ops/";

/// socket.io's reserved event names: a client library takes an event of one of these names for
/// its own (socket.io-client fires its `disconnect` handlers on a `disconnect` event).
pub(crate) const SOCKET_IO_RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Whether no emit may carry `event`: tether's own names (under [`OPS_PREFIX`], which only tether
/// sends, each to one socket) and socket.io's reserved ones ([`SOCKET_IO_RESERVED`]). The one
/// check behind every refusal: emitters and relays refuse such an emit, and a node drops an
/// envelope from Redis that carries one.
pub(crate) fn is_reserved_event(event: &str) -> bool {
    event.starts_with(OPS_PREFIX) || SOCKET_IO_RESERVED.contains(&event)
}

/// The query parameter a client names channels to join at connect with (comma-separated).
pub const CHANNEL_QUERY: &str = "channel_id";

/// Longest channel name a client may use.
pub const MAX_CHANNEL_LEN: usize = 64;

/// How long a socket whose token expired may take to log in again before it is disconnected,
/// unless [`TetherBuilder::token_grace`](crate::TetherBuilder::token_grace) says otherwise.
pub const DEFAULT_TOKEN_GRACE: Duration = Duration::from_secs(30);

/// Who an emit is for.
///
/// ```
/// use tether::Target;
/// assert_eq!(Target::User("42".into()).room().as_deref(), Some("user:42"));
/// assert_eq!(Target::All.room(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// Every socket of the namespace.
    All,
    /// Every socket of a user.
    User(String),
    /// Every member of a channel.
    Channel(String),
    /// Every socket of a client key.
    Client(String),
}

impl Target {
    /// The socket.io room that holds the target's sockets (`None` for [`Target::All`]).
    pub fn room(&self) -> Option<String> {
        match self {
            Self::All => None,
            Self::User(u) => Some(user_room(u)),
            Self::Channel(c) => Some(channel_room(c)),
            Self::Client(k) => Some(client_room(k)),
        }
    }
}

/// The socket.io room every socket of a client key joins: `client:{key}`.
pub fn client_room(key: &str) -> String {
    format!("client:{key}")
}

/// The socket.io room every socket of a user joins: `user:{id}`.
pub fn user_room(user: &str) -> String {
    format!("user:{user}")
}

/// The socket.io room of a channel: `channel:{name}`.
pub fn channel_room(channel: &str) -> String {
    format!("channel:{channel}")
}

/// The Redis channel of a recipient: `{prefix}:{ns}:{kind}:{id}`, or `{prefix}:{ns}:all`.
pub(crate) fn redis_channel(prefix: &str, ns: &str, target: &Target) -> String {
    match target {
        Target::All => format!("{prefix}:{ns}:all"),
        Target::User(u) => format!("{prefix}:{ns}:user:{u}"),
        Target::Channel(c) => format!("{prefix}:{ns}:channel:{c}"),
        Target::Client(k) => format!("{prefix}:{ns}:client:{k}"),
    }
}

/// Checks a channel name a client sent: 1 to [`MAX_CHANNEL_LEN`] characters of
/// `A-Z a-z 0-9 _ - . :`.
pub(crate) fn validate_channel(channel: &str) -> Result<(), SocketError> {
    let ok = !channel.is_empty()
        && channel.len() <= MAX_CHANNEL_LEN
        && channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(())
    } else {
        Err(SocketError::new(
            "invalid_channel",
            format!(
                "channel names are 1 to {MAX_CHANNEL_LEN} characters of letters, digits, `_`, `-`, `.` and `:`"
            ),
        ))
    }
}

/// Why tether disconnected a socket; sent to the client as [`DISCONNECTED_EVENT`]
/// `{code, message}` right before the disconnect.
///
/// ```
/// use tether::Kick;
/// let kick = Kick::new("kicked", "an admin closed this session");
/// assert_eq!(serde_json::to_value(&kick).unwrap()["code"], "kicked");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[non_exhaustive]
pub struct Kick {
    /// A stable code, e.g. `kicked`, `connection_limit`, `expired_token`, `server_shutdown`.
    pub code: String,
    /// A human-readable message.
    pub message: String,
    /// Whether the client should connect again (to another node): `true` when this server is
    /// going away ([`Kick::server_shutdown`]), not the client. Sent only when `true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "typescript", ts(as = "Option<bool>", optional))]
    pub reconnect: bool,
}

impl Kick {
    /// A kick with a code and a message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            reconnect: false,
        }
    }

    /// What [`Tether::close`](crate::Tether::close) tells every socket:
    /// `{"code": "server_shutdown", "message": "...", "reconnect": true}`.
    ///
    /// ```
    /// let kick = tether::Kick::server_shutdown();
    /// assert_eq!(serde_json::to_value(&kick).unwrap()["reconnect"], true);
    /// ```
    pub fn server_shutdown() -> Self {
        Self {
            code: "server_shutdown".to_owned(),
            message: "this server is shutting down; connect again (another node takes over)"
                .to_owned(),
            reconnect: true,
        }
    }
}

/// What a client asks to relay to other clients (`/ops/user`, `/ops/channel`, `/ops/client`),
/// as the namespace's relay authorization hook sees it.
///
/// ```
/// use tether::{Client, Relay, Target, socket_namespace};
///
/// struct Chat;
///
/// #[socket_namespace(path = "/chat")]
/// impl Chat {
///     #[authorize_relay]
///     async fn may_relay(&self, client: &Client<()>, relay: &Relay) -> bool {
///         Self::typing_in(relay, &client.channels())
///     }
///
///     /// Only `typing` notices, only to a channel the sender is in.
///     fn typing_in(relay: &Relay, channels: &[String]) -> bool {
///         relay.event == "typing" && matches!(&relay.to, Target::Channel(c) if channels.contains(c))
///     }
/// }
///
/// let to = Target::Channel("general".into());
/// let relay = Relay { to, event: "typing".into(), data: serde_json::json!({"user": "ada"}) };
/// assert!(Chat::typing_in(&relay, &["general".to_owned()]));
/// assert!(!Chat::typing_in(&relay, &[]));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Relay {
    /// Who it is for.
    pub to: Target,
    /// The event the recipients receive.
    pub event: String,
    /// The payload the recipients receive.
    pub data: Value,
}

/// Sent as [`CONNECTION_INFO_EVENT`] to one socket on connect, after login/logout, and when the
/// client emits `/ops/connection`.
///
/// ```
/// use tether::{Client, ConnectionInfo, socket_namespace};
///
/// struct Chat;
///
/// #[socket_namespace(path = "/chat")]
/// impl Chat {
///     #[on("whoami")]
///     async fn whoami(&self, client: &Client<()>) -> ConnectionInfo {
///         client.connection_info()
///     }
/// }
///
/// // What a client receives (a Rust client can read it back with serde).
/// let info: ConnectionInfo = serde_json::from_value(serde_json::json!({
///     "client_id": "Aa1", "client_key": "Aa1", "user_id": null,
///     "channels": ["general"], "namespace": "/chat"
/// })).unwrap();
/// assert_eq!(info.user_id, None); // anonymous
/// assert_eq!(info.offset, None); // recovery is off on /chat
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct ConnectionInfo {
    /// The socket id.
    pub client_id: String,
    /// The client's key in the connected-clients map.
    pub client_key: String,
    /// The signed-in user; `null` when anonymous.
    pub user_id: Option<String>,
    /// The joined channels, sorted.
    pub channels: Vec<String>,
    /// The namespace path.
    pub namespace: String,
    /// Namespaces with recovery on: the latest position in the namespace's history this socket
    /// was sent. A reconnecting client sends it back (`auth.recover.offset`, updated from the
    /// last argument of each recorded event) to receive what it missed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub offset: Option<String>,
    /// On the connection info that follows a connect which asked to recover (`auth.recover`):
    /// what was recovered. The replayed events came before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub recovery: Option<RecoveryInfo>,
}

/// What a socket learns about its recovery (`/ops/connection-success` → `recovery`).
///
/// ```
/// use tether::ConnectionInfo;
///
/// // The connection info after a reconnect that came back too late.
/// let info: ConnectionInfo = serde_json::from_value(serde_json::json!({
///     "client_id": "Bb2", "client_key": "Bb2", "user_id": "42", "channels": [],
///     "namespace": "/chat", "offset": "1718000000000-7",
///     "recovery": {"recovered": false, "replayed": 0, "reason": "expired"}
/// })).unwrap();
/// let recovery = info.recovery.expect("the connect asked to recover");
/// if !recovery.recovered {
///     // Events were missed: reload the state over HTTP.
/// }
/// assert_eq!(recovery.reason.as_deref(), Some("expired"));
/// assert!(recovery.lost.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
#[non_exhaustive]
pub struct RecoveryInfo {
    /// Everything missed since the client's offset was replayed.
    pub recovered: bool,
    /// How many events were replayed (before this notice, after the socket connected).
    pub replayed: usize,
    /// Why not everything was recovered: `"expired"` (back after the window: nothing replayed),
    /// `"trimmed"` (a stream dropped events past its bound: nothing of it replayed), `"reset"`
    /// (the history was lost, e.g. a restart: what was recorded since is replayed),
    /// `"unavailable"` (the history could not be read), `"send_queue_full"` (the client did
    /// not read the replay in time: it is disconnected, and recovers when it comes back), or
    /// `"invalid_offset"` (the offset sent was not a position: live from now on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "typescript", ts(optional))]
    pub reason: Option<String>,
    /// The streams not recovered completely, as `user:<id>`, `channel:<name>` or `client:<key>`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "typescript", ts(as = "Option<Vec<String>>", optional))]
    pub lost: Vec<String>,
}

/// The payload of [`TOKEN_EXPIRED_EVENT`]:
/// `{"code": "expired_token", "message": "...", "grace_seconds": 30}`.
///
/// On receiving it, a client sends `/ops/login` `{token}` with a fresh token within
/// `grace_seconds`; otherwise it receives [`DISCONNECTED_EVENT`] `{code: "expired_token", ..}`
/// and is disconnected.
///
/// ```
/// use tether::TokenExpired;
/// let payload: TokenExpired = serde_json::from_value(serde_json::json!({
///     "code": "expired_token", "message": "the token expired", "grace_seconds": 1.5
/// })).unwrap();
/// assert_eq!(payload.grace_seconds, 1.5);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "typescript", derive(ts_rs::TS))]
pub struct TokenExpired {
    /// Always `expired_token`.
    pub code: String,
    /// A human-readable explanation.
    pub message: String,
    /// How long the socket has to log in again, in seconds.
    pub grace_seconds: f64,
}

impl TokenExpired {
    /// The notice for a socket that has `grace` to log in again.
    pub(crate) fn new(grace: Duration) -> Self {
        Self {
            code: "expired_token".to_owned(),
            message: format!(
                "the token expired; send a fresh one with `/ops/login` within {grace:?} or this \
                 socket is disconnected"
            ),
            grace_seconds: grace.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{
        OPS_PREFIX, SOCKET_IO_RESERVED, Target, is_reserved_event, redis_channel, validate_channel,
    };

    /// The proc-macro crate cannot depend on the runtime, so it keeps its own copy of these
    /// names (to refuse listeners for them): the two must not drift apart.
    #[test]
    fn the_macros_refuse_listeners_for_the_same_names() {
        let macros = include_str!("../../macros/src/valid.rs");
        for name in SOCKET_IO_RESERVED.iter().chain([&OPS_PREFIX]) {
            assert!(macros.contains(&format!("\"{name}\"")), "{name}");
        }
    }

    #[test]
    fn ops_and_socket_io_names_are_reserved() {
        for name in [
            "/ops/connection-success",
            "/ops/disconnected",
            "/ops/anything",
            "connect",
            "connect_error",
            "disconnect",
            "disconnecting",
            "newListener",
            "removeListener",
        ] {
            assert!(is_reserved_event(name), "{name}");
        }
        for name in [
            "note",
            "ops/x",
            "/opsx",
            "Disconnect",
            "disconnect ",
            "message",
        ] {
            assert!(!is_reserved_event(name), "{name}");
        }
    }

    #[test]
    fn redis_channels_name_the_namespace_and_the_recipient() {
        let ch = |t: &Target| redis_channel("tether", "/chat", t);
        assert_eq!(ch(&Target::All), "tether:/chat:all");
        assert_eq!(ch(&Target::User("a".into())), "tether:/chat:user:a");
        assert_eq!(ch(&Target::Channel("b".into())), "tether:/chat:channel:b");
        assert_eq!(ch(&Target::Client("c".into())), "tether:/chat:client:c");
    }

    #[test]
    fn channel_names_follow_the_rule() {
        assert!(validate_channel("general").is_ok());
        assert!(validate_channel("team.a:b-c_d").is_ok());
        assert!(validate_channel("").is_err());
        assert!(validate_channel("has space").is_err());
        assert!(validate_channel(&"x".repeat(65)).is_err());
    }
}
