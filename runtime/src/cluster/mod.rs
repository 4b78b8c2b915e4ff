//! Distribution over Redis: an emit reaches the right sockets on every node, and only the nodes
//! that hold a recipient receive it.
//!
//! Each node subscribes to the Redis channels of the recipients it holds —
//! `{prefix}:{ns}:user:{id}`, `{prefix}:{ns}:channel:{name}`, `{prefix}:{ns}:client:{key}` —
//! subscribing when its first local socket of a recipient appears and unsubscribing when the
//! last leaves, plus `{prefix}:{ns}:all` for broadcasts. An emit delivers to the local sockets
//! and publishes one envelope on each target's channel; PUBLISH's answer tells how many nodes
//! received it. A node ignores its own messages, so nothing is delivered twice.
//!
//! The same code runs on one Redis server (PUBLISH / SUBSCRIBE) and on a Redis Cluster
//! (sharded pub/sub: SPUBLISH / SSUBSCRIBE, so each channel lives on one shard); the difference
//! is confined to `transport`.
//!
//! Redis is not trusted blindly: whatever a node publishes or receives is bounded in size
//! (`max_envelope_size`), never emits a reserved event name (`/ops/…`, socket.io's `connect`,
//! `disconnect`, …), and is signed (HMAC-SHA256) and checked when the cluster has a key. Every
//! queue fed from outside (Redis, or sockets coming and going) is bounded or coalesced.
//!
//! The rest of the runtime reaches this module only through the `Remote` port (`crate::remote`,
//! implemented in `port`). By job:
//! - `config`: settings, link state, stats; `error`: the error;
//! - `node`: the node's state; `join`: joining and starting the node's tasks;
//!   `outbox`: what leaves (checked, signed, published); `batch`: publishes, batched in one
//!   pipeline under load; `inbox`: what arrives (bounded queue, checks); `guard`: the counters
//!   and rate-limited logs of refusals;
//! - `envelope`: the wire format; `sign`: the cluster key and signed envelopes; `keys`: Redis
//!   key names;
//! - `subscriber`, `transport`: the pub/sub link and the shapes of Redis; `topology`: which
//!   shape a configuration names (server, Redis Cluster, Sentinel), `tls`: its certificates;
//!   `sentinel`: following the master Sentinel names; `wanted`: the channels to follow;
//! - `queue`, `writer`: ordered presence writes; `presence`: presence reads and the cluster view;
//!   `heartbeat`: liveness; `cap`: the per-user connection cap; `roster`: presence groups
//!   (channel members, users online) with their grace, and the entries of dead nodes;
//! - `history`: recovery's streams (recording an emit, reading what a client missed); `acks`:
//!   acks asked of other nodes' sockets, and their answers; `kept`: the offline inbox;
//!   `leave`: leaving on purpose (a graceful shutdown).

mod acks;
mod batch;
mod cap;
mod config;
mod envelope;
mod error;
mod eviction;
mod guard;
mod heartbeat;
mod history;
mod inbox;
mod join;
mod kept;
mod keys;
mod leave;
mod node;
mod outbox;
mod port;
mod presence;
mod queue;
mod record;
mod roster;
mod sentinel;
mod sign;
mod subscriber;
mod tls;
mod topology;
mod transport;
mod wanted;
mod writer;

pub use config::{
    ClusterConfig, ClusterState, ClusterStats, DEFAULT_MAX_ENVELOPE_SIZE, DEFAULT_PREFIX,
    redacted_url,
};
pub use envelope::VERSION as ENVELOPE_VERSION;
pub use error::ClusterError;
pub(crate) use node::Cluster;
pub use sign::ClusterKey;
