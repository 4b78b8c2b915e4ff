//! Issue 12: recovery across nodes sharing one real `redis-server` (started by the tests on a
//! free port): a client that reconnects to any node — after a blip, after its node was killed
//! with SIGKILL, or after Redis itself restarted — receives what it missed, or is told honestly
//! what it could not.

use std::time::Duration;

use serde_json::{Value, json};
use tether::cluster::{ClusterConfig, ClusterState};
use tether::{AnyEvent, Emitter, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::lobby::{Inbox, Member, NodeProcess};
use tether_tests::recovering::Recovering;
use tether_tests::redis::RedisServer;
use tether_tests::{JsClient, TestServer};

struct Node {
    tether: Tether,
    server: TestServer,
}

impl Node {
    async fn start(redis: &RedisServer) -> Self {
        let tether = Tether::builder()
            .namespace(Inbox)
            .cluster(ClusterConfig::new(redis.url()))
            .rate_limit(None)
            .build()
            .await
            .expect("join the cluster");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        connected(&tether).await;
        Self { tether, server }
    }

    fn url(&self) -> String {
        self.server.url("/inbox")
    }

    fn emitter(&self) -> Emitter<Inbox> {
        self.tether.emitter()
    }
}

async fn connected(tether: &Tether) {
    let mut watch = tether.watch_cluster().expect("cluster mode");
    tokio::time::timeout(
        Duration::from_secs(5),
        watch.wait_for(|s| *s == ClusterState::Connected),
    )
    .await
    .expect("connected to Redis in time")
    .expect("watch");
}

/// A node in its own process, to kill with SIGKILL.
async fn process(redis: &RedisServer) -> NodeProcess {
    NodeProcess::start(
        env!("CARGO_BIN_EXE_recovery-node"),
        redis,
        Duration::from_secs(2),
        tether::DEFAULT_PRESENCE_GRACE,
    )
    .await
}

fn note(n: u64) -> AnyEvent {
    AnyEvent::new("note", json!({ "n": n }))
}

/// alice connects to `node` and leaves; returns her connection info (its `offset`).
async fn alice_came_and_went(js: &mut JsClient, node: &Node) -> Value {
    js.connect_ok("a", &node.url(), json!({"auth": {"token": "alice"}}))
        .await;
    let info = js.event("a", "/ops/connection-success").await[0].clone();
    js.disconnect("a").await;
    js.disconnected("a").await;
    info
}

/// alice connects again as `name` to `node`, asking to recover from `info`'s offset.
async fn alice_recovers(js: &mut JsClient, name: &str, node: &Node, info: &Value) {
    let recover = json!({"offset": info["offset"], "channels": []});
    js.connect_ok(
        name,
        &node.url(),
        json!({"auth": {"token": "alice", "recover": recover}}),
    )
    .await;
}

/// Two nodes, and alice's socket on the first, followed there.
async fn alice_on_a(redis: &RedisServer) -> (Node, Node, JsClient) {
    let (a, b) = (Node::start(redis).await, Node::start(redis).await);
    let mut js = JsClient::spawn().await;
    js.connect_ok("a", &a.url(), json!({"auth": {"token": "alice"}}))
        .await;
    js.event("a", "/ops/connection-success").await;
    tether_tests::eventually("a follows alice", || {
        redis.subscribers("tether:/inbox:user:alice") == 1
    })
    .await;
    (a, b, js)
}

/// `senders` tasks, each emitting `each` notes `{sender, n}` to alice from `node`, one after
/// the other, and asserting each was recorded.
fn notes_to_alice(node: &Node, senders: u64, each: u64) -> Vec<tokio::task::JoinHandle<()>> {
    (0..senders)
        .map(|sender| {
            let emitter = node.emitter();
            tokio::spawn(async move {
                for n in 0..each {
                    let event = AnyEvent::new("note", json!({"sender": sender, "n": n}));
                    let d = emitter.to_user("alice").emit(event).await.unwrap();
                    assert!(d.stored && d.nodes == 1, "emit {sender}/{n}: {d:?}");
                }
            })
        })
        .collect()
}

/// How many `EVALSHA` calls Redis has run since its stats were reset.
fn evalsha_calls(redis: &RedisServer) -> u64 {
    redis
        .cli(&["INFO", "commandstats"])
        .lines()
        .find_map(|l| l.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().expect("a count"))
}

/// The jitter test on two nodes: each reconnect goes to the other node, and the events
/// are emitted by both nodes in turn.
#[tokio::test]
async fn under_jitter_across_two_nodes_every_event_arrives_exactly_once_in_order() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let users: Vec<String> = (0..20).map(|i| format!("u{i}")).collect();
    let sessions: Vec<Value> = users
        .iter()
        .map(|u| json!({"name": u, "token": u}))
        .collect();
    let client = Recovering::start(&json!({
        "urls": [a.url(), b.url()],
        "sessions": sessions,
        "event": "note",
        "blip": [700, 2000],
        "down": [100, 300],
        "alternate": true,
    }))
    .await;
    let emitters = [a.emitter(), b.emitter()];
    let per_user = 60;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    for n in 0..per_user {
        ticker.tick().await;
        for user in &users {
            let d = emitters[n as usize % 2]
                .to_user(user.as_str())
                .emit(note(n))
                .await
                .unwrap();
            assert!(d.stored, "{d:?}");
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
        "{reconnects} reconnects"
    );
}

#[tokio::test]
async fn a_client_whose_node_was_killed_recovers_everything_on_the_survivor() {
    let redis = RedisServer::start();
    let doomed = process(&redis).await;
    let survivor = Node::start(&redis).await;
    let worker = Emitter::<Inbox>::connect_redis(&redis.url()).await.unwrap();
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "a",
        &doomed.url("/inbox"),
        json!({"auth": {"token": "alice"}}),
    )
    .await;
    let info = js.event("a", "/ops/connection-success").await[0].clone();
    let mut offset = info["offset"].clone();
    for n in 1..=3 {
        survivor
            .emitter()
            .to_user("alice")
            .emit(note(n))
            .await
            .unwrap();
        let args = js.event("a", "note").await;
        assert_eq!(args[0], json!({ "n": n }));
        offset = args[1].clone();
    }
    doomed.kill().await;
    js.disconnected("a").await;
    // Mid-gap: from a node, and from a Redis-only worker.
    for n in 4..=5 {
        let d = survivor
            .emitter()
            .to_user("alice")
            .emit(note(n))
            .await
            .unwrap();
        assert!(d.stored && !d.delivered(), "nobody holds alice: {d:?}");
    }
    let d = worker.to_user("alice").emit(note(6)).await.unwrap();
    assert!(d.stored, "a worker's emits are recorded too: {d:?}");

    let recover = json!({"offset": offset, "channels": []});
    js.connect_ok(
        "a2",
        &survivor.url(),
        json!({"auth": {"token": "alice", "recover": recover}}),
    )
    .await;
    for n in 4..=6 {
        assert_eq!(js.event("a2", "note").await[0], json!({ "n": n }));
    }
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(info["recovery"], json!({"recovered": true, "replayed": 3}));
    survivor
        .emitter()
        .to_user("alice")
        .emit(note(7))
        .await
        .unwrap();
    assert_eq!(js.event("a2", "note").await[0], json!({"n": 7}));
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
}

#[tokio::test]
async fn after_redis_restarts_what_is_recoverable_is_and_the_rest_is_told() {
    let mut redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    let info = alice_came_and_went(&mut js, &a).await;
    a.emitter().to_user("alice").emit(note(1)).await.unwrap();

    // The history dies with Redis (no persistence).
    redis.stop();
    let d = a.emitter().to_user("alice").emit(note(2)).await.unwrap();
    assert!(
        !d.stored && d.cluster_unavailable,
        "Redis is away: told, not stored: {d:?}"
    );
    redis.restart();
    connected(&a.tether).await;
    connected(&b.tether).await;
    let d = a.emitter().to_user("alice").emit(note(3)).await.unwrap();
    assert!(d.stored, "{d:?}");

    alice_recovers(&mut js, "a2", &b, &info).await;
    assert_eq!(
        js.event("a2", "note").await[0],
        json!({"n": 3}),
        "what was recorded since"
    );
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(info["recovery"]["recovered"], false);
    assert_eq!(info["recovery"]["reason"], "reset");
    assert_eq!(info["recovery"]["replayed"], 1);
    assert!(
        info["recovery"]["lost"]
            .as_array()
            .unwrap()
            .contains(&json!("user:alice"))
    );
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
}

/// The history's origin is written when its clock starts, not by every emit. An origin lost on
/// its own while the clock runs on (an eviction, a stray `DEL`) is set again by the next read,
/// to the head: a client from before then is told `reset`, with what the streams still hold,
/// and never that it recovered everything.
#[tokio::test]
async fn an_origin_lost_alone_is_set_again_by_the_next_read_and_told_as_a_reset() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    let info = alice_came_and_went(&mut js, &a).await;
    assert!(
        a.emitter()
            .to_user("alice")
            .emit(note(1))
            .await
            .unwrap()
            .stored
    );

    let origin = redis.cli(&["--scan", "--pattern", "*:origin"]);
    assert!(origin.ends_with(":origin"), "one origin key: {origin:?}");
    assert_eq!(redis.cli(&["DEL", &origin]), "1");
    assert!(
        b.emitter()
            .to_user("alice")
            .emit(note(2))
            .await
            .unwrap()
            .stored
    );
    assert_eq!(
        redis.cli(&["EXISTS", &origin]),
        "0",
        "an emit leaves the origin alone once the clock runs"
    );

    alice_recovers(&mut js, "a2", &b, &info).await;
    for n in 1..=2 {
        assert_eq!(
            js.event("a2", "note").await[0],
            json!({ "n": n }),
            "what the stream holds"
        );
    }
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(info["recovery"]["recovered"], false);
    assert_eq!(info["recovery"]["reason"], "reset");
    assert_eq!(info["recovery"]["replayed"], 2);
    assert_eq!(
        redis.cli(&["EXISTS", &origin]),
        "1",
        "the read set it again"
    );
}

#[tokio::test]
async fn a_redis_cluster_is_refused_for_a_recovery_namespace_with_the_reason() {
    let err = Tether::builder()
        .namespace(Inbox)
        .cluster(ClusterConfig::new(
            "redis+cluster://127.0.0.1:1,127.0.0.1:2",
        ))
        .build()
        .await
        .expect_err("refused");
    let message = err.to_string();
    assert!(
        message.contains("recovery (namespace `/inbox`) needs one Redis server"),
        "{message}"
    );
}

/// The ack test: a user with 3 sockets on 2 nodes, one of which never acks.
#[tokio::test]
async fn emit_with_ack_across_nodes_answers_per_socket_within_the_timeout() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    let acking = |n: u64| json!({"auth": {"token": "alice"}, "tetherAck": {"tab": n}});
    let on_a = js.connect_ok("a1", &a.url(), acking(1)).await;
    let on_b = js.connect_ok("b1", &b.url(), acking(2)).await;
    let silent = js
        .connect_ok("b2", &b.url(), json!({"auth": {"token": "alice"}}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // b follows alice
    let timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let acks = a
        .emitter()
        .to_user("alice")
        .timeout(timeout)
        .emit_with_ack(note(1))
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(took < timeout + Duration::from_millis(100), "took {took:?}");
    let answer = |sid: &str| {
        acks.iter()
            .find(|x| x.socket == sid)
            .unwrap_or_else(|| panic!("no answer for {sid}: {acks:?}"))
    };
    assert_eq!(acks.len(), 3, "{acks:?}");
    assert_eq!(answer(&on_a).reply, Ok(json!({"tab": 1})));
    assert_eq!(answer(&on_b).reply, Ok(json!({"tab": 2})));
    assert_eq!(answer(&silent).reply, Err(tether::AckFailure::Timeout));
    assert_ne!(
        answer(&on_a).node,
        answer(&on_b).node,
        "each names its node"
    );
    assert_eq!(answer(&on_b).node, answer(&silent).node);
}

#[tokio::test]
async fn emit_with_ack_returns_in_time_when_a_node_dies_meanwhile() {
    let redis = RedisServer::start();
    let a = Node::start(&redis).await;
    let doomed = process(&redis).await;
    let mut js = JsClient::spawn().await;
    let on_a = js
        .connect_ok(
            "a1",
            &a.url(),
            json!({"auth": {"token": "alice"}, "tetherAck": 1}),
        )
        .await;
    js.connect_ok(
        "d1",
        &doomed.url("/inbox"),
        json!({"auth": {"token": "alice"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let timeout = Duration::from_millis(800);
    let started = std::time::Instant::now();
    let asking = a.emitter();
    let ask = tokio::spawn(async move {
        asking
            .to_user("alice")
            .timeout(timeout)
            .emit_with_ack(note(1))
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    doomed.kill().await;
    let acks = ask.await.unwrap().unwrap();
    let took = started.elapsed();
    assert!(took < timeout + Duration::from_millis(150), "took {took:?}");
    assert_eq!(acks.len(), 1, "the dead node's socket is missing: {acks:?}");
    assert_eq!(
        (acks[0].socket.as_str(), &acks[0].reply),
        (on_a.as_str(), &Ok(json!(1)))
    );
}

/// Whether `name` receives a `note` within 200 ms.
async fn got_note(client: &JsClient, name: &str) -> bool {
    tokio::time::timeout(Duration::from_millis(200), client.event(name, "note"))
        .await
        .is_ok()
}

/// The offline inbox across nodes: two devices of the user connect at once to two nodes; one
/// of them gets the event, once; a third device later gets nothing.
#[tokio::test]
async fn a_persisted_event_reaches_one_device_once_across_nodes() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let worker = Emitter::<Inbox>::connect_redis(&redis.url()).await.unwrap();
    let d = worker
        .to_user("alice")
        .persist(Duration::from_secs(60))
        .emit(note(1))
        .await
        .unwrap();
    assert_eq!(d.kept, 1, "{d:?}");
    let (mut phone, mut laptop) = (JsClient::spawn().await, JsClient::spawn().await);
    let acking = json!({"auth": {"token": "alice"}, "tetherAck": true});
    let (url_a, url_b) = (a.url(), b.url());
    tokio::join!(
        phone.connect_ok("phone", &url_b, acking.clone()),
        laptop.connect_ok("laptop", &url_a, acking.clone()),
    );
    let (on_phone, on_laptop) =
        tokio::join!(got_note(&phone, "phone"), got_note(&laptop, "laptop"));
    assert!(
        on_phone ^ on_laptop,
        "exactly one device: phone {on_phone}, laptop {on_laptop}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await; // the ack is in
    laptop.connect_ok("tablet", &a.url(), acking).await;
    laptop
        .assert_no_event("tablet", "note", Duration::from_millis(300))
        .await;
    assert!(
        !got_note(&phone, "phone").await && !got_note(&laptop, "laptop").await,
        "once"
    );
}

/// Three events per stream at most, across nodes.
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
        Ok(SocketOk::new(Member {
            user_id: hs.auth_str("token").unwrap_or("anonymous").to_owned(),
        }))
    }
}

#[tokio::test]
async fn past_a_streams_bound_in_redis_the_client_is_told_and_nothing_of_it_is_replayed() {
    let redis = RedisServer::start();
    let tether = Tether::builder()
        .namespace(Short)
        .cluster(ClusterConfig::new(redis.url()))
        .build()
        .await
        .unwrap();
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    connected(&tether).await;
    let emitter: Emitter<Short> = tether.emitter();
    let mut js = JsClient::spawn().await;
    let url = server.url("/short");
    js.connect_ok("a", &url, json!({"auth": {"token": "alice"}}))
        .await;
    let info = js.event("a", "/ops/connection-success").await[0].clone();
    js.disconnect("a").await;
    js.disconnected("a").await;
    for n in 1..=5 {
        emitter.to_user("alice").emit(note(n)).await.unwrap();
    }
    let recover = json!({"offset": info["offset"], "channels": []});
    js.connect_ok(
        "a2",
        &url,
        json!({"auth": {"token": "alice", "recover": recover}}),
    )
    .await;
    let info = js.event("a2", "/ops/connection-success").await[0].clone();
    assert_eq!(info["recovery"]["reason"], "trimmed", "{info}");
    assert_eq!(info["recovery"]["lost"], json!(["user:alice"]));
    js.assert_no_event("a2", "note", Duration::from_millis(300))
        .await;
}

/// Events recorded while a node's pub/sub link is down never reach it live: when the link is
/// back, its sockets catch up from the history, once, in order.
#[tokio::test]
async fn sockets_catch_up_after_their_node_lost_its_redis_link() {
    let redis = RedisServer::start();
    let a = Node::start(&redis).await;
    let worker = Emitter::<Inbox>::connect_redis(&redis.url()).await.unwrap();
    let mut js = JsClient::spawn().await;
    js.connect_ok("a", &a.url(), json!({"auth": {"token": "alice"}}))
        .await;
    js.event("a", "/ops/connection-success").await;
    let mut n = 0;
    for _ in 0..5 {
        redis.cli(&["CLIENT", "KILL", "TYPE", "pubsub"]);
        for _ in 0..3 {
            worker.to_user("alice").emit(note(n)).await.unwrap();
            n += 1;
        }
        connected(&a.tether).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for expected in 0..n {
        assert_eq!(js.event("a", "note").await[0], json!({ "n": expected }));
    }
    js.assert_no_event("a", "note", Duration::from_millis(300))
        .await;
}

/// Recorded emits made at once on one node leave for Redis together (a few script calls),
/// even when Redis has just forgotten the script (`SCRIPT FLUSH` while they queue): each is
/// stored, arrives once, and a sender's arrive in the order it made them.
#[tokio::test]
async fn concurrent_recorded_emits_leave_together_and_survive_a_script_flush() {
    const SENDERS: u64 = 8;
    const EACH: u64 = 30;
    let redis = RedisServer::start();
    let (_a, b, js) = alice_on_a(&redis).await;

    assert_eq!(redis.cli(&["CONFIG", "RESETSTAT"]), "OK");
    let senders = notes_to_alice(&b, SENDERS, EACH);
    // Redis holds every write for a moment, and forgets its scripts: the emits made meanwhile
    // wait together, leave together, and find their script missing.
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "300", "WRITE"]), "OK");
    assert_eq!(redis.cli(&["SCRIPT", "FLUSH"]), "OK");
    for sender in senders {
        sender.await.unwrap();
    }

    js.events_in_order_per_sender("a", "note", SENDERS as usize, EACH)
        .await;
    let (emits, calls) = (SENDERS * EACH, evalsha_calls(&redis));
    assert!(
        calls <= emits / 2,
        "the {emits} emits left in fewer script calls: {calls}"
    );
}

/// The recorded emits of one namespace that leave together are one script call in Redis, and
/// an emit that fails there (its stream's key holds another type) fails alone: the others in
/// that call are recorded and arrive once, each sender's in order.
#[tokio::test]
async fn a_recorded_emit_that_fails_in_redis_fails_alone_among_those_that_left_with_it() {
    const TO_ALICE: u64 = 4;
    const TO_BOB: u64 = 2;
    const EACH: u64 = 10;
    let redis = RedisServer::start();
    let (_a, b, js) = alice_on_a(&redis).await;
    // Recording to bob fails in Redis: his stream's key holds a string.
    assert_eq!(
        redis.cli(&["SET", "{tether:/inbox}:stream:user:bob", "not a stream"]),
        "OK"
    );

    // Redis holds every write for a moment: the emits made meanwhile leave together.
    assert_eq!(redis.cli(&["CONFIG", "RESETSTAT"]), "OK");
    assert_eq!(redis.cli(&["CLIENT", "PAUSE", "300", "WRITE"]), "OK");
    let mut tasks = notes_to_alice(&b, TO_ALICE, EACH);
    tasks.extend((0..TO_BOB).map(|sender| {
        let emitter = b.emitter();
        tokio::spawn(async move {
            for n in 0..EACH {
                let d = emitter.to_user("bob").emit(note(n)).await.unwrap();
                assert!(
                    !d.stored && d.cluster_unavailable,
                    "bob's emit {sender}/{n} fails: {d:?}"
                );
            }
        })
    }));
    for task in tasks {
        task.await.unwrap();
    }

    js.events_in_order_per_sender("a", "note", TO_ALICE as usize, EACH)
        .await;
    let (emits, calls) = ((TO_ALICE + TO_BOB) * EACH, evalsha_calls(&redis));
    assert!(
        calls <= emits / 2,
        "the {emits} emits left in fewer script calls: {calls}"
    );
}
