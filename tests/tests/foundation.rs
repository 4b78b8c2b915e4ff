//! Issue 2: `#[socket_namespace]` on a single node, checked with the official JS
//! `socket.io-client` (and a Rust client in `rust_client.rs`).

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether::{
    Client, DisconnectReason, Handshake, SocketError, SocketNok, SocketOk, Tether, socket_namespace,
};
use tether_tests::{Connect, JsClient, TestServer, eventually};
use tokio::sync::mpsc;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Role {
    Admin,
    Member,
}

#[derive(Debug, Clone, Serialize)]
struct DevUser {
    user_id: String,
    name: String,
    role: Role,
    comm_id: Option<String>,
    tab: Option<Value>,
}

#[derive(Debug)]
enum Hook {
    Connected(String),
    Disconnected(String, DisconnectReason),
}

struct DevUserSocket {
    hooks: mpsc::UnboundedSender<Hook>,
    said: Mutex<Vec<String>>,
}

#[derive(Deserialize)]
struct SayStuff {
    text: String,
    times: u8,
}

#[derive(Serialize)]
struct Sent {
    echoed: String,
    by: String,
}

#[socket_namespace(path = "/devUser", client_connection_key = "user_id")]
impl DevUserSocket {
    /// Tokens are `user:<id>:<role>` here; the JWE ones come with the auth module.
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        let token = hs
            .auth_str("token")
            .ok_or_else(|| SocketNok::with_code("missing_token", "send a token in `auth.token`"))?;
        match token {
            "expired" => return Err(SocketNok::with_code("expired_token", "the token expired")),
            "panic" => panic!("a bug in the middleware"),
            _ => {}
        }
        let tab = hs
            .metadata()
            .map_err(|e| SocketNok::with_code("malformed_metadata", e.to_owned()))?
            .cloned();
        let mut parts = token.split(':');
        let (Some("user"), Some(id), Some(role)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SocketNok::with_code(
                "malformed_token",
                "expected `user:<id>:<role>`",
            ));
        };
        let role = match role {
            "admin" => Role::Admin,
            "member" => Role::Member,
            other => return Err(SocketNok::new(format!("unknown role `{other}`"))),
        };
        Ok(SocketOk::new(DevUser {
            user_id: id.to_owned(),
            name: format!("User {id}"),
            role,
            comm_id: hs.comm_id().map(str::to_owned),
            tab,
        }))
    }

    #[on_connect]
    async fn joined(&self, client: &Client<DevUser>) {
        let _ = self.hooks.send(Hook::Connected(client.key().to_owned()));
    }

    #[on("whoami")]
    async fn whoami(&self, client: &Client<DevUser>) -> DevUser {
        client.metadata().clone()
    }

    #[on("sayStuff")]
    async fn say_stuff(
        &self,
        client: &Client<DevUser>,
        msg: SayStuff,
    ) -> Result<Sent, SocketError> {
        if msg.times == 0 {
            return Err(SocketError::new(
                "nothing_to_say",
                "`times` must be at least 1",
            ));
        }
        self.said.lock().unwrap().push(msg.text.clone());
        Ok(Sent {
            echoed: msg.text.repeat(usize::from(msg.times)),
            by: client.metadata().name.clone(),
        })
    }

    #[on("note")]
    async fn note(&self, msg: SayStuff) {
        self.said.lock().unwrap().push(msg.text);
    }

    #[on("crash")]
    async fn crash(&self) -> u32 {
        panic!("a bug in a listener")
    }

    #[on_disconnect]
    async fn left(&self, client: &Client<DevUser>, reason: DisconnectReason) {
        let _ = self
            .hooks
            .send(Hook::Disconnected(client.key().to_owned(), reason));
    }

    /// Not a listener: stays an ordinary method.
    fn said(&self) -> Vec<String> {
        self.said.lock().unwrap().clone()
    }
}

struct Harness {
    tether: Tether,
    server: TestServer,
    js: JsClient,
    hooks: mpsc::UnboundedReceiver<Hook>,
}

impl Harness {
    async fn start() -> Self {
        let (tx, hooks) = mpsc::unbounded_channel();
        let tether = Tether::builder()
            .namespace(DevUserSocket {
                hooks: tx,
                said: Mutex::new(Vec::new()),
            })
            .build()
            .await
            .expect("build");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        let js = JsClient::spawn().await;
        Self {
            tether,
            server,
            js,
            hooks,
        }
    }

    fn url(&self) -> String {
        self.server.url("/devUser")
    }

    async fn connect(&mut self, name: &str, token: &str) -> String {
        let url = self.url();
        self.js
            .connect_ok(name, &url, json!({"auth": {"token": token}}))
            .await
    }

    async fn hook(&mut self) -> Hook {
        tokio::time::timeout(tether_tests::TIMEOUT, self.hooks.recv())
            .await
            .expect("a hook fired in time")
            .expect("hook channel open")
    }
}

#[tokio::test]
async fn accepted_connection_carries_the_middleware_metadata() {
    let mut h = Harness::start().await;
    h.connect("a", "user:42:admin").await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(
        me,
        json!({"user_id": "42", "name": "User 42", "role": "admin", "comm_id": null, "tab": null})
    );
    let clients = h.tether.clients::<DevUserSocket>();
    let client = clients
        .get("42")
        .pop()
        .expect("registered under its user_id");
    assert_eq!(client.metadata().role, Role::Admin);
}

#[tokio::test]
async fn refused_connection_gets_the_middleware_message_and_code() {
    let mut h = Harness::start().await;
    let url = h.url();
    let refused =
        h.js.connect("a", &url, json!({"auth": {"token": "expired"}}))
            .await;
    let Connect::Refused(message) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert_eq!(message, "expired_token: the token expired");
    assert_eq!(
        SocketNok::parse(&message),
        Some(("expired_token", "the token expired"))
    );

    let refused = h.js.connect("b", &url, json!({})).await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m == "missing_token: send a token in `auth.token`"),
        "{refused:?}"
    );
    let refused =
        h.js.connect("c", &url, json!({"auth": {"token": "user:1:wizard"}}))
            .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m == "refused: unknown role `wizard`"),
        "{refused:?}"
    );
    assert!(h.tether.clients::<DevUserSocket>().is_empty());
}

#[tokio::test]
async fn middleware_panic_refuses_with_internal_and_the_next_client_is_served() {
    let mut h = Harness::start().await;
    let url = h.url();
    let refused =
        h.js.connect("bad", &url, json!({"auth": {"token": "panic"}}))
            .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m.starts_with("internal: ")),
        "{refused:?}"
    );
    h.connect("good", "user:7:member").await;
    let me = h.js.emit_with_ack("good", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "7");
}

#[tokio::test]
async fn typed_listener_acks_its_return_value() {
    let mut h = Harness::start().await;
    h.connect("a", "user:1:member").await;
    let ack =
        h.js.emit_with_ack("a", "sayStuff", json!([{"text": "hi", "times": 3}]))
            .await;
    assert_eq!(ack, json!({"echoed": "hihihi", "by": "User 1"}));

    let err =
        h.js.emit_with_ack("a", "sayStuff", json!([{"text": "hi", "times": 0}]))
            .await;
    assert_eq!(
        err,
        json!({"error": {"code": "nothing_to_say", "message": "`times` must be at least 1"}})
    );
}

#[tokio::test]
async fn listener_without_return_value_runs_and_sends_no_ack() {
    let mut h = Harness::start().await;
    h.connect("a", "user:1:member").await;
    h.js.emit("a", "note", json!([{"text": "quiet", "times": 1}]))
        .await;
    let state = h.tether.state::<DevUserSocket>();
    // `said` is an unmarked method: it stayed an ordinary method of the struct.
    eventually("the note is recorded", || state.said() == ["quiet"]).await;
    h.js.assert_no_event("a", "note", Duration::from_millis(100))
        .await;
}

#[tokio::test]
async fn malformed_payload_gets_an_invalid_payload_error_ack() {
    let mut h = Harness::start().await;
    h.connect("a", "user:1:member").await;
    for bad in [
        json!([{"text": 5, "times": 1}]),
        json!([]),
        json!(["just a string"]),
    ] {
        let ack = h.js.emit_with_ack("a", "sayStuff", bad.clone()).await;
        assert_eq!(ack["error"]["code"], "invalid_payload", "for {bad}: {ack}");
        let message = ack["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("the `sayStuff` payload is invalid: "),
            "{message}"
        );
    }
    // The socket is still served.
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "1");
}

#[tokio::test]
async fn panicking_listener_acks_internal_and_the_socket_stays_usable() {
    let mut h = Harness::start().await;
    h.connect("a", "user:1:member").await;
    let ack = h.js.emit_with_ack("a", "crash", json!([])).await;
    assert_eq!(ack["error"]["code"], "internal");
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "1");
}

#[tokio::test]
async fn unknown_event_gets_an_error_ack() {
    let mut h = Harness::start().await;
    h.connect("a", "user:1:member").await;
    let ack = h.js.emit_with_ack("a", "nope", json!([1])).await;
    assert_eq!(
        ack,
        json!({"error": {"code": "unknown_event", "message": "no listener for event `nope`"}})
    );
}

#[tokio::test]
async fn hooks_fire_with_the_disconnect_reason() {
    let mut h = Harness::start().await;
    h.connect("a", "user:5:member").await;
    assert!(matches!(h.hook().await, Hook::Connected(k) if k == "5"));
    h.js.disconnect("a").await;
    match h.hook().await {
        Hook::Disconnected(key, reason) => {
            assert_eq!(key, "5");
            assert_eq!(reason, DisconnectReason::ClientNSDisconnect);
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }

    // A server-side disconnect reports its own reason, and the client sees it.
    h.connect("b", "user:6:member").await;
    assert!(matches!(h.hook().await, Hook::Connected(k) if k == "6"));
    h.tether.clients::<DevUserSocket>().get("6")[0].disconnect();
    match h.hook().await {
        Hook::Disconnected(key, reason) => {
            assert_eq!(key, "6");
            assert_eq!(reason, DisconnectReason::ServerNSDisconnect);
        }
        other => panic!("expected a disconnect, got {other:?}"),
    }
    assert_eq!(h.js.disconnected("b").await, "io server disconnect");
}

#[tokio::test]
async fn two_tabs_under_one_key_are_both_registered_until_each_leaves() {
    let mut h = Harness::start().await;
    let tab1 = h.connect("tab1", "user:9:member").await;
    let tab2 = h.connect("tab2", "user:9:member").await;
    let clients = h.tether.clients::<DevUserSocket>();
    eventually("both tabs registered", || clients.get("9").len() == 2).await;
    assert_eq!(clients.key_count(), 1);
    let ids: Vec<String> = clients
        .get("9")
        .iter()
        .map(|c| c.id().to_string())
        .collect();
    assert_eq!(
        ids,
        vec![tab1, tab2.clone()],
        "oldest first, neither overwritten"
    );

    let delivery = clients
        .emit_to("9", "ping", &json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(delivery.sockets, 2);
    assert_eq!(h.js.event("tab1", "ping").await, vec![json!({"n": 1})]);
    assert_eq!(h.js.event("tab2", "ping").await, vec![json!({"n": 1})]);

    h.js.disconnect("tab1").await;
    eventually("tab1 unregistered", || clients.get("9").len() == 1).await;
    assert_eq!(clients.get("9")[0].id().to_string(), tab2);
    let delivery = clients
        .emit_to("9", "ping", &json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(delivery.sockets, 1);
    assert_eq!(h.js.event("tab2", "ping").await, vec![json!({"n": 2})]);
}

#[tokio::test]
async fn comm_id_and_metadata_come_from_the_query() {
    let mut h = Harness::start().await;
    let url = h.url();
    h.js.connect_ok(
        "a",
        &url,
        json!({"auth": {"token": "user:3:member"}, "query": {"commId": "c-77", "metadata": "{\"tab\":2}"}}),
    )
    .await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["comm_id"], "c-77");
    assert_eq!(me["tab"], json!({"tab": 2}));

    let refused =
        h.js.connect(
            "b",
            &url,
            json!({"auth": {"token": "user:3:member"}, "query": {"metadata": "{not json"}}),
        )
        .await;
    assert!(
        matches!(&refused, Connect::Refused(m) if m.starts_with("malformed_metadata: the `metadata` query field is not valid JSON")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn the_clients_map_filters_and_emits_from_outside_handlers() {
    let mut h = Harness::start().await;
    h.connect("admin", "user:1:admin").await;
    h.connect("m1", "user:2:member").await;
    h.connect("m2", "user:3:member").await;
    let clients = h.tether.clients::<DevUserSocket>();
    eventually("three clients", || clients.len() == 3).await;

    let admins = clients.filter(|m| m.role == Role::Admin);
    assert_eq!(admins.len(), 1);
    assert_eq!(admins[0].key(), "1");
    let mut keys = clients.keys();
    keys.sort();
    assert_eq!(keys, ["1", "2", "3"]);

    let d = clients
        .emit_all_except("1", "news", &json!("members only"))
        .await
        .unwrap();
    assert_eq!(d.sockets, 2);
    assert_eq!(h.js.event("m1", "news").await, vec![json!("members only")]);
    assert_eq!(h.js.event("m2", "news").await, vec![json!("members only")]);
    h.js.assert_no_event("admin", "news", Duration::from_millis(150))
        .await;

    let d = clients.emit_all("all", &json!(1)).await.unwrap();
    assert_eq!(d.sockets, 3);
    for name in ["admin", "m1", "m2"] {
        assert_eq!(h.js.event(name, "all").await, vec![json!(1)]);
    }

    clients.get("2")[0].join("lobby");
    let d = clients
        .emit_to_room("lobby", "room", &json!("hi"))
        .await
        .unwrap();
    assert_eq!(d.sockets, 1);
    assert_eq!(h.js.event("m1", "room").await, vec![json!("hi")]);

    let d = clients.emit_to("nobody", "x", &json!(null)).await.unwrap();
    assert!(!d.delivered());
}
