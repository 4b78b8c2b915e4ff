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
mod emit;
mod error;
mod handshake;
mod namespace;
mod tether;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use client::Client;
pub use clients::{ConnectedClients, client_room};
pub use emit::{Delivery, EmitError};
pub use error::{SocketError, SocketNok, SocketOk};
pub use handshake::{Handshake, HandshakeBuilder};
pub use namespace::{Namespace, NamespaceDef};
pub use socketioxide::socket::{DisconnectReason, Sid};
pub use tether::{BuildError, DEFAULT_MAX_MESSAGE_SIZE, Tether, TetherBuilder};
pub use tether_macros::socket_namespace;

/// Re-exported so applications use the exact socketioxide version tether is built on.
pub use socketioxide;
