//! # tether
//!
//! Real-time socket.io back ends in Rust: declare a namespace with `#[socket_namespace]` on an
//! `impl` block, mount it on axum, and push events to clients from anywhere in the app.
//!
//! See the README for a guided tour; the main items are:
//! - [`socket_namespace`]: the attribute that turns an `impl` block into a [`Namespace`];
//! - [`Handshake`], [`SocketOk`], [`SocketNok`]: what a connection middleware sees and returns;
//! - [`Client`]: one connected socket, with its key and typed metadata;
//! - [`ConnectedClients`]: the connected-clients map of a namespace;
//! - [`Emitter`]: push typed events to users, channels, client keys, from anywhere;
//! - [`Tether`] / [`TetherBuilder`]: mounting on axum and reaching the clients from outside;
//! - [`Recovery`]: missed-message recovery for clients that reconnect.
//!
//! ## Layers
//!
//! The modules form layers; each uses only the ones listed before it:
//! 1. `clock`, `error`, `protocol` (the wire contract), `acks`, `offline` (the offline inbox), `presence` (groups and their grace), `recovery` (positions, the in-memory history, a
//!    socket's cursor), `delivery`, `handshake`, `login`, `events`, `testing`, `serial` (a
//!    socket's work in order), `server_events`, [`auth`];
//! 2. `remote`: the port to other nodes (a trait the cluster implements);
//! 3. `clients`: the connected-clients map, which reaches other nodes only through `remote`;
//! 4. `listener`, `namespace`: listener plumbing and the [`Namespace`] trait;
//! 5. [`cluster`]: Redis, behind the `remote` port;
//! 6. `connection`: the life of a connection (admission, `/ops/*`, expiry, the cap);
//! 7. `emitter`, `tether`, then `builder`: the public entry points.
#![warn(missing_docs, clippy::unwrap_used)]

mod acks;
pub mod auth;
mod builder;
mod clients;
mod clock;
pub mod cluster;
mod connection;
mod delivery;
mod emitter;
mod error;
mod events;
mod handshake;
mod layer;
mod listener;
mod login;
pub mod metrics;
mod namespace;
mod offline;
mod presence;
mod protocol;
mod rate;
mod recovery;
mod remote;
mod serial;
mod server_events;
pub mod testing;
mod tether;
#[cfg(feature = "typescript")]
pub mod typescript;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use acks::{
    ACK_GRACE, AckFailure, ClusterClient, DEFAULT_ACK_TIMEOUT, MAX_ACK_TIMEOUT, SocketAck,
};
pub use builder::{
    BuildError, DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTACHMENTS, DEFAULT_MAX_CHANNELS_PER_SOCKET,
    DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_MAX_HANDSHAKES_PER_IP, DEFAULT_MAX_MESSAGE_SIZE,
    DEFAULT_MAX_PENDING_EVENTS, DEFAULT_SEND_QUEUE, TetherBuilder,
};
pub use clients::{Client, ConnectedClients};
pub use delivery::{Delivery, EmitError};
pub use emitter::{Emit, Emitter};
pub use error::SocketError;
pub use events::{AnyEvent, Events};
pub use handshake::{Handshake, HandshakeBuilder, SocketNok, SocketOk};
pub use layer::{TetherLayer, TetherService};
pub use listener::{NoPayload, Reply};
pub use login::{Login, LoginFuture, LoginVerifier};
pub use namespace::{ListenerDef, Namespace, NamespaceDef};
pub use offline::{MAX_KEEP, MAX_KEPT_PER_USER};
pub use presence::{DEFAULT_PRESENCE_GRACE, MEMBER_JOINED_EVENT, MEMBER_LEFT_EVENT, Presence};
pub use protocol::{
    CHANNEL_QUERY, CONNECTION_INFO_EVENT, ConnectionInfo, DEFAULT_TOKEN_GRACE, DISCONNECTED_EVENT,
    Kick, MAX_CHANNEL_LEN, RecoveryInfo, Relay, TOKEN_EXPIRED_EVENT, Target, TokenExpired,
    channel_room, client_room, user_room,
};
pub use rate::RateLimit;
pub use recovery::{DEFAULT_RECOVERY_MAX_LEN, DEFAULT_RECOVERY_WINDOW, Recovery};
pub use server_events::{SERVER_EVENTS_CAPACITY, ServerEvent};
pub use socketioxide::socket::{DisconnectReason, Sid};
pub use tether::Tether;
pub use tether_macros::{Events, socket_namespace};

/// Re-exported so applications use the exact socketioxide version tether is built on.
pub use socketioxide;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
