//! Issue 11, event order: a socket's events run one at a time in the order they arrived, and
//! their acks come back in that order, as socket.io does on Node. Driven against the chat demo
//! with the official JS `socket.io-client`, each burst emitted at once without waiting for acks.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether::auth::Key;
use tether::{Tether, TetherBuilder, socket_namespace};
use tether_examples::chat;
use tether_tests::{JsClient, TestServer, http_post};

/// Listeners that take longer for earlier steps: run concurrently, they finish in reverse.
#[derive(Default)]
struct Steps {
    done: Mutex<Vec<u64>>,
}

#[socket_namespace(path = "/steps")]
impl Steps {
    #[on("step")]
    async fn step(&self, n: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(n))).await;
        self.done.lock().unwrap().push(n);
        n
    }

    #[on("step_concurrently", concurrent)]
    async fn step_concurrently(&self, n: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(20u64.saturating_sub(n))).await;
        self.done.lock().unwrap().push(n);
        n
    }
}

async fn steps_server() -> (Tether, TestServer, JsClient) {
    steps_server_with(|builder| builder).await
}

async fn steps_server_with(
    configure: impl FnOnce(TetherBuilder) -> TetherBuilder,
) -> (Tether, TestServer, JsClient) {
    let tether = configure(Tether::builder().namespace(Steps::default()))
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok("s", &server.url("/steps"), json!({})).await;
    (tether, server, js)
}

#[tokio::test]
async fn events_run_one_at_a_time_in_arrival_order_and_their_acks_follow_it() {
    let (tether, _server, mut js) = steps_server().await;
    let burst: Vec<_> = (0..20u64)
        .map(|n| ("step".to_owned(), json!([n])))
        .collect();
    let started = Instant::now();
    let (acks, arrival) = js.burst("s", &burst).await;
    assert_eq!(acks, (0..20u64).map(|n| json!(n)).collect::<Vec<_>>());
    assert_eq!(
        arrival,
        (0..20).collect::<Vec<_>>(),
        "acks in arrival order"
    );
    assert_eq!(
        *tether.state::<Steps>().done.lock().unwrap(),
        (0..20).collect::<Vec<_>>(),
        "each event ran after the one before it"
    );
    // One at a time: the sleeps add up (20 + 19 + … + 1 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(210),
        "{:?}",
        started.elapsed()
    );
    js.close().await;
}

#[tokio::test]
async fn a_concurrent_listener_runs_its_events_as_they_arrive() {
    let (tether, _server, mut js) = steps_server().await;
    let burst: Vec<_> = (0..20u64)
        .map(|n| ("step_concurrently".to_owned(), json!([n])))
        .collect();
    let (acks, arrival) = js.burst("s", &burst).await;
    assert_eq!(acks, (0..20u64).map(|n| json!(n)).collect::<Vec<_>>());
    let done = tether.state::<Steps>().done.lock().unwrap().clone();
    assert_ne!(
        done,
        (0..20).collect::<Vec<_>>(),
        "shorter, later steps finish first"
    );
    assert_ne!(arrival, (0..20).collect::<Vec<_>>());
    js.close().await;
}

struct Demo {
    server: TestServer,
    js: JsClient,
}

impl Demo {
    /// The demo without its rate limit: these tests send thousands of events at once to see
    /// their order (`limits.rs` tests the limits).
    async fn start() -> Self {
        let config =
            chat::ChatConfig::new(Key::generate(), chat::NotifySecret::generate()).rate_limit(None);
        let app = chat::app_with(config).await.expect("build the chat app");
        Self {
            server: TestServer::start(app).await,
            js: JsClient::spawn().await,
        }
    }

    async fn token(&self, user: &str) -> String {
        let res = http_post(
            self.server.addr,
            "/api/login",
            &json!({ "user": user }).to_string(),
        )
        .await;
        res.body["token"].as_str().expect("a token").to_owned()
    }

    async fn connect(&mut self, name: &str, user: &str) {
        let token = self.token(user).await;
        let url = self.server.url("/chat");
        self.js
            .connect_ok(name, &url, json!({ "auth": { "token": token } }))
            .await;
        self.js.event(name, "/ops/connection-success").await;
    }
}

fn emit(event: &str, payload: Value) -> (String, Value) {
    (event.to_owned(), json!([payload]))
}

fn error_code(ack: &Value) -> Option<&str> {
    ack.get("error").and_then(|e| e["code"].as_str())
}

#[tokio::test]
async fn a_join_emitted_right_before_a_say_is_always_done_first() {
    let mut demo = Demo::start().await;
    demo.connect("ada", "ada").await;
    let mut refused = Vec::new();
    for i in 0..500 {
        let channel = format!("room{}", i % 20);
        let burst = [
            emit("join", json!({ "channel": channel })),
            emit(
                "say",
                json!({ "channel": channel, "text": format!("hello {i}") }),
            ),
            emit("leave", json!({ "channel": channel })),
        ];
        let (acks, arrival) = demo.js.burst("ada", &burst).await;
        if acks.iter().any(|ack| error_code(ack).is_some()) {
            refused.push((i, acks));
        }
        assert_eq!(arrival, [0, 1, 2], "acks out of order in round {i}");
    }
    assert!(refused.is_empty(), "refused: {refused:?}");
    demo.js.close().await;
}

#[tokio::test]
async fn of_two_logins_sent_back_to_back_the_last_one_wins() {
    let mut demo = Demo::start().await;
    demo.connect("tab", "ada").await;
    let (bob, cleo) = (demo.token("bob").await, demo.token("cleo").await);
    for i in 0..200 {
        let (first, last) = if i % 2 == 0 {
            (&bob, &cleo)
        } else {
            (&cleo, &bob)
        };
        let burst = [
            emit("/ops/login", json!({ "token": first })),
            emit("/ops/login", json!({ "token": last })),
        ];
        let (acks, arrival) = demo.js.burst("tab", &burst).await;
        assert_eq!(arrival, [0, 1], "acks out of order in round {i}");
        let expected = if i % 2 == 0 { "cleo" } else { "bob" };
        assert_eq!(acks[1]["user_id"], expected, "round {i}: {acks:?}");
        let now = demo
            .js
            .emit_with_ack("tab", "/ops/connection", json!([]))
            .await;
        assert_eq!(
            now["user_id"], expected,
            "round {i}: the socket ended as {now}"
        );
    }
    demo.js.close().await;
}

#[tokio::test]
async fn a_stream_of_messages_reaches_a_member_in_the_order_it_was_sent() {
    let mut demo = Demo::start().await;
    demo.connect("writer", "ada").await;
    demo.connect("reader", "bob").await;
    for name in ["writer", "reader"] {
        let ack = demo
            .js
            .emit_with_ack(name, "join", json!([{ "channel": "general" }]))
            .await;
        assert!(error_code(&ack).is_none(), "{ack}");
    }
    let mut sent = 0;
    for _ in 0..20 {
        let burst: Vec<_> = (sent..sent + 50)
            .map(|i| {
                emit(
                    "say",
                    json!({ "channel": "general", "text": i.to_string() }),
                )
            })
            .collect();
        let (acks, arrival) = demo.js.burst("writer", &burst).await;
        assert!(acks.iter().all(|ack| error_code(ack).is_none()), "{acks:?}");
        assert_eq!(arrival, (0..50).collect::<Vec<_>>(), "acks out of order");
        sent += 50;
    }
    let mut received = Vec::new();
    while received.len() < sent {
        let args = demo.js.event("reader", "message").await;
        received.push(
            args[0]["text"]
                .as_str()
                .expect("text")
                .parse::<usize>()
                .expect("a number"),
        );
    }
    let inversions = received.windows(2).filter(|w| w[0] > w[1]).count();
    assert_eq!(inversions, 0, "received out of order: {received:?}");
    assert_eq!(received, (0..sent).collect::<Vec<_>>());
    demo.js.close().await;
}

#[tokio::test]
async fn a_socket_that_floods_a_waiting_listener_is_told_it_is_overloaded_and_others_stay_served() {
    // No rate limit: the queue is the limit under test.
    let (_tether, server, mut js) = steps_server_with(|b| b.rate_limit(None)).await;
    js.connect_ok("side", &server.url("/steps"), json!({}))
        .await;
    // Far more than the default of waiting events, at once, to a listener that waits (1 ms):
    // the first waits, and the queue fills behind it.
    let burst: Vec<_> = (0..1000).map(|_| emit("step", json!(19))).collect();
    let (flood, _) = js.burst("s", &burst).await;
    let overloaded = flood
        .iter()
        .filter(|ack| error_code(ack) == Some("overloaded"))
        .count();
    let answered = flood.iter().filter(|ack| **ack == json!(19)).count();
    let other: Vec<_> = flood
        .iter()
        .filter(|ack| **ack != json!(19) && error_code(ack) != Some("overloaded"))
        .collect();
    assert!(
        other.is_empty(),
        "every event answered: {:?}",
        &other[..other.len().min(5)]
    );
    assert_eq!(overloaded + answered, flood.len());
    assert!(
        overloaded > 0,
        "1000 waiting events at once must exceed the queue"
    );
    assert!(
        answered > tether::DEFAULT_MAX_PENDING_EVENTS,
        "the queue's worth was served, and the one running: {answered}"
    );
    // The flooding socket and a well-behaved one are both still served.
    for name in ["s", "side"] {
        let step = js.emit_with_ack(name, "step", json!([19])).await;
        assert_eq!(step, json!(19), "{name}");
    }
    js.close().await;
}

#[tokio::test]
async fn a_flood_of_events_that_answer_without_waiting_is_served_in_full_as_it_is_read() {
    let mut demo = Demo::start().await;
    demo.connect("flood", "mallory").await;
    demo.connect("side", "ada").await;
    // Each runs where it is read, before the next is read: none waits in the queue, so none is
    // refused, and the socket's own connection holds the flood back.
    let burst: Vec<_> = (0..1000).map(|_| emit("who", Value::Null)).collect();
    let (flood, arrival) = demo.js.burst("flood", &burst).await;
    let answered = flood.iter().filter(|ack| ack.is_array()).count();
    assert_eq!(
        answered,
        flood.len(),
        "every event served: {:?}",
        &flood[..5]
    );
    assert_eq!(arrival, (0..1000).collect::<Vec<_>>(), "acks out of order");
    for name in ["flood", "side"] {
        let who = demo.js.emit_with_ack(name, "who", json!([])).await;
        assert!(who.is_array(), "{name}: {who}");
    }
    demo.js.close().await;
}
