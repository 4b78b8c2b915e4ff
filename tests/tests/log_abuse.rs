//! Issue 11, log amplification: one client spending five seconds on everything that used to
//! write a log line (invalid payloads, unknown and over-long event names, bad channel names,
//! floods over the rate limit, reconnecting after each disconnect) must add less than 100 KB
//! of log at `info` for every crate, and no line may quote what it sent. A well-behaved JS
//! client beside it stays served.

use std::time::{Duration, Instant};

use serde_json::json;
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::log::CapturedLog;
use tether_tests::raw::RawSocket;
use tether_tests::{JsClient, TestServer};

struct Board;

#[derive(Debug, Clone)]
struct Poster {
    user_id: String,
}

#[socket_namespace(
    path = "/board",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Board {
    #[middleware]
    async fn admit(&self, hs: &Handshake) -> Result<SocketOk<Poster>, SocketNok> {
        let user = hs
            .auth_str("user")
            .ok_or_else(|| SocketNok::with_code("refused", "auth.user is required"))?;
        Ok(SocketOk::new(Poster {
            user_id: user.to_owned(),
        }))
    }

    #[authorize_channel]
    async fn may_join(&self, _client: &Client<Poster>, _channel: &str) -> bool {
        true
    }

    #[on("post")]
    async fn post(&self, n: u64) -> u64 {
        n
    }
}

/// A marker every abusive value carries, to find it if a log line quotes one.
const MARK: &str = "EVILMARK";

#[tokio::test]
async fn five_seconds_of_abuse_add_less_than_100_kb_of_log_and_echo_nothing() {
    let captured = CapturedLog::install("info");

    let tether = Tether::builder()
        .namespace(Board)
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "side",
        &server.url("/board"),
        json!({"auth": {"user": "side"}}),
    )
    .await;
    tracing::info!("capture check");
    let before = captured.len();
    assert!(before > 0, "the log is captured");

    let long_name = format!("{MARK}{}", "x".repeat(10_000));
    let bad_payload = json!({ "n": format!("{MARK}{}", "y".repeat(10_000)) });
    let started = Instant::now();
    let (mut sent, mut sessions) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(5) {
        let Ok(mut abuser) =
            RawSocket::connect(server.addr, "/board", &json!({"user": "abuser"}), &[]).await
        else {
            continue;
        };
        sessions += 1;
        for round in 0..200u64 {
            abuser
                .emit("post", std::slice::from_ref(&bad_payload))
                .await;
            abuser.emit_with_ack("post", &[json!(MARK)]).await;
            abuser.emit(&long_name, &[json!(MARK)]).await;
            abuser.emit_with_ack(&format!("{MARK}-{round}"), &[]).await;
            abuser
                .emit_with_ack(
                    "/ops/join",
                    &[json!({"channel": format!("{MARK} bad name")})],
                )
                .await;
            abuser.emit("/ops/login", &[json!({"token": MARK})]).await;
            sent += 6;
        }
        // Read what came back until the server has had enough and closes the connection.
        abuser.closed_within(Duration::from_millis(200)).await;
    }
    // The side client is served right after.
    assert_eq!(js.emit_with_ack("side", "post", json!([1])).await, json!(1));
    let logged = captured.len() - before;
    let text = captured.text();
    println!("{sent} abusive events over {sessions} connections in 5 s: {logged} bytes of log");
    assert!(sent > 1_000, "the abuse was real: {sent} events");
    assert!(
        logged < 100_000,
        "{logged} bytes of log:\n{}",
        &text[text.len().saturating_sub(4_000)..]
    );
    assert!(!text.contains(MARK), "a log line quotes a client's value");
    js.close().await;
}
