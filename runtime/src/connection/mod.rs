//! The life of a connection, bottom to top:
//!
//! - `admission`: how many new connections a node works on at once;
//! - `runtime`: what every connection of a namespace shares, and the checks they all make;
//! - `expiry`: the token deadline of a live socket;
//! - `cap`: the per-user connection cap;
//! - `per_ip`: how many sockets and handshakes one address may hold;
//! - `identity`: who a socket is, decided at the handshake and again at each login and logout;
//! - `ops`: the `/ops/*` requests (connection info, login/logout, join/leave, relays);
//! - `admit`: handshake → middleware → register → connection info → `on_connect`; disconnect
//!   → unregister → `on_disconnect`;
//! - `presence`: announces presence changes (member events, user online/offline hooks);
//! - `mount`: puts a namespace on the socket.io server and connects it to the cluster's sink.

mod admission;
mod admit;
mod cap;
mod expiry;
mod identity;
mod mount;
mod ops;
mod per_ip;
mod presence;
mod runtime;

pub(crate) use admission::{Admission, opens_session};
pub(crate) use mount::{Keep, mount};
pub(crate) use per_ip::PerIp;
pub(crate) use runtime::Settings;
