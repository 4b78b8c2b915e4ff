//! Issue 13 (graceful drain): `Tether::close` tells every socket `server_shutdown` with a
//! reconnect hint and disconnects it, refuses new handshakes, and in cluster mode removes the
//! node's presence at once, so the other nodes see its users offline within a second; dropping
//! the last handle of a tether does the same.

use std::time::{Duration, Instant};

use serde_json::json;
use tether::Tether;
use tether_tests::lobby::{Lobby, lobby_node};
use tether_tests::redis::RedisServer;
use tether_tests::{Connect, JsClient, TestServer};

async fn node(redis: &RedisServer) -> (Tether, TestServer) {
    lobby_node(redis, |b| b.max_connections_per_ip(10_000)).await
}

#[tokio::test]
async fn draining_a_node_tells_every_socket_and_its_users_go_offline_at_once() {
    const SOCKETS: usize = 1000;
    let redis = RedisServer::start();
    let (a, server_a) = node(&redis).await;
    let (b, _server_b) = node(&redis).await;
    let mut js = JsClient::spawn().await;
    let url = server_a.url("/lobby");
    for i in 0..SOCKETS {
        let user = format!("u{}", i % 500);
        js.connect_ok(&format!("s{i}"), &url, json!({"auth": {"token": user}}))
            .await;
    }
    let others = b.emitter::<Lobby>();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(others.is_online("u0").await && others.is_online("u499").await) {
        assert!(Instant::now() < deadline, "node b never saw a's users");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while others.online_users().await.len() < 500 {
        assert!(
            Instant::now() < deadline,
            "node b's cluster view never listed a's users"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let told = a.close().await;
    assert_eq!(told, SOCKETS, "every socket told");
    for user in ["u0", "u250", "u499"] {
        assert!(
            !others.is_online(user).await,
            "{user} is offline for the other node"
        );
    }
    assert!(
        others.online_users().await.is_empty(),
        "nor in the cluster view"
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "presence gone within a second: {took:?}"
    );
    println!("drained {SOCKETS} sockets, presence gone, in {took:?}");
    for i in 0..SOCKETS {
        let kick = js.event(&format!("s{i}"), "/ops/disconnected").await;
        assert_eq!(
            kick[0],
            json!({
                "code": "server_shutdown",
                "message": "this server is shutting down; connect again (another node takes over)",
                "reconnect": true,
            })
        );
    }
    for i in 0..SOCKETS {
        js.disconnected(&format!("s{i}")).await;
    }
    // New handshakes are refused, with the reason.
    let refused = js
        .connect("late", &url, json!({"auth": {"token": "u1"}}))
        .await;
    let Connect::Refused(message) = refused else {
        panic!("a draining node admits no one: {refused:?}");
    };
    assert!(message.starts_with("server_shutdown"), "{message}");
    assert_eq!(a.close().await, 0, "a second close does nothing more");
    // The node's key is gone, and no heartbeat in flight at the close writes it back.
    let node_key = format!("tether:node:{}", a.node_id().expect("a node"));
    assert_eq!(redis.cli(&["EXISTS", &node_key]).trim(), "0");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(redis.cli(&["EXISTS", &node_key]).trim(), "0", "still gone");
}

/// Dropping a tether: the router's layer keeps it running; once the server is gone too, its
/// sockets are told `server_shutdown`, and it leaves the cluster (no reference cycle keeps it).
#[tokio::test]
async fn dropping_the_last_handle_stops_the_node() {
    let redis = RedisServer::start();
    let (tether, server) = node(&redis).await;
    let node_key = format!("tether:node:{}", tether.node_id().expect("a node"));
    let all = "tether:/lobby:all";
    // WebSocket only: no idle HTTP connection holds the router past the server.
    let ws = json!({"auth": {"token": "42"}, "transports": ["websocket"], "reconnection": false});
    let mut js = JsClient::spawn().await;
    js.connect_ok("s1", &server.url("/lobby"), ws.clone()).await;
    assert_eq!(redis.subscribers(all), 1);

    drop(tether);
    // The server's router holds the layer, which holds the tether: still serving.
    js.connect_ok("s2", &server.url("/lobby"), ws.clone()).await;
    assert_eq!(redis.cli(&["EXISTS", &node_key]).trim(), "1");

    drop(server);
    for name in ["s1", "s2"] {
        let told = js.event(name, "/ops/disconnected").await;
        assert_eq!(told[0]["code"], "server_shutdown", "{told:?}");
        js.disconnected(name).await;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis.subscribers(all) > 0 || redis.cli(&["EXISTS", &node_key]).trim() != "0" {
        assert!(Instant::now() < deadline, "the dropped node still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        redis.cli(&["EXISTS", &node_key]).trim(),
        "0",
        "and stays gone"
    );
}
