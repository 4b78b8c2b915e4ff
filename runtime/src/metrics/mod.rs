//! The metrics tether records, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! tether only records; the application chooses where the numbers go by installing a recorder.
//! With the `prometheus` feature, `install_prometheus` installs one and `prometheus_route`
//! serves it to Prometheus. Without a recorder, recording costs an atomic load. Every
//! per-namespace metric carries a `namespace` label (the namespace's path, e.g. `/chat`).
//!
//! | Name | Kind | Labels | What it counts |
//! |---|---|---|---|
//! | `tether_sockets` | gauge | `namespace` | sockets connected to this node |
//! | `tether_users` | gauge | `namespace` | signed-in users with at least one socket on this node |
//! | `tether_connections_total` | counter | `namespace` | connections accepted |
//! | `tether_refusals_total` | counter | `namespace`, `code` | connections refused, by the [`SocketNok::code`](crate::SocketNok::code) the client was told |
//! | `tether_disconnects_total` | counter | `namespace`, `reason` | sockets gone, by reason: `transport_close`, `transport_error`, `heartbeat_timeout`, `client_disconnect`, `server_disconnect`, `closing_server`, `packet_parsing_error`, `multiple_http_polling_error` |
//! | `tether_events_received_total` | counter | `namespace`, `event` | events received from clients, by listener (tether's own `/ops/*` by name; any other name is counted as `event="(unknown)"`, so a client cannot make up labels) |
//! | `tether_error_acks_total` | counter | `namespace`, `code` | events answered with an error (`{"error": {"code", ..}}`), by code, whether or not the client asked for an ack |
//! | `tether_events_sent_total` | counter | `namespace`, `event` | events delivered to sockets of this node, one per socket (emits from this node and from others, and replays); tether's own `/ops/*` notices are not counted |
//! | `tether_emit_duration_seconds` | histogram | `namespace` | how long an emit takes, from the call until every node that holds a recipient has it (or Redis failed) |
//! | `tether_redis_publish_duration_seconds` | histogram | | one publish round trip to Redis |
//! | `tether_redis_publish_errors_total` | counter | | publishes Redis did not take (remote sockets missed them) |
//! | `tether_cluster_connected` | gauge | | 1 while the node is connected to Redis, 0 while it reconnects |
//! | `tether_messages_dropped_total` | counter | `namespace`, `kind` | messages, acks and notices a socket did not take because its send queue was full or it had just closed (`kind`: `emit`, `ack`, `notice`); an emit's drops are also in [`Delivery::failed`](crate::Delivery::failed) |
//! | `tether_forced_disconnects_total` | counter | `namespace` | disconnects of sockets whose send queue was full (see [`Client::disconnect`](crate::Client::disconnect)) |
//! | `tether_rate_limit_disconnects_total` | counter | `namespace` | sockets disconnected for sending far over their rate limit (see [`RateLimit`](crate::RateLimit)) |
//! | `tether_recoveries_total` | counter | `namespace`, `outcome` | connects that asked to recover (`auth.recover`), by outcome: `recovered`, or the [`RecoveryInfo::reason`](crate::RecoveryInfo::reason) |
//! | `tether_replayed_events_total` | counter | `namespace` | missed events sent to reconnecting sockets |
//!
//! The `event` label of `tether_events_sent_total` is the name the application emits: an
//! application that builds event names from data (`AnyEvent::new(format!("room:{id}"), ..)`)
//! makes one series per name.
//!
//! ```
//! // The names are constants, so a dashboard query and the code cannot drift apart.
//! assert_eq!(tether::metrics::MESSAGES_DROPPED, "tether_messages_dropped_total");
//! assert_eq!(tether::metrics::SOCKETS, "tether_sockets");
//! ```

#[cfg(feature = "prometheus")]
mod prometheus;

use std::time::Instant;

#[cfg(feature = "prometheus")]
pub use prometheus::{BuildError, PrometheusHandle, install_prometheus, prometheus_route};

/// Gauge: sockets connected to this node.
pub const SOCKETS: &str = "tether_sockets";

/// Gauge: signed-in users with at least one socket on this node.
pub const USERS: &str = "tether_users";

/// Counter: connections accepted.
pub const CONNECTIONS: &str = "tether_connections_total";

/// Counter: connections refused, by code.
pub const REFUSALS: &str = "tether_refusals_total";

/// Counter: sockets gone, by reason.
pub const DISCONNECTS: &str = "tether_disconnects_total";

/// Counter: events received from clients, by listener.
pub const EVENTS_RECEIVED: &str = "tether_events_received_total";

/// Counter: events answered with an error, by code.
pub const ERROR_ACKS: &str = "tether_error_acks_total";

/// Counter: events delivered to sockets of this node, one per socket.
pub const EVENTS_SENT: &str = "tether_events_sent_total";

/// Histogram (seconds): how long an emit takes.
pub const EMIT_DURATION: &str = "tether_emit_duration_seconds";

/// Histogram (seconds): one publish round trip to Redis.
pub const REDIS_PUBLISH_DURATION: &str = "tether_redis_publish_duration_seconds";

/// Counter: publishes Redis did not take.
pub const REDIS_PUBLISH_ERRORS: &str = "tether_redis_publish_errors_total";

/// Gauge: 1 while the node is connected to Redis, 0 while it reconnects.
pub const CLUSTER_CONNECTED: &str = "tether_cluster_connected";

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

/// The `event` label of an event no listener names.
pub(crate) const UNKNOWN_EVENT: &str = "(unknown)";

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

/// A socket entered (`+1`) or left (`-1`) this node's map.
pub(crate) fn socket_count(namespace: &'static str, delta: f64) {
    ::metrics::gauge!(SOCKETS, "namespace" => namespace).increment(delta);
}

/// A user's first socket on this node arrived (`+1`), or their last left (`-1`).
pub(crate) fn user_count(namespace: &'static str, delta: f64) {
    ::metrics::gauge!(USERS, "namespace" => namespace).increment(delta);
}

/// Counts one accepted connection.
pub(crate) fn connection(namespace: &'static str) {
    ::metrics::counter!(CONNECTIONS, "namespace" => namespace).increment(1);
}

/// Counts one refused connection.
pub(crate) fn refusal(namespace: &'static str, code: &str) {
    let code = code.to_owned();
    ::metrics::counter!(REFUSALS, "namespace" => namespace, "code" => code).increment(1);
}

/// Counts one socket gone, with socketioxide's reason as a label.
pub(crate) fn disconnect(namespace: &'static str, reason: socketioxide::socket::DisconnectReason) {
    use socketioxide::socket::DisconnectReason as R;
    let reason = match reason {
        R::TransportClose => "transport_close",
        R::TransportError => "transport_error",
        R::HeartbeatTimeout => "heartbeat_timeout",
        R::ClientNSDisconnect => "client_disconnect",
        R::ServerNSDisconnect => "server_disconnect",
        R::ClosingServer => "closing_server",
        R::PacketParsingError => "packet_parsing_error",
        R::MultipleHttpPollingError => "multiple_http_polling_error",
    };
    ::metrics::counter!(DISCONNECTS, "namespace" => namespace, "reason" => reason).increment(1);
}

/// Counts one event received for `event` (a listener's name, an `/ops/*` name, or
/// [`UNKNOWN_EVENT`]).
pub(crate) fn event_received(namespace: &'static str, event: &'static str) {
    ::metrics::counter!(EVENTS_RECEIVED, "namespace" => namespace, "event" => event).increment(1);
}

/// Counts one error answer.
pub(crate) fn error_ack(namespace: &str, code: &str) {
    let (namespace, code) = (namespace.to_owned(), code.to_owned());
    ::metrics::counter!(ERROR_ACKS, "namespace" => namespace, "code" => code).increment(1);
}

/// Counts `n` deliveries of `event` to sockets of this node.
pub(crate) fn events_sent(namespace: &'static str, event: &str, n: usize) {
    if n > 0 {
        let event = event.to_owned();
        ::metrics::counter!(EVENTS_SENT, "namespace" => namespace, "event" => event)
            .increment(n as u64);
    }
}

/// Records how long an emit that started at `since` took.
pub(crate) fn emit_duration(namespace: &'static str, since: Instant) {
    ::metrics::histogram!(EMIT_DURATION, "namespace" => namespace).record(since.elapsed());
}

/// Records one publish round trip that started at `since`, and whether Redis took it.
pub(crate) fn redis_publish(since: Instant, ok: bool) {
    ::metrics::histogram!(REDIS_PUBLISH_DURATION).record(since.elapsed());
    if !ok {
        ::metrics::counter!(REDIS_PUBLISH_ERRORS).increment(1);
    }
}

/// Sets whether the node is connected to Redis.
pub(crate) fn cluster_connected(connected: bool) {
    ::metrics::gauge!(CLUSTER_CONNECTED).set(if connected { 1.0 } else { 0.0 });
}

/// Describes every metric to the installed recorder (Prometheus's `# HELP` lines); recording
/// does not need it.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) fn describe() {
    use ::metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SOCKETS, "Sockets connected to this node.");
    describe_gauge!(
        USERS,
        "Signed-in users with at least one socket on this node."
    );
    describe_counter!(CONNECTIONS, "Connections accepted.");
    describe_counter!(
        REFUSALS,
        "Connections refused, by the code the client was told."
    );
    describe_counter!(DISCONNECTS, "Sockets gone, by reason.");
    describe_counter!(
        EVENTS_RECEIVED,
        "Events received from clients, by listener."
    );
    describe_counter!(ERROR_ACKS, "Events answered with an error, by code.");
    describe_counter!(
        EVENTS_SENT,
        "Events delivered to sockets of this node, one per socket."
    );
    describe_histogram!(EMIT_DURATION, Unit::Seconds, "How long an emit takes.");
    describe_histogram!(
        REDIS_PUBLISH_DURATION,
        Unit::Seconds,
        "One publish round trip to Redis."
    );
    describe_counter!(REDIS_PUBLISH_ERRORS, "Publishes Redis did not take.");
    describe_gauge!(
        CLUSTER_CONNECTED,
        "1 while the node is connected to Redis, 0 while it reconnects."
    );
    describe_counter!(
        MESSAGES_DROPPED,
        "Messages, acks and notices a socket did not take."
    );
    describe_counter!(
        FORCED_DISCONNECTS,
        "Disconnects of sockets whose send queue was full."
    );
    describe_counter!(
        RATE_LIMIT_DISCONNECTS,
        "Sockets disconnected for sending far over their rate limit."
    );
    describe_counter!(RECOVERIES, "Connects that asked to recover, by outcome.");
    describe_counter!(
        REPLAYED_EVENTS,
        "Missed events sent to reconnecting sockets."
    );
}
