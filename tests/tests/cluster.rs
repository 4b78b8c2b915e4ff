//! Issue 5: several tether nodes share one real `redis-server` (started by the test on a free
//! port); emits reach the right sockets on every node, exactly once.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tether::cluster::ClusterState;
use tether::{AnyEvent, Emitter, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::redis::RedisServer;
use tether_tests::{JsClient, TestServer, eventually};

#[derive(Debug, Clone, Serialize)]
struct Member {
    user_id: String,
}

struct Chat;

#[socket_namespace(path = "/chat", user_key = "user_id")]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        let user = hs
            .auth_str("token")
            .ok_or_else(|| SocketNok::with_code("missing_token", "no token"))?;
        Ok(SocketOk::new(Member {
            user_id: user.to_owned(),
        }))
    }

    #[on("enter")]
    async fn enter(&self, client: &tether::Client<Member>, channel: String) -> bool {
        client.clients().join_channel(client, &channel)
    }
}

struct Node {
    tether: Tether,
    server: TestServer,
}

impl Node {
    async fn start(redis: &RedisServer) -> Self {
        let tether = Tether::builder()
            .namespace(Chat)
            .redis(redis.url())
            .build()
            .await
            .expect("join the cluster");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        let mut watch = tether.watch_cluster().expect("cluster mode");
        tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|s| *s == ClusterState::Connected))
            .await
            .expect("connected in time")
            .expect("watch");
        Self { tether, server }
    }

    fn url(&self) -> String {
        self.server.url("/chat")
    }

    fn emitter(&self) -> Emitter<Chat> {
        self.tether.emitter::<Chat>()
    }
}

fn ev(payload: Value) -> AnyEvent {
    AnyEvent::new("note", payload)
}

async fn connect(js: &mut JsClient, name: &str, node: &Node, user: &str) {
    js.connect_ok(name, &node.url(), json!({"auth": {"token": user}}))
        .await;
    js.event(name, "/ops/connection-success").await;
}

#[tokio::test]
async fn a_user_on_node_a_receives_an_emit_made_on_node_b_exactly_once() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice@a", &a, "alice").await;
    connect(&mut js, "alice@b", &b, "alice").await;
    connect(&mut js, "bob@a", &a, "bob").await;

    // Subscriptions follow sockets: wait until both nodes follow alice's channel.
    let channel = "tether:/chat:user:alice";
    eventually("both nodes follow alice", || {
        redis.cli(&["PUBSUB", "NUMSUB", channel]).ends_with('2')
    })
    .await;

    let d = b.emitter().to_user("alice").emit(ev(json!({"n": 1}))).await.unwrap();
    assert_eq!(d.sockets, 1, "alice's socket on b");
    assert_eq!(d.nodes, 2, "both nodes hold alice");
    assert_eq!(js.event("alice@a", "note").await, vec![json!({"n": 1})]);
    assert_eq!(js.event("alice@b", "note").await, vec![json!({"n": 1})]);
    js.assert_no_event("alice@a", "note", Duration::from_millis(200)).await;
    js.assert_no_event("alice@b", "note", Duration::from_millis(1)).await;
    js.assert_no_event("bob@a", "note", Duration::from_millis(1)).await;
}

#[tokio::test]
async fn a_node_that_holds_no_recipient_receives_nothing_for_it() {
    let redis = RedisServer::start();
    let (a, b, c) = (
        Node::start(&redis).await,
        Node::start(&redis).await,
        Node::start(&redis).await,
    );
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice", &a, "alice").await;
    connect(&mut js, "carol", &c, "carol").await;
    eventually("a follows alice", || {
        redis.cli(&["PUBSUB", "NUMSUB", "tether:/chat:user:alice"]).ends_with('1')
    })
    .await;
    // Only node a is subscribed to alice's channel: b (the emitter) and c get nothing.
    let received = |n: &Node| n.tether.cluster_stats().unwrap().received;
    let before = (received(&a), received(&b), received(&c));
    for i in 0..20 {
        let d = b.emitter().to_user("alice").emit(ev(json!(i))).await.unwrap();
        assert_eq!((d.sockets, d.nodes), (0, 1));
    }
    for i in 0..20 {
        assert_eq!(js.event("alice", "note").await, vec![json!(i)], "in order");
    }
    assert_eq!(received(&a) - before.0, 20);
    assert_eq!(received(&b) - before.1, 0, "the publisher skips its own messages");
    assert_eq!(received(&c) - before.2, 0, "c holds no recipient and receives nothing");
}

#[tokio::test]
async fn channel_members_spread_over_nodes_all_receive_once() {
    let redis = RedisServer::start();
    let (a, b, c) = (
        Node::start(&redis).await,
        Node::start(&redis).await,
        Node::start(&redis).await,
    );
    let mut js = JsClient::spawn().await;
    for (name, node) in [("m1", &a), ("m2", &b), ("m3", &b), ("out", &c)] {
        connect(&mut js, name, node, name).await;
    }
    for name in ["m1", "m2", "m3"] {
        assert_eq!(js.emit_with_ack(name, "enter", json!(["room"])).await, json!(true));
    }
    eventually("a and b follow the room", || {
        redis.cli(&["PUBSUB", "NUMSUB", "tether:/chat:channel:room"]).ends_with('2')
    })
    .await;
    let d = c
        .emitter()
        .to_channel("room")
        .and_user("out")
        .emit(ev(json!("to the room")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 1, "`out` is on c");
    for name in ["m1", "m2", "m3", "out"] {
        assert_eq!(js.event(name, "note").await, vec![json!("to the room")]);
    }
    for name in ["m1", "m2", "m3", "out"] {
        js.assert_no_event(name, "note", Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_redis_only_emitter_reaches_users_and_reports_offline_ones() {
    let redis = RedisServer::start();
    let a = Node::start(&redis).await;
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice", &a, "alice").await;
    eventually("a follows alice", || {
        redis.cli(&["PUBSUB", "NUMSUB", "tether:/chat:user:alice"]).ends_with('1')
    })
    .await;
    let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
    let d = worker.to_user("alice").emit(ev(json!({"from": "worker"}))).await.unwrap();
    assert!(d.delivered());
    assert_eq!(d.nodes, 1);
    assert_eq!(js.event("alice", "note").await, vec![json!({"from": "worker"})]);

    let d = worker.to_user("nobody").emit(ev(json!(1))).await.unwrap();
    assert!(!d.delivered(), "offline users are reported: {d:?}");
    assert!(worker.is_online("alice").await);
    assert!(!worker.is_online("nobody").await);
}

#[tokio::test]
async fn kick_and_presence_work_across_nodes() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice@a", &a, "alice").await;
    connect(&mut js, "alice@b", &b, "alice").await;
    eventually("presence written", || {
        redis.cli(&["HLEN", "tether:/chat:presence:alice"]) == "2"
    })
    .await;
    let mut nodes = a.emitter().user_nodes("alice").await;
    nodes.sort();
    assert_eq!(nodes.len(), 2);
    assert!(b.emitter().is_online("alice").await);

    let d = b
        .emitter()
        .kick_user("alice", &tether::Kick::new("banned", "bye"))
        .await;
    assert_eq!(d.sockets, 1);
    for name in ["alice@a", "alice@b"] {
        assert_eq!(
            js.event(name, "/ops/disconnected").await,
            vec![json!({"code": "banned", "message": "bye"})]
        );
        js.disconnected(name).await;
    }
    eventually("presence cleared", || {
        redis.cli(&["HLEN", "tether:/chat:presence:alice"]) == "0"
    })
    .await;
}

#[tokio::test]
async fn building_fails_clearly_when_redis_is_unreachable_unless_degraded_start_is_asked() {
    let mut redis = RedisServer::start();
    let url = redis.url();
    redis.stop();
    let err = Tether::builder()
        .namespace(Chat)
        .redis(url.clone())
        .build()
        .await
        .expect_err("no Redis");
    assert!(err.to_string().contains("cannot reach Redis"), "{err}");

    let tether = Tether::builder()
        .namespace(Chat)
        .cluster(tether::cluster::ClusterConfig::new(url).start_degraded(true))
        .build()
        .await
        .expect("degraded start");
    assert!(matches!(tether.cluster_state(), ClusterState::Reconnecting { .. }));
    redis.restart();
    let mut watch = tether.watch_cluster().unwrap();
    tokio::time::timeout(Duration::from_secs(3), watch.wait_for(|s| *s == ClusterState::Connected))
        .await
        .expect("connects once Redis is up")
        .unwrap();
}

#[tokio::test]
async fn losing_redis_keeps_local_delivery_and_remote_delivery_resumes() {
    let mut redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice@a", &a, "alice").await;
    connect(&mut js, "alice@b", &b, "alice").await;
    eventually("both follow alice", || {
        redis.cli(&["PUBSUB", "NUMSUB", "tether:/chat:user:alice"]).ends_with('2')
    })
    .await;

    redis.stop();
    let mut watch = b.tether.watch_cluster().unwrap();
    tokio::time::timeout(Duration::from_secs(5), watch.wait_for(|s| matches!(s, ClusterState::Reconnecting { .. })))
        .await
        .expect("b notices")
        .unwrap();
    let d = b.emitter().to_user("alice").emit(ev(json!("during"))).await.unwrap();
    assert_eq!(d.sockets, 1, "local delivery goes on");
    assert!(d.cluster_unavailable);
    assert_eq!(js.event("alice@b", "note").await, vec![json!("during")]);

    redis.restart();
    let started = std::time::Instant::now();
    for node in [&a, &b] {
        let mut watch = node.tether.watch_cluster().unwrap();
        tokio::time::timeout(Duration::from_secs(2), watch.wait_for(|s| *s == ClusterState::Connected))
            .await
            .expect("reconnected within 2 s")
            .unwrap();
    }
    eventually("both resubscribed", || {
        redis.cli(&["PUBSUB", "NUMSUB", "tether:/chat:user:alice"]).ends_with('2')
    })
    .await;
    assert!(started.elapsed() < Duration::from_secs(2), "{:?}", started.elapsed());
    let d = b.emitter().to_user("alice").emit(ev(json!("after"))).await.unwrap();
    assert_eq!(d.nodes, 2);
    assert_eq!(js.event("alice@a", "note").await, vec![json!("after")]);
    assert_eq!(js.event("alice@b", "note").await, vec![json!("after")]);
    js.assert_no_event("alice@a", "note", Duration::from_millis(200)).await;
}
