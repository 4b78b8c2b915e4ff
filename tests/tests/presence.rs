//! Issue 13 (presence): a channel's members are listed once per user whatever their sockets
//! and nodes; members are told once when a user's first socket anywhere joins and once when
//! their last one has been gone for the grace (a reconnection within it says nothing); the
//! user online/offline hooks run once cluster-wide per change, a node killed with SIGKILL
//! included.

use std::time::{Duration, Instant};

use serde_json::json;
use tether::cluster::ClusterConfig;
use tether::{Emitter, Tether};
use tether_tests::lobby::{NodeProcess, Rooms};
use tether_tests::redis::{RedisServer, Topology};
use tether_tests::{JsClient, TestServer, eventually};

const GRACE: Duration = Duration::from_millis(700);
/// Longer than any delay presence adds on top of the grace (a settle tick, an emit).
const SLACK: Duration = Duration::from_millis(300);

async fn node(redis: Option<&RedisServer>, heartbeat: Duration) -> (Tether, TestServer) {
    node_at(redis.map(RedisServer::url), heartbeat).await
}

async fn node_at(redis: Option<String>, heartbeat: Duration) -> (Tether, TestServer) {
    let mut builder = Tether::builder()
        .namespace(Rooms::default())
        .presence_grace(GRACE);
    if let Some(url) = redis {
        builder = builder.cluster(ClusterConfig::new(url).heartbeat(heartbeat));
    }
    let tether = builder.build().await.expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    if let Some(mut watch) = tether.watch_cluster() {
        let connected = watch.wait_for(|s| *s == tether::cluster::ClusterState::Connected);
        tokio::time::timeout(tether_tests::TIMEOUT, connected)
            .await
            .expect("the node connects to Redis in time")
            .expect("connected");
    }
    (tether, server)
}

/// Connects socket `name` of `user` to `url` and joins `room`.
async fn enter(js: &mut JsClient, name: &str, url: &str, user: &str) {
    js.connect_ok(name, url, json!({"auth": {"token": user}}))
        .await;
    let ack = js
        .emit_with_ack(name, "/ops/join", json!([{"channel": "room"}]))
        .await;
    assert_eq!(ack["channels"], json!(["room"]), "{name} joined: {ack}");
}

async fn joined(js: &JsClient, name: &str) -> serde_json::Value {
    js.event(name, "member_joined").await[0].clone()
}

/// Waits for `member_left` on `name`; answers how long after `since` it came.
async fn left(js: &JsClient, name: &str, since: Instant) -> (serde_json::Value, Duration) {
    let args = js.event(name, "member_left").await;
    (args[0].clone(), since.elapsed())
}

async fn quiet(js: &JsClient, name: &str, wait: Duration) {
    js.assert_no_event(name, "member_joined", Duration::ZERO)
        .await;
    js.assert_no_event(name, "member_left", wait).await;
}

/// `(user, online)` → how many times every node's hooks saw it.
fn hook_counts(nodes: &[&Tether]) -> std::collections::BTreeMap<(String, bool), usize> {
    let mut counts = std::collections::BTreeMap::new();
    for node in nodes {
        for change in node.state::<Rooms>().changes() {
            *counts.entry(change).or_default() += 1;
        }
    }
    counts
}

fn counts(pairs: &[(&str, bool, usize)]) -> std::collections::BTreeMap<(String, bool), usize> {
    pairs
        .iter()
        .map(|(u, online, n)| (((*u).to_owned(), *online), *n))
        .collect()
}

#[tokio::test]
async fn embedded_a_user_with_two_tabs_joins_once_and_leaves_once_after_the_grace() {
    let (tether, server) = node(None, Duration::ZERO).await;
    let url = server.url("/rooms");
    let mut js = JsClient::spawn().await;
    enter(&mut js, "bob", &url, "bob").await;
    enter(&mut js, "a1", &url, "alice").await;
    assert_eq!(
        joined(&js, "bob").await,
        json!({"channel": "room", "user": "alice"})
    );
    enter(&mut js, "a2", &url, "alice").await;
    quiet(&js, "bob", Duration::from_millis(200)).await;
    js.assert_no_event("a1", "member_joined", Duration::ZERO)
        .await;
    let emitter = tether.emitter::<Rooms>();
    assert_eq!(emitter.members("room").await, ["alice", "bob"]);

    // One tab closes: alice is still there.
    js.disconnect("a1").await;
    quiet(&js, "bob", GRACE + SLACK).await;
    // The last one: one `member_left`, after the grace.
    js.disconnect("a2").await;
    let since = Instant::now();
    assert_eq!(
        emitter.members("room").await,
        ["alice", "bob"],
        "in the grace"
    );
    let (gone, after) = left(&js, "bob", since).await;
    assert_eq!(gone, json!({"channel": "room", "user": "alice"}));
    assert!(after >= GRACE - Duration::from_millis(50), "{after:?}");
    assert!(after < GRACE + SLACK * 2, "{after:?}");
    assert_eq!(emitter.members("room").await, ["bob"]);

    // Back within the grace (a reload): nothing at all.
    enter(&mut js, "a3", &url, "alice").await;
    joined(&js, "bob").await;
    js.disconnect("a3").await;
    tokio::time::sleep(GRACE / 3).await;
    enter(&mut js, "a4", &url, "alice").await;
    quiet(&js, "bob", GRACE + SLACK).await;

    assert_eq!(
        tether.state::<Rooms>().changes(),
        [
            ("bob".to_owned(), true),
            ("alice".to_owned(), true),
            ("alice".to_owned(), false),
            ("alice".to_owned(), true),
        ],
        "the hooks ran once per change, the reload none"
    );
}

#[tokio::test]
async fn across_three_nodes_each_change_is_announced_once() {
    let redis = RedisServer::start();
    let beat = Duration::from_millis(500);
    let (a, server_a) = node(Some(&redis), beat).await;
    let (b, server_b) = node(Some(&redis), beat).await;
    let (c, server_c) = node(Some(&redis), beat).await;
    let (url_a, url_b) = (server_a.url("/rooms"), server_b.url("/rooms"));
    let mut js = JsClient::spawn().await;
    enter(&mut js, "bob", &server_c.url("/rooms"), "bob").await;
    // Alice's tabs on two nodes: bob (on a third) is told once.
    enter(&mut js, "a1", &url_a, "alice").await;
    enter(&mut js, "a2", &url_b, "alice").await;
    assert_eq!(
        joined(&js, "bob").await,
        json!({"channel": "room", "user": "alice"})
    );
    quiet(&js, "bob", Duration::from_millis(300)).await;
    // Every node, and a worker, lists each user once.
    let worker = Emitter::<Rooms>::connect_redis(&redis.url()).await.unwrap();
    for emitter in [a.emitter::<Rooms>(), c.emitter::<Rooms>(), worker.clone()] {
        assert_eq!(emitter.members("room").await, ["alice", "bob"]);
    }

    js.disconnect("a1").await;
    quiet(&js, "bob", GRACE + SLACK).await;
    js.disconnect("a2").await;
    let since = Instant::now();
    let (gone, after) = left(&js, "bob", since).await;
    assert_eq!(gone, json!({"channel": "room", "user": "alice"}));
    assert!(after >= GRACE - Duration::from_millis(50), "{after:?}");
    quiet(&js, "bob", Duration::from_millis(300)).await;
    assert_eq!(worker.members("room").await, ["bob"]);

    // A reconnection to another node within the grace says nothing.
    enter(&mut js, "a3", &url_a, "alice").await;
    joined(&js, "bob").await;
    js.disconnect("a3").await;
    tokio::time::sleep(GRACE / 3).await;
    enter(&mut js, "a4", &url_b, "alice").await;
    quiet(&js, "bob", GRACE + SLACK).await;

    // The hooks ran once per change across the three nodes.
    let nodes = [&a, &b, &c];
    eventually("the hooks ran", || {
        hook_counts(&nodes) == counts(&[("alice", false, 1), ("alice", true, 2), ("bob", true, 1)])
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        hook_counts(&nodes),
        counts(&[("alice", false, 1), ("alice", true, 2), ("bob", true, 1)])
    );
}

/// `presence_channels`: a channel the namespace's filter does not accept sends no `member_*`
/// events, across nodes, while a tracked one beside it does; its members are its sockets' users.
#[tokio::test]
async fn only_the_channels_the_filter_accepts_are_tracked() {
    let redis = RedisServer::start();
    let beat = Duration::from_millis(500);
    let (a, server_a) = node(Some(&redis), beat).await;
    let (_b, server_b) = node(Some(&redis), beat).await;
    let mut js = JsClient::spawn().await;
    enter(&mut js, "bob", &server_a.url("/rooms"), "bob").await;
    // Bob's arrival is announced to the room's members of that moment: alice enters after it
    // has left a (else b, already following the room for her, would hand it to her).
    eventually("a published bob's arrival", || {
        a.cluster_stats().expect("cluster mode").published >= 1
    })
    .await;
    enter(&mut js, "alice", &server_b.url("/rooms"), "alice").await;
    joined(&js, "bob").await;
    for name in ["bob", "alice"] {
        let ack = js
            .emit_with_ack(name, "/ops/join", json!([{"channel": "lounge"}]))
            .await;
        assert_eq!(ack["channels"], json!(["lounge", "room"]), "{name}: {ack}");
    }
    quiet(&js, "bob", Duration::from_millis(400)).await;
    quiet(&js, "alice", Duration::ZERO).await;
    assert_eq!(a.emitter::<Rooms>().members("room").await, ["alice", "bob"]);
    assert_eq!(
        a.emitter::<Rooms>().members("lounge").await,
        ["alice", "bob"]
    );

    // Leaving the untracked channel says nothing; leaving the tracked one is announced.
    js.emit_with_ack("alice", "/ops/leave", json!([{"channel": "lounge"}]))
        .await;
    quiet(&js, "bob", GRACE + SLACK).await;
    js.emit_with_ack("alice", "/ops/leave", json!([{"channel": "room"}]))
        .await;
    let (gone, _) = left(&js, "bob", Instant::now()).await;
    assert_eq!(gone, json!({"channel": "room", "user": "alice"}));
}

#[tokio::test]
async fn a_node_killed_with_sigkill_makes_its_users_leave_after_three_beats_and_the_grace() {
    let redis = RedisServer::start();
    let beat = Duration::from_millis(300);
    let (a, server_a) = node(Some(&redis), beat).await;
    let doomed = NodeProcess::start(env!("CARGO_BIN_EXE_recovery-node"), &redis, beat, GRACE).await;
    let mut js = JsClient::spawn().await;
    enter(&mut js, "bob", &server_a.url("/rooms"), "bob").await;
    enter(&mut js, "alice", &doomed.url("/rooms"), "alice").await;
    joined(&js, "bob").await;
    assert_eq!(a.emitter::<Rooms>().members("room").await, ["alice", "bob"]);

    doomed.kill().await;
    let since = Instant::now();
    let (gone, after) = left(&js, "bob", since).await;
    assert_eq!(gone, json!({"channel": "room", "user": "alice"}));
    // The node's key outlives its last beat by three beats, the survivor checks every half
    // beat (every 200 ms tick here), and the grace counts from the death (two beats before the
    // check) but leaves a beat at least: 900 + 200 + 300 + a 200 ms settle tick = 1.6 s at
    // worst, three beats plus the grace; SLACK for the emits.
    let bound = beat * 3 + GRACE + SLACK;
    eprintln!("member_left {after:?} after SIGKILL (heartbeat {beat:?}, grace {GRACE:?})");
    assert!(after < bound, "{after:?} ≥ {bound:?}");
    assert!(after >= GRACE, "{after:?}");
    quiet(&js, "bob", Duration::from_millis(500)).await;
    eventually("alice went offline on the survivor", || {
        hook_counts(&[&a]).get(&("alice".to_owned(), false)) == Some(&1)
    })
    .await;
    assert_eq!(a.emitter::<Rooms>().members("room").await, ["bob"]);
}

/// On a Redis Cluster: the presence scripts keep to one slot (the namespace's hash tag), so a
/// leave, a departure and a drained node's removal work there too.
#[tokio::test]
async fn on_a_redis_cluster_joins_leaves_and_a_drained_node_are_announced_once() {
    let redis = Topology::cluster(3);
    let beat = Duration::from_millis(500);
    let (a, server_a) = node_at(Some(redis.url()), beat).await;
    let (b, server_b) = node_at(Some(redis.url()), beat).await;
    let mut js = JsClient::spawn().await;
    enter(&mut js, "bob", &server_a.url("/rooms"), "bob").await;
    enter(&mut js, "a1", &server_b.url("/rooms"), "alice").await;
    assert_eq!(
        joined(&js, "bob").await,
        json!({"channel": "room", "user": "alice"})
    );
    assert_eq!(a.emitter::<Rooms>().members("room").await, ["alice", "bob"]);
    js.disconnect("a1").await;
    let (gone, after) = left(&js, "bob", Instant::now()).await;
    assert_eq!(gone["user"], "alice");
    assert!(after >= GRACE - Duration::from_millis(50), "{after:?}");

    // Back on node B, then B is drained: its entries are removed in one script, and alice
    // leaves after the grace (she does not come back).
    enter(&mut js, "a2", &server_b.url("/rooms"), "alice").await;
    joined(&js, "bob").await;
    b.close().await;
    let (gone, after) = left(&js, "bob", Instant::now()).await;
    assert_eq!(gone["user"], "alice");
    assert!(after >= GRACE - Duration::from_millis(50), "{after:?}");
    quiet(&js, "bob", Duration::from_millis(300)).await;
    assert_eq!(a.emitter::<Rooms>().members("room").await, ["bob"]);
    let nodes = [&a, &b];
    assert_eq!(
        hook_counts(&nodes),
        counts(&[("alice", false, 2), ("alice", true, 2), ("bob", true, 1)])
    );
}
