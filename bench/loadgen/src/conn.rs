//! One socket.io client connection: the handshake, then a task that answers heartbeats, sends
//! what the scenario asks and records every `msg` it receives into the shared counters.
//!
//! Everything runs on one single-threaded runtime (a `LocalSet`), so the shared state is plain
//! `Cell`s: no locks, no atomics.
//!
//! [`connect_resuming`] connects a socket whose user keeps a [`Resume`] across connections (the
//! storm with `--recovery`): it sends `auth.recover` and tracks positions (`resume.rs`).

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::net::TcpStream;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

use crate::hist::Histogram;
use crate::proto::{self, Incoming};
use crate::resume::Resume;

/// State shared by the driver and every connection task.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The clock every timestamp is relative to.
    pub(crate) start: Instant,
    /// The namespace, e.g. `/bench`.
    pub(crate) ns: String,
    /// Padding put in every message's data.
    pub(crate) pad: String,
    /// `msg` events received in the current phase.
    pub(crate) received: Cell<u64>,
    /// Deliveries the current phase expects (what was sent × recipients per message).
    pub(crate) expected: Cell<u64>,
    /// Receivers wake the driver when fewer than this many deliveries are outstanding.
    pub(crate) low_water: Cell<u64>,
    /// Wakes the driver (closed loop: room in the window; drain: all arrived).
    pub(crate) notify: Notify,
    /// `msg` events of the current phase that carried a recovery position as their last argument.
    pub(crate) positioned: Cell<u64>,
    /// Latency of each `msg` (receive time − the send time in its data), in ns.
    pub(crate) latency: RefCell<Histogram>,
    /// ACKs received (joins).
    pub(crate) acks: Cell<u64>,
    /// Ack ids answered with an error (the server did not run the event), with the error's code.
    pub(crate) refused: RefCell<Vec<(u64, String)>>,
    /// Other events received (`/ops/connection-success`, ..).
    pub(crate) events: Cell<u64>,
    /// Connections the server closed or that failed while the scenario held them.
    pub(crate) dropped: Cell<u64>,
}

impl Shared {
    /// Fresh counters for namespace `ns` and `pad` bytes of padding per message.
    pub(crate) fn new(ns: &str, pad: usize) -> Self {
        Self {
            start: Instant::now(),
            ns: ns.to_owned(),
            pad: "x".repeat(pad),
            received: Cell::new(0),
            expected: Cell::new(0),
            low_water: Cell::new(0),
            notify: Notify::new(),
            positioned: Cell::new(0),
            latency: RefCell::new(Histogram::default()),
            acks: Cell::new(0),
            refused: RefCell::new(Vec::new()),
            events: Cell::new(0),
            dropped: Cell::new(0),
        }
    }

    /// Nanoseconds since [`Shared::start`].
    pub(crate) fn now_ns(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Resets the per-phase counters.
    pub(crate) fn reset_phase(&self) {
        self.received.set(0);
        self.expected.set(0);
        self.positioned.set(0);
        self.latency.borrow_mut().clear();
    }

    /// Deliveries sent but not received yet.
    pub(crate) fn outstanding(&self) -> u64 {
        self.expected.get().saturating_sub(self.received.get())
    }

    fn on_msg(&self, t: Option<u64>, positioned: bool) {
        let now = self.now_ns();
        if positioned {
            self.positioned.set(self.positioned.get() + 1);
        }
        if let Some(t) = t {
            self.latency.borrow_mut().record(now.saturating_sub(t));
        }
        self.received.set(self.received.get() + 1);
        if self.outstanding() <= self.low_water.get() {
            self.notify.notify_one();
        }
    }
}

/// What the driver asks a connection to do.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Cmd {
    /// `send` `{to: "u{to}", data}`.
    Send {
        /// The recipient user's number.
        to: u32,
    },
    /// `channel` `{to: "c{chan}", data}`.
    Channel {
        /// The channel's number.
        chan: u32,
    },
    /// `send` `{to: "u{to}", data: {t, s: seq, p}}`: the storm's numbered feed.
    Feed {
        /// The recipient user's number.
        to: u32,
        /// The event's sequence number.
        seq: u64,
    },
    /// `join` `"c{chan}"` with an ack id.
    Join {
        /// The channel's number.
        chan: u32,
    },
    /// Close the websocket.
    Close,
}

/// A connected socket, driven through its command queue.
#[derive(Debug)]
pub(crate) struct Conn {
    tx: mpsc::UnboundedSender<Cmd>,
    task: JoinHandle<()>,
}

impl Conn {
    /// Queues a command; `false` when the connection is gone.
    pub(crate) fn send(&self, cmd: Cmd) -> bool {
        self.tx.send(cmd).is_ok()
    }

    /// Stops the connection's task at once (its server is gone).
    pub(crate) fn abort(self) {
        self.task.abort();
    }

    /// Closes the websocket and waits for the task to end (bounded).
    pub(crate) async fn close(self) {
        let _ = self.tx.send(Cmd::Close);
        let mut task = self.task;
        if tokio::time::timeout(Duration::from_secs(5), &mut task)
            .await
            .is_err()
        {
            task.abort();
        }
    }
}

/// Why a connection attempt failed.
#[derive(Debug)]
pub(crate) enum ConnectError {
    /// The server refused the namespace connection (CONNECT_ERROR), with its payload.
    Refused(String),
    /// Anything else: TCP, websocket, protocol, timeout.
    Failed(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(body) => write!(f, "refused: {body}"),
            Self::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

/// Connects one socket: websocket, engine.io open, socket.io CONNECT with `token`; then spawns
/// its task on the current `LocalSet`.
pub(crate) async fn connect(
    addr: SocketAddr,
    token: &str,
    shared: &Rc<Shared>,
    timeout: Duration,
) -> Result<Conn, ConnectError> {
    connect_resuming(addr, token, shared, None, timeout).await
}

/// [`connect`], for a socket whose user keeps `resume` across its connections: the CONNECT
/// carries `auth.recover` once `resume` has an offset, and every `msg` and
/// `/ops/connection-success` is parsed into `resume` too. Without `resume`, exactly [`connect`].
pub(crate) async fn connect_resuming(
    addr: SocketAddr,
    token: &str,
    shared: &Rc<Shared>,
    resume: Option<&Rc<Resume>>,
    timeout: Duration,
) -> Result<Conn, ConnectError> {
    let ws = tokio::time::timeout(
        timeout,
        handshake(addr, token, &shared.ns, resume.map(Rc::as_ref)),
    )
    .await
    .map_err(|_| ConnectError::Failed("timed out".into()))??;
    let (tx, rx) = mpsc::unbounded_channel();
    let task = tokio::task::spawn_local(run(ws, rx, Rc::clone(shared), resume.cloned()));
    Ok(Conn { tx, task })
}

async fn handshake(
    addr: SocketAddr,
    token: &str,
    ns: &str,
    resume: Option<&Resume>,
) -> Result<Ws, ConnectError> {
    let failed = |e: &dyn std::fmt::Display| ConnectError::Failed(e.to_string());
    let tcp = TcpStream::connect(addr).await.map_err(|e| failed(&e))?;
    tcp.set_nodelay(true).map_err(|e| failed(&e))?;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    // Small buffers: the load generator holds thousands of sockets and must stay cheap.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(Some(1 << 20));
    let (mut ws, _) = client_async_with_config(url, tcp, Some(config))
        .await
        .map_err(|e| failed(&e))?;
    let mut opened = false;
    // Bounded by the caller's timeout; each iteration consumes one frame.
    while let Some(frame) = ws.next().await {
        let frame = frame.map_err(|e| failed(&e))?;
        let Message::Text(text) = frame else { continue };
        match proto::classify(&text, ns) {
            Incoming::Open if !opened => {
                opened = true;
                let recover = resume.and_then(Resume::recover);
                ws.send(Message::text(proto::connect(ns, token, recover.as_ref())))
                    .await
                    .map_err(|e| failed(&e))?;
            }
            Incoming::Ping => ws.send(Message::text("3")).await.map_err(|e| failed(&e))?,
            Incoming::Connected => return Ok(ws),
            Incoming::ConnectError(body) => return Err(ConnectError::Refused(body.to_owned())),
            Incoming::Close | Incoming::Disconnect => {
                return Err(ConnectError::Failed("closed during the handshake".into()));
            }
            // tether sends nothing of the namespace before its CONNECT; should a server send
            // events ahead of it (socket.io's own recovery does), they still count.
            Incoming::Msg(_) | Incoming::Event => {
                if let Some(resume) = resume {
                    resume.on_frame(&text, ns);
                }
            }
            _ => {}
        }
    }
    Err(ConnectError::Failed("closed during the handshake".into()))
}

/// The connection's task: reads frames and executes commands until closed.
async fn run(
    ws: Ws,
    mut rx: mpsc::UnboundedReceiver<Cmd>,
    shared: Rc<Shared>,
    resume: Option<Rc<Resume>>,
) {
    let (mut sink, mut stream) = ws.split();
    let mut next_ack = 0u32;
    let mut out = String::with_capacity(128 + shared.pad.len());
    loop {
        tokio::select! {
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => match proto::classify(&text, &shared.ns) {
                    // `["msg",{..},"<ms>-<seq>"]`: recorded, with its position last.
                    Incoming::Msg(t) => match &resume {
                        None => shared.on_msg(t, text.ends_with("\"]")),
                        Some(r) => shared.on_msg(t, r.on_frame(&text, &shared.ns)),
                    },
                    Incoming::Ping if sink.send(Message::text("3")).await.is_err() => {
                        break shared.dropped.set(shared.dropped.get() + 1);
                    }
                    Incoming::Ack => {
                        shared.acks.set(shared.acks.get() + 1);
                        if let Some((id, code)) = proto::refused_ack(&text, &shared.ns) {
                            shared.refused.borrow_mut().push((id, code.to_owned()));
                        }
                    }
                    Incoming::Event => {
                        shared.events.set(shared.events.get() + 1);
                        if let Some(r) = &resume {
                            r.on_frame(&text, &shared.ns);
                        }
                    }
                    Incoming::Close | Incoming::Disconnect => {
                        break shared.dropped.set(shared.dropped.get() + 1);
                    }
                    _ => {}
                },
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    break shared.dropped.set(shared.dropped.get() + 1);
                }
                Some(Ok(_)) => {}
            },
            cmd = rx.recv() => {
                out.clear();
                let t = shared.now_ns();
                let ns = &shared.ns;
                match cmd {
                    Some(Cmd::Send { to }) => proto::send(&mut out, ns, to, t, &shared.pad),
                    Some(Cmd::Feed { to, seq }) => proto::feed(&mut out, ns, to, t, seq, &shared.pad),
                    Some(Cmd::Channel { chan }) => proto::channel(&mut out, ns, chan, t, &shared.pad),
                    Some(Cmd::Join { chan }) => {
                        proto::join(&mut out, ns, next_ack, chan);
                        next_ack += 1;
                    }
                    Some(Cmd::Close) | None => {
                        let _ = sink.send(Message::Close(None)).await;
                        // Let the close handshake finish (bounded) so the server sees a clean close.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = stream.next().await {}
                        })
                        .await;
                        break;
                    }
                }
                if sink.send(Message::text(out.as_str())).await.is_err() {
                    break shared.dropped.set(shared.dropped.get() + 1);
                }
            }
        }
    }
}
