//! Issue 3: users, channels, the emitter, connection info, login/logout on a live socket,
//! relays and kicks — checked with the official JS `socket.io-client`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::{Value, json};
use tether::{
    AnyEvent, Client, Events, Handshake, Relay, SocketError, SocketNok, SocketOk, Target, Tether,
    socket_namespace,
};
use tether_tests::{Connect, JsClient, TestServer, eventually};

#[derive(Debug, Clone, Serialize)]
struct Member {
    user_id: Option<String>,
}

/// Tokens: `user:<id>` or `anon`.
fn member(hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
    match hs.auth_str("token") {
        Some("anon") => Ok(SocketOk::new(Member { user_id: None })),
        Some(t) => match t.strip_prefix("user:") {
            Some(id) => Ok(SocketOk::new(Member {
                user_id: Some(id.to_owned()),
            })),
            None => Err(SocketNok::with_code("invalid_token", "unknown token")),
        },
        None => Err(SocketNok::with_code("missing_token", "no token")),
    }
}

/// Server→client events of `/app`.
#[derive(Debug, Events)]
enum AppEvent {
    #[event("/users/ping")]
    Ping(Value),
    #[event("counted")]
    Counted(CountedPayload),
}

/// A payload whose field counts how often it is serialised. (socketioxide first probes the
/// payload's outer shape, to tell a tuple of arguments from one argument; that probe stops at the
/// struct and never reaches the field, so the count is the number of real serialisations.)
#[derive(Debug, Clone, Serialize)]
struct CountedPayload {
    body: Counter,
}

#[derive(Debug, Clone)]
struct Counter(Arc<AtomicUsize>);

impl Serialize for Counter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.fetch_add(1, Ordering::SeqCst);
        s.serialize_str("counted")
    }
}

struct App;

#[socket_namespace(path = "/app", user_key = "user_id", anonymous = true, events = AppEvent)]
impl App {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }

    /// Server code joins channels without any hook.
    #[on("enter")]
    async fn enter(&self, client: &Client<Member>, channel: String) -> Vec<String> {
        client.clients().join_channel(client, &channel);
        client.channels()
    }

    /// Psychic's `Ws.register`: associate this socket with a user from server code.
    #[on("claim")]
    async fn claim(&self, client: &Client<Member>, user: String) -> Option<String> {
        client.clients().register(client, Some(&user));
        client.user_id()
    }

    #[authorize_channel]
    async fn may_join(&self, _client: &Client<Member>, channel: &str) -> bool {
        !channel.starts_with("staff")
    }

    #[authorize_relay]
    async fn may_relay(&self, client: &Client<Member>, relay: &Relay) -> Result<(), SocketError> {
        match (&client.user_id(), &relay.to) {
            (Some(_), Target::User(_)) => Ok(()),
            _ => Err(SocketError::forbidden(
                "only signed-in users may message users",
            )),
        }
    }
}

/// A namespace with the defaults: relays and client channel joins are denied, anonymous
/// connections refused, and at most two sockets per user.
struct Strict;

#[socket_namespace(path = "/strict", user_key = "user_id", max_connections_per_user = 2)]
impl Strict {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

struct Harness {
    tether: Tether,
    server: TestServer,
    js: JsClient,
}

impl Harness {
    async fn start() -> Self {
        let tether = Tether::builder()
            .namespace(App)
            .namespace(Strict)
            .build()
            .await
            .expect("build");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        let js = JsClient::spawn().await;
        Self { tether, server, js }
    }

    async fn connect(&mut self, name: &str, ns: &str, token: &str) -> String {
        self.connect_with(name, ns, json!({"auth": {"token": token}}))
            .await
    }

    async fn connect_with(&mut self, name: &str, ns: &str, opts: Value) -> String {
        let url = self.server.url(ns);
        let id = self.js.connect_ok(name, &url, opts).await;
        // Every connection is greeted with its connection info.
        let info = self.js.event(name, "/ops/connection-success").await;
        assert_eq!(info[0]["client_id"], id.as_str());
        id
    }

    fn ping(payload: Value) -> AppEvent {
        AppEvent::Ping(payload)
    }
}

#[tokio::test]
async fn three_sockets_of_one_user_all_receive_and_no_other_user_does() {
    let mut h = Harness::start().await;
    for tab in ["a1", "a2", "a3"] {
        h.connect(tab, "/app", "user:alice").await;
    }
    h.connect("b1", "/app", "user:bob").await;
    let emitter = h.tether.emitter::<App>();
    eventually("alice's three sockets registered", || {
        h.tether.clients::<App>().user_sockets("alice").len() == 3
    })
    .await;
    assert!(h.tether.clients::<App>().is_online("alice"));
    assert!(!h.tether.clients::<App>().is_online("carol"));

    let d = emitter
        .to_user("alice")
        .emit(Harness::ping(json!({"hello": "world"})))
        .await
        .unwrap();
    assert_eq!(d.sockets, 3);
    for tab in ["a1", "a2", "a3"] {
        assert_eq!(
            h.js.event(tab, "/users/ping").await,
            vec![json!({"hello": "world"})]
        );
    }
    h.js.assert_no_event("b1", "/users/ping", Duration::from_millis(150))
        .await;

    let d = emitter
        .to_user("carol")
        .emit(Harness::ping(json!(1)))
        .await
        .unwrap();
    assert!(!d.delivered(), "an offline user is reported as such");
}

#[tokio::test]
async fn an_emit_is_serialised_once_whatever_the_number_of_sockets() {
    let mut h = Harness::start().await;
    for tab in ["a1", "a2", "a3", "b1"] {
        let user = if tab.starts_with('a') {
            "user:alice"
        } else {
            "user:bob"
        };
        h.connect(tab, "/app", user).await;
    }
    let emitter = h.tether.emitter::<App>();
    eventually("four sockets", || h.tether.clients::<App>().len() == 4).await;
    let count = Arc::new(AtomicUsize::new(0));
    let d = emitter
        .to_all()
        .emit(AppEvent::Counted(CountedPayload {
            body: Counter(count.clone()),
        }))
        .await
        .unwrap();
    assert_eq!(d.sockets, 4);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    for tab in ["a1", "a2", "a3", "b1"] {
        assert_eq!(
            h.js.event(tab, "counted").await,
            vec![json!({"body": "counted"})]
        );
    }
}

#[tokio::test]
async fn emitter_targets_combine_with_exclusions() {
    let mut h = Harness::start().await;
    h.connect("alice", "/app", "user:alice").await;
    h.connect("bob", "/app", "user:bob").await;
    h.connect("carol", "/app", "user:carol").await;
    let anon = h.connect("anon", "/app", "anon").await;
    let emitter = h.tether.emitter::<App>();
    eventually("four sockets", || h.tether.clients::<App>().len() == 4).await;

    let d = emitter
        .to_users(["alice", "bob", "alice"])
        .emit(Harness::ping(json!("users")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 2, "each socket once");
    assert_eq!(
        h.js.event("alice", "/users/ping").await,
        vec![json!("users")]
    );
    assert_eq!(h.js.event("bob", "/users/ping").await, vec![json!("users")]);

    let d = emitter
        .to_all()
        .except_user("alice")
        .except_client(&anon)
        .emit(Harness::ping(json!("all-but")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 2);
    assert_eq!(
        h.js.event("bob", "/users/ping").await,
        vec![json!("all-but")]
    );
    assert_eq!(
        h.js.event("carol", "/users/ping").await,
        vec![json!("all-but")]
    );
    h.js.assert_no_event("alice", "/users/ping", Duration::from_millis(100))
        .await;
    h.js.assert_no_event("anon", "/users/ping", Duration::from_millis(10))
        .await;

    let d = emitter
        .to_client(&anon)
        .emit(Harness::ping(json!("you")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 1);
    assert_eq!(h.js.event("anon", "/users/ping").await, vec![json!("you")]);
}

#[tokio::test]
async fn channels_reach_members_only_and_leaving_stops_delivery() {
    let mut h = Harness::start().await;
    h.connect("alice", "/app", "user:alice").await;
    h.connect("bob", "/app", "user:bob").await;
    h.connect("carol", "/app", "user:carol").await;

    // Server-side join (no hook involved), then client-side join through the hook.
    let channels =
        h.js.emit_with_ack("alice", "enter", json!(["general"]))
            .await;
    assert_eq!(channels, json!(["general"]));
    let info =
        h.js.emit_with_ack("bob", "/ops/join", json!([{"channel": "general"}]))
            .await;
    assert_eq!(info["channels"], json!(["general"]));
    let denied =
        h.js.emit_with_ack("carol", "/ops/join", json!([{"channel": "staff-room"}]))
            .await;
    assert_eq!(denied["error"]["code"], "forbidden");
    let invalid =
        h.js.emit_with_ack("carol", "/ops/join", json!([{"channel": "no spaces!"}]))
            .await;
    assert_eq!(invalid["error"]["code"], "invalid_channel");

    let emitter = h.tether.emitter::<App>();
    let d = emitter
        .to_channel("general")
        .emit(Harness::ping(json!("to general")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 2);
    assert_eq!(
        h.js.event("alice", "/users/ping").await,
        vec![json!("to general")]
    );
    assert_eq!(
        h.js.event("bob", "/users/ping").await,
        vec![json!("to general")]
    );
    h.js.assert_no_event("carol", "/users/ping", Duration::from_millis(100))
        .await;

    let info =
        h.js.emit_with_ack("bob", "/ops/leave", json!([{"channel": "general"}]))
            .await;
    assert_eq!(info["channels"], json!([]));
    let not_member =
        h.js.emit_with_ack("bob", "/ops/leave", json!([{"channel": "general"}]))
            .await;
    assert_eq!(not_member["error"]["code"], "not_found");
    let d = emitter
        .to_channel("general")
        .except_user("nobody")
        .emit(Harness::ping(json!("after leave")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 1);
    assert_eq!(
        h.js.event("alice", "/users/ping").await,
        vec![json!("after leave")]
    );
    h.js.assert_no_event("bob", "/users/ping", Duration::from_millis(100))
        .await;
    assert_eq!(
        h.tether.clients::<App>().channel_members("general").len(),
        1
    );
}

#[tokio::test]
async fn channels_named_in_the_query_are_joined_at_connect_when_authorized() {
    let mut h = Harness::start().await;
    let url = h.server.url("/app");
    h.js.connect_ok(
        "a",
        &url,
        json!({"auth": {"token": "user:alice"}, "query": {"channel_id": "news,sports"}}),
    )
    .await;
    let info = h.js.event("a", "/ops/connection-success").await;
    assert_eq!(info[0]["channels"], json!(["news", "sports"]));

    let refused =
        h.js.connect(
            "b",
            &url,
            json!({"auth": {"token": "user:bob"}, "query": {"channel_id": "staff-only"}}),
        )
        .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m.starts_with("forbidden: ")),
        "{refused:?}"
    );
    // Without an authorization hook, a client may not pick channels at all.
    let url = h.server.url("/strict");
    let refused =
        h.js.connect(
            "c",
            &url,
            json!({"auth": {"token": "user:carol"}, "query": {"channel_id": "news"}}),
        )
        .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m.starts_with("forbidden: ")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn connection_info_goes_to_that_socket_only() {
    let mut h = Harness::start().await;
    let a1 = h.connect("a1", "/app", "user:alice").await;
    h.connect("a2", "/app", "user:alice").await;
    let info = h.js.emit_with_ack("a1", "/ops/connection", json!([])).await;
    assert_eq!(
        info,
        json!({"client_id": a1, "client_key": a1, "user_id": "alice", "channels": [], "namespace": "/app"})
    );
    // The reply is sent once: as the ack when one was asked for…
    h.js.assert_no_event("a1", "/ops/connection-success", Duration::from_millis(150))
        .await;
    // …otherwise as the event, to that socket only.
    h.js.emit("a1", "/ops/connection", json!([])).await;
    assert_eq!(
        h.js.event("a1", "/ops/connection-success").await,
        vec![info]
    );
    h.js.assert_no_event("a2", "/ops/connection-success", Duration::from_millis(150))
        .await;

    let anon = h.connect("anon", "/app", "anon").await;
    let info =
        h.js.emit_with_ack("anon", "/ops/connection", json!([]))
            .await;
    assert_eq!(info["user_id"], Value::Null);
    assert_eq!(info["client_id"], anon.as_str());
}

#[tokio::test]
async fn logout_stops_delivery_and_login_switches_the_user() {
    let mut h = Harness::start().await;
    h.connect("tab", "/app", "user:alice").await;
    let emitter = h.tether.emitter::<App>();

    let info = h.js.emit_with_ack("tab", "/ops/logout", json!([])).await;
    assert_eq!(info["user_id"], Value::Null);
    let d = emitter
        .to_user("alice")
        .emit(Harness::ping(json!("old")))
        .await
        .unwrap();
    assert!(!d.delivered());
    h.js.assert_no_event("tab", "/users/ping", Duration::from_millis(100))
        .await;

    let bad =
        h.js.emit_with_ack("tab", "/ops/login", json!([{"token": "forged"}]))
            .await;
    // The namespace's middleware decides a login as it decided the handshake.
    assert_eq!(
        bad,
        json!({"error": {"code": "invalid_token", "message": "unknown token"}})
    );
    let missing = h.js.emit_with_ack("tab", "/ops/login", json!([{}])).await;
    assert_eq!(missing["error"]["code"], "invalid_payload");

    let info =
        h.js.emit_with_ack("tab", "/ops/login", json!([{"token": "user:bob"}]))
            .await;
    assert_eq!(info["user_id"], "bob");
    let d = emitter
        .to_user("bob")
        .emit(Harness::ping(json!("new")))
        .await
        .unwrap();
    assert_eq!(d.sockets, 1);
    assert_eq!(h.js.event("tab", "/users/ping").await, vec![json!("new")]);
    assert!(!h.tether.clients::<App>().is_online("alice"));

    // Psychic's Ws.register, from server code.
    let user = h.js.emit_with_ack("tab", "claim", json!(["carol"])).await;
    assert_eq!(user, "carol");
    assert_eq!(h.tether.clients::<App>().users(), ["carol"]);
}

#[tokio::test]
async fn relays_are_denied_by_default_and_allowed_only_by_the_hook() {
    let mut h = Harness::start().await;
    h.connect("alice", "/app", "user:alice").await;
    h.connect("bob", "/app", "user:bob").await;
    h.connect("anon", "/app", "anon").await;

    let ok =
        h.js.emit_with_ack(
            "alice",
            "/ops/user",
            json!([{"to": "bob", "event": "hi", "data": {"n": 1}}]),
        )
        .await;
    assert_eq!(ok, json!({"delivered": 1}));
    assert_eq!(h.js.event("bob", "hi").await, vec![json!({"n": 1})]);

    let denied =
        h.js.emit_with_ack(
            "anon",
            "/ops/user",
            json!([{"to": "bob", "event": "spam", "data": 1}]),
        )
        .await;
    assert_eq!(denied["error"]["code"], "forbidden");
    let denied =
        h.js.emit_with_ack(
            "alice",
            "/ops/channel",
            json!([{"to": "general", "event": "x"}]),
        )
        .await;
    assert_eq!(denied["error"]["code"], "forbidden");
    let reserved =
        h.js.emit_with_ack(
            "alice",
            "/ops/user",
            json!([{"to": "bob", "event": "/ops/login", "data": {}}]),
        )
        .await;
    assert_eq!(reserved["error"]["code"], "invalid_payload");
    h.js.assert_no_event("bob", "spam", Duration::from_millis(100))
        .await;

    // A namespace without a relay hook refuses every relay and says why.
    h.connect("s1", "/strict", "user:alice").await;
    let denied =
        h.js.emit_with_ack("s1", "/ops/user", json!([{"to": "alice", "event": "x"}]))
            .await;
    assert_eq!(denied["error"]["code"], "forbidden");
    assert!(
        denied["error"]["message"]
            .as_str()
            .unwrap()
            .contains("relay"),
        "{denied}"
    );
}

#[tokio::test]
async fn anonymous_connections_are_refused_unless_the_namespace_allows_them() {
    let mut h = Harness::start().await;
    let url = h.server.url("/strict");
    let refused =
        h.js.connect("a", &url, json!({"auth": {"token": "anon"}}))
            .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m == "unauthenticated: namespace `/strict` requires a signed-in user"),
        "{refused:?}"
    );
    h.connect("b", "/app", "anon").await;
}

#[tokio::test]
async fn kicking_a_user_closes_every_socket_and_says_why() {
    let mut h = Harness::start().await;
    h.connect("a1", "/app", "user:alice").await;
    h.connect("a2", "/app", "user:alice").await;
    h.connect("b1", "/app", "user:bob").await;
    let clients = h.tether.clients::<App>();
    eventually("three sockets", || clients.len() == 3).await;

    let kicked = clients.kick_user("alice", &tether::Kick::new("banned", "spamming"));
    assert_eq!(kicked, 2);
    for tab in ["a1", "a2"] {
        assert_eq!(
            h.js.event(tab, "/ops/disconnected").await,
            vec![json!({"code": "banned", "message": "spamming"})]
        );
        assert_eq!(h.js.disconnected(tab).await, "io server disconnect");
    }
    eventually("alice is offline", || !clients.is_online("alice")).await;
    assert!(clients.is_online("bob"));
}

#[tokio::test]
async fn a_connection_over_the_cap_closes_the_users_oldest_socket() {
    let mut h = Harness::start().await;
    h.connect("s1", "/strict", "user:alice").await;
    h.connect("s2", "/strict", "user:alice").await;
    h.connect("s3", "/strict", "user:alice").await;
    let evicted = h.js.event("s1", "/ops/disconnected").await;
    assert_eq!(evicted[0]["code"], "connection_limit");
    assert_eq!(h.js.disconnected("s1").await, "io server disconnect");
    let clients = h.tether.clients::<Strict>();
    eventually("two sockets left", || {
        clients.user_sockets("alice").len() == 2
    })
    .await;
    h.js.assert_no_event("s2", "/ops/disconnected", Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn recorded_emits_can_be_asserted_on() {
    let h = Harness::start().await;
    let log = h.tether.record_emits::<App>();
    let emitter = h.tether.emitter::<App>();
    emitter
        .to_user("42")
        .emit(Harness::ping(json!({"hello": "world"})))
        .await
        .unwrap();
    log.assert_emitted(
        &Target::User("42".into()),
        "/users/ping",
        &json!({"hello": "world"}),
    );
    log.assert_not_emitted("counted");
    assert_eq!(log.emits()[0].delivery.sockets, 0);
    // AnyEvent works for namespaces that do not declare their events.
    assert_eq!(AnyEvent::new("x", json!(1)).name(), "x");
}
