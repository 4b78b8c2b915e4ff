//! The metrics tether records, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! tether only records; the application chooses where the numbers go by installing a recorder
//! (for example `metrics-exporter-prometheus`). Without a recorder, recording costs an atomic
//! load. Every metric carries a `namespace` label.
//!
//! | Name | Kind | Labels | What it counts |
//! |---|---|---|---|
//! | `tether_messages_dropped_total` | counter | `namespace`, `kind` | messages, acks and notices a socket did not take because its send queue was full or it had just closed (`kind`: `emit`, `ack`, `notice`); an emit's drops are also in [`Delivery::failed`](crate::Delivery::failed) |
//! | `tether_forced_disconnects_total` | counter | `namespace` | disconnects of sockets whose send queue was full (see [`Client::disconnect`](crate::Client::disconnect)) |
//! | `tether_rate_limit_disconnects_total` | counter | `namespace` | sockets disconnected for sending far over their rate limit (see [`RateLimit`](crate::RateLimit)) |
//! | `tether_recoveries_total` | counter | `namespace`, `outcome` | connects that asked to recover (`auth.recover`), by outcome: `recovered`, or the [`RecoveryInfo::reason`](crate::RecoveryInfo::reason) |
//! | `tether_replayed_events_total` | counter | `namespace` | missed events sent to reconnecting sockets |
//!
//! ```
//! // The names are constants, so a dashboard query and the code cannot drift apart.
//! assert_eq!(tether::metrics::MESSAGES_DROPPED, "tether_messages_dropped_total");
//! ```

/// Counter: messages, acks and notices a socket did not take (its send queue was full, or it
/// had just closed).
pub const MESSAGES_DROPPED: &str = "tether_messages_dropped_total";

/// Counter: disconnects of sockets whose send queue was full.
pub const FORCED_DISCONNECTS: &str = "tether_forced_disconnects_total";

/// Counter: sockets disconnected for sending far over their rate limit.
pub const RATE_LIMIT_DISCONNECTS: &str = "tether_rate_limit_disconnects_total";

/// Counter: connects that asked to recover, by outcome.
pub const RECOVERIES: &str = "tether_recoveries_total";

/// Counter: missed events sent to reconnecting sockets.
pub const REPLAYED_EVENTS: &str = "tether_replayed_events_total";

/// What a dropped message was, for the `kind` label of [`MESSAGES_DROPPED`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dropped {
    /// An event emitted to the socket.
    Emit,
    /// The ack of one of the socket's events.
    Ack,
    /// One of tether's own notices (`/ops/*`).
    Notice,
}

impl Dropped {
    fn label(self) -> &'static str {
        match self {
            Self::Emit => "emit",
            Self::Ack => "ack",
            Self::Notice => "notice",
        }
    }
}

/// Counts `n` messages a full send queue refused.
pub(crate) fn dropped(namespace: &str, kind: Dropped, n: usize) {
    if n > 0 {
        let namespace = namespace.to_owned();
        ::metrics::counter!(MESSAGES_DROPPED, "namespace" => namespace, "kind" => kind.label())
            .increment(n as u64);
    }
}

/// Counts one disconnect of a socket whose send queue was full.
pub(crate) fn forced_disconnect(namespace: &str) {
    let namespace = namespace.to_owned();
    ::metrics::counter!(FORCED_DISCONNECTS, "namespace" => namespace).increment(1);
}

/// Counts one socket disconnected for sending far over its rate limit.
pub(crate) fn rate_limit_disconnect(namespace: &str) {
    let namespace = namespace.to_owned();
    ::metrics::counter!(RATE_LIMIT_DISCONNECTS, "namespace" => namespace).increment(1);
}

/// Counts one connect that asked to recover, and the events it was replayed.
pub(crate) fn recovery(namespace: &str, outcome: &str, replayed: usize) {
    let outcome = outcome.to_owned();
    ::metrics::counter!(RECOVERIES, "namespace" => namespace.to_owned(), "outcome" => outcome)
        .increment(1);
    if replayed > 0 {
        ::metrics::counter!(REPLAYED_EVENTS, "namespace" => namespace.to_owned())
            .increment(replayed as u64);
    }
}
