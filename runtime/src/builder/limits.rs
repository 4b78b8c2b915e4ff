//! The limits a [`TetherBuilder`] sets: what one socket may queue, send, join and hold, and
//! how long a connection may take to join a namespace. Each has a default that holds against a
//! hostile client and is documented with it.

use std::time::Duration;

use super::TetherBuilder;
use crate::rate::RateLimit;

/// How many events of one socket may wait while an earlier one is handled, by default (see
/// [`TetherBuilder::max_pending_events`]).
pub const DEFAULT_MAX_PENDING_EVENTS: usize = 128;

/// How many packets may wait to be written to one socket, by default (socketioxide's default is
/// 128). The queue's memory is taken as it fills, not up front. See
/// [`TetherBuilder::send_queue`].
pub const DEFAULT_SEND_QUEUE: usize = 1024;

/// Largest websocket message / polling payload accepted by default: 1 MiB (socketioxide's
/// default, 64 MiB, lets one client make the server allocate far too much).
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// How many bytes a websocket reads from its connection at once, by default: 1 KiB
/// (engineioxide's default is 4 KiB). Each socket keeps a read buffer this large for its life, so
/// this is memory every idle socket holds; see [`TetherBuilder::ws_read_buffer`].
pub const DEFAULT_WS_READ_BUFFER: usize = 1024;

/// How many channels one socket may be in, by default (see
/// [`TetherBuilder::max_channels_per_socket`]).
pub const DEFAULT_MAX_CHANNELS_PER_SOCKET: usize = 128;

/// How long a connection may take to join a namespace, by default (socket.io's is 45 s). A
/// connection whose handshake was refused, or that never sends one, is closed after this and
/// its memory freed. See [`TetherBuilder::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Every socket's rate limit by default: 100 events a second on average, 200 at once (see
/// [`TetherBuilder::rate_limit`]).
pub(super) fn default_rate_limit() -> RateLimit {
    RateLimit::per_second(100).burst(200)
}

/// How many binary attachments one event may carry, by default (socketioxide's is 10,000).
pub const DEFAULT_MAX_ATTACHMENTS: usize = 64;

/// How long the binary attachments of an event may take to arrive after it.
pub(super) const ATTACHMENTS_TIMEOUT: Duration = Duration::from_secs(10);

/// socket.io's packet parser, bounded: attachments count and total size, and their timeout.
/// (A macro: socketioxide does not export the parser type to name in a function's signature.)
macro_rules! bounded_parser {
    ($max_message_size:expr, $max_attachments:expr) => {
        ::socketioxide::ParserConfig::common()
            .max_incoming_binary_buf_size($max_message_size)
            .max_incoming_binaries($max_attachments)
            .packet_completion_timeout($crate::builder::limits::ATTACHMENTS_TIMEOUT)
    };
}
pub(super) use bounded_parser;

/// How many sockets one IP address may hold, by default (see
/// [`TetherBuilder::max_connections_per_ip`]).
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 256;

/// How many handshakes of one IP address may wait for the middleware at once, by default.
pub const DEFAULT_MAX_HANDSHAKES_PER_IP: usize = 32;

/// How many new connections a node works on at once, by default (see
/// [`TetherBuilder::max_concurrent_handshakes`]).
pub const DEFAULT_MAX_CONCURRENT_HANDSHAKES: usize = 64;

impl TetherBuilder {
    /// How many sockets one IP address may hold, all namespaces together (default
    /// [`DEFAULT_MAX_CONNECTIONS_PER_IP`]); a connection beyond it is refused with
    /// `too_many_connections`. Applies when the app is served with the peer address:
    ///
    /// ```no_run
    /// # async fn serve(app: axum::Router) -> std::io::Result<()> {
    /// let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
    /// axum::serve(
    ///     listener,
    ///     app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    /// )
    /// .await
    /// # }
    /// ```
    ///
    /// Behind a proxy every client has the proxy's address: raise the limit, or leave it to the
    /// proxy.
    #[must_use]
    pub fn max_connections_per_ip(mut self, sockets: usize) -> Self {
        self.max_connections_per_ip = sockets;
        self
    }

    /// How many handshakes of one IP address may wait for the namespace's middleware at once
    /// (default [`DEFAULT_MAX_HANDSHAKES_PER_IP`]); one beyond it is refused with
    /// `too_many_handshakes`. Applies as [`max_connections_per_ip`](Self::max_connections_per_ip)
    /// does.
    ///
    /// ```
    /// let builder = tether::Tether::builder().max_handshakes_per_ip(8);
    /// ```
    #[must_use]
    pub fn max_handshakes_per_ip(mut self, handshakes: usize) -> Self {
        self.max_handshakes_per_ip = handshakes;
        self
    }

    /// How many new connections this node works on at once (default
    /// [`DEFAULT_MAX_CONCURRENT_HANDSHAKES`]); `None` for no bound.
    ///
    /// When a node dies, its clients all come back to the others at once. Without a bound, all
    /// of those handshakes are in progress together and a socket already connected waits behind
    /// them for each of its events: in a reconnect storm of 10,000 sockets on 2 cores, a
    /// connected socket's messages took up to 158–476 ms (p99), against 15–41 ms with the
    /// default bound, while the storm's sockets were all back as fast (`bench/run.sh --storm`,
    /// BENCHMARKS.md).
    ///
    /// A new connection (an engine.io session: a websocket, or a polling handshake) takes a
    /// slot before its first request is served, and gives it back once its socket's first
    /// namespace connect is decided (refused, or connected and `on_connect` run), or after a
    /// second at most. The others wait for a slot, a second at most, then go ahead without one
    /// (counted in `tether_admission_timeouts_total`): a client that opens sessions and never
    /// finishes them slows other handshakes down by that second at most, and never refuses them.
    ///
    /// A slot spans the client's round trip between engine.io's open packet and its namespace
    /// connect: with 64 slots and clients 100 ms away, a node takes about 640 new connections a
    /// second before the others wait (then go ahead after their second). Raise it for far-away
    /// clients arriving in bursts, or when `tether_admission_timeouts_total` grows.
    ///
    /// ```
    /// let builder = tether::Tether::builder().max_concurrent_handshakes(256);
    /// let unbounded = tether::Tether::builder().max_concurrent_handshakes(None);
    /// ```
    #[must_use]
    pub fn max_concurrent_handshakes(mut self, connections: impl Into<Option<usize>>) -> Self {
        self.max_concurrent_handshakes = connections.into();
        self
    }

    /// How many events one socket may send, all events together, in namespaces that set no
    /// limit of their own (`#[socket_namespace(rate = ...)]`). Default: 100 a second on
    /// average, bursts of 200; `None` for no limit. An event over it is answered with the
    /// error ack `rate_limited` (with `retry_after_ms`) and not run; a socket that keeps
    /// sending far over it (more refused events within 10 s than four bursts, at least 64) is
    /// disconnected with `/ops/disconnected {code: "rate_limited"}`.
    ///
    /// ```
    /// use tether::RateLimit;
    /// let builder = tether::Tether::builder().rate_limit(RateLimit::per_second(20).burst(50));
    /// let unlimited = tether::Tether::builder().rate_limit(None);
    /// ```
    #[must_use]
    pub fn rate_limit(mut self, limit: impl Into<Option<RateLimit>>) -> Self {
        self.rate_limit = limit.into();
        self
    }

    /// How many channels one socket may be in (default [`DEFAULT_MAX_CHANNELS_PER_SOCKET`]).
    /// A join beyond it (`/ops/join`, or the `channel_id` query at connect) is refused with
    /// `too_many_channels`; joins made by server code
    /// ([`ConnectedClients::join_channel`](crate::ConnectedClients::join_channel)) are not
    /// limited.
    ///
    /// ```
    /// let builder = tether::Tether::builder().max_channels_per_socket(16);
    /// ```
    #[must_use]
    pub fn max_channels_per_socket(mut self, channels: usize) -> Self {
        self.max_channels = channels;
        self
    }

    /// How long a connection may take to join a namespace (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]). A connection whose handshake was refused or never came is
    /// closed after it, so refused or abandoned handshakes free their memory within seconds.
    ///
    /// ```
    /// let builder = tether::Tether::builder().connect_timeout(std::time::Duration::from_secs(10));
    /// ```
    #[must_use]
    pub fn connect_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.socketio = self.socketio.connect_timeout(timeout);
        self
    }

    /// How many events of one socket may wait while an earlier one is handled (default
    /// [`DEFAULT_MAX_PENDING_EVENTS`]). A socket's events run one at a time, in the order they
    /// arrived (a listener marked `concurrent` excepted); an event beyond this many waiting is
    /// answered at once with the error ack `overloaded` and not run.
    ///
    /// ```
    /// let builder = tether::Tether::builder().max_pending_events(16);
    /// ```
    #[must_use]
    pub fn max_pending_events(mut self, events: usize) -> Self {
        self.max_pending_events = events.max(1);
        self
    }

    /// How many packets (events, acks) may wait to be written to one socket (default
    /// [`DEFAULT_SEND_QUEUE`]). A socket whose queue is full misses what is sent to it meanwhile;
    /// [`Delivery::failed`](crate::Delivery::failed) counts it.
    ///
    /// ```
    /// let builder = tether::Tether::builder().send_queue(256);
    /// ```
    #[must_use]
    pub fn send_queue(mut self, packets: usize) -> Self {
        self.socketio = self.socketio.max_buffer_size(packets.max(1));
        self
    }

    /// How many bytes a websocket reads from its connection at once (default
    /// [`DEFAULT_WS_READ_BUFFER`]). Each socket keeps a buffer this large (larger after a larger
    /// message came in), so the default keeps idle sockets small: 1 KiB instead of
    /// engineioxide's 4 KiB saves 3 KiB per socket. Events of a few KiB cost no more CPU with
    /// it; a message larger than the buffer is read in that many system calls, so a server whose
    /// clients send tens of KiB at a time may want more (with 60 KB messages, 4 KiB used 4–14 %
    /// less CPU per message than 1 KiB in the project's bench; BENCHMARKS.md).
    ///
    /// ```
    /// let builder = tether::Tether::builder().ws_read_buffer(4096);
    /// ```
    #[must_use]
    pub fn ws_read_buffer(mut self, bytes: usize) -> Self {
        self.socketio = self.socketio.ws_read_buffer_size(bytes.max(64));
        self
    }

    /// Largest message a client may send, in bytes (default [`DEFAULT_MAX_MESSAGE_SIZE`]): a
    /// websocket message, a polling request, and all the binary attachments of one event
    /// together. A client that sends more is disconnected.
    #[must_use]
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self.socketio = self
            .socketio
            .ws_max_message_size(bytes)
            .ws_max_frame_size(bytes)
            .max_payload(bytes as u64)
            .with_parser(bounded_parser!(bytes, self.max_attachments));
        self
    }

    /// How many binary attachments one event may carry (default
    /// [`DEFAULT_MAX_ATTACHMENTS`]); together they may not exceed
    /// [`max_message_size`](Self::max_message_size), and they must all arrive within 10 s of
    /// the event. A client that sends more is disconnected.
    ///
    /// ```
    /// let builder = tether::Tether::builder().max_attachments(4);
    /// ```
    #[must_use]
    pub fn max_attachments(mut self, attachments: usize) -> Self {
        self.max_attachments = attachments;
        self.socketio = self
            .socketio
            .with_parser(bounded_parser!(self.max_message_size, attachments));
        self
    }

    /// How often the server pings clients (default 25 s, as socket.io).
    #[must_use]
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.socketio = self.socketio.ping_interval(interval);
        self
    }

    /// How long the server waits for a pong before it drops a client (default 20 s).
    #[must_use]
    pub fn ping_timeout(mut self, timeout: Duration) -> Self {
        self.socketio = self.socketio.ping_timeout(timeout);
        self
    }
}
