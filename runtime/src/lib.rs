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
//! - [`Tether`] / [`TetherBuilder`]: mounting on axum and reaching the clients from outside.
#![warn(missing_docs, clippy::unwrap_used)]

pub mod auth;
mod client;
mod clients;
pub mod cluster;
mod connection;
mod emit;
mod emitter;
mod error;
mod expiry;
mod handshake;
mod login;
mod namespace;
mod ops;
pub mod registry;
pub mod testing;
mod tether;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::{Client, ConnectionInfo};
pub use clients::{ConnectedClients, channel_room, client_room, user_room};
pub use connection::{CHANNEL_QUERY, CONNECTION_INFO_EVENT, MAX_CHANNEL_LEN};
pub use emit::{Delivery, EmitError};
pub use emitter::{AnyEvent, Emit, Emitter, Events};
pub use error::{SocketError, SocketNok, SocketOk};
pub use expiry::{DEFAULT_TOKEN_GRACE, TOKEN_EXPIRED_EVENT, TokenExpired};
pub use handshake::{Handshake, HandshakeBuilder};
pub use login::{Login, LoginFuture, LoginVerifier};
pub use namespace::{Namespace, NamespaceDef};
pub use ops::Relay;
pub use registry::{DISCONNECTED_EVENT, Kick, Target};
pub use socketioxide::socket::{DisconnectReason, Sid};
pub use tether::{BuildError, DEFAULT_MAX_MESSAGE_SIZE, Tether, TetherBuilder};
pub use tether_macros::{Events, socket_namespace};

/// Re-exported so applications use the exact socketioxide version tether is built on.
pub use socketioxide;

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
