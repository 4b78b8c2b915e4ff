//! Issue 2 with a Rust socket.io client (`tf-rust-socketio`, the maintained fork of
//! `rust_socketio` that can answer acks): the same namespace works for non-JS clients.

use std::time::Duration;

use futures_util::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::{TIMEOUT, TestServer, eventually};
use tf_rust_socketio::asynchronous::ClientBuilder;
use tf_rust_socketio::{Event, Payload, TransportType};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize)]
struct Device {
    device_id: String,
}

#[derive(Deserialize)]
struct Reading {
    celsius: f64,
}

struct Telemetry;

#[socket_namespace(path = "/telemetry", client_connection_key = "device_id")]
impl Telemetry {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Device>, SocketNok> {
        match hs.bearer_token().or_else(|| hs.auth_str("token")) {
            Some(token) if token.starts_with("dev-") => Ok(SocketOk::new(Device {
                device_id: token.to_owned(),
            })),
            Some(_) => Err(SocketNok::with_code("invalid_token", "unknown device")),
            None => Err(SocketNok::with_code("missing_token", "no device token")),
        }
    }

    #[on("reading")]
    async fn reading(&self, client: &Client<Device>, reading: Reading) -> Value {
        json!({"device": client.key(), "fahrenheit": reading.celsius * 9.0 / 5.0 + 32.0})
    }
}

fn channel_callback(
    tx: mpsc::UnboundedSender<Payload>,
) -> impl Fn(
    Payload,
    tf_rust_socketio::asynchronous::Client,
) -> futures_util::future::BoxFuture<'static, ()>
+ Send
+ Sync
+ 'static {
    move |payload, _| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(payload);
        }
        .boxed()
    }
}

fn text(payload: Payload) -> Vec<Value> {
    match payload {
        Payload::Text(values, _) => values,
        #[allow(deprecated)]
        Payload::String(s, _) => vec![serde_json::from_str(&s).unwrap_or(Value::String(s))],
        Payload::Binary(..) => panic!("unexpected binary payload"),
    }
}

/// tf-rust-socketio hands an ack's argument list over as one JSON array.
fn ack_args(payload: Payload) -> Vec<Value> {
    match text(payload).as_slice() {
        [Value::Array(args)] => args.clone(),
        other => other.to_vec(),
    }
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<Payload>) -> Payload {
    tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("in time")
        .expect("open")
}

async fn server() -> (Tether, TestServer) {
    let tether = Tether::builder()
        .namespace(Telemetry)
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    (tether, server)
}

#[tokio::test]
async fn rust_client_connects_with_a_bearer_header_gets_acks_and_pushes() {
    let (tether, server) = server().await;
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let client = ClientBuilder::new(format!("http://{}/", server.addr))
        .namespace("/telemetry")
        .transport_type(TransportType::Websocket)
        .opening_header("Authorization", "Bearer dev-7")
        .reconnect(false)
        .on("alert", channel_callback(events_tx))
        .connect()
        .await
        .expect("connect");

    let clients = tether.clients::<Telemetry>();
    eventually("the device is registered", || clients.contains("dev-7")).await;

    let (ack_tx, mut acks) = mpsc::unbounded_channel();
    client
        .emit_with_ack(
            "reading",
            json!({"celsius": 100.0}),
            Duration::from_secs(5),
            channel_callback(ack_tx),
        )
        .await
        .expect("emit");
    assert_eq!(
        ack_args(recv(&mut acks).await),
        vec![json!({"device": "dev-7", "fahrenheit": 212.0})]
    );

    let (ack_tx, mut acks) = mpsc::unbounded_channel();
    client
        .emit_with_ack(
            "reading",
            json!({"kelvin": 1}),
            Duration::from_secs(5),
            channel_callback(ack_tx),
        )
        .await
        .expect("emit");
    let ack = ack_args(recv(&mut acks).await);
    assert_eq!(ack[0]["error"]["code"], "invalid_payload", "{ack:?}");

    clients
        .emit_to("dev-7", "alert", &json!({"level": "high"}))
        .await
        .expect("emit");
    assert_eq!(
        text(recv(&mut events).await),
        vec![json!({"level": "high"})]
    );
    client.disconnect().await.expect("disconnect");
    eventually("the device is unregistered", || clients.is_empty()).await;
}

#[tokio::test]
async fn rust_client_sees_the_refusal_code() {
    let (tether, server) = server().await;
    let (errors_tx, mut errors) = mpsc::unbounded_channel();
    let _client = ClientBuilder::new(format!("http://{}/", server.addr))
        .namespace("/telemetry")
        .transport_type(TransportType::Websocket)
        .auth(json!({"token": "stolen"}))
        .reconnect(false)
        .on(Event::Error, channel_callback(errors_tx))
        .connect()
        .await
        .expect("the transport connects; the namespace refuses");
    let error = format!("{:?}", text(recv(&mut errors).await));
    assert!(
        error.contains("invalid_token: unknown device"),
        "the client saw: {error}"
    );
    assert!(tether.clients::<Telemetry>().is_empty());
}
