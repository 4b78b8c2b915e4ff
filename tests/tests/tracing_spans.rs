//! Issue 14 (tracing): every connection has a `connection` span (namespace, socket id, user) and
//! every event an `event` span inside it, so what a listener or a hook logs carries who and
//! what, as a tracing subscriber shows it.

use serde_json::json;
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::log::CapturedLog;
use tether_tests::{JsClient, TestServer, eventually};

#[derive(Clone)]
struct Member {
    user_id: String,
}

struct Spans;

#[socket_namespace(path = "/spans", user_key = "user_id")]
impl Spans {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        let user = hs.auth_str("user").unwrap_or("nobody").to_owned();
        Ok(SocketOk::new(Member { user_id: user }))
    }

    #[on_connect]
    async fn hello(&self, _client: &Client<Member>) {
        tracing::info!("hook ran");
    }

    #[on("echo")]
    async fn echo(&self, text: String) -> String {
        tracing::info!(text, "listener ran");
        text
    }
}

#[tokio::test]
async fn a_listeners_log_line_is_inside_its_event_and_connection_spans() {
    let captured = CapturedLog::install("tether=debug,tracing_spans=info");
    let tether = Tether::builder()
        .namespace(Spans)
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    let mut js = JsClient::spawn().await;
    let sid = js
        .connect_ok(
            "a",
            &server.url("/spans"),
            json!({"auth": {"user": "alice"}}),
        )
        .await;
    let ack = js.emit_with_ack("a", "echo", json!(["hi"])).await;
    assert_eq!(ack, json!("hi"));
    eventually("the listener's line", || {
        captured.line("listener ran").is_some()
    })
    .await;

    let connection = format!("connection{{ns=\"/spans\" sid={sid} user=\"alice\"}}");
    let listener = captured.line("listener ran").expect("logged");
    assert!(
        listener.contains(&format!("{connection}:event{{")),
        "the listener's line is not in its connection's span: {listener}"
    );
    assert!(
        listener.contains("event=\"echo\"") && listener.contains("text=\"hi\""),
        "{listener}"
    );
    eventually("the hook's line", || captured.line("hook ran").is_some()).await;
    let hook = captured.line("hook ran").expect("logged");
    assert!(
        hook.contains(&connection),
        "the hook's line is not in its connection's span: {hook}"
    );
}
