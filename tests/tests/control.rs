//! Issue 13 (remote control): from any emitter — a node, or a worker that serves no sockets —
//! every socket of a user is put into a channel (each told its new connection info) on every
//! node, and the next emit to the channel reaches all of them; a user's sockets are listed with
//! their nodes and metadata; acks come back to a worker; targets are disconnected with a
//! reason; and server-side emits reach the other nodes.

use std::time::Duration;

use serde_json::json;
use tether::{AnyEvent, Emitter, Tether};
use tether_tests::lobby::{Lobby, Member, lobby_node};
use tether_tests::redis::RedisServer;
use tether_tests::{JsClient, TestServer};

async fn node(redis: &RedisServer) -> (Tether, TestServer) {
    lobby_node(redis, |b| b).await
}

fn note(n: u64) -> AnyEvent {
    AnyEvent::new("note", json!({ "n": n }))
}

#[tokio::test]
async fn a_worker_joins_every_socket_of_a_user_to_a_channel_on_every_node() {
    let redis = RedisServer::start();
    let (_a, server_a) = node(&redis).await;
    let (_b, server_b) = node(&redis).await;
    let worker = Emitter::<Lobby>::connect_redis(&redis.url()).await.unwrap();
    let mut js = JsClient::spawn().await;
    let opts = json!({"auth": {"token": "42"}, "tetherAck": "here"});
    let sockets = [
        js.connect_ok("a1", &server_a.url("/lobby"), opts.clone())
            .await,
        js.connect_ok("b1", &server_b.url("/lobby"), opts.clone())
            .await,
        js.connect_ok("b2", &server_b.url("/lobby"), opts.clone())
            .await,
    ];
    for name in ["a1", "b1", "b2"] {
        js.event(name, "/ops/connection-success").await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await; // both nodes follow user 42

    // Who user 42 is, everywhere: each socket once, with its node.
    let mut found = worker.to_user("42").clients().await;
    found.sort_by(|x, y| x.info.client_id.cmp(&y.info.client_id));
    let mut ids: Vec<String> = sockets.to_vec();
    ids.sort();
    assert_eq!(
        found
            .iter()
            .map(|c| c.info.client_id.clone())
            .collect::<Vec<_>>(),
        ids,
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .all(|c| c.info.user_id.as_deref() == Some("42"))
    );
    // With their metadata (the namespace shares it), typed again.
    assert!(
        found.iter().all(|c| c.metadata_as::<Member>()
            == Some(Member {
                user_id: "42".into()
            })),
        "{found:?}"
    );
    let nodes: std::collections::BTreeSet<&str> = found.iter().map(|c| c.node.as_str()).collect();
    assert_eq!(nodes.len(), 2, "two nodes hold them: {found:?}");

    let mut joined = worker.to_user("42").join("room").await.unwrap();
    joined.sort_by(|x, y| x.socket.cmp(&y.socket));
    let mut expected: Vec<String> = sockets.to_vec();
    expected.sort();
    assert_eq!(
        joined.iter().map(|j| j.socket.clone()).collect::<Vec<_>>(),
        expected,
        "one answer per socket, across nodes"
    );
    assert!(
        joined.iter().all(|j| j.reply == Ok(json!(["room"]))),
        "{joined:?}"
    );
    for name in ["a1", "b1", "b2"] {
        let info = js.event(name, "/ops/connection-success").await[0].clone();
        assert_eq!(info["channels"], json!(["room"]), "{name} is told");
    }
    // The very next emit to the channel reaches every one of them.
    let d = worker.to_channel("room").emit(note(1)).await.unwrap();
    assert_eq!(d.nodes, 2, "{d:?}");
    for name in ["a1", "b1", "b2"] {
        assert_eq!(js.event(name, "note").await[0], json!({"n": 1}));
    }

    // Acks come back to a worker too.
    let acks = worker
        .to_user("42")
        .timeout(Duration::from_secs(2))
        .emit_with_ack(note(2))
        .await
        .unwrap();
    assert_eq!(acks.len(), 3, "{acks:?}");
    assert!(
        acks.iter().all(|a| a.reply == Ok(json!("here"))),
        "{acks:?}"
    );
    for name in ["a1", "b1", "b2"] {
        assert_eq!(js.event(name, "note").await[0], json!({"n": 2}));
    }

    let left = worker.to_user("42").leave("room").await.unwrap();
    assert_eq!(left.len(), 3);
    assert!(left.iter().all(|j| j.reply == Ok(json!([]))), "{left:?}");
    worker.to_channel("room").emit(note(3)).await.unwrap();
    for name in ["a1", "b1", "b2"] {
        js.assert_no_event(name, "note", Duration::from_millis(200))
            .await;
    }
    let bad = worker.to_user("42").join("has space").await;
    assert!(
        matches!(bad, Err(tether::EmitError::InvalidChannel(_))),
        "{bad:?}"
    );
}

#[tokio::test]
async fn server_side_emit_reaches_every_other_node_and_no_socket() {
    let redis = RedisServer::start();
    let (a, server_a) = node(&redis).await;
    let (b, _server_b) = node(&redis).await;
    let worker = Emitter::<Lobby>::connect_redis(&redis.url()).await.unwrap();
    let mut on_a = a.server_events::<Lobby>();
    let mut on_b = b.server_events::<Lobby>();
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "s",
        &server_a.url("/lobby"),
        json!({"auth": {"token": "42"}}),
    )
    .await;

    let sent = b
        .emitter::<Lobby>()
        .server_side_emit("cache:invalidate", &json!({"key": "user:42"}))
        .await
        .unwrap();
    assert_eq!(sent.nodes, 2, "both nodes' subscriptions: {sent:?}");
    let got = tokio::time::timeout(Duration::from_secs(5), on_a.recv())
        .await
        .expect("in time")
        .expect("received");
    assert_eq!(
        got,
        tether::ServerEvent {
            event: "cache:invalidate".into(),
            data: json!({"key": "user:42"}),
        }
    );
    // From a worker: every node gets it.
    worker.server_side_emit("reload", &json!(1)).await.unwrap();
    for rx in [&mut on_a, &mut on_b] {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("in time")
            .expect("received");
        assert_eq!((got.event.as_str(), got.data), ("reload", json!(1)));
    }
    assert!(on_b.try_recv().is_err(), "a node does not hear its own");
    js.assert_no_event("s", "cache:invalidate", Duration::from_millis(200))
        .await;
    js.assert_no_event("s", "reload", Duration::ZERO).await;
    // Embedded mode: no other node, nothing sent.
    let alone = Tether::builder().namespace(Lobby).build().await.unwrap();
    let sent = alone
        .emitter::<Lobby>()
        .server_side_emit("x", &json!(null))
        .await
        .unwrap();
    assert_eq!(sent.nodes, 0);
}

#[tokio::test]
async fn a_worker_disconnects_a_channel_but_one_user_then_a_client_key_on_every_node() {
    let redis = RedisServer::start();
    let (_a, server_a) = node(&redis).await;
    let (_b, server_b) = node(&redis).await;
    let worker = Emitter::<Lobby>::connect_redis(&redis.url()).await.unwrap();
    let mut js = JsClient::spawn().await;
    let as_user = |u: &str| json!({"auth": {"token": u}, "reconnection": false});
    js.connect_ok("a1", &server_a.url("/lobby"), as_user("42"))
        .await;
    js.connect_ok("b1", &server_b.url("/lobby"), as_user("42"))
        .await;
    let c1 = js
        .connect_ok("c1", &server_b.url("/lobby"), as_user("7"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await; // both nodes follow the users
    worker.to_user("42").join("room").await.unwrap();
    worker.to_user("7").join("room").await.unwrap();

    let kick = tether::Kick::new("room_closed", "the room was closed");
    let done = worker
        .to_channel("room")
        .except_user("7")
        .disconnect(&kick)
        .await;
    assert_eq!(done.nodes, 2, "{done:?}");
    for name in ["a1", "b1"] {
        let told = js.event(name, "/ops/disconnected").await;
        assert_eq!(told[0]["code"], "room_closed", "{name}: {told:?}");
        js.disconnected(name).await;
    }
    js.assert_no_event("c1", "/ops/disconnected", Duration::from_millis(200))
        .await;

    // A client key (here the socket id: /lobby has no client key field).
    worker
        .to_client(c1)
        .disconnect(&tether::Kick::new("revoked", "signed out"))
        .await;
    assert_eq!(
        js.event("c1", "/ops/disconnected").await[0]["code"],
        "revoked"
    );
    js.disconnected("c1").await;
}
