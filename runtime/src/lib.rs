//! # tether
//!
//! Real-time socket.io back ends in Rust that push events to *people*, not sockets: a user with
//! three tabs and a phone, on a flaky network, behind a load balancer in front of several
//! servers. Declare a namespace with [`#[socket_namespace]`](socket_namespace) on an `impl`
//! block, mount it on axum, and emit to users, channels or client keys from anywhere in the app;
//! with Redis, every node reaches every socket. Clients are the ordinary socket.io clients (JS,
//! Python, Rust).
//!
//! ```
//! use axum::extract::{Path, State};
//! use axum::routing::post;
//! use serde::{Deserialize, Serialize};
//! use tether::{Client, Emitter, Events, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
//!
//! #[derive(Clone)]
//! struct Member { user_id: String }
//!
//! #[derive(Serialize, Deserialize)]
//! struct Note { text: String }
//!
//! #[derive(Events)]
//! enum Notice {
//!     #[event("notice")]
//!     Notice(Note),
//! }
//!
//! struct Notices;
//!
//! #[socket_namespace(path = "/notices", user_key = "user_id", events = Notice)]
//! impl Notices {
//!     // Runs before the socket is connected: accept it with its metadata, or refuse it.
//!     #[middleware]
//!     async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
//!         match hs.auth_str("user") {
//!             Some(user) => Ok(SocketOk::new(Member { user_id: user.to_owned() })),
//!             None => Err(SocketNok::with_code("missing_user", "send `auth.user`")),
//!         }
//!     }
//!
//!     // A client event with a typed payload; the return value is the ack.
//!     #[on("echo")]
//!     async fn echo(&self, client: &Client<Member>, note: Note) -> Note {
//!         Note { text: format!("{} said {}", client.user_id().unwrap_or_default(), note.text) }
//!     }
//! }
//!
//! // From an HTTP handler: to every socket of the user, on every node.
//! async fn notify(State(emitter): State<Emitter<Notices>>, Path(user): Path<String>) -> String {
//!     let notice = Notice::Notice(Note { text: "hello".into() });
//!     match emitter.to_user(user).emit(notice).await {
//!         Ok(delivery) => format!("{} sockets", delivery.sockets),
//!         Err(e) => e.to_string(),
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tether::BuildError> {
//! let tether = Tether::builder().namespace(Notices).build().await?;
//! let app: axum::Router = axum::Router::new()
//!     .route("/notify/{user}", post(notify))
//!     .with_state(tether.emitter::<Notices>())
//!     .layer(tether.layer());
//! // axum::serve(listener, app).await?;
//! # let _ = app;
//! # Ok(()) }
//! ```
//!
//! The [README](https://crates.io/crates/tether-io) is the guided tour (the chat demo,
//! the wire contract, presence, recovery, cluster mode, authentication); the main items are:
//! - [`socket_namespace`]: the attribute that turns an `impl` block into a [`Namespace`]
//!   ([`NamespaceDef`] for one written by hand), and [`Events`] for typed server events;
//! - [`Handshake`], [`SocketOk`], [`SocketNok`]: what a connection middleware sees and returns
//!   ([`auth`]: JWE tokens and login on a live socket);
//! - [`Client`]: one connected socket, with its key, user, channels and typed metadata;
//!   [`ConnectedClients`]: a namespace's connected-clients map;
//! - [`Emitter`] / [`Emit`]: push events to users, channels and client keys, from anywhere
//!   (a node, or a worker with only Redis); [`Delivery`] says what it reached;
//! - [`Tether`] / [`TetherBuilder`]: mounting on axum, limits, draining;
//!   [`cluster::ClusterConfig`]: several nodes sharing Redis;
//! - [`Recovery`] and [`Presence`]: missed-message recovery, and who is online and in a channel;
//! - [`metrics`]: what tether records; [`testing`]: assert on what a namespace emits.
//!
//! Features: `prometheus` (a Prometheus endpoint for [`metrics`]), `typescript`
//! (`tether::typescript`: socket.io-client typings generated from a namespace).
//!
//! ## Layers
//!
//! The modules form layers; each uses only the ones listed before it:
//! 1. `clock`, `error`, `protocol` (the wire contract), `acks`, `offline` (the offline inbox),
//!    `presence` (groups and their grace), `recovery` (positions, the in-memory history, a
//!    socket's cursor), `delivery`, `handshake`, `login`, `events`, `testing`, `serial` (a
//!    socket's work in order), `server_events`, `metrics`, [`auth`];
//! 2. `remote`: the port to other nodes (a trait the cluster implements);
//! 3. `clients`: the connected-clients map, which reaches other nodes only through `remote`;
//! 4. `listener`, `namespace`: listener plumbing and the [`Namespace`] trait;
//! 5. [`cluster`]: Redis, behind the `remote` port;
//! 6. `connection`: the life of a connection (admission, `/ops/*`, expiry, the cap);
//! 7. `emitter`, `tether`, then `builder`: the public entry points; `typescript` (reads a
//!    namespace's definition).
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
mod inline_handler;
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
mod serve;
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
    DEFAULT_MAX_CONCURRENT_HANDSHAKES, DEFAULT_MAX_CONNECTIONS_PER_IP,
    DEFAULT_MAX_HANDSHAKES_PER_IP, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_MAX_PENDING_EVENTS,
    DEFAULT_SEND_QUEUE, DEFAULT_WS_READ_BUFFER, TetherBuilder,
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
pub use serve::{LISTEN_BACKLOG, bind};
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
