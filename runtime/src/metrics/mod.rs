//! The metrics tether records, through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! tether only records; the application chooses where the numbers go by installing a recorder,
//! **before building the tether** (the handles of the hot paths, sockets, users, emits and
//! deliveries, are registered when a namespace is mounted). With the `prometheus` feature,
//! `install_prometheus` installs one and `prometheus_route` serves it to Prometheus. Every
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
//! | `tether_events_sent_total` | counter | `namespace`, `event` | events of emits to users, channels, client keys or everyone (from this node, another node, a worker, or a client's relay) delivered to sockets of this node, one per socket; at most 256 event names per namespace, the others as `event="(other)"` (names can come from clients' relays and from other processes). Not counted: replays (`tether_replayed_events_total`), `Client::emit` to one socket, offline-inbox hand-overs, tether's own `/ops/*` notices |
//! | `tether_emit_duration_seconds` | histogram | `namespace` | how long an emit takes, from the call until every node that holds a recipient has it (or Redis failed) |
//! | `tether_redis_publish_duration_seconds` | histogram | | one publish to Redis, from the emit's queueing to Redis's answer (for a recorded emit, with recovery on: the script that records and publishes it) |
//! | `tether_redis_publish_batch_size` | histogram | | emits per pipeline sent to Redis: under load, the emits queued while earlier pipelines were on their way leave together (not with a Redis Cluster, whose connection sends each shard's commands together itself) |
//! | `tether_redis_publish_errors_total` | counter | | publishes that did not reach Redis, failed or not tried while it is away (remote sockets missed them) |
//! | `tether_cluster_connected` | gauge | | 1 while the node is connected to Redis, 0 while it reconnects |
//! | `tether_messages_dropped_total` | counter | `namespace`, `kind` | messages, acks and notices a socket did not take because its send queue was full or it had just closed (`kind`: `emit`, `ack`, `notice`); an emit's drops are also in [`Delivery::failed`](crate::Delivery::failed) |
//! | `tether_forced_disconnects_total` | counter | `namespace` | disconnects of sockets whose send queue was full (see [`Client::disconnect`](crate::Client::disconnect)) |
//! | `tether_rate_limit_disconnects_total` | counter | `namespace` | sockets disconnected for sending far over their rate limit (see [`RateLimit`](crate::RateLimit)) |
//! | `tether_recoveries_total` | counter | `namespace`, `outcome` | connects that asked to recover (`auth.recover`), by outcome: `recovered`, or the [`RecoveryInfo::reason`](crate::RecoveryInfo::reason) |
//! | `tether_replayed_events_total` | counter | `namespace` | missed events sent to reconnecting sockets |
//! | `tether_admission_timeouts_total` | counter | | new connections that waited a second for a handshake slot and went ahead without one (see [`TetherBuilder::max_concurrent_handshakes`](crate::TetherBuilder::max_concurrent_handshakes)) |
//!
//! An application that builds event names from data (`AnyEvent::new(format!("room:{id}"), ..)`)
//! fills the 256 `event` labels of `tether_events_sent_total` quickly: the rest count as
//! `(other)`.
//!
//! ```
//! // The names are constants, so a dashboard query and the code cannot drift apart.
//! assert_eq!(tether::metrics::MESSAGES_DROPPED, "tether_messages_dropped_total");
//! assert_eq!(tether::metrics::SOCKETS, "tether_sockets");
//! ```

#[cfg(feature = "prometheus")]
mod prometheus;

use std::time::Instant;

use crate::protocol::request;

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

/// Histogram (seconds): one publish to Redis, from the emit's queueing to Redis's answer.
pub const REDIS_PUBLISH_DURATION: &str = "tether_redis_publish_duration_seconds";

/// Histogram: emits per pipeline sent to Redis.
pub const REDIS_PUBLISH_BATCH: &str = "tether_redis_publish_batch_size";

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

/// Counter: new connections that went ahead without a handshake slot.
pub const ADMISSION_TIMEOUTS: &str = "tether_admission_timeouts_total";

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

/// Most distinct `event` labels of [`EVENTS_SENT`] per namespace; other names count as
/// [`OTHER_EVENT`]. Event names can come from clients (relays) and from other processes
/// (envelopes), so the number of series must not be theirs to choose.
pub(crate) const MAX_EVENT_LABELS: usize = 256;

/// The `event` label of [`EVENTS_SENT`] past [`MAX_EVENT_LABELS`].
pub(crate) const OTHER_EVENT: &str = "(other)";

/// One namespace's metric handles, registered once when it is mounted: recording through
/// them neither allocates nor looks anything up. (So a recorder installed after the tether was
/// built does not see these; install it first.)
pub(crate) struct NamespaceMetrics {
    namespace: &'static str,
    sockets: ::metrics::Gauge,
    users: ::metrics::Gauge,
    emit_duration: ::metrics::Histogram,
    /// [`EVENTS_SENT`] by event name, at most [`MAX_EVENT_LABELS`] of them.
    sent: std::sync::RwLock<std::collections::HashMap<String, ::metrics::Counter>>,
    /// [`EVENTS_RECEIVED`] of events without a user listener: each of tether's requests
    /// ([`request::ALL`]), then [`UNKNOWN_EVENT`]; registered on first use.
    ops_received: [std::sync::OnceLock<::metrics::Counter>; request::ALL.len() + 1],
}

impl NamespaceMetrics {
    /// Registers the handles of `namespace`; its gauges start at 0.
    pub(crate) fn new(namespace: &'static str) -> Self {
        let this = Self {
            namespace,
            sockets: ::metrics::gauge!(SOCKETS, "namespace" => namespace),
            users: ::metrics::gauge!(USERS, "namespace" => namespace),
            emit_duration: ::metrics::histogram!(EMIT_DURATION, "namespace" => namespace),
            sent: std::sync::RwLock::default(),
            ops_received: Default::default(),
        };
        this.sockets.set(0.0);
        this.users.set(0.0);
        this
    }

    /// A socket entered (`true`) or left this node's map.
    pub(crate) fn socket(&self, entered: bool) {
        self.sockets.increment(if entered { 1.0 } else { -1.0 });
    }

    /// A user's first socket on this node arrived (`true`), or their last one left.
    pub(crate) fn user(&self, arrived: bool) {
        self.users.increment(if arrived { 1.0 } else { -1.0 });
    }

    /// Counts one event without a user listener: one of tether's requests by its name, any
    /// other as [`UNKNOWN_EVENT`] (a client cannot make up labels).
    pub(crate) fn ops_received(&self, event: &str) {
        let index = request::ALL
            .iter()
            .position(|known| *known == event)
            .unwrap_or(request::ALL.len());
        let label = request::ALL.get(index).copied().unwrap_or(UNKNOWN_EVENT);
        self.ops_received[index]
            .get_or_init(|| received(self.namespace, label))
            .increment(1);
    }

    /// Records how long an emit that started at `since` took.
    pub(crate) fn emitted(&self, since: Instant) {
        self.emit_duration.record(since.elapsed());
    }

    /// Counts `n` deliveries of `event` to sockets of this node.
    pub(crate) fn sent(&self, event: &str, n: usize) {
        if n == 0 {
            return;
        }
        let read = self
            .sent
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(counter) = read.get(event) {
            counter.increment(n as u64);
            return;
        }
        drop(read);
        let mut write = self
            .sent
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let label = if write.len() < MAX_EVENT_LABELS {
            event
        } else {
            OTHER_EVENT
        };
        let namespace = self.namespace;
        write
            .entry(label.to_owned())
            .or_insert_with(|| {
                let event = label.to_owned();
                ::metrics::counter!(EVENTS_SENT, "namespace" => namespace, "event" => event)
            })
            .increment(n as u64);
    }
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

/// The counter of events received for `event` (a listener's name, an `/ops/*` name, or
/// [`UNKNOWN_EVENT`]): made once per listener and socket, not per event.
pub(crate) fn received(namespace: &'static str, event: &'static str) -> ::metrics::Counter {
    ::metrics::counter!(EVENTS_RECEIVED, "namespace" => namespace, "event" => event)
}

/// Counts one error answer.
pub(crate) fn error_ack(namespace: &str, code: &str) {
    let (namespace, code) = (namespace.to_owned(), code.to_owned());
    ::metrics::counter!(ERROR_ACKS, "namespace" => namespace, "code" => code).increment(1);
}

/// Records one publish that started (was queued) at `since`, and whether Redis took it.
pub(crate) fn redis_publish(since: Instant, ok: bool) {
    ::metrics::histogram!(REDIS_PUBLISH_DURATION).record(since.elapsed());
    if !ok {
        ::metrics::counter!(REDIS_PUBLISH_ERRORS).increment(1);
    }
}

/// Records how many emits one pipeline to Redis carries.
pub(crate) fn redis_publish_batch(emits: usize) {
    ::metrics::histogram!(REDIS_PUBLISH_BATCH)
        .record(f64::from(u32::try_from(emits).unwrap_or(u32::MAX)));
}

/// Counts one publish not tried: Redis is away (remote sockets miss it, as with a failure).
pub(crate) fn redis_publish_skipped() {
    ::metrics::counter!(REDIS_PUBLISH_ERRORS).increment(1);
}

/// Counts a new connection that waited its longest for a handshake slot and went ahead.
pub(crate) fn admission_timeout() {
    ::metrics::counter!(ADMISSION_TIMEOUTS).increment(1);
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
        "One publish to Redis, from the emit's queueing to Redis's answer."
    );
    describe_histogram!(REDIS_PUBLISH_BATCH, "Emits per pipeline sent to Redis.");
    describe_counter!(REDIS_PUBLISH_ERRORS, "Publishes that did not reach Redis.");
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
    describe_counter!(
        ADMISSION_TIMEOUTS,
        "New connections that waited their longest for a handshake slot and went ahead without one."
    );
}
