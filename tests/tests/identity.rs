//! Issue 11, identity on a live socket: `/ops/login` and `/ops/logout` go through the same
//! decision as the handshake (the namespace's middleware), so what the door refuses a login
//! refuses too; the key, metadata, user and channels follow the new identity. Each attack is
//! made with the official JS `socket.io-client` beside a well-behaved socket that stays served.

use std::time::Duration;

use serde_json::{Value, json};
use tether::auth::{Claims, JweVerifier, Key, KeySet};
use tether::{
    Client, DISCONNECTED_EVENT, Handshake, SocketNok, SocketOk, Tether, socket_namespace,
};
use tether_tests::auth::{Member, Profile, authenticate};
use tether_tests::{JsClient, TestServer};

/// Signed-in users only; channel `members` for signed-in users, `lobby` for anyone.
struct Club {
    verifier: JweVerifier,
}

#[socket_namespace(
    path = "/club",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Club {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        authenticate(&self.verifier, hs).await
    }

    #[authorize_channel]
    async fn may_join(&self, client: &Client<Member>, channel: &str) -> bool {
        channel == "lobby" || client.user_id().is_some()
    }

    #[on("whoami")]
    async fn whoami(&self, client: &Client<Member>) -> Value {
        json!({"key": client.key(), "name": client.metadata().name, "user_id": client.user_id()})
    }
}

/// Anonymous sockets allowed: a logout keeps the socket, signed out.
struct Open {
    verifier: JweVerifier,
}

#[derive(Debug, Clone)]
struct Visitor {
    user_id: Option<String>,
}

#[socket_namespace(path = "/open", user_key = "user_id", anonymous = true)]
impl Open {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Visitor>, SocketNok> {
        if hs.auth_str("token").is_none() {
            return Ok(SocketOk::new(Visitor { user_id: None }));
        }
        let member = authenticate(&self.verifier, hs).await?;
        let user_id = Some(member.into_metadata().user_id);
        Ok(SocketOk::new(Visitor { user_id }))
    }

    #[authorize_channel]
    async fn may_join(&self, client: &Client<Visitor>, channel: &str) -> bool {
        channel == "lobby" || client.user_id().is_some()
    }
}

struct Harness {
    tether: Tether,
    server: TestServer,
    js: JsClient,
    keys: KeySet,
}

impl Harness {
    async fn start() -> Self {
        let keys = KeySet::new(Key::generate());
        let verifier = JweVerifier::new(keys.clone());
        let tether = Tether::builder()
            .namespace(Club {
                verifier: verifier.clone(),
            })
            .namespace(Open { verifier })
            .build()
            .await
            .expect("build");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        Self {
            tether,
            server,
            js: JsClient::spawn().await,
            keys,
        }
    }

    fn token(&self, user: &str) -> String {
        let claims = Claims::new(user)
            .expires_in(Duration::from_secs(600))
            .extra(Profile {
                name: format!("{user}'s name"),
            });
        self.keys.issue(&claims).expect("issue")
    }

    async fn connect(&mut self, name: &str, ns: &str, user: Option<&str>) {
        let auth = user.map_or(json!({}), |u| json!({ "token": self.token(u) }));
        let url = self.server.url(ns);
        self.js
            .connect_ok(name, &url, json!({ "auth": auth }))
            .await;
        self.js.event(name, "/ops/connection-success").await;
    }

    async fn ack(&mut self, name: &str, event: &str, args: Value) -> Value {
        self.js.emit_with_ack(name, event, args).await
    }

    async fn side_client_is_served(&mut self) {
        let me = self.ack("side", "whoami", json!([])).await;
        assert_eq!(me["user_id"], "ada", "{me}");
    }
}

#[tokio::test]
async fn a_login_the_middleware_refuses_is_refused_with_its_code_and_changes_nothing() {
    let mut h = Harness::start().await;
    h.connect("side", "/club", Some("ada")).await;
    h.connect("tab", "/club", Some("bob")).await;
    let banned = h.token("banned");
    let ack = h
        .ack("tab", "/ops/login", json!([{ "token": banned }]))
        .await;
    assert_eq!(ack["error"]["code"], "banned", "{ack}");
    let me = h.ack("tab", "whoami", json!([])).await;
    assert_eq!(
        me,
        json!({"key": "bob", "name": "bob's name", "user_id": "bob"})
    );
    let garbage = h
        .ack("tab", "/ops/login", json!([{ "token": "garbage" }]))
        .await;
    assert_eq!(garbage["error"]["code"], "malformed_token", "{garbage}");
    h.side_client_is_served().await;
    h.js.close().await;
}

#[tokio::test]
async fn after_a_login_the_key_and_the_metadata_are_the_new_users() {
    let mut h = Harness::start().await;
    h.connect("side", "/club", Some("ada")).await;
    h.connect("tab", "/club", Some("bob")).await;
    let cleo = h.token("cleo");
    let info = h.ack("tab", "/ops/login", json!([{ "token": cleo }])).await;
    assert_eq!(
        (&info["user_id"], &info["client_key"]),
        (&json!("cleo"), &json!("cleo"))
    );
    let me = h.ack("tab", "whoami", json!([])).await;
    assert_eq!(
        me,
        json!({"key": "cleo", "name": "cleo's name", "user_id": "cleo"})
    );
    let clients = h.tether.clients::<Club>();
    assert!(clients.contains("cleo") && !clients.contains("bob"));
    assert_eq!(clients.get("cleo")[0].metadata().name, "cleo's name");
    h.side_client_is_served().await;
    h.js.close().await;
}

#[tokio::test]
async fn a_logout_leaves_the_channels_the_hook_now_refuses() {
    let mut h = Harness::start().await;
    h.connect("tab", "/open", Some("bob")).await;
    h.connect("side", "/club", Some("ada")).await;
    for channel in ["members", "lobby"] {
        let ack = h
            .ack("tab", "/ops/join", json!([{ "channel": channel }]))
            .await;
        assert!(ack.get("error").is_none(), "{ack}");
    }
    let info = h.ack("tab", "/ops/logout", json!([])).await;
    assert_eq!(info["user_id"], Value::Null, "{info}");
    assert_eq!(info["channels"], json!(["lobby"]), "{info}");
    let emitter = h.tether.emitter::<Open>();
    let members = emitter
        .to_channel("members")
        .emit(tether::AnyEvent::new("news", json!("for members")))
        .await
        .expect("emit");
    assert_eq!(
        members.sockets, 0,
        "a signed-out socket gets no members' message"
    );
    h.js.assert_no_event("tab", "news", Duration::from_millis(150))
        .await;
    h.side_client_is_served().await;
    h.js.close().await;
}

#[tokio::test]
async fn a_logout_in_a_namespace_that_needs_a_user_disconnects_the_socket_telling_it_why() {
    let mut h = Harness::start().await;
    h.connect("side", "/club", Some("ada")).await;
    h.connect("tab", "/club", Some("bob")).await;
    h.js.emit("tab", "/ops/logout", json!([])).await;
    let told = h.js.event("tab", DISCONNECTED_EVENT).await;
    assert_eq!(told[0]["code"], "unauthenticated", "{told:?}");
    h.js.disconnected("tab").await;
    assert!(!h.tether.clients::<Club>().contains("bob"));
    h.side_client_is_served().await;
    h.js.close().await;
}
