//! The connected-clients map: every socket of a namespace on this node, indexed by client key,
//! user and channel, and the local fan-out of emits. It never names the cluster: remote work goes
//! through the [`Remote`](crate::remote::Remote) port.
//!
//! - `data`: what tether keeps per socket; `client`: one socket as a namespace's code sees it
//!   ([`Client`]);
//! - `index`: the indexes behind the map's lock;
//! - `map`: the map, where a socket enters and leaves the indexes;
//! - `queries`, `membership`, `fanout`: lookups, user/channel changes and kicks, emits;
//! - `acks`: `emit_with_ack`, one answer per socket across nodes;
//! - `kept`: the offline inbox (`persist`); `control`: channel membership changed from anywhere;
//! - `history`: recovery (recorded emits, and the replay of what a socket missed);
//! - `roster`: presence groups (channel members, users online), fed as sockets come and go.

mod acks;
mod client;
mod control;
mod data;
mod fanout;
mod history;
mod index;
mod kept;
mod map;
mod membership;
mod queries;
mod roster;

pub use client::Client;
pub(crate) use data::ClientData;
pub use map::ConnectedClients;
pub(crate) use map::ShareFn;
