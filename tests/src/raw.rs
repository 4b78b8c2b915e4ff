//! A raw socket.io client (engine.io v4 over a websocket, tokio-tungstenite): free to misbehave
//! as no official client would — stop reading, flood, send what the protocol allows but a
//! well-behaved client never sends — and far cheaper than a JS client each.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One raw socket.io connection to one namespace.
#[derive(Debug)]
pub struct RawSocket {
    ws: Ws,
    ns: String,
    next_ack: u64,
}

/// Why a raw connection did not get in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The server answered CONNECT_ERROR with this `{message}`.
    ConnectError(String),
    /// The upgrade failed (HTTP status or I/O), or the connection closed.
    Transport(String),
}

impl RawSocket {
    /// Opens a websocket to `addr` (with extra request `headers`) and connects to namespace `ns`
    /// with `auth`.
    ///
    /// # Errors
    /// When the upgrade fails or the namespace refuses.
    pub async fn connect(
        addr: SocketAddr,
        ns: &str,
        auth: &Value,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, Refused> {
        Self::connect_with_query(addr, ns, "", auth, headers).await
    }

    /// [`connect`](Self::connect) with `query` (already encoded, e.g. `token=abc`) added to the
    /// connection URL.
    ///
    /// # Errors
    /// When the upgrade fails or the namespace refuses.
    pub async fn connect_with_query(
        addr: SocketAddr,
        ns: &str,
        query: &str,
        auth: &Value,
        headers: &[(&'static str, &str)],
    ) -> Result<Self, Refused> {
        let mut url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        if !query.is_empty() {
            url.push('&');
            url.push_str(query);
        }
        let mut request = url
            .into_client_request()
            .map_err(|e| Refused::Transport(e.to_string()))?;
        for (name, value) in headers {
            let value =
                HeaderValue::from_str(value).map_err(|e| Refused::Transport(e.to_string()))?;
            request.headers_mut().append(*name, value);
        }
        let mut socket = Self::open_with(request, None).await?;
        socket.join(ns, auth).await?;
        Ok(socket)
    }

    /// [`connect`](Self::connect) from another local address (e.g. `127.0.0.2`): a client on
    /// another machine, as far as the server can tell.
    ///
    /// # Errors
    /// When the upgrade fails or the namespace refuses.
    pub async fn connect_from(
        source: std::net::IpAddr,
        addr: SocketAddr,
        ns: &str,
        auth: &Value,
    ) -> Result<Self, Refused> {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let request = url.into_client_request().expect("a valid URL");
        let mut socket = Self::open_with(request, Some((source, addr))).await?;
        socket.join(ns, auth).await?;
        Ok(socket)
    }

    /// Opens an engine.io connection and sends nothing more: a handshake that never comes.
    ///
    /// # Panics
    /// When the connection cannot be opened.
    pub async fn open(addr: SocketAddr) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let request = url.into_client_request().expect("a valid URL");
        Self::open_with(request, None)
            .await
            .expect("an engine.io connection")
    }

    async fn open_with(
        request: tokio_tungstenite::tungstenite::handshake::client::Request,
        from: Option<(std::net::IpAddr, SocketAddr)>,
    ) -> Result<Self, Refused> {
        let upgrade_failed =
            |e: &dyn std::fmt::Display| Refused::Transport(format!("upgrade failed: {e}"));
        let ws = match from {
            None => tokio_tungstenite::connect_async(request).await,
            Some((source, addr)) => {
                let socket = tokio::net::TcpSocket::new_v4().map_err(|e| upgrade_failed(&e))?;
                socket
                    .bind(SocketAddr::new(source, 0))
                    .map_err(|e| upgrade_failed(&e))?;
                let stream = socket.connect(addr).await.map_err(|e| upgrade_failed(&e))?;
                let stream = tokio_tungstenite::MaybeTlsStream::Plain(stream);
                tokio_tungstenite::client_async(request, stream).await
            }
        };
        let (ws, _) = ws.map_err(|e| upgrade_failed(&e))?;
        let mut socket = Self {
            ws,
            ns: String::new(),
            next_ack: 0,
        };
        match socket.next_packet().await {
            Some(open) if open.starts_with('0') => Ok(socket),
            other => Err(Refused::Transport(format!("no open packet: {other:?}"))),
        }
    }

    /// Sends the CONNECT packet of namespace `ns` with `auth` and waits for the answer; on
    /// success the socket's events go to `ns`. A refusal leaves the connection open (as the
    /// official clients do).
    ///
    /// # Errors
    /// When the namespace refuses or the connection closes.
    pub async fn join(&mut self, ns: &str, auth: &Value) -> Result<(), Refused> {
        self.send_text(format!("40{ns},{auth}")).await;
        loop {
            let Some(packet) = self.next_packet().await else {
                return Err(Refused::Transport("closed by the server".into()));
            };
            if packet.starts_with(&format!("40{ns},")) {
                self.ns = ns.to_owned();
                return Ok(());
            }
            if let Some(data) = packet.strip_prefix(&format!("44{ns},")) {
                let message = serde_json::from_str::<Value>(data)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| data.to_owned());
                return Err(Refused::ConnectError(message));
            }
        }
    }

    /// Sends a raw engine.io text frame (e.g. `42/ns,["event",1]`); errors are ignored (the
    /// server may have closed the connection, which the caller checks another way).
    pub async fn send_text(&mut self, text: String) {
        let _ = self.ws.send(Message::text(text)).await;
    }

    /// Sends a raw engine.io binary frame (a socket.io attachment); errors are ignored as in
    /// [`send_text`](Self::send_text).
    pub async fn send_binary(&mut self, data: Vec<u8>) {
        let _ = self.ws.send(Message::binary(data)).await;
    }

    /// Emits `event` with `attachments` binary attachments (the event's one argument holds their
    /// placeholders), asking for an ack; returns the ack id. Send the attachments next with
    /// [`send_binary`](Self::send_binary).
    pub async fn emit_binary_header(&mut self, event: &str, attachments: usize) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        let placeholders: Vec<Value> = (0..attachments)
            .map(|num| serde_json::json!({"_placeholder": true, "num": num}))
            .collect();
        let packet = event_packet(event, &[Value::Array(placeholders)]);
        self.send_text(format!("45{attachments}-{},{id}{packet}", self.ns))
            .await;
        id
    }

    /// Emits `event` with `args` (a JSON array's items), without asking for an ack.
    pub async fn emit(&mut self, event: &str, args: &[Value]) {
        let packet = event_packet(event, args);
        self.send_text(format!("42{},{packet}", self.ns)).await;
    }

    /// Emits `event` asking for an ack; returns the ack id to wait for with [`ack`](Self::ack).
    pub async fn emit_with_ack(&mut self, event: &str, args: &[Value]) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        let packet = event_packet(event, args);
        self.send_text(format!("42{},{id}{packet}", self.ns)).await;
        id
    }

    /// Reads until the ack `id` arrives (events in between are skipped); its arguments.
    pub async fn ack(&mut self, id: u64, within: Duration) -> Option<Value> {
        let prefix = format!("43{},{id}", self.ns);
        tokio::time::timeout(within, async {
            while let Some(packet) = self.next_packet().await {
                if let Some(args) = packet.strip_prefix(&prefix) {
                    return serde_json::from_str(args).ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// Reads until an event named `event` arrives; its arguments.
    pub async fn event(&mut self, event: &str, within: Duration) -> Option<Value> {
        let prefix = format!("42{},", self.ns);
        tokio::time::timeout(within, async {
            while let Some(packet) = self.next_packet().await {
                let Some(body) = packet.strip_prefix(&prefix) else {
                    continue;
                };
                if let Ok(Value::Array(mut items)) = serde_json::from_str::<Value>(body)
                    && items.first().and_then(Value::as_str) == Some(event)
                {
                    items.remove(0);
                    return Some(Value::Array(items));
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }

    /// The next text frame, answering pings; `None` once the connection is closed.
    pub async fn next_packet(&mut self) -> Option<String> {
        while let Some(msg) = self.ws.next().await {
            match msg.ok()? {
                Message::Text(text) if text.as_str() == "2" => {
                    self.ws.send(Message::text("3")).await.ok()?;
                }
                Message::Text(text) => return Some(text.as_str().to_owned()),
                Message::Close(_) => return None,
                _ => {}
            }
        }
        None
    }

    /// Reads (and discards) everything until the server closes the connection; whether it did
    /// within `within`.
    pub async fn closed_within(&mut self, within: Duration) -> bool {
        tokio::time::timeout(within, async {
            while self.next_packet().await.is_some() {}
        })
        .await
        .is_ok()
    }
}

fn event_packet(event: &str, args: &[Value]) -> String {
    let mut items = vec![Value::String(event.to_owned())];
    items.extend_from_slice(args);
    Value::Array(items).to_string()
}
