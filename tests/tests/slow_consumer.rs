//! Issue 11, disconnects that always work: a socket that stops reading fills its send queue, and
//! socketioxide then cannot even queue its disconnect packet. tether unregisters such a socket at
//! once when it is kicked (the same path expiry, the per-user cap and remote kicks take), counts
//! what it could not deliver, and the transport closes at engine.io's next ping. A reader beside
//! it (the official JS client) stays served throughout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use serde_json::json;
use tether::{AnyEvent, Handshake, Kick, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::raw::RawSocket;
use tether_tests::{JsClient, TestServer};

#[derive(Default)]
struct Feed {
    /// Events handled, by user.
    counted: Mutex<HashMap<String, u64>>,
}

#[derive(Debug, Clone)]
struct Reader {
    user_id: String,
}

#[socket_namespace(
    path = "/feed",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Feed {
    #[middleware]
    async fn admit(&self, hs: &Handshake) -> Result<SocketOk<Reader>, SocketNok> {
        let user = hs
            .auth_str("user")
            .ok_or_else(|| SocketNok::with_code("missing_user", "auth.user is required"))?;
        Ok(SocketOk::new(Reader {
            user_id: user.to_owned(),
        }))
    }

    #[on("count")]
    async fn count(&self, client: &tether::Client<Reader>) -> u64 {
        let mut counted = self.counted.lock().unwrap();
        let n = counted
            .entry(client.metadata().user_id.clone())
            .or_default();
        *n += 1;
        *n
    }
}

/// The global recorder of this test binary (one per process), read through its snapshotter.
fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: std::sync::OnceLock<Snapshotter> = std::sync::OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("install the metrics recorder");
        snapshotter
    })
}

/// The value of a counter with these labels (0 when never recorded).
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    recorder()
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            let key = key.key();
            key.name() == name
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            _ => 0,
        })
        .sum()
}

async fn serve(ping: Duration) -> (Tether, TestServer) {
    let tether = Tether::builder()
        .namespace(Feed::default())
        .send_queue(16)
        .ping_interval(ping)
        // A stuck client answers no ping: without room for a ping, the transport closes at the
        // ping; with room (the queue drained into the socket's buffers), at the ping's timeout.
        .ping_timeout(ping)
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    (tether, server)
}

/// Emits 64 KiB events to `user` until one is dropped (the socket stopped reading, the kernel
/// buffers and then the send queue filled up); how many were dropped.
async fn fill_queue_of(tether: &Tether, user: &str) -> usize {
    let blob = "x".repeat(64 * 1024);
    let emitter = tether.emitter::<Feed>();
    for _ in 0..2_000 {
        let delivery = emitter
            .to_user(user)
            .emit(AnyEvent::new("blob", json!(blob)))
            .await
            .expect("emit");
        if delivery.failed > 0 {
            return delivery.failed;
        }
        tokio::task::yield_now().await;
    }
    panic!("the send queue of a socket that does not read never filled up");
}

#[tokio::test]
async fn a_socket_that_stopped_reading_is_kicked_at_once_and_the_reader_beside_it_stays_served() {
    let snapshot = |name| counter(name, &[("namespace", "/feed")]);
    let (dropped_before, forced_before) = (
        snapshot(tether::metrics::MESSAGES_DROPPED),
        snapshot(tether::metrics::FORCED_DISCONNECTS),
    );
    let (tether, server) = serve(Duration::from_secs(25)).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "reader",
        &server.url("/feed"),
        json!({"auth": {"user": "reader"}}),
    )
    .await;
    let mut stuck = RawSocket::connect(server.addr, "/feed", &json!({"user": "stuck"}), &[])
        .await
        .expect("the stuck socket connects");
    // From here on, `stuck` reads nothing.
    let failed = fill_queue_of(&tether, "stuck").await;
    assert!(
        snapshot(tether::metrics::MESSAGES_DROPPED) >= dropped_before + failed as u64,
        "the dropped messages are counted in the metric"
    );

    let emitter = tether.emitter::<Feed>();
    let started = Instant::now();
    let kicked = emitter
        .kick_user("stuck", &Kick::new("kicked", "bye"))
        .await;
    assert_eq!(kicked.sockets, 1);
    while emitter.is_online("stuck").await {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "a kicked socket with a full send queue stayed online"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let unregistered = started.elapsed();
    assert!(tether.clients::<Feed>().user_sockets("stuck").is_empty());
    assert_eq!(
        snapshot(tether::metrics::FORCED_DISCONNECTS),
        forced_before + 1
    );

    // Its events are no longer handled; the reader's are, and it still receives.
    for _ in 0..5 {
        stuck.emit("count", &[]).await;
    }
    let n = js.emit_with_ack("reader", "count", json!([])).await;
    assert_eq!(n, json!(1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        tether.state::<Feed>().counted.lock().unwrap().get("stuck"),
        None
    );
    let to_reader = emitter
        .to_user("reader")
        .emit(AnyEvent::new("news", json!({"n": 1})))
        .await
        .expect("emit");
    assert_eq!(to_reader.sockets, 1);
    assert_eq!(js.event("reader", "news").await, vec![json!({"n": 1})]);
    println!("unregistered {unregistered:?} after the kick; {failed} dropped before it");
    js.close().await;
}

#[tokio::test]
async fn the_transport_of_a_stuck_socket_closes_by_the_next_ping() {
    let (tether, server) = serve(Duration::from_secs(1)).await;
    let mut stuck = RawSocket::connect(server.addr, "/feed", &json!({"user": "stuck"}), &[])
        .await
        .expect("the stuck socket connects");
    fill_queue_of(&tether, "stuck").await;
    tether
        .emitter::<Feed>()
        .kick_user("stuck", &Kick::new("kicked", "bye"))
        .await;
    // Wait past the next ping, then read: the server must have closed the connection, so what
    // is buffered drains and the stream ends.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(
        stuck.closed_within(Duration::from_secs(5)).await,
        "the transport of a kicked stuck socket is still open"
    );
    let reader = RawSocket::connect(server.addr, "/feed", &json!({"user": "next"}), &[]).await;
    assert!(reader.is_ok(), "the server still admits sockets");
}
