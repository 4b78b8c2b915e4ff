//! Issue 5: several tether nodes share one real `redis-server` (started by the test on a free
//! port), or a Redis Cluster of several shards; emits reach the right sockets on every node,
//! exactly once.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};
use tether::cluster::{ClusterConfig, ClusterKey, ClusterState, ClusterStats};
use tether::{
    AnyEvent, Delivery, EmitError, Emitter, Handshake, SocketNok, SocketOk, Tether,
    socket_namespace,
};
use tether_tests::redis::{RedisServer, Topology};
use tether_tests::{JsClient, TestServer, eventually};

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

struct Chat;

// Signed-out sockets may stay (after `/ops/logout`); handshakes still need a token.
#[socket_namespace(path = "/chat", user_key = "user_id", anonymous = true)]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }

    #[on("enter")]
    async fn enter(&self, client: &tether::Client<Member>, channel: String) -> bool {
        client.clients().join_channel(client, &channel)
    }
}

/// At most two sockets per user, cluster-wide.
struct Capped;

#[socket_namespace(path = "/capped", user_key = "user_id", max_connections_per_user = 2)]
impl Capped {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

struct Node {
    tether: Tether,
    server: TestServer,
}

impl Node {
    async fn start(redis: &RedisServer) -> Self {
        Self::start_with(ClusterConfig::new(redis.url())).await
    }

    /// A node serving `/chat` and `/capped`, with `/ops/login` accepting `login:{user}`.
    async fn start_with(config: ClusterConfig) -> Self {
        let tether = Tether::builder()
            .namespace(Chat)
            .namespace(Capped)
            .cluster(config)
            .build()
            .await
            .expect("join the cluster");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        wait_for_state(&tether, Duration::from_secs(5), "connected in time", |s| {
            *s == ClusterState::Connected
        })
        .await;
        Self { tether, server }
    }

    fn url(&self) -> String {
        self.server.url("/chat")
    }

    fn emitter(&self) -> Emitter<Chat> {
        self.tether.emitter::<Chat>()
    }
}

/// Starts `N` nodes sharing `redis`.
async fn nodes<const N: usize>(redis: &Topology) -> [Node; N] {
    let mut nodes = Vec::with_capacity(N);
    for _ in 0..N {
        nodes.push(Node::start_with(ClusterConfig::new(redis.url())).await);
    }
    nodes
        .try_into()
        .unwrap_or_else(|_| unreachable!("{N} nodes"))
}

/// Waits up to `within` until `tether`'s cluster state satisfies `pred`; fails with `what`.
async fn wait_for_state(
    tether: &Tether,
    within: Duration,
    what: &str,
    pred: impl FnMut(&ClusterState) -> bool,
) {
    let mut watch = tether.watch_cluster().expect("cluster mode");
    tokio::time::timeout(within, watch.wait_for(pred))
        .await
        .expect(what)
        .expect("watch");
}

/// Waits until every node is connected to Redis again, 2 s at most each.
async fn reconnected_within_2s(nodes: &[&Node]) {
    for node in nodes {
        wait_for_state(
            &node.tether,
            Duration::from_secs(2),
            "reconnected within 2 s",
            |s| *s == ClusterState::Connected,
        )
        .await;
    }
}

fn ev(payload: Value) -> AnyEvent {
    AnyEvent::new("note", payload)
}

async fn connect(js: &mut JsClient, name: &str, node: &Node, user: &str) {
    connect_url(js, name, &node.url(), user).await;
}

async fn connect_url(js: &mut JsClient, name: &str, url: &str, user: &str) {
    js.connect_ok(name, url, json!({"auth": {"token": user}}))
        .await;
    js.event(name, "/ops/connection-success").await;
}

/// What `/ops/disconnected` tells a socket evicted by the connection cap.
fn evicted(args: &[Value]) -> bool {
    args.first()
        .is_some_and(|kick| kick["code"] == "connection_limit")
}

enum Control {
    Stall(Duration),
    Kill,
}

/// A node on its own thread and single-threaded runtime, so a test can stall it (block the
/// thread: a stuck event loop) or kill it (drop the runtime: every task, socket and Redis
/// connection dies at once and nothing is cleaned up, like a crashed process).
struct IsolatedNode {
    addr: std::net::SocketAddr,
    node_id: String,
    control: tokio::sync::mpsc::UnboundedSender<Control>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IsolatedNode {
    fn start(config: ClusterConfig) -> Self {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (control, mut commands) = tokio::sync::mpsc::unbounded_channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            rt.block_on(async move {
                let node = Node::start_with(config).await;
                let id = node.tether.node_id().expect("cluster mode").to_owned();
                ready_tx.send((node.server.addr, id)).expect("report");
                while let Some(cmd) = commands.recv().await {
                    match cmd {
                        Control::Stall(d) => std::thread::sleep(d),
                        Control::Kill => break,
                    }
                }
                drop(node);
            });
            // Dropping the runtime drops every task without running them again.
            drop(rt);
        });
        let (addr, node_id) = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the isolated node started");
        Self {
            addr,
            node_id,
            control,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://{}/chat", self.addr)
    }

    /// Blocks the node's only thread for `d`.
    fn stall(&self, d: Duration) {
        let _ = self.control.send(Control::Stall(d));
    }

    /// Kills the node and waits until its runtime is gone.
    fn kill(&mut self) {
        let _ = self.control.send(Control::Kill);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for IsolatedNode {
    fn drop(&mut self) {
        self.kill();
    }
}

// Scenarios that run twice, the same code on each topology: on one redis-server, and on a Redis
// Cluster of three shards through sharded pub/sub (SPUBLISH / SSUBSCRIBE).

/// How many primaries the Redis Cluster tests start.
const SHARDS: usize = 3;

/// Declares each scenario's two tests: under the scenario's own name on one redis-server, and
/// under the second name on a Redis Cluster of [`SHARDS`] shards.
macro_rules! on_both_topologies {
    ($($scenario:ident, $on_a_redis_cluster:ident;)*) => {$(
        #[tokio::test]
        async fn $scenario() {
            scenario::$scenario(Topology::server()).await;
        }

        #[tokio::test]
        async fn $on_a_redis_cluster() {
            scenario::$scenario(Topology::cluster(SHARDS)).await;
        }
    )*};
}

on_both_topologies! {
    concurrent_emits_to_another_node_arrive_once_in_order_with_their_counts,
        on_a_redis_cluster_concurrent_emits_to_another_node_arrive_once_in_order_with_their_counts;
    a_user_on_node_a_receives_an_emit_made_on_node_b_exactly_once,
        on_a_redis_cluster_a_user_on_node_a_receives_an_emit_made_on_node_b_exactly_once;
    a_node_that_holds_no_recipient_receives_nothing_for_it,
        on_a_redis_cluster_a_node_that_holds_no_recipient_receives_nothing_for_it;
    channel_members_spread_over_nodes_all_receive_once,
        on_a_redis_cluster_channel_members_spread_over_nodes_all_receive_once;
    a_redis_only_emitter_reaches_users_and_reports_offline_ones,
        on_a_redis_cluster_a_redis_only_emitter_reaches_users_and_reports_offline_ones;
    an_envelope_published_with_redis_cli_is_delivered,
        on_a_redis_cluster_an_envelope_published_with_redis_cli_is_delivered;
    kick_and_presence_work_across_nodes,
        on_a_redis_cluster_kick_and_presence_work_across_nodes;
    the_per_user_connection_cap_holds_across_nodes,
        on_a_redis_cluster_the_per_user_connection_cap_holds_across_nodes;
    losing_redis_keeps_local_delivery_and_remote_delivery_resumes,
        on_a_redis_cluster_losing_a_shard_keeps_local_delivery_and_remote_delivery_resumes;
    an_oversized_envelope_is_dropped_and_the_node_keeps_delivering,
        on_a_redis_cluster_an_oversized_envelope_is_dropped_and_the_node_keeps_delivering;
}

/// The example envelope of docs/cluster.md ("Envelope format v1"), byte for byte.
const README_ENVELOPE: &str = r#"{"v":1,"id":"cli-1","ns":"/chat","targets":[{"kind":"user","id":"alice"}],"kind":"emit","event":"note","data":{"text":"hello from redis-cli"}}"#;

/// A raw Redis client: what anyone who can reach the cluster's Redis can do.
enum RawRedis {
    Server(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl RawRedis {
    async fn connect(redis: &Topology) -> Self {
        match redis {
            Topology::Server(_) => {
                let client = redis::Client::open(redis.url()).unwrap();
                // No response timeout: a 50 MB PUBLISH takes a while to send.
                let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .unwrap();
                Self::Server(conn)
            }
            Topology::Cluster(c) => {
                let seeds: Vec<String> = c
                    .ports()
                    .iter()
                    .map(|p| format!("redis://127.0.0.1:{p}"))
                    .collect();
                let client = redis::cluster::ClusterClientBuilder::new(seeds)
                    .response_timeout(Duration::from_secs(30))
                    .build()
                    .unwrap();
                Self::Cluster(client.get_async_connection().await.unwrap())
            }
        }
    }

    /// `PUBLISH` (`SPUBLISH` on a cluster) `message` on `channel`; Redis's count of receivers.
    async fn publish(&mut self, channel: &str, message: impl AsRef<[u8]>) -> usize {
        let message = message.as_ref();
        match self {
            Self::Server(c) => redis::cmd("PUBLISH")
                .arg(channel)
                .arg(message)
                .query_async(c)
                .await
                .unwrap(),
            Self::Cluster(c) => redis::cmd("SPUBLISH")
                .arg(channel)
                .arg(message)
                .query_async(c)
                .await
                .unwrap(),
        }
    }
}

/// An emit envelope for user `to`, event `event`, payload `data`, as docs/cluster.md documents it.
fn envelope(id: &str, to: &str, event: &str, data: &Value) -> String {
    json!({
        "v": 1, "id": id, "ns": "/chat",
        "targets": [{"kind": "user", "id": to}],
        "kind": "emit", "event": event, "data": data,
    })
    .to_string()
}

fn stats(node: &Node) -> ClusterStats {
    node.tether.cluster_stats().expect("cluster mode")
}

/// Waits until `node` has rejected `n` envelopes since `before`.
async fn rejected(node: &Node, before: &ClusterStats, n: u64) {
    eventually(&format!("{n} envelopes rejected"), || {
        stats(node).rejected - before.rejected == n
    })
    .await;
}

/// The scenarios, each on a fresh [`Topology`] it owns.
mod scenario {
    use super::*;

    /// Redis cuts a subscriber that a message over its `client-output-buffer-limit pubsub`
    /// (32 MB) is sent to: the node must come back, and a message over the node's own bound
    /// (but under Redis's) is dropped without losing the link.
    pub(super) async fn an_oversized_envelope_is_dropped_and_the_node_keeps_delivering(
        redis: Topology,
    ) {
        let [a, b] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice", &a, "alice").await;
        connect(&mut js, "bob", &a, "bob").await;
        let alice = "tether:/chat:user:alice";
        eventually("a follows alice", || redis.subscribers(alice) == 1).await;
        let mut raw = RawRedis::connect(&redis).await;

        // 2 MB: over the default bound (1 MiB + 64 KiB), under Redis's limit.
        let before = stats(&a);
        let two_mb = json!("x".repeat(2 << 20));
        assert_eq!(
            raw.publish(alice, envelope("big-1", "alice", "note", &two_mb))
                .await,
            1
        );
        rejected(&a, &before, 1).await;
        assert_eq!(
            a.tether.cluster_state(),
            ClusterState::Connected,
            "the link stays up"
        );
        let d = b
            .emitter()
            .to_user("alice")
            .emit(ev(json!("after 2 MB")))
            .await
            .unwrap();
        assert_eq!(d.nodes, 1);
        assert_eq!(js.event("alice", "note").await, vec![json!("after 2 MB")]);

        // 50 MB: Redis drops a's subscription connection; a reconnects and resubscribes.
        let fifty_mb = json!("x".repeat(50 << 20));
        let message = envelope("big-2", "alice", "note", &fifty_mb);
        let sent = std::time::Instant::now();
        raw.publish(alice, message).await;
        let published = sent.elapsed();
        let mut n = 0;
        let recovered = loop {
            n += 1;
            let d = b
                .emitter()
                .to_user("alice")
                .emit(ev(json!(n)))
                .await
                .unwrap();
            if d.nodes == 1 {
                break sent.elapsed();
            }
            assert!(sent.elapsed() < Duration::from_secs(5), "a never came back");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(js.event("alice", "note").await, vec![json!(n)]);
        println!(
            "50 MB envelope on {} shard(s): PUBLISH took {published:?}, a delivered again \
             {recovered:?} after it was sent ({n} emits tried)",
            redis.shards()
        );
        // The well-behaved socket beside alice's is served as before.
        let d = b
            .emitter()
            .to_user("bob")
            .emit(ev(json!("bob")))
            .await
            .unwrap();
        assert_eq!(d.nodes, 1);
        assert_eq!(js.event("bob", "note").await, vec![json!("bob")]);
        js.assert_no_event("alice", "note", Duration::from_millis(200))
            .await;

        // Where Redis lets 50 MB through (its pubsub buffer limit lifted), the node reads it,
        // drops it, and keeps the very same link.
        if let Topology::Server(server) = &redis {
            server.cli(&[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub 0 0 0",
            ]);
            let links = || server.cli(&["CLIENT", "LIST", "TYPE", "pubsub"]);
            // A set: Redis lists clients in no promised order.
            let ids = |list: String| -> std::collections::BTreeSet<String> {
                list.lines()
                    .filter_map(|l| l.split(' ').next().map(str::to_owned))
                    .collect()
            };
            let before_links = ids(links());
            let before = stats(&a);
            let sent = std::time::Instant::now();
            let message = envelope("big-3", "alice", "note", &fifty_mb);
            assert_eq!(raw.publish(alice, message).await, 1);
            rejected(&a, &before, 1).await;
            let dropped = sent.elapsed();
            assert_eq!(ids(links()), before_links, "the same pub/sub connections");
            let d = b
                .emitter()
                .to_user("alice")
                .emit(ev(json!("kept")))
                .await
                .unwrap();
            assert_eq!(d.nodes, 1);
            assert_eq!(js.event("alice", "note").await, vec![json!("kept")]);
            println!("50 MB let through by Redis: dropped by a {dropped:?} after it was sent");
        }

        // Nobody publishes what would be dropped: the emit fails before any socket gets it.
        for emitter in [
            a.emitter(),
            Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap(),
        ] {
            let err = emitter
                .to_user("bob")
                .emit(ev(two_mb.clone()))
                .await
                .expect_err("over the bound");
            assert!(matches!(err, EmitError::TooLarge { .. }), "{err}");
        }
        js.assert_no_event("bob", "note", Duration::from_millis(200))
            .await;
    }

    pub(super) async fn a_user_on_node_a_receives_an_emit_made_on_node_b_exactly_once(
        redis: Topology,
    ) {
        let [a, b, c] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        for (name, node, user) in [
            ("alice@a", &a, "alice"),
            ("alice@b", &b, "alice"),
            ("bob@a", &a, "bob"),
            ("carol@c", &c, "carol"),
        ] {
            connect(&mut js, name, node, user).await;
        }

        // Subscriptions follow sockets: wait until each node follows the users it holds (both
        // nodes alice's channel), and every node the namespace's.
        let alice = "tether:/chat:user:alice";
        let channels = [
            (alice, 2),
            ("tether:/chat:user:bob", 1),
            ("tether:/chat:user:carol", 1),
            ("tether:/chat:all", 3),
        ];
        eventually("the nodes follow their recipients", || {
            channels.iter().all(|(ch, n)| redis.subscribers(ch) == *n)
        })
        .await;
        if redis.shards() > 1 {
            assert!(
                redis.shards_with_subscriptions() > 1,
                "the channels live on several shards"
            );
        }

        let d = b
            .emitter()
            .to_user("alice")
            .emit(ev(json!({"n": 1})))
            .await
            .unwrap();
        assert_eq!(d.sockets, 1, "alice's socket on b");
        assert_eq!(d.nodes, 2, "both nodes hold alice");
        assert_eq!(js.event("alice@a", "note").await, vec![json!({"n": 1})]);
        assert_eq!(js.event("alice@b", "note").await, vec![json!({"n": 1})]);

        // Emitted from a third node, which holds none of her sockets: once each too.
        let d = c
            .emitter()
            .to_user("alice")
            .emit(ev(json!({"n": 2})))
            .await
            .unwrap();
        assert_eq!((d.sockets, d.nodes), (0, 2));
        for name in ["alice@a", "alice@b"] {
            assert_eq!(js.event(name, "note").await, vec![json!({"n": 2})]);
        }

        // The documented envelope, published with redis-cli: both nodes get it, once.
        assert_eq!(redis.publish(alice, README_ENVELOPE), "2");
        for name in ["alice@a", "alice@b"] {
            assert_eq!(
                js.event(name, "note").await,
                vec![json!({"text": "hello from redis-cli"})]
            );
        }

        js.assert_no_event("alice@a", "note", Duration::from_millis(200))
            .await;
        for name in ["alice@b", "bob@a", "carol@c"] {
            js.assert_no_event(name, "note", Duration::from_millis(100))
                .await;
        }
    }

    /// Two nodes sharing `redis`, and a socket of alice's on the first, which follows her
    /// channel.
    async fn two_nodes_and_alice_on_the_first(redis: &Topology) -> ([Node; 2], JsClient) {
        let [a, b] = nodes(redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice", &a, "alice").await;
        eventually("a follows alice", || {
            redis.subscribers("tether:/chat:user:alice") == 1
        })
        .await;
        ([a, b], js)
    }

    /// Emits made at once on one node leave for Redis together (one pipeline, on a server),
    /// each with its own count of the nodes it reached, in the order each sender made them.
    pub(super) async fn concurrent_emits_to_another_node_arrive_once_in_order_with_their_counts(
        redis: Topology,
    ) {
        const SENDERS: u64 = 8;
        const EACH: u64 = 40;
        tether_tests::metrics::install();
        let ([_a, b], js) = two_nodes_and_alice_on_the_first(&redis).await;

        let senders: Vec<_> = (0..SENDERS)
            .map(|sender| {
                let emitter = b.emitter();
                tokio::spawn(async move {
                    for n in 0..EACH {
                        let d = emitter
                            .to_user("alice")
                            .emit(ev(json!({"sender": sender, "n": n})))
                            .await
                            .unwrap();
                        assert_eq!((d.sockets, d.nodes), (0, 1), "emit {sender}/{n}");
                    }
                })
            })
            .collect();
        // Redis holds every publish for a moment (one server): the emits made meanwhile wait
        // together, and leave together.
        if let Topology::Server(server) = &redis {
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(server.cli(&["CLIENT", "PAUSE", "300", "WRITE"]), "OK");
        }
        for sender in senders {
            sender.await.unwrap();
        }

        js.events_in_order_per_sender("alice", "note", SENDERS as usize, EACH)
            .await;
        if matches!(redis, Topology::Server(_)) {
            let largest = tether_tests::metrics::largest(tether::metrics::REDIS_PUBLISH_BATCH);
            assert!(
                largest >= 4.0,
                "the emits queued while Redis paused left together: {largest}"
            );
        }
    }

    pub(super) async fn a_node_that_holds_no_recipient_receives_nothing_for_it(redis: Topology) {
        let [a, b, c] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice", &a, "alice").await;
        connect(&mut js, "carol", &c, "carol").await;
        eventually("a follows alice", || {
            redis.subscribers("tether:/chat:user:alice") == 1
        })
        .await;
        // Only node a is subscribed to alice's channel: b (the emitter) and c get nothing.
        let received = |n: &Node| n.tether.cluster_stats().unwrap().received;
        let before = (received(&a), received(&b), received(&c));
        for i in 0..20 {
            let d = b
                .emitter()
                .to_user("alice")
                .emit(ev(json!(i)))
                .await
                .unwrap();
            assert_eq!((d.sockets, d.nodes), (0, 1));
        }
        for i in 0..20 {
            assert_eq!(js.event("alice", "note").await, vec![json!(i)], "in order");
        }
        assert_eq!(received(&a) - before.0, 20);
        assert_eq!(
            received(&b) - before.1,
            0,
            "the publisher skips its own messages"
        );
        assert_eq!(
            received(&c) - before.2,
            0,
            "c holds no recipient and receives nothing"
        );
    }

    pub(super) async fn channel_members_spread_over_nodes_all_receive_once(redis: Topology) {
        let [a, b, c] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        for (name, node) in [("m1", &a), ("m2", &b), ("m3", &b), ("out", &c)] {
            connect(&mut js, name, node, name).await;
        }
        for name in ["m1", "m2", "m3"] {
            assert_eq!(
                js.emit_with_ack(name, "enter", json!(["room"])).await,
                json!(true)
            );
        }
        eventually("a and b follow the room, b follows m2", || {
            redis.subscribers("tether:/chat:channel:room") == 2
                && redis.subscribers("tether:/chat:user:m2") == 1
        })
        .await;
        let emitter = c.emitter();
        // The second time m2, who is in the room, is a target too: b gets the message on the
        // room's channel and on m2's, and still delivers it to each of its sockets once.
        for (note, also) in [("to the room", None), ("to the room and m2", Some("m2"))] {
            let mut emit = emitter.to_channel("room").and_user("out");
            if let Some(user) = also {
                emit = emit.and_user(user);
            }
            let d = emit.emit(ev(json!(note))).await.unwrap();
            assert_eq!(d.sockets, 1, "`out` is on c");
            for name in ["m1", "m2", "m3", "out"] {
                assert_eq!(js.event(name, "note").await, vec![json!(note)]);
            }
            for name in ["m1", "m2", "m3", "out"] {
                js.assert_no_event(name, "note", Duration::from_millis(100))
                    .await;
            }
        }
    }

    pub(super) async fn a_redis_only_emitter_reaches_users_and_reports_offline_ones(
        redis: Topology,
    ) {
        let ([a, b], mut js) = two_nodes_and_alice_on_the_first(&redis).await;
        let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
        let d = worker
            .to_user("alice")
            .emit(ev(json!({"from": "worker"})))
            .await
            .unwrap();
        assert!(d.delivered());
        assert_eq!(d.nodes, 1);
        assert_eq!(
            js.event("alice", "note").await,
            vec![json!({"from": "worker"})]
        );

        let d = worker.to_user("nobody").emit(ev(json!(1))).await.unwrap();
        assert!(!d.delivered(), "offline users are reported: {d:?}");
        assert!(worker.is_online("alice").await);
        assert!(!worker.is_online("nobody").await);
        // A node reports them the same way.
        let d = a
            .emitter()
            .to_user("nobody")
            .emit(ev(json!(0)))
            .await
            .unwrap();
        assert!(!d.delivered(), "{d:?}");

        // Several users at once: each user's channel reaches the nodes that follow it.
        connect(&mut js, "alice@b", &b, "alice").await;
        connect(&mut js, "bob@a", &a, "bob").await;
        eventually("b follows alice too, a follows bob", || {
            redis.subscribers("tether:/chat:user:alice") == 2
                && redis.subscribers("tether:/chat:user:bob") == 1
        })
        .await;
        let d = worker
            .to_users(["alice", "bob"])
            .emit(ev(json!(4)))
            .await
            .unwrap();
        assert_eq!(d.nodes, 3, "alice's channel reached a and b, bob's a");
        for name in ["alice", "alice@b", "bob@a"] {
            assert_eq!(js.event(name, "note").await, vec![json!(4)], "{name}");
        }
        for name in ["alice", "alice@b", "bob@a"] {
            js.assert_no_event(name, "note", Duration::from_millis(100))
                .await;
        }
    }

    pub(super) async fn an_envelope_published_with_redis_cli_is_delivered(redis: Topology) {
        let [a] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice", &a, "alice").await;
        connect(&mut js, "bob", &a, "bob").await;
        eventually("a follows alice", || {
            redis.subscribers("tether:/chat:user:alice") == 1
        })
        .await;

        let alice = "tether:/chat:user:alice";
        assert_eq!(
            redis.publish(alice, README_ENVELOPE),
            "1",
            "one node received it"
        );
        assert_eq!(
            js.event("alice", "note").await,
            vec![json!({"text": "hello from redis-cli"})]
        );

        // Malformed envelopes and other versions are ignored (and logged); the node goes on.
        redis.publish(alice, "not json");
        redis.publish(alice, &README_ENVELOPE.replace(r#""v":1"#, r#""v":2"#));
        // A broadcast, with an exclusion, on the namespace channel.
        let all = r#"{"v":1,"id":"cli-2","ns":"/chat","targets":[{"kind":"all"}],"except":[{"kind":"user","id":"alice"}],"kind":"emit","event":"note","data":"to all but alice"}"#;
        assert_eq!(redis.publish("tether:/chat:all", all), "1");
        assert_eq!(
            js.event("bob", "note").await,
            vec![json!("to all but alice")]
        );
        // `null` is a payload like any other.
        let null = r#"{"v":1,"id":"cli-4","ns":"/chat","targets":[{"kind":"user","id":"bob"}],"kind":"emit","event":"note","data":null}"#;
        assert_eq!(redis.publish("tether:/chat:user:bob", null), "1");
        assert_eq!(js.event("bob", "note").await, vec![Value::Null]);
        // A kick.
        let kick = r#"{"v":1,"id":"cli-3","ns":"/chat","targets":[{"kind":"user","id":"alice"}],"kind":"kick","kick":{"code":"banned","message":"bye"}}"#;
        assert_eq!(redis.publish(alice, kick), "1");
        assert_eq!(
            js.event("alice", "/ops/disconnected").await,
            vec![json!({"code": "banned", "message": "bye"})]
        );
        js.disconnected("alice").await;
        js.assert_no_event("alice", "note", Duration::from_millis(100))
            .await;
        js.assert_no_event("bob", "note", Duration::from_millis(1))
            .await;
    }

    pub(super) async fn kick_and_presence_work_across_nodes(redis: Topology) {
        let [a, b] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice@a", &a, "alice").await;
        connect(&mut js, "alice@b", &b, "alice").await;
        eventually("presence written", || {
            redis.cli(&["HLEN", "tether:/chat:presence:alice"]) == "2"
        })
        .await;
        let mut alice_nodes = a.emitter().user_nodes("alice").await;
        alice_nodes.sort();
        assert_eq!(alice_nodes.len(), 2);
        assert!(b.emitter().is_online("alice").await);
        assert!(!b.emitter().is_online("nobody").await);

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
        assert!(!a.emitter().is_online("alice").await);
    }

    /// On a cluster, the cap's script runs on the shard of the user's key.
    pub(super) async fn the_per_user_connection_cap_holds_across_nodes(redis: Topology) {
        let [a, b] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        let capped = |n: &Node| n.server.url("/capped");
        let conns = "tether:/capped:conns:alice";
        let counted = |n: &str| redis.cli(&["ZCARD", conns]) == n;

        connect_url(&mut js, "s1", &capped(&a), "alice").await;
        eventually("s1 counted", || counted("1")).await;
        connect_url(&mut js, "s2", &capped(&b), "alice").await;
        eventually("s2 counted", || counted("2")).await;
        js.assert_no_event("s1", "/ops/disconnected", Duration::from_millis(200))
            .await;

        // Each new socket goes over the cap by one: the oldest goes, whichever node holds it,
        // and only it.
        for (new, node, oldest, held_by, survivors) in [
            ("s3", &b, "s1", "a: b tells a through Redis", ["s2", "s3"]),
            ("s4", &a, "s2", "b: a tells b through Redis", ["s3", "s4"]),
            ("s5", &b, "s3", "b itself", ["s4", "s5"]),
        ] {
            connect_url(&mut js, new, &capped(node), "alice").await;
            let kick = js.event(oldest, "/ops/disconnected").await;
            assert!(
                evicted(&kick),
                "{oldest}, held by {held_by}, is told why: {kick:?}"
            );
            js.disconnected(oldest).await;
            eventually("two sockets counted", || counted("2")).await;
            for survivor in survivors {
                js.assert_no_event(survivor, "/ops/disconnected", Duration::from_millis(150))
                    .await;
            }
        }
        eventually("one socket left on each node", || {
            a.tether.clients::<Capped>().user_sockets("alice").len() == 1
                && b.tether.clients::<Capped>().user_sockets("alice").len() == 1
        })
        .await;
    }

    /// What serves alice's channel crashes and comes back: the server, or on a cluster only the
    /// shard that owns the channel (the others keep answering).
    pub(super) async fn losing_redis_keeps_local_delivery_and_remote_delivery_resumes(
        mut redis: Topology,
    ) {
        let [a, b] = nodes(&redis).await;
        let mut js = JsClient::spawn().await;
        connect(&mut js, "alice@a", &a, "alice").await;
        connect(&mut js, "alice@b", &b, "alice").await;
        let alice = "tether:/chat:user:alice";
        eventually("both follow alice", || redis.subscribers(alice) == 2).await;

        let shard = redis.owner_of(alice);
        redis.stop_shard(shard);
        for node in [&a, &b] {
            wait_for_state(
                &node.tether,
                Duration::from_secs(5),
                "the nodes notice",
                |s| matches!(s, ClusterState::Reconnecting { .. }),
            )
            .await;
        }
        let d = b
            .emitter()
            .to_user("alice")
            .emit(ev(json!("during")))
            .await
            .unwrap();
        assert_eq!(d.sockets, 1, "local delivery goes on");
        assert!(d.cluster_unavailable);
        assert_eq!(js.event("alice@b", "note").await, vec![json!("during")]);
        // alice's channel cannot be followed: the nodes keep trying.
        tokio::time::sleep(Duration::from_secs(1)).await;
        for node in [&a, &b] {
            assert!(matches!(
                node.tether.cluster_state(),
                ClusterState::Reconnecting { .. }
            ));
        }

        redis.restart_shard(shard);
        let restarted = std::time::Instant::now();
        reconnected_within_2s(&[&a, &b]).await;
        eventually("both resubscribed", || redis.subscribers(alice) == 2).await;
        let resumed = restarted.elapsed();
        assert!(resumed < Duration::from_secs(2), "{resumed:?}");
        let d = b
            .emitter()
            .to_user("alice")
            .emit(ev(json!("after")))
            .await
            .unwrap();
        assert_eq!(d.nodes, 2);
        assert_eq!(js.event("alice@a", "note").await, vec![json!("after")]);
        assert_eq!(js.event("alice@b", "note").await, vec![json!("after")]);
        js.assert_no_event("alice@a", "note", Duration::from_millis(200))
            .await;
        js.assert_no_event("alice@b", "note", Duration::from_millis(1))
            .await;
        println!(
            "remote delivery resumed {resumed:?} after shard {shard} of {} restarted",
            redis.shards()
        );
    }
}

// Scenarios on one redis-server only.

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
    assert!(matches!(
        tether.cluster_state(),
        ClusterState::Reconnecting { .. }
    ));
    redis.restart();
    wait_for_state(
        &tether,
        Duration::from_secs(3),
        "connects once Redis is up",
        |s| *s == ClusterState::Connected,
    )
    .await;
}

#[tokio::test]
async fn a_node_that_dies_without_cleanup_stops_counting_within_three_beats() {
    let redis = RedisServer::start();
    let beat = Duration::from_millis(200);
    let a = Node::start(&redis).await;
    let mut c = IsolatedNode::start(ClusterConfig::new(redis.url()).heartbeat(beat));
    let mut js = JsClient::spawn().await;
    connect_url(&mut js, "ghost@c", &c.url(), "ghost").await;
    connect_url(&mut js, "alice@c", &c.url(), "alice").await;
    connect(&mut js, "alice@a", &a, "alice").await;
    eventually("presence written", || {
        redis.cli(&["HLEN", "tether:/chat:presence:ghost"]) == "1"
            && redis.cli(&["HLEN", "tether:/chat:presence:alice"]) == "2"
    })
    .await;
    let emitter = a.emitter();
    assert!(emitter.is_online("ghost").await);
    assert_eq!(emitter.user_nodes("alice").await.len(), 2);

    c.kill();
    let killed = std::time::Instant::now();
    // Nobody removed c's entries...
    assert_eq!(redis.cli(&["HLEN", "tether:/chat:presence:ghost"]), "1");
    // ...but they stop counting once its heartbeat expires: at most three beats after its last.
    while emitter.is_online("ghost").await {
        assert!(
            killed.elapsed() < beat * 3 + Duration::from_millis(300),
            "still online after {:?}",
            killed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let gone = killed.elapsed();
    assert!(gone <= beat * 3 + Duration::from_millis(300), "{gone:?}");
    let a_id = a.tether.node_id().unwrap().to_owned();
    assert_eq!(emitter.user_nodes("alice").await, vec![(a_id, 1)]);
    assert_ne!(c.node_id, a.tether.node_id().unwrap());
    // The dead entries were removed on the way.
    assert_eq!(redis.cli(&["HLEN", "tether:/chat:presence:ghost"]), "0");

    // An entry written by hand for a node that never beat does not count either.
    redis.cli(&[
        "HSET",
        "tether:/chat:presence:phantom",
        "sid-0",
        "no-such-node",
    ]);
    assert!(!emitter.is_online("phantom").await);
    // Nor does it take a place under the connection cap.
    redis.cli(&[
        "ZADD",
        "tether:/capped:conns:bob",
        "1",
        "no-such-node|sid-0",
    ]);
    for tab in ["bob1", "bob2"] {
        connect_url(&mut js, tab, &a.server.url("/capped"), "bob").await;
    }
    eventually("the dead entry dropped", || {
        redis.cli(&["ZCARD", "tether:/capped:conns:bob"]) == "2"
    })
    .await;
    for tab in ["bob1", "bob2"] {
        js.assert_no_event(tab, "/ops/disconnected", Duration::from_millis(150))
            .await;
    }
    println!("a dead node stopped counting {gone:?} after it died (beat {beat:?})");
}

/// Phases of [`redis_stop_and_start_mid_stream_loses_nothing_emitted_while_it_was_up`].
const UP: u8 = 0;
const OUTAGE: u8 = 1;
const UP_AGAIN: u8 = 2;

#[tokio::test]
async fn redis_stop_and_start_mid_stream_loses_nothing_emitted_while_it_was_up() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

    let mut redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice@a", &a, "alice").await;
    connect(&mut js, "bob@b", &b, "bob").await;
    let followed = |redis: &RedisServer| {
        redis.subscribers("tether:/chat:user:alice") == 1
            && redis.subscribers("tether:/chat:user:bob") == 1
    };
    eventually("a follows alice, b follows bob", || followed(&redis)).await;

    // Three publishers, each a numbered stream: b → alice, the worker → alice, a → bob.
    let running = Arc::new(AtomicBool::new(true));
    let phase = Arc::new(AtomicU8::new(UP));
    let publish = |emitter: Emitter<Chat>, user: &'static str, from: &'static str| {
        let (running, phase) = (running.clone(), phase.clone());
        tokio::spawn(async move {
            let mut log: Vec<(u8, Delivery)> = Vec::new();
            let mut slowest = Duration::ZERO;
            while running.load(Ordering::SeqCst) {
                let at = phase.load(Ordering::SeqCst);
                let n = log.len();
                let seq = AnyEvent::new("seq", json!({"from": from, "n": n}));
                let started = std::time::Instant::now();
                let d = emitter.to_user(user).emit(seq).await.expect("emit");
                if at == OUTAGE {
                    slowest = slowest.max(started.elapsed());
                }
                log.push((at, d));
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            (log, slowest)
        })
    };
    let publishers = [
        ("b", "alice@a", publish(b.emitter(), "alice", "b")),
        ("w", "alice@a", publish(worker.clone(), "alice", "w")),
        ("a", "bob@b", publish(a.emitter(), "bob", "a")),
    ];

    tokio::time::sleep(Duration::from_millis(300)).await;
    phase.store(OUTAGE, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await; // let the emits in flight finish
    redis.stop();
    for node in [&a, &b] {
        wait_for_state(
            &node.tether,
            Duration::from_secs(5),
            "the nodes notice",
            |s| *s != ClusterState::Connected,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.restart();
    let restarted = std::time::Instant::now();
    reconnected_within_2s(&[&a, &b]).await;
    eventually("resubscribed", || followed(&redis)).await;
    let resumed = restarted.elapsed();
    phase.store(UP_AGAIN, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.store(false, Ordering::SeqCst);

    // Per socket: (publisher, n, emitted while Redis was up) of every emit Redis said reached
    // a node.
    let mut expected: std::collections::HashMap<&str, Vec<(&str, usize, bool)>> =
        Default::default();
    for (from, socket, publisher) in publishers {
        let (log, slowest) = publisher.await.unwrap();
        let delivered: Vec<usize> = (0..log.len()).filter(|&n| log[n].1.nodes > 0).collect();
        for (n, (at, d)) in log.iter().enumerate() {
            if *at != OUTAGE {
                assert!(
                    d.nodes == 1 && !d.cluster_unavailable,
                    "{from}#{n}, emitted while Redis was up, reached a node: {d:?}"
                );
            } else {
                assert!(
                    d.nodes == 1 || d.cluster_unavailable || d.nodes == 0,
                    "{d:?}"
                );
            }
        }
        let reported = log.iter().filter(|(_, d)| d.cluster_unavailable).count();
        assert!(
            reported > 0,
            "{from}: emits made while Redis was down say so"
        );
        let up = log.iter().filter(|(at, _)| *at != OUTAGE).count();
        println!(
            "{from}: {} emits, {up} while Redis was up, {} delivered, {reported} reported \
             unavailable; slowest emit during the outage {slowest:?}",
            log.len(),
            delivered.len()
        );
        assert!(up > 40, "{from}: enough traffic while Redis was up ({up})");
        expected
            .entry(socket)
            .or_default()
            .extend(delivered.into_iter().map(|n| (from, n, log[n].0 != OUTAGE)));
    }
    // Every emit Redis took while it was up arrives, exactly once and in order per publisher;
    // nothing that Redis did not take arrives. An emit of the last moments before the SIGKILL
    // may be lost although Redis answered it: its reply means "queued for the subscriber", and
    // the process died before writing it out (so those may arrive, at most once, in order).
    for (socket, want) in expected {
        let mut missing: std::collections::HashSet<(String, usize)> = want
            .iter()
            .filter(|(_, _, up)| *up)
            .map(|(from, n, _)| ((*from).to_owned(), *n))
            .collect();
        let mut got: Vec<(String, usize)> = Vec::new();
        while !missing.is_empty() {
            let args = js.event(socket, "seq").await;
            let item = (
                args[0]["from"].as_str().unwrap().to_owned(),
                args[0]["n"].as_u64().unwrap() as usize,
            );
            missing.remove(&item);
            got.push(item);
        }
        js.assert_no_event(socket, "seq", Duration::from_millis(300))
            .await;
        for from in ["a", "b", "w"] {
            let received: Vec<usize> = got
                .iter()
                .filter(|(f, _)| f == from)
                .map(|(_, n)| *n)
                .collect();
            assert!(
                received.windows(2).all(|w| w[0] < w[1]),
                "{socket}: what {from} delivered came in order, once: {received:?}"
            );
            for n in &received {
                assert!(
                    want.iter().any(|(f, m, _)| *f == from && m == n),
                    "{socket}: {from}#{n} arrived although Redis did not take it"
                );
            }
        }
    }
    println!("remote delivery resumed {resumed:?} after Redis restarted");
}

#[tokio::test]
async fn a_stalled_or_dead_node_never_blocks_the_others() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut c = IsolatedNode::start(ClusterConfig::new(redis.url()));
    let mut js = JsClient::spawn().await;
    connect(&mut js, "m@a", &a, "m1").await;
    connect_url(&mut js, "m@c", &c.url(), "m2").await;
    for name in ["m@a", "m@c"] {
        assert_eq!(
            js.emit_with_ack(name, "enter", json!(["room"])).await,
            json!(true)
        );
    }
    eventually("a and c follow the room", || {
        redis.subscribers("tether:/chat:channel:room") == 2
    })
    .await;

    // c's event loop is stuck: a still gets every emit at once; Redis buffers c's share.
    let stall = Duration::from_secs(2);
    c.stall(stall);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    for i in 0..50 {
        let d = b
            .emitter()
            .to_channel("room")
            .emit(ev(json!(i)))
            .await
            .unwrap();
        assert_eq!(d.nodes, 2, "c is still subscribed");
    }
    for i in 0..50 {
        assert_eq!(js.event("m@a", "note").await, vec![json!(i)]);
    }
    let took = started.elapsed();
    assert!(
        took < stall / 2,
        "a received everything while c was stalled: {took:?}"
    );
    js.assert_no_event("m@c", "note", Duration::from_millis(1))
        .await;
    // c wakes up and catches up: nothing lost, in order.
    for i in 0..50 {
        assert_eq!(js.event("m@c", "note").await, vec![json!(i)]);
    }

    // c dies mid-stream: the others' emits keep flowing, and Redis stops counting it.
    let emits = async {
        let mut nodes = Vec::new();
        for i in 50..150 {
            let d = b
                .emitter()
                .to_channel("room")
                .emit(ev(json!(i)))
                .await
                .unwrap();
            nodes.push(d.nodes);
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        nodes
    };
    let kill = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.kill();
    };
    let started = std::time::Instant::now();
    let (nodes, ()) = tokio::join!(emits, kill);
    for i in 50..150 {
        assert_eq!(js.event("m@a", "note").await, vec![json!(i)]);
    }
    let took = started.elapsed();
    assert_eq!(nodes.last(), Some(&1), "only a is left: {nodes:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    js.disconnected("m@c").await;
    println!("100 emits across a node's death: {took:?}");
}

#[tokio::test]
async fn an_emit_to_several_recipients_held_by_one_node_reaches_each_socket_once() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    for (name, user) in [
        ("alice1", "alice"),
        ("alice2", "alice"),
        ("bob", "bob"),
        ("carol", "carol"),
        ("dave", "dave"),
    ] {
        connect(&mut js, name, &a, user).await;
    }
    for name in ["carol", "dave"] {
        assert_eq!(
            js.emit_with_ack(name, "enter", json!(["room"])).await,
            json!(true)
        );
    }
    eventually("a follows everyone", || {
        [
            "user:alice",
            "user:bob",
            "user:carol",
            "user:dave",
            "channel:room",
        ]
        .iter()
        .all(|c| redis.subscribers(&format!("tether:/chat:{c}")) == 1)
    })
    .await;
    let received = || a.tether.cluster_stats().unwrap().received;
    let before = received();
    let emitter = b.emitter();

    let d = emitter
        .to_users(["alice", "bob", "carol"])
        .emit(ev(json!(1)))
        .await
        .unwrap();
    assert_eq!(
        d.nodes, 3,
        "a is counted once per target channel it follows"
    );
    let d = emitter
        .to_users(["alice", "bob", "carol"])
        .except_user("carol")
        .emit(ev(json!(2)))
        .await
        .unwrap();
    assert!(d.delivered());
    emitter
        .to_channel("room")
        .and_user("carol")
        .except_user("dave")
        .emit(ev(json!(3)))
        .await
        .unwrap();
    emitter
        .to_users(["alice", "alice"])
        .emit(ev(json!(4)))
        .await
        .unwrap();
    // Two Redis-only emitters number their messages independently: neither is mistaken for a
    // duplicate of the other's.
    for from in ["w1", "w2"] {
        let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
        worker
            .to_users(["alice", "bob"])
            .emit(ev(json!(from)))
            .await
            .unwrap();
    }

    let want: [(&str, &[Value]); 5] = [
        (
            "alice1",
            &[json!(1), json!(2), json!(4), json!("w1"), json!("w2")],
        ),
        (
            "alice2",
            &[json!(1), json!(2), json!(4), json!("w1"), json!("w2")],
        ),
        ("bob", &[json!(1), json!(2), json!("w1"), json!("w2")]),
        ("carol", &[json!(1), json!(3)]),
        ("dave", &[]),
    ];
    for (name, notes) in want {
        for note in notes {
            assert_eq!(js.event(name, "note").await, vec![note.clone()], "{name}");
        }
    }
    for (name, _) in want {
        js.assert_no_event(name, "note", Duration::from_millis(100))
            .await;
    }
    assert_eq!(received() - before, 6, "each message acted on once by a");
}

#[tokio::test]
async fn login_and_logout_move_the_subscriptions_so_emits_follow_the_user() {
    let redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    connect(&mut js, "tab", &a, "alice").await;
    let other = js
        .connect_ok("other", &a.url(), json!({"auth": {"token": "alice"}}))
        .await;
    js.event("other", "/ops/connection-success").await;
    let follows = |user: &str| redis.subscribers(&format!("tether:/chat:user:{user}"));
    eventually("a follows alice", || follows("alice") == 1).await;
    let emitter = b.emitter();

    // `tab` becomes bob: a starts following bob, and still follows alice (`other`).
    let ack = js
        .emit_with_ack("tab", "/ops/login", json!([{"token": "bob"}]))
        .await;
    assert_eq!(ack["user_id"], "bob");
    eventually("a follows bob", || follows("bob") == 1).await;
    assert_eq!(follows("alice"), 1);
    let d = emitter
        .to_user("bob")
        .emit(ev(json!("to bob")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 1);
    assert_eq!(js.event("tab", "note").await, vec![json!("to bob")]);
    js.assert_no_event("other", "note", Duration::from_millis(100))
        .await;

    // `other` logs out: a holds no socket of alice any more and stops following her.
    let ack = js.emit_with_ack("other", "/ops/logout", json!([])).await;
    assert_eq!(ack["user_id"], Value::Null);
    eventually("a unfollows alice", || follows("alice") == 0).await;
    let d = emitter
        .to_user("alice")
        .emit(ev(json!("to alice")))
        .await
        .unwrap();
    assert!(!d.delivered(), "alice is offline everywhere: {d:?}");
    assert!(!emitter.is_online("alice").await);

    // `tab` logs out, `other` logs in as bob: bob's subscription stays, now for `other`.
    js.emit_with_ack("tab", "/ops/logout", json!([])).await;
    js.emit_with_ack("other", "/ops/login", json!([{"token": "bob"}]))
        .await;
    eventually("bob's presence and subscription moved to `other`", || {
        redis.cli(&["HKEYS", "tether:/chat:presence:bob"]) == other && follows("bob") == 1
    })
    .await;
    emitter
        .to_user("bob")
        .emit(ev(json!("to bob again")))
        .await
        .unwrap();
    assert_eq!(js.event("other", "note").await, vec![json!("to bob again")]);
    js.assert_no_event("tab", "note", Duration::from_millis(100))
        .await;
    assert_eq!(emitter.user_nodes("bob").await.len(), 1);
}

#[tokio::test]
async fn presence_is_rewritten_when_redis_comes_back_empty() {
    let mut redis = RedisServer::start();
    let (a, b) = (Node::start(&redis).await, Node::start(&redis).await);
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice@a", &a, "alice").await;
    connect(&mut js, "bob@a", &a, "bob").await;
    eventually("presence written", || {
        redis.cli(&["HLEN", "tether:/chat:presence:bob"]) == "1"
    })
    .await;

    // Redis restarts with nothing; meanwhile bob leaves and carol arrives.
    redis.stop();
    wait_for_state(&a.tether, Duration::from_secs(5), "a notices", |s| {
        *s != ClusterState::Connected
    })
    .await;
    js.disconnect("bob@a").await;
    connect(&mut js, "carol@a", &a, "carol").await;
    redis.restart();
    let restarted = std::time::Instant::now();
    let emitter = b.emitter();
    let mut seen = false;
    while restarted.elapsed() < Duration::from_secs(2) {
        if emitter.is_online("alice").await && emitter.is_online("carol").await {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        seen,
        "a rewrote its presence within 2 s of Redis returning: {:?} {:?} alice={} carol={} node={}",
        a.tether.cluster_state(),
        b.tether.cluster_state(),
        redis.cli(&["HGETALL", "tether:/chat:presence:alice"]),
        redis.cli(&["HGETALL", "tether:/chat:presence:carol"]),
        redis.cli(&["KEYS", "tether:node:*"]),
    );
    assert!(!emitter.is_online("bob").await);
    assert_eq!(emitter.user_nodes("carol").await.len(), 1);
    // And its subscriptions: an emit from b reaches carol, who connected during the outage.
    eventually("a follows carol", || {
        redis.subscribers("tether:/chat:user:carol") == 1
    })
    .await;
    let d = emitter
        .to_user("carol")
        .emit(ev(json!("welcome")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 1);
    assert_eq!(js.event("carol@a", "note").await, vec![json!("welcome")]);
    println!(
        "presence restored {:?} after Redis restarted",
        restarted.elapsed()
    );
}

#[tokio::test]
async fn a_node_stalled_past_its_heartbeat_is_counted_out_then_back_in_when_it_wakes() {
    let redis = RedisServer::start();
    let beat = Duration::from_millis(200);
    let a = Node::start(&redis).await;
    let c = IsolatedNode::start(ClusterConfig::new(redis.url()).heartbeat(beat));
    let mut js = JsClient::spawn().await;
    connect_url(&mut js, "dora@c", &c.url(), "dora").await;
    let emitter = a.emitter();
    eventually("presence written", || {
        redis.cli(&["HLEN", "tether:/chat:presence:dora"]) == "1"
    })
    .await;
    assert!(emitter.is_online("dora").await);

    c.stall(Duration::from_millis(1500));
    let stalled = std::time::Instant::now();
    while emitter.is_online("dora").await {
        assert!(
            stalled.elapsed() < Duration::from_millis(1200),
            "counted out in time"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Reading it as dead removed c's entry.
    assert_eq!(redis.cli(&["HLEN", "tether:/chat:presence:dora"]), "0");
    // c wakes, finds its heartbeat gone, and writes its presence again.
    while !emitter.is_online("dora").await {
        assert!(
            stalled.elapsed() < Duration::from_secs(3),
            "counted back in"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        emitter.user_nodes("dora").await,
        vec![(c.node_id.clone(), 1)]
    );
    println!("back online {:?} after the stall began", stalled.elapsed());
}

#[tokio::test]
async fn the_connected_clients_view_spans_every_live_node() {
    let redis = RedisServer::start();
    let config = || ClusterConfig::new(redis.url()).heartbeat(Duration::from_millis(150));
    let (a, b) = (
        Node::start_with(config()).await,
        Node::start_with(config()).await,
    );
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice1", &a, "alice").await;
    connect(&mut js, "alice2", &a, "alice").await;
    connect(&mut js, "bob", &b, "bob").await;

    // Each node refreshes its part with its heartbeat: wait for one beat of each.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let view = loop {
        let mut view = b.emitter().cluster_view().await;
        view.sort();
        if view.iter().filter(|(_, users)| !users.is_empty()).count() == 2 {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "view: {view:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let node_a = a.tether.node_id().unwrap().to_owned();
    let node_b = b.tether.node_id().unwrap().to_owned();
    let of = |node: &str| view.iter().find(|(n, _)| n == node).map(|(_, u)| u.clone());
    assert_eq!(of(&node_a), Some(vec![("alice".to_owned(), 2)]));
    assert_eq!(of(&node_b), Some(vec![("bob".to_owned(), 1)]));
    assert_eq!(a.emitter().online_users().await, ["alice", "bob"]);

    // A Redis-only emitter sees the same view; a departure shows within a beat or two.
    let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
    assert_eq!(worker.online_users().await, ["alice", "bob"]);
    js.disconnect("bob").await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while worker.online_users().await != ["alice"] {
        assert!(tokio::time::Instant::now() < deadline, "bob still listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// Redis is not trusted blindly (issue 11, item 8): whoever can PUBLISH on it is an attacker here.

/// `/ops/*` events and socket.io's reserved names, published on Redis: never delivered.
#[tokio::test]
async fn forged_ops_and_reserved_events_from_redis_are_dropped_and_the_node_goes_on() {
    let redis = Topology::server();
    let [a, b] = nodes(&redis).await;
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice", &a, "alice").await;
    connect(&mut js, "bob", &a, "bob").await;
    let alice = "tether:/chat:user:alice";
    eventually("a follows alice", || redis.subscribers(alice) == 1).await;
    let mut raw = RawRedis::connect(&redis).await;

    let forged_info = json!({"client_id": "forged", "client_key": "forged",
        "user_id": "admin", "channels": ["secret"], "namespace": "/chat"});
    let forged_expiry = json!({"code": "expired_token", "message": "log in at evil.example",
        "grace_seconds": 1});
    let forgeries = [
        ("/ops/connection-success", forged_info),
        ("/ops/token-expired", forged_expiry),
        (
            "/ops/disconnected",
            json!({"code": "banned", "message": "forged"}),
        ),
        ("disconnect", json!("io server disconnect")),
        ("connect_error", json!({"message": "forged"})),
        ("connect", json!(null)),
    ];
    let before = stats(&a);
    for (i, (event, data)) in forgeries.iter().enumerate() {
        let message = envelope(&format!("forged-{i}"), "alice", event, data);
        assert_eq!(raw.publish(alice, message).await, 1, "a received {event}");
    }
    rejected(&a, &before, forgeries.len() as u64).await;
    assert_eq!(stats(&a).received, before.received, "nothing acted on");

    // A legitimate emit from another node still arrives, to alice and to bob beside her.
    for user in ["alice", "bob"] {
        let d = b
            .emitter()
            .to_user(user)
            .emit(ev(json!(user)))
            .await
            .unwrap();
        assert_eq!(d.nodes, 1);
        assert_eq!(js.event(user, "note").await, vec![json!(user)]);
    }
    for (event, _) in &forgeries {
        js.assert_no_event("alice", event, Duration::from_millis(50))
            .await;
    }
    assert_eq!(
        a.tether.clients::<Chat>().user_sockets("alice").len(),
        1,
        "still connected"
    );

    // And no emitter publishes one: a node's, and a Redis-only one.
    let worker = Emitter::<Chat>::connect_redis(&redis.url()).await.unwrap();
    for emitter in [b.emitter(), worker] {
        for event in ["/ops/connection-success", "disconnect", "newListener"] {
            let err = emitter
                .to_user("alice")
                .emit(AnyEvent::new(event, json!({})))
                .await
                .expect_err("a reserved name");
            assert!(
                matches!(err, EmitError::ReservedEvent(ref e) if e == event),
                "{err}"
            );
        }
    }
    js.assert_no_event("alice", "disconnect", Duration::from_millis(100))
        .await;
}

/// The key of the "Signed envelopes" example of docs/cluster.md.
const README_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

/// [`README_ENVELOPE`] signed with [`README_KEY`]: the signature computed independently,
/// with Python's `hmac` module and `openssl dgst -sha256 -mac HMAC`.
const README_SIGNATURE: &str = "XYNQQCgaNEjg7QOna34sLbv2qlgYjLEu2P6AyQyxp04";

#[tokio::test]
async fn with_a_cluster_key_only_envelopes_signed_with_it_are_delivered() {
    let redis = Topology::server();
    let key = ClusterKey::from_base64url(README_KEY).unwrap();
    let config = || ClusterConfig::new(redis.url()).key(key.clone());
    let a = Node::start_with(config()).await;
    let b = Node::start_with(config()).await;
    let mut js = JsClient::spawn().await;
    connect(&mut js, "alice", &a, "alice").await;
    connect(&mut js, "bob", &b, "bob").await;
    let alice = "tether:/chat:user:alice";
    eventually("a follows alice, b bob", || {
        redis.subscribers(alice) == 1 && redis.subscribers("tether:/chat:user:bob") == 1
    })
    .await;
    // Nodes with the key sign, and take each other's envelopes.
    let d = b
        .emitter()
        .to_user("alice")
        .emit(ev(json!("signed")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 1);
    assert_eq!(js.event("alice", "note").await, vec![json!("signed")]);

    let mut raw = RawRedis::connect(&redis).await;
    let before = stats(&a);
    // Unsigned (the envelope a keyless cluster takes), and signed but altered since.
    assert_eq!(raw.publish(alice, README_ENVELOPE).await, 1);
    let tampered = README_ENVELOPE.replace("hello", "HELLO");
    assert_eq!(
        raw.publish(alice, format!("{README_SIGNATURE}.{tampered}"))
            .await,
        1
    );
    // Signed with another key, by a Redis-only emitter.
    let stranger = ClusterConfig::new(redis.url()).key(ClusterKey::generate());
    let stranger = Emitter::<Chat>::connect_redis_with(&stranger)
        .await
        .unwrap();
    let d = stranger
        .to_user("alice")
        .emit(ev(json!("stranger")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 1, "Redis delivered it; the node drops it");
    rejected(&a, &before, 3).await;

    // The README's signed envelope, signed outside Rust, is delivered; so is what a Redis-only
    // emitter with the key publishes.
    assert_eq!(
        raw.publish(alice, format!("{README_SIGNATURE}.{README_ENVELOPE}"))
            .await,
        1
    );
    assert_eq!(
        js.event("alice", "note").await,
        vec![json!({"text": "hello from redis-cli"})]
    );
    let worker = Emitter::<Chat>::connect_redis_with(&config())
        .await
        .unwrap();
    let d = worker
        .to_users(["alice", "bob"])
        .emit(ev(json!("worker")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 2);
    for user in ["alice", "bob"] {
        assert_eq!(js.event(user, "note").await, vec![json!("worker")]);
    }
    js.assert_no_event("alice", "note", Duration::from_millis(200))
        .await;
    assert_eq!(stats(&a).rejected - before.rejected, 3);
    // bob, on the other node, was served throughout.
    let d = a
        .emitter()
        .to_user("bob")
        .emit(ev(json!("to bob")))
        .await
        .unwrap();
    assert_eq!(d.nodes, 1);
    assert_eq!(js.event("bob", "note").await, vec![json!("to bob")]);
}
