//! Issue 12: missed-message recovery on one node (embedded mode), with the stock JS
//! socket.io-client: a client that reconnects with `auth.recover` receives what it missed, in
//! order, once, before new events, and learns whether that was everything.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tether::{AnyEvent, Client, Emitter, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::metrics::counter;
use tether_tests::recovering::Recovering;
use tether_tests::{JsClient, TestServer};

#[derive(Debug, Clone, Serialize)]
struct Member {
    user_id: String,
}

fn member(hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
    let user = hs
        .auth_str("token")
        .ok_or_else(|| SocketNok::with_code("missing_token", "no token"))?;
    Ok(SocketOk::new(Member {
        user_id: user.to_owned(),
    }))
}

struct Inbox;

#[socket_namespace(path = "/inbox", user_key = "user_id", recovery = true)]
impl Inbox {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }

    #[authorize_channel]
    async fn may_join(&self, _client: &Client<Member>, channel: &str) -> bool {
        !channel.starts_with("staff")
    }
}

/// A window of one second.
struct Brief;

#[socket_namespace(path = "/brief", user_key = "user_id", recovery = "1s")]
impl Brief {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

/// Three events per stream at most.
struct Short;

#[socket_namespace(
    path = "/short",
    user_key = "user_id",
    recovery = true,
    recovery_max_len = 3
)]
impl Short {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

async fn server() -> (Tether, TestServer) {
    tether_tests::metrics::install();
    let tether = Tether::builder()
        .namespace(Inbox)
        .namespace(Brief)
        .namespace(Short)
        .rate_limit(None)
        .build()
        .await
        .unwrap();
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    (tether, server)
}

/// A position `<ms>-<seq>` as numbers, to compare.
fn pos(v: &Value) -> (u64, u64) {
    let (ms, seq) = v
        .as_str()
        .expect("a position")
        .split_once('-')
        .expect("ms-seq");
    (ms.parse().unwrap(), seq.parse().unwrap())
}

fn note(n: u64) -> AnyEvent {
    AnyEvent::new("note", json!({ "n": n }))
}

/// Connects `name` with `auth`, returns its `/ops/connection-success`.
async fn connect(js: &mut JsClient, name: &str, url: &str, auth: Value) -> Value {
    js.connect_ok(name, url, json!({ "auth": auth })).await;
    js.event(name, "/ops/connection-success").await[0].clone()
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed_in_order_once_then_live_events() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let info = connect(&mut js, "a", &url, json!({"token": "alice"})).await;
    assert!(info["recovery"].is_null(), "a first connect asked nothing");
    let start = info["offset"].as_str().expect("an offset").to_owned();

    let d = emitter.to_user("alice").emit(note(1)).await.unwrap();
    assert!(
        d.stored && d.sockets == 1 && d.position().is_some(),
        "{d:?}"
    );
    let args = js.event("a", "note").await;
    assert_eq!(args[0], json!({"n": 1}));
    assert_eq!(
        args[1].as_str(),
        d.position().as_deref(),
        "the position is the last argument"
    );
    assert!(pos(&args[1]) > pos(&json!(start)));

    js.disconnect("a").await;
    js.disconnected("a").await;
    let mut positions = Vec::new();
    for n in 2..=4 {
        let d = emitter.to_user("alice").emit(note(n)).await.unwrap();
        assert!(
            d.stored && d.sockets == 0 && !d.delivered() && !d.is_offline(),
            "{d:?}"
        );
        positions.push(d.position().unwrap());
    }
    emitter.to_user("bob").emit(note(99)).await.unwrap();

    let recover = json!({"offset": args[1], "channels": []});
    js.connect_ok(
        "a2",
        &url,
        json!({"auth": {"token": "alice", "recover": recover}}),
    )
    .await;
    for n in 2..=4 {
        let args = js.event("a2", "note").await;
        assert_eq!(args[0], json!({ "n": n }), "in order");
        assert_eq!(args[1].as_str(), Some(positions[n as usize - 2].as_str()));
    }
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(
        info["recovery"],
        json!({"recovered": true, "replayed": 3}),
        "told after the replay"
    );
    assert!(
        pos(&info["offset"]) >= pos(&json!(positions.last().unwrap())),
        "the offset is past the replayed events (at the history's head)"
    );
    emitter.to_user("alice").emit(note(5)).await.unwrap();
    assert_eq!(js.event("a2", "note").await[0], json!({"n": 5}));
    js.assert_no_event("a2", "note", Duration::from_millis(200))
        .await;
}

#[tokio::test]
async fn channels_are_rejoined_when_allowed_and_their_missed_events_replayed() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let info = connect(&mut js, "a", &url, json!({"token": "alice"})).await;
    let offset = info["offset"].clone();
    js.disconnect("a").await;
    js.disconnected("a").await;
    emitter.to_channel("room").emit(note(1)).await.unwrap();
    emitter
        .to_channel("staff-room")
        .emit(note(2))
        .await
        .unwrap();
    emitter
        .to_channel("room")
        .except_user("alice")
        .emit(note(3))
        .await
        .unwrap();
    emitter
        .to_channel("room")
        .and_user("alice")
        .emit(note(4))
        .await
        .unwrap();

    let recover = json!({"offset": offset, "channels": ["room", "staff-room"]});
    let info = connect(
        &mut js,
        "a2",
        &url,
        json!({"token": "alice", "recover": recover}),
    )
    .await;
    assert_eq!(
        info["channels"],
        json!(["room"]),
        "a channel no longer allowed is left out"
    );
    assert_eq!(info["recovery"]["recovered"], true);
    assert_eq!(js.event("a2", "note").await[0], json!({"n": 1}));
    assert_eq!(
        js.event("a2", "note").await[0],
        json!({"n": 4}),
        "not the excluded one"
    );
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn after_the_window_the_client_is_told_and_nothing_is_replayed() {
    let (tether, server) = server().await;
    let emitter: Emitter<Brief> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/brief");
    let info = connect(&mut js, "a", &url, json!({"token": "alice"})).await;
    js.disconnect("a").await;
    js.disconnected("a").await;
    emitter.to_user("alice").emit(note(1)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let recover = json!({"offset": info["offset"], "channels": []});
    let info = connect(
        &mut js,
        "a2",
        &url,
        json!({"token": "alice", "recover": recover}),
    )
    .await;
    assert_eq!(info["recovery"]["recovered"], false);
    assert_eq!(info["recovery"]["reason"], "expired");
    assert_eq!(info["recovery"]["replayed"], 0);
    assert!(
        info["recovery"]["lost"]
            .as_array()
            .unwrap()
            .contains(&json!("user:alice"))
    );
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
    let brief = [("namespace", "/brief"), ("outcome", "expired")];
    assert_eq!(
        counter(tether::metrics::RECOVERIES, &brief),
        1,
        "counted once, by outcome"
    );
    // Live events flow as usual.
    emitter.to_user("alice").emit(note(2)).await.unwrap();
    assert_eq!(js.event("a2", "note").await[0], json!({"n": 2}));
}

#[tokio::test]
async fn past_a_streams_bound_the_client_is_told_and_that_stream_is_not_replayed() {
    let (tether, server) = server().await;
    let emitter: Emitter<Short> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/short");
    let info = connect(&mut js, "a", &url, json!({"token": "alice"})).await;
    js.disconnect("a").await;
    js.disconnected("a").await;
    for n in 1..=5 {
        emitter.to_user("alice").emit(note(n)).await.unwrap();
    }
    let recover = json!({"offset": info["offset"], "channels": []});
    let info = connect(
        &mut js,
        "a2",
        &url,
        json!({"token": "alice", "recover": recover}),
    )
    .await;
    assert_eq!(info["recovery"]["recovered"], false);
    assert_eq!(info["recovery"]["reason"], "trimmed");
    assert_eq!(info["recovery"]["lost"], json!(["user:alice"]));
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
    let short = [("namespace", "/short"), ("outcome", "trimmed")];
    assert_eq!(counter(tether::metrics::RECOVERIES, &short), 1);
    let replayed = [("namespace", "/short")];
    assert_eq!(
        counter(tether::metrics::REPLAYED_EVENTS, &replayed),
        0,
        "nothing of a trimmed stream"
    );
}

#[tokio::test]
async fn a_malformed_recover_request_is_refused_and_an_odd_offset_told() {
    let (_tether, server) = server().await;
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let refused = js
        .connect(
            "a",
            &url,
            json!({"auth": {"token": "alice", "recover": "1-0"}}),
        )
        .await;
    let tether_tests::Connect::Refused(message) = refused else {
        panic!("{refused:?}");
    };
    assert!(message.starts_with("invalid_recover:"), "{message}");
    // A stray string taken for a position does not lock the client out: it is told.
    let recover = json!({"offset": "yesterday", "channels": []});
    let info = connect(
        &mut js,
        "b",
        &url,
        json!({"token": "bob", "recover": recover}),
    )
    .await;
    assert_eq!(info["recovery"]["recovered"], false);
    assert_eq!(info["recovery"]["reason"], "invalid_offset");
    // A well-behaved client beside them is unaffected.
    connect(&mut js, "c", &url, json!({"token": "carol"})).await;
}

/// The test: users on a flaky network (each socket drops every 0.7–2 s and comes back
/// after 0.1–0.3 s, through socket.io-client's own reconnection) while the back end sends each
/// user 10 events/s: every event arrives exactly once, in order.
#[tokio::test]
async fn under_jitter_every_event_arrives_exactly_once_in_order() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let sessions: Vec<Value> = users
        .iter()
        .map(|u| json!({"name": u, "token": u}))
        .collect();
    let client = Recovering::start(&json!({
        "urls": [server.url("/inbox")],
        "sessions": sessions,
        "event": "note",
        "blip": [700, 2000],
        "down": [100, 300],
        "alternate": false,
    }))
    .await;
    let per_user = 60;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    for n in 0..per_user {
        ticker.tick().await;
        for user in &users {
            emitter.to_user(user.as_str()).emit(note(n)).await.unwrap();
        }
    }
    let result = client.stop().await;
    let expected: Vec<Value> = (0..per_user).map(|n| json!({ "n": n })).collect();
    let mut reconnects = 0;
    for user in &users {
        let session = &result[user.as_str()];
        assert_eq!(
            session["received"].as_array().unwrap(),
            &expected,
            "{user}: every event once, in order"
        );
        reconnects += session["connects"].as_u64().unwrap() - 1;
        for recovery in session["recoveries"].as_array().unwrap() {
            assert_eq!(recovery["recovered"], true, "{user}: {recovery}");
        }
    }
    assert!(
        reconnects >= users.len() as u64 * 2,
        "the network was flaky: {reconnects} reconnects"
    );
}

/// Server→client acks on one node: one answer per socket, a silent one named as a timeout.
#[tokio::test]
async fn emit_with_ack_answers_once_per_socket_and_names_the_silent_one() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let a1 = js
        .connect_ok(
            "a1",
            &url,
            json!({"auth": {"token": "alice"}, "tetherAck": {"ok": 1}}),
        )
        .await;
    let a2 = js
        .connect_ok("a2", &url, json!({"auth": {"token": "alice"}}))
        .await;
    let started = std::time::Instant::now();
    let mut acks = emitter
        .to_user("alice")
        .timeout(Duration::from_millis(300))
        .emit_with_ack(note(1))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(400),
        "within the timeout and a bound: {took:?}"
    );
    acks.sort_by_key(|a| a.socket != a1);
    assert_eq!(acks.len(), 2, "{acks:?}");
    assert_eq!(
        (acks[0].socket.as_str(), acks[0].node.as_str()),
        (a1.as_str(), "local")
    );
    assert_eq!(acks[0].reply, Ok(json!({"ok": 1})));
    assert_eq!(acks[1].socket, a2);
    assert_eq!(acks[1].reply, Err(tether::AckFailure::Timeout));
    // Acked emits are not recorded: no position, only the ack callback after the payload.
    let args = js.event("a2", "note").await;
    assert_eq!(args, vec![json!({"n": 1}), Value::Null], "{args:?}");
}

/// The offline inbox on one node: kept for a user offline everywhere, handed once, acked.
#[tokio::test]
async fn a_persisted_event_reaches_the_first_device_once_and_expires() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let d = emitter
        .to_user("alice")
        .persist(Duration::from_secs(60))
        .emit(note(1))
        .await
        .unwrap();
    assert_eq!(
        (d.kept, d.delivered(), d.is_offline()),
        (1, false, false),
        "{d:?}"
    );
    emitter
        .to_user("alice")
        .persist(Duration::from_millis(100))
        .emit(note(2))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let acking = json!({"auth": {"token": "alice"}, "tetherAck": "got it"});
    js.connect_ok("phone", &url, acking.clone()).await;
    assert_eq!(js.event("phone", "note").await[0], json!({"n": 1}));
    js.assert_no_event("phone", "note", Duration::from_millis(300))
        .await;
    js.connect_ok("laptop", &url, acking).await;
    js.assert_no_event("laptop", "note", Duration::from_millis(300))
        .await;

    // Online: delivered as usual, not kept.
    let d = emitter
        .to_user("alice")
        .persist(Duration::from_secs(60))
        .emit(note(3))
        .await
        .unwrap();
    assert_eq!((d.kept, d.sockets), (0, 2), "{d:?}");
}

/// A replay larger than the socket's send queue (1024 packets) waits for room instead of
/// dropping: all of it arrives, in order, then live events.
#[tokio::test]
async fn a_replay_larger_than_the_send_queue_arrives_whole_and_in_order() {
    let (tether, server) = server().await;
    let emitter: Emitter<Inbox> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/inbox");
    let info = connect(&mut js, "a", &url, json!({"token": "alice"})).await;
    js.disconnect("a").await;
    js.disconnected("a").await;
    let missed = 3000;
    for n in 0..missed {
        emitter.to_user("alice").emit(note(n)).await.unwrap();
    }
    let recover = json!({"offset": info["offset"], "channels": []});
    js.connect_ok(
        "a2",
        &url,
        json!({"auth": {"token": "alice", "recover": recover}}),
    )
    .await;
    emitter.to_user("alice").emit(note(missed)).await.unwrap();
    for n in 0..=missed {
        assert_eq!(js.event("a2", "note").await[0], json!({ "n": n }));
    }
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(
        info["recovery"],
        json!({"recovered": true, "replayed": missed})
    );
}
