//! The names of tether's Redis keys (the channels are in [`protocol`](crate::protocol)), and
//! the clock their scores and expiries use.
//!
//! | key | type | what |
//! |---|---|---|
//! | `{prefix}:node:{id}` | string | a node's heartbeat, expiring after three missed beats |
//! | `{prefix}:nodes` | sorted set | node ids by last beat (ms), for the cluster view |
//! | `{prefix}:{ns}:presence:{user}` | hash | socket id → node id |
//! | `{prefix}:{ns}:conns:{user}` | sorted set | `node\|sid` by connection time, for the cap |
//! | `{prefix}:{ns}:view:{node}` | hash | user → sockets on that node, expiring after three beats |
//! | `{prefix}:{ns}:inbox:{user}` | sorted set | the offline inbox: signed envelopes scored by expiry (ms) |
//! | `{{prefix}:{ns}}:clock` | string | recovery: the namespace's latest position, `<ms>-<seq>` |
//! | `{{prefix}:{ns}}:origin` | string | recovery: where the namespace's history begins |
//! | `{{prefix}:{ns}}:stream:{kind}:{id}` | stream | recovery: a recipient's recorded events (field `m`: the message), bounded, expiring after the window |
//! | `{{prefix}:{ns}}:roster:socks:{group}` | hash | presence: `node\|sid` → user, for a group (`u`: the users; `c:{channel}`) |
//! | `{{prefix}:{ns}}:roster:users:{group}` | hash | presence: user → their sockets in the group |
//! | `{{prefix}:{ns}}:roster:departing` | sorted set | presence: `{len}:{group}{user}` by when the departure counts (ms, Redis time) |
//! | `{{prefix}:{ns}}:roster:node:{node}` | set | presence: a node's entries, `{len}:{group}{sid}`, to remove when it dies |
//! | `{{prefix}:{ns}}:roster:nodes` | set | presence: the nodes with entries |
//!
//! The recovery and presence keys of a namespace share one hash tag, so a script can use them
//! together.

use std::time::Duration;

use crate::protocol::Target;

pub(crate) fn node_key(prefix: &str, node: &str) -> String {
    format!("{prefix}:node:{node}")
}

pub(crate) fn nodes_key(prefix: &str) -> String {
    format!("{prefix}:nodes")
}

pub(crate) fn presence_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:presence:{user}")
}

pub(crate) fn conns_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:conns:{user}")
}

pub(crate) fn view_key(prefix: &str, ns: &str, node: &str) -> String {
    format!("{prefix}:{ns}:view:{node}")
}

pub(crate) fn inbox_key(prefix: &str, ns: &str, user: &str) -> String {
    format!("{prefix}:{ns}:inbox:{user}")
}

/// The hash tag of a namespace's recovery keys.
fn history_tag(prefix: &str, ns: &str) -> String {
    format!("{{{prefix}:{ns}}}")
}

pub(crate) fn clock_key(prefix: &str, ns: &str) -> String {
    format!("{}:clock", history_tag(prefix, ns))
}

pub(crate) fn origin_key(prefix: &str, ns: &str) -> String {
    format!("{}:origin", history_tag(prefix, ns))
}

pub(crate) fn stream_key(prefix: &str, ns: &str, target: &Target) -> String {
    let tag = history_tag(prefix, ns);
    match target {
        Target::User(u) => format!("{tag}:stream:user:{u}"),
        Target::Channel(c) => format!("{tag}:stream:channel:{c}"),
        Target::Client(k) => format!("{tag}:stream:client:{k}"),
        Target::All => format!("{tag}:stream:all"),
    }
}

/// How long a node's entries live without a heartbeat: three beats, in milliseconds.
pub(crate) fn lifetime_ms(heartbeat: Duration) -> u64 {
    u64::try_from((heartbeat * 3).as_millis()).unwrap_or(u64::MAX)
}

pub(crate) use crate::clock::{now_micros, now_ms};

/// What every roster key of a namespace starts with (the namespace's hash tag, so a script can
/// use a namespace's roster keys together).
pub(crate) fn roster_prefix(prefix: &str, ns: &str) -> String {
    format!("{}:roster:", history_tag(prefix, ns))
}
