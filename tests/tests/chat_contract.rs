//! Issues 6 and 11: the chat demo's server contract, as the official JS `socket.io-client` and a
//! plain HTTP client observe it. The app is the demo's own (`tether_examples::chat::app_with`,
//! served by `cargo run --example chat`), built in-process on a free port.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tether::auth::Key;
use tether_examples::chat::{self, ChatConfig, NotifySecret};
use tether_tests::{Connect, HttpResponse, JsClient, TestServer, http_post};

/// How long a test waits to be sure an event does not come.
const QUIET: Duration = Duration::from_millis(300);

/// The notify secret of the test apps.
const SECRET: &str = "test-notify-secret-0123456789";

/// The presence grace of the test apps: short, as these tests expect `presence {online: false}`
/// soon after a user's last socket left (the grace itself is tested in `presence.rs`).
const PRESENCE_GRACE: std::time::Duration = std::time::Duration::from_millis(150);

/// The demo's config with the test secret.
fn config(key: Key) -> ChatConfig {
    ChatConfig::new(key, NotifySecret::new(SECRET).expect("a valid secret"))
        .presence_grace(PRESENCE_GRACE)
}

struct Harness {
    server: TestServer,
    js: JsClient,
}

impl Harness {
    async fn start() -> Self {
        Self::start_with(config(Key::generate())).await
    }

    async fn start_with(config: ChatConfig) -> Self {
        let app = chat::app_with(config).await.expect("build the chat app");
        let server = TestServer::start(app).await;
        let js = JsClient::spawn().await;
        Self { server, js }
    }

    fn url(&self) -> String {
        self.server.url("/chat")
    }

    async fn post(&self, path: &str, body: &Value) -> HttpResponse {
        http_post(self.server.addr, path, &body.to_string()).await
    }

    /// `POST /api/notify/{user}` with the notify secret.
    async fn notify(&self, user: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {SECRET}");
        post_with(
            self.server.addr,
            &format!("/api/notify/{user}"),
            &[("Authorization", &auth)],
            &body.to_string(),
        )
        .await
    }

    /// A token from `POST /api/login`.
    async fn token(&self, user: &str) -> String {
        let res = self.post("/api/login", &json!({ "user": user })).await;
        assert_eq!(res.status, 200, "login as {user}: {:?}", res.body);
        res.body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("no token in {:?}", res.body))
            .to_owned()
    }

    /// Connects socket `name` as `user`; returns the connection info it receives on connect.
    async fn connect(&mut self, name: &str, user: &str) -> Value {
        let token = self.token(user).await;
        let url = self.url();
        let sid = self
            .js
            .connect_ok(name, &url, json!({ "auth": { "token": token } }))
            .await;
        let info = self.info_event(name).await;
        assert_eq!(info["client_id"], sid);
        info
    }

    /// The next `/ops/connection-success` of socket `name`.
    async fn info_event(&self, name: &str) -> Value {
        let args = self.js.event(name, "/ops/connection-success").await;
        args.into_iter().next().expect("connection info payload")
    }

    async fn ack(&mut self, name: &str, event: &str, payload: Value) -> Value {
        self.js.emit_with_ack(name, event, json!([payload])).await
    }

    /// Emits with no payload at all (`/ops/logout`, `who`).
    async fn ack_bare(&mut self, name: &str, event: &str) -> Value {
        self.js.emit_with_ack(name, event, json!([])).await
    }

    async fn join(&mut self, name: &str, channel: &str) -> Value {
        let ack = self.ack(name, "join", json!({ "channel": channel })).await;
        assert!(ack.get("error").is_none(), "join {channel}: {ack}");
        ack
    }

    async fn next(&self, name: &str, event: &str) -> Value {
        payload_of(event, self.js.event(name, event).await)
    }
}

/// The payload of a server event: one argument, then (`message`, `dm`, `notification` and the
/// member events: the namespace records them for recovery) the event's position `<ms>-<seq>`.
fn payload_of(event: &str, args: Vec<Value>) -> Value {
    let recorded = matches!(
        event,
        "message" | "dm" | "notification" | "member_joined" | "member_left"
    );
    let position = |v: &Value| {
        v.as_str()
            .and_then(|p| p.split_once('-'))
            .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok())
    };
    match args.as_slice() {
        [payload] if !recorded => payload.clone(),
        [payload, at] if recorded && position(at) => payload.clone(),
        _ => panic!("`{event}` carries one payload (and its position when recorded): {args:?}"),
    }
}

/// The code of an error ack, asserting its shape `{"error": {"code", "message"}}`.
fn error_code(ack: &Value) -> &str {
    let error = ack
        .get("error")
        .unwrap_or_else(|| panic!("expected an error ack, got {ack}"));
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error ack has a message: {ack}"
    );
    assert_eq!(
        error.as_object().map(|o| o.len()),
        Some(2),
        "only code and message: {ack}"
    );
    error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no code in {ack}"))
}

/// A response of [`post_with`]: the status, the head (status line and headers) and the JSON body.
struct Reply {
    status: u16,
    head: String,
    body: Value,
}

/// `POST`s `body` (JSON) to `http://{addr}{path}` with extra `headers`, over a real TCP
/// connection (HTTP/1.1, `Connection: close`).
async fn post_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{extra}\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(tether_tests::TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("no HTTP response to POST {path}"));
    let text = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a malformed HTTP response: {text:?}"));
    assert!(
        !head.to_ascii_lowercase().contains("transfer-encoding"),
        "this helper reads bodies with a Content-Length only: {head}"
    );
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    Reply {
        status,
        head: head.to_owned(),
        body: serde_json::from_str(payload).unwrap_or(Value::Null),
    }
}

#[tokio::test]
async fn login_endpoint_issues_tokens_and_rejects_bad_names() {
    let h = Harness::start().await;

    let res = h.post("/api/login", &json!({ "user": "alice" })).await;
    assert_eq!(res.status, 200);
    let token = res.body["token"].as_str().expect("a token");
    assert_eq!(token.split('.').count(), 5, "a compact JWE: {token}");

    for bad in [
        json!({}),
        json!({ "user": "" }),
        json!({ "user": "no spaces" }),
        json!({ "user": "x".repeat(33) }),
        json!({ "user": 42 }),
    ] {
        let res = h.post("/api/login", &bad).await;
        assert_eq!(res.status, 400, "{bad}: {:?}", res.body);
        assert_eq!(error_code(&res.body), "invalid_payload", "{bad}");
    }
    let res = http_post(h.server.addr, "/api/login", "not json").await;
    assert_eq!(res.status, 400);
    assert_eq!(error_code(&res.body), "invalid_payload");
}

#[tokio::test]
async fn connections_without_a_valid_token_are_refused_with_a_code() {
    let mut h = Harness::start().await;
    let url = h.url();

    let Connect::Refused(msg) = h.js.connect("anon", &url, json!({})).await else {
        panic!("a socket without a token was accepted");
    };
    assert!(msg.starts_with("missing_token"), "{msg}");

    let Connect::Refused(msg) =
        h.js.connect("garbage", &url, json!({ "auth": { "token": "garbage" } }))
            .await
    else {
        panic!("a socket with a garbage token was accepted");
    };
    assert!(msg.starts_with("malformed_token"), "{msg}");

    // A real JWE made with another key.
    let other = chat::app_with(config(Key::generate()))
        .await
        .expect("second app");
    let other = TestServer::start(other).await;
    let res = http_post(other.addr, "/api/login", r#"{"user":"mallory"}"#).await;
    let foreign = res.body["token"].as_str().expect("token").to_owned();
    let Connect::Refused(msg) =
        h.js.connect("foreign", &url, json!({ "auth": { "token": foreign } }))
            .await
    else {
        panic!("a token of another key was accepted");
    };
    assert!(msg.starts_with("invalid_token"), "{msg}");
}

#[tokio::test]
async fn join_answers_the_members_and_members_hear_who_joins_and_leaves() {
    let mut h = Harness::start().await;
    h.connect("alice", "alice").await;
    let ack = h.join("alice", "general").await;
    assert_eq!(ack["channels"], json!(["general"]));
    assert_eq!(ack["members"], json!(["alice"]));
    h.connect("bob", "bob").await;
    let ack = h.join("bob", "general").await;
    assert_eq!(ack["members"], json!(["alice", "bob"]));
    assert_eq!(
        h.next("alice", "member_joined").await,
        json!({ "channel": "general", "user": "bob" })
    );
    h.js.assert_no_event("bob", "member_joined", QUIET).await;
    // A second tab of bob is not news; leaving with the last one is, after the grace.
    h.connect("bob2", "bob").await;
    h.join("bob2", "general").await;
    h.js.assert_no_event("alice", "member_joined", QUIET).await;
    h.js.disconnect("bob2").await;
    h.ack("bob", "leave", json!({ "channel": "general" })).await;
    assert_eq!(
        h.next("alice", "member_left").await,
        json!({ "channel": "general", "user": "bob" })
    );
    h.js.close().await;
}

#[tokio::test]
async fn connect_sends_connection_info_and_presence() {
    let mut h = Harness::start().await;
    let info = h.connect("alice", "alice").await;
    assert_eq!(info["user_id"], "alice");
    assert_eq!(info["channels"], json!([]));
    assert_eq!(info["namespace"], "/chat");
    // Everyone hears of a user's first socket, that user too.
    assert_eq!(
        h.next("alice", "presence").await,
        json!({ "user": "alice", "online": true })
    );

    h.connect("bob", "bob").await;
    assert_eq!(
        h.next("alice", "presence").await,
        json!({ "user": "bob", "online": true })
    );
    assert_eq!(h.ack_bare("bob", "who").await, json!(["alice", "bob"]));

    // A second tab of bob is not news; closing one of two is not either.
    h.connect("bob2", "bob").await;
    h.js.disconnect("bob2").await;
    h.js.assert_no_event("alice", "presence", QUIET).await;
    h.js.disconnect("bob").await;
    assert_eq!(
        h.next("alice", "presence").await,
        json!({ "user": "bob", "online": false })
    );
    assert_eq!(h.ack_bare("alice", "who").await, json!(["alice"]));
    h.js.close().await;
}

#[tokio::test]
async fn join_and_leave_are_acked_with_the_connection_info() {
    let mut h = Harness::start().await;
    h.connect("alice", "alice").await;

    let ack = h.join("alice", "general").await;
    assert_eq!(ack["user_id"], "alice");
    assert_eq!(ack["channels"], json!(["general"]));
    let ack = h.join("alice", "random_2").await;
    assert_eq!(ack["channels"], json!(["general", "random_2"]));

    let ack = h
        .ack("alice", "leave", json!({ "channel": "general" }))
        .await;
    assert_eq!(ack["channels"], json!(["random_2"]));
    let ack = h
        .ack("alice", "leave", json!({ "channel": "general" }))
        .await;
    assert_eq!(error_code(&ack), "not_in_channel");

    for bad in ["", "no spaces", "semi;colon", "é", &"x".repeat(33)] {
        let ack = h.ack("alice", "join", json!({ "channel": bad })).await;
        assert_eq!(error_code(&ack), "invalid_channel", "join {bad:?}");
        let ack = h.ack("alice", "leave", json!({ "channel": bad })).await;
        assert_eq!(error_code(&ack), "invalid_channel", "leave {bad:?}");
    }
    for bad in [
        json!({}),
        json!({ "channel": 7 }),
        json!("general"),
        Value::Null,
    ] {
        let ack = h.ack("alice", "join", bad.clone()).await;
        assert_eq!(error_code(&ack), "invalid_payload", "join {bad}");
    }
    let ack = h.ack_bare("alice", "join").await;
    assert_eq!(error_code(&ack), "invalid_payload", "join without payload");

    // Nothing above changed the membership.
    let info = h.ack_bare("alice", "/ops/connection").await;
    assert_eq!(info["channels"], json!(["random_2"]));
    h.js.close().await;
}

#[tokio::test]
async fn say_reaches_the_members_of_the_channel_only() {
    let mut h = Harness::start().await;
    h.connect("alice", "alice").await;
    h.connect("bob", "bob").await;
    h.connect("carol", "carol").await;
    h.join("alice", "general").await;
    h.join("bob", "general").await;
    h.join("carol", "other").await;

    let ack = h
        .ack(
            "alice",
            "say",
            json!({ "channel": "general", "text": "hello" }),
        )
        .await;
    assert_eq!(ack, json!({ "delivered": 2 }));
    let expected = json!({ "from": "alice", "channel": "general", "text": "hello" });
    assert_eq!(h.next("alice", "message").await, expected);
    assert_eq!(h.next("bob", "message").await, expected);
    h.js.assert_no_event("carol", "message", QUIET).await;

    // Writing to a channel one has not joined is refused.
    let ack = h
        .ack(
            "carol",
            "say",
            json!({ "channel": "general", "text": "hi" }),
        )
        .await;
    assert_eq!(error_code(&ack), "not_in_channel");

    // After leaving, bob receives nothing more.
    h.ack("bob", "leave", json!({ "channel": "general" })).await;
    let ack = h
        .ack(
            "alice",
            "say",
            json!({ "channel": "general", "text": "bye" }),
        )
        .await;
    assert_eq!(ack, json!({ "delivered": 1 }));
    h.next("alice", "message").await;
    h.js.assert_no_event("bob", "message", QUIET).await;
    h.js.close().await;
}

#[tokio::test]
async fn dm_reaches_every_socket_of_the_user_and_acks_online() {
    let mut h = Harness::start().await;
    h.connect("alice", "alice").await;
    h.connect("bob-tab1", "bob").await;
    h.connect("bob-tab2", "bob").await;

    let ack = h
        .ack("alice", "dm", json!({ "to": "bob", "text": "psst" }))
        .await;
    assert_eq!(ack, json!({ "online": true }));
    let expected = json!({ "from": "alice", "text": "psst" });
    assert_eq!(h.next("bob-tab1", "dm").await, expected);
    assert_eq!(h.next("bob-tab2", "dm").await, expected);
    h.js.assert_no_event("alice", "dm", QUIET).await;

    let ack = h
        .ack("alice", "dm", json!({ "to": "nobody", "text": "hello?" }))
        .await;
    assert_eq!(ack, json!({ "online": false }));

    for bad in [
        json!({ "to": "bad name", "text": "x" }),
        json!({ "to": "", "text": "x" }),
        json!({ "text": "x" }),
        json!({ "to": "bob" }),
        json!({ "to": "bob", "text": "   " }),
        json!("bob: x"),
        json!(42),
    ] {
        let ack = h.ack("alice", "dm", bad.clone()).await;
        assert_eq!(error_code(&ack), "invalid_payload", "dm {bad}");
    }
    h.js.assert_no_event("bob-tab1", "dm", QUIET).await;
    h.js.close().await;
}

#[tokio::test]
async fn notify_delivers_to_every_socket_of_the_user_or_says_offline() {
    let mut h = Harness::start().await;
    h.connect("bob-tab1", "bob").await;
    h.connect("bob-tab2", "bob").await;
    h.connect("alice", "alice").await;

    let body = json!({ "title": "Build finished", "nested": { "ok": true }, "n": [1, 2] });
    let res = h.notify("bob", &body).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["delivered"], true);
    assert_eq!(res.body["sockets"], 2);
    assert_eq!(res.body["nodes"], 1);
    assert_eq!(h.next("bob-tab1", "notification").await, body);
    assert_eq!(h.next("bob-tab2", "notification").await, body);
    h.js.assert_no_event("alice", "notification", QUIET).await;

    // Any JSON body, not only objects.
    let res = h.notify("alice", &json!("plain string")).await;
    assert_eq!(res.body["delivered"], true);
    assert_eq!(h.next("alice", "notification").await, "plain string");

    let res = h.notify("ghost", &json!({ "title": "hi" })).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body["delivered"], false);
    assert_eq!(res.body["reason"], "offline");

    let auth = format!("Bearer {SECRET}");
    let res = post_with(
        h.server.addr,
        "/api/notify/bob",
        &[("Authorization", &auth)],
        "{not json",
    )
    .await;
    assert_eq!(res.status, 400);
    assert_eq!(error_code(&res.body), "invalid_payload");
    h.js.assert_no_event("bob-tab1", "notification", QUIET)
        .await;
    h.js.close().await;
}

#[tokio::test]
async fn notify_without_the_secret_is_refused_and_delivers_nothing() {
    let mut h = Harness::start().await;
    h.connect("bob", "bob").await;
    let addr = h.server.addr;
    let body = r#"{"title":"Your account is locked, click here"}"#;

    // No credential: 401 `unauthorized`, with the scheme to use.
    let res = post_with(addr, "/api/notify/bob", &[], body).await;
    assert_eq!(res.status, 401, "{:?}", res.body);
    assert_eq!(error_code(&res.body), "unauthorized");
    assert!(
        res.head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer"),
        "{}",
        res.head
    );
    // The secret in another scheme, or no credentials after `Bearer`: no credential either.
    for value in [
        format!("Basic {SECRET}"),
        SECRET.to_owned(),
        "Bearer".to_owned(),
        format!("Bearer{SECRET}"),
    ] {
        let res = post_with(addr, "/api/notify/bob", &[("Authorization", &value)], body).await;
        assert_eq!(res.status, 401, "{value}: {:?}", res.body);
        assert_eq!(error_code(&res.body), "unauthorized", "{value}");
    }
    // Wrong secrets, a user's own chat token among them: 403 `forbidden`.
    let chat_token = h.token("mallory").await;
    for secret in [
        "wrong".to_owned(),
        format!("{SECRET}x"),
        SECRET[..SECRET.len() - 1].to_owned(),
        SECRET.to_uppercase(),
        chat_token,
    ] {
        let value = format!("Bearer {secret}");
        let res = post_with(addr, "/api/notify/bob", &[("Authorization", &value)], body).await;
        assert_eq!(res.status, 403, "{value}: {:?}", res.body);
        assert_eq!(error_code(&res.body), "forbidden", "{value}");
        assert!(
            !res.body.to_string().contains(SECRET),
            "an error never shows the secret"
        );
    }
    // The credential is checked before the body is read: a bad body does not tell more.
    let res = post_with(
        addr,
        "/api/notify/bob",
        &[("Authorization", "Bearer wrong")],
        "{not json",
    )
    .await;
    assert_eq!(res.status, 403);
    h.js.assert_no_event("bob", "notification", QUIET).await;

    // The caller holding the secret, beside the refused ones: delivered, once.
    let res = h.notify("bob", &json!({ "title": "Build finished" })).await;
    assert_eq!(res.status, 200, "{:?}", res.body);
    assert_eq!(res.body["delivered"], true);
    assert_eq!(
        h.next("bob", "notification").await,
        json!({ "title": "Build finished" })
    );
    h.js.assert_no_event("bob", "notification", QUIET).await;
    h.js.close().await;
}

/// Tokens of 2 s (their `exp` falls 1 to 2 s after `/api/login`: whole seconds) and a grace of
/// 1.5 s, so that the expiry tests take seconds.
fn short_lived() -> ChatConfig {
    config(Key::generate())
        .token_ttl(Duration::from_secs(2))
        .token_grace(Duration::from_millis(1500))
}

/// The next `/ops/token-expired` of socket `name`, checking its payload.
async fn token_expired(h: &Harness, name: &str) {
    let notice = h.next(name, "/ops/token-expired").await;
    assert_eq!(notice["code"], "expired_token", "{notice}");
    assert_eq!(notice["grace_seconds"], 1.5, "{notice}");
    assert!(
        notice["message"]
            .as_str()
            .is_some_and(|m| m.contains("/ops/login")),
        "{notice}"
    );
}

#[tokio::test]
async fn a_socket_whose_token_expires_is_told_then_disconnected_without_a_fresh_login() {
    let mut h = Harness::start_with(short_lived()).await;
    let started = std::time::Instant::now();
    h.connect("alice", "alice").await;
    h.join("alice", "general").await;

    token_expired(&h, "alice").await;
    // Until the grace runs out the socket is still alice's.
    let res = h.notify("alice", &json!({ "title": "still here" })).await;
    assert_eq!(res.body["delivered"], true, "{:?}", res.body);

    let kick = h.next("alice", "/ops/disconnected").await;
    assert_eq!(kick["code"], "expired_token", "{kick}");
    assert_eq!(h.js.disconnected("alice").await, "io server disconnect");
    // `exp` is at least 1 s after the login, and the grace 1.5 s more.
    assert!(
        started.elapsed() >= Duration::from_millis(2500),
        "disconnected after {:?}, before the token's expiry and the grace",
        started.elapsed()
    );
    let res = h.notify("alice", &json!({ "title": "gone" })).await;
    assert_eq!(res.body["delivered"], false, "{:?}", res.body);
    assert_eq!(res.body["reason"], "offline");
    h.js.close().await;
}

#[tokio::test]
async fn a_fresh_login_within_the_grace_keeps_the_socket_and_its_messages() {
    let mut h = Harness::start_with(short_lived()).await;
    let first = h.connect("alice", "alice").await;
    assert_eq!(
        h.next("alice", "presence").await,
        json!({ "user": "alice", "online": true })
    );
    h.join("alice", "general").await;

    // What the page does: a fresh token from `/api/login` for the same user, on the same socket.
    token_expired(&h, "alice").await;
    let token = h.token("alice").await;
    let ack = h
        .ack("alice", "/ops/login", json!({ "token": token }))
        .await;
    assert_eq!(ack["user_id"], "alice", "{ack}");
    assert_eq!(ack["client_id"], first["client_id"], "the same socket");
    assert_eq!(ack["channels"], json!(["general"]), "its channels kept");
    // Sent once, as the ack.
    h.js.assert_no_event(
        "alice",
        "/ops/connection-success",
        Duration::from_millis(100),
    )
    .await;

    // The fresh token expires in turn (at least 2 s after the first one did): the old deadline,
    // 1.5 s after the first notice, passed without a disconnect.
    token_expired(&h, "alice").await;
    h.js.assert_no_event("alice", "/ops/disconnected", Duration::ZERO)
        .await;
    // Still connected, as alice: channel messages and notifications arrive.
    let ack = h
        .ack(
            "alice",
            "say",
            json!({ "channel": "general", "text": "still here" }),
        )
        .await;
    assert_eq!(ack, json!({ "delivered": 1 }));
    assert_eq!(h.next("alice", "message").await["text"], "still here");
    let res = h.notify("alice", &json!({ "title": "hi" })).await;
    assert_eq!(res.body["delivered"], true, "{:?}", res.body);
    assert_eq!(
        h.next("alice", "notification").await,
        json!({ "title": "hi" })
    );
    // A renewal is not news to anyone: no presence change.
    h.js.assert_no_event("alice", "presence", Duration::ZERO)
        .await;

    // The fresh token's own expiry is enforced: no login this time, so it ends.
    let kick = h.next("alice", "/ops/disconnected").await;
    assert_eq!(kick["code"], "expired_token", "{kick}");
    assert_eq!(h.js.disconnected("alice").await, "io server disconnect");
    h.js.close().await;
}

#[tokio::test]
async fn invalid_say_input_gets_error_acks_and_the_socket_stays_usable() {
    let mut h = Harness::start().await;
    h.connect("alice", "alice").await;
    h.join("alice", "general").await;

    let cases = [
        (json!({ "channel": "general" }), "invalid_payload"),
        (json!({ "text": "hi" }), "invalid_payload"),
        (
            json!({ "channel": "general", "text": 5 }),
            "invalid_payload",
        ),
        (
            json!({ "channel": "general", "text": "" }),
            "invalid_payload",
        ),
        (
            json!({ "channel": "general", "text": " \n " }),
            "invalid_payload",
        ),
        (json!("general: hi"), "invalid_payload"),
        (
            json!({ "channel": "no spaces", "text": "hi" }),
            "invalid_channel",
        ),
        (
            json!({ "channel": "../etc", "text": "hi" }),
            "invalid_channel",
        ),
        (
            json!({ "channel": "general", "text": "x".repeat(chat::MAX_TEXT + 1) }),
            "text_too_long",
        ),
        // Characters, not bytes: 2001 two-byte characters are too long.
        (
            json!({ "channel": "general", "text": "é".repeat(chat::MAX_TEXT + 1) }),
            "text_too_long",
        ),
    ];
    for (payload, code) in cases {
        let ack = h.ack("alice", "say", payload.clone()).await;
        let shown: String = payload.to_string().chars().take(60).collect();
        assert_eq!(error_code(&ack), code, "say {shown}");
    }
    h.js.assert_no_event("alice", "message", QUIET).await;

    // The limit itself is fine, counted in characters.
    let text = "é".repeat(chat::MAX_TEXT);
    let ack = h
        .ack(
            "alice",
            "say",
            json!({ "channel": "general", "text": text }),
        )
        .await;
    assert_eq!(ack, json!({ "delivered": 1 }));
    assert_eq!(h.next("alice", "message").await["text"], text);

    let ack = h.ack_bare("alice", "no-such-event").await;
    assert_eq!(error_code(&ack), "unknown_event");
    h.js.close().await;
}

#[tokio::test]
async fn logout_then_login_on_the_same_socket() {
    let mut h = Harness::start().await;
    let first = h.connect("tab", "alice").await;
    h.connect("bob", "bob").await;
    h.join("tab", "general").await;

    // Logout: anonymous, same socket, still in its channels.
    let ack = h.ack_bare("tab", "/ops/logout").await;
    assert_eq!(ack["user_id"], Value::Null);
    assert_eq!(ack["client_id"], first["client_id"]);
    assert_eq!(ack["channels"], json!(["general"]));
    h.js.assert_no_event("tab", "/ops/connection-success", Duration::from_millis(100))
        .await;
    let offline =
        h.js.wait_for("alice offline after logout", |m| {
            m["type"] == "event"
                && m["name"] == "bob"
                && m["event"] == "presence"
                && m["args"][0] == json!({ "user": "alice", "online": false })
        })
        .await;
    assert_eq!(offline["args"][0]["online"], false);

    // alice is offline now: DMs and notifications do not reach the anonymous socket.
    let ack = h
        .ack("bob", "dm", json!({ "to": "alice", "text": "there?" }))
        .await;
    assert_eq!(ack, json!({ "online": false }));
    let res = h.notify("alice", &json!({ "x": 1 })).await;
    assert_eq!(res.body["delivered"], false);
    h.js.assert_no_event("tab", "dm", QUIET).await;
    h.js.assert_no_event("tab", "notification", Duration::ZERO)
        .await;
    assert_eq!(h.ack_bare("bob", "who").await, json!(["bob"]));

    // An anonymous socket may not write.
    let ack = h
        .ack("tab", "say", json!({ "channel": "general", "text": "hi" }))
        .await;
    assert_eq!(error_code(&ack), "unauthenticated");
    let ack = h
        .ack("tab", "dm", json!({ "to": "bob", "text": "hi" }))
        .await;
    assert_eq!(error_code(&ack), "unauthenticated");

    // A bad token is refused with a code; the socket stays anonymous.
    let ack = h.ack("tab", "/ops/login", json!({ "token": "nope" })).await;
    assert_eq!(error_code(&ack), "malformed_token");
    let ack = h.ack("tab", "/ops/login", json!({})).await;
    assert_eq!(error_code(&ack), "invalid_payload");

    // Login with a fresh token from /api/login, on the same socket.
    let token = h.token("alice").await;
    let ack = h.ack("tab", "/ops/login", json!({ "token": token })).await;
    assert_eq!(ack["user_id"], "alice");
    assert_eq!(ack["client_id"], first["client_id"]);
    h.js.assert_no_event("tab", "/ops/connection-success", Duration::from_millis(100))
        .await;
    h.js.wait_for("alice online after login", |m| {
        m["type"] == "event"
            && m["name"] == "bob"
            && m["event"] == "presence"
            && m["args"][0] == json!({ "user": "alice", "online": true })
    })
    .await;

    let ack = h
        .ack(
            "bob",
            "dm",
            json!({ "to": "alice", "text": "welcome back" }),
        )
        .await;
    assert_eq!(ack, json!({ "online": true }));
    assert_eq!(
        h.next("tab", "dm").await,
        json!({ "from": "bob", "text": "welcome back" })
    );
    let ack = h
        .ack(
            "tab",
            "say",
            json!({ "channel": "general", "text": "back" }),
        )
        .await;
    assert_eq!(ack, json!({ "delivered": 1 }));

    // Logging in as someone else on the same socket switches the user, and says so.
    let token = h.token("alice2").await;
    let ack = h.ack("tab", "/ops/login", json!({ "token": token })).await;
    assert_eq!(ack["user_id"], "alice2");
    for (user, online) in [("alice", false), ("alice2", true)] {
        h.js.wait_for("presence after switching users", |m| {
            m["type"] == "event"
                && m["name"] == "bob"
                && m["event"] == "presence"
                && m["args"][0] == json!({ "user": user, "online": online })
        })
        .await;
    }
    let ack = h
        .ack("bob", "dm", json!({ "to": "alice", "text": "gone?" }))
        .await;
    assert_eq!(ack, json!({ "online": false }));

    // Closing the socket takes its current user offline.
    h.js.disconnect("tab").await;
    let gone =
        h.js.wait_for("alice2 offline", |m| {
            m["type"] == "event"
                && m["name"] == "bob"
                && m["event"] == "presence"
                && m["args"][0]["user"] == "alice2"
        })
        .await;
    assert_eq!(gone["args"][0]["online"], false);
    assert_eq!(h.ack_bare("bob", "who").await, json!(["bob"]));
    h.js.close().await;
}

#[tokio::test]
async fn an_anonymous_socket_leaving_takes_nobody_offline() {
    let mut h = Harness::start().await;
    h.connect("alice-tab1", "alice").await;
    h.connect("bob", "bob").await;
    assert_eq!(
        h.next("bob", "presence").await,
        json!({ "user": "bob", "online": true })
    );
    h.ack_bare("alice-tab1", "/ops/logout").await;
    // The logout itself took alice offline (her only socket), and said so once.
    assert_eq!(
        h.next("bob", "presence").await,
        json!({ "user": "alice", "online": false })
    );
    h.js.disconnect("alice-tab1").await;
    h.js.assert_no_event("bob", "presence", QUIET).await;
    h.js.close().await;
}

#[tokio::test]
async fn the_page_and_the_client_bundle_are_served() {
    let h = Harness::start().await;
    let get = |path: &'static str| {
        let addr = h.server.addr;
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
            let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
            s.write_all(req.as_bytes()).await.expect("send");
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await.expect("read");
            String::from_utf8_lossy(&raw).into_owned()
        }
    };
    let page = get("/").await;
    assert!(page.starts_with("HTTP/1.1 200"), "{page:.200}");
    assert!(
        page.contains("/vendor/socket.io.min.js"),
        "the page loads the client bundle"
    );
    assert!(
        page.contains("without passwords"),
        "the page says it is a demo"
    );
    for asset in ["/app.js", "/style.css"] {
        let res = get(asset).await;
        assert!(res.starts_with("HTTP/1.1 200"), "{asset}: {res:.200}");
    }
    let bundle = get("/vendor/socket.io.min.js").await;
    assert!(
        bundle.starts_with("HTTP/1.1 200"),
        "the socket.io client bundle is missing (run `scripts/setup.sh` or `npm ci --prefix examples/chat/web`): {bundle:.200}"
    );
    assert!(
        bundle.contains("Socket.IO v4.8"),
        "the official client bundle"
    );
}

#[tokio::test]
async fn two_demo_nodes_sharing_redis_deliver_to_each_others_sockets() {
    let redis = tether_tests::redis::RedisServer::start();
    let key = Key::generate();
    let node = |key: &Key| {
        let (key, url) = (
            Key::from_base64url(&key.to_base64url()).expect("same key"),
            redis.url(),
        );
        async move {
            let app = chat::app_with(config(key).redis(url))
                .await
                .expect("join the cluster");
            TestServer::start(app).await
        }
    };
    let (a, b) = (node(&key).await, node(&key).await);
    let mut js = JsClient::spawn().await;

    // alice on node a (token from a), bob on node b (token from b: the nodes share the key).
    let token = |server: &TestServer, user: &'static str| {
        let addr = server.addr;
        async move {
            let res = http_post(addr, "/api/login", &json!({ "user": user }).to_string()).await;
            res.body["token"].as_str().expect("token").to_owned()
        }
    };
    let alice = token(&a, "alice").await;
    let bob = token(&b, "bob").await;
    js.connect_ok(
        "alice",
        &a.url("/chat"),
        json!({ "auth": { "token": alice } }),
    )
    .await;
    js.connect_ok("bob", &b.url("/chat"), json!({ "auth": { "token": bob } }))
        .await;
    // Subscriptions follow sockets; wait until node a follows alice's channel.
    tether_tests::eventually("node a follows alice", || {
        redis
            .cli(&["PUBSUB", "NUMSUB", "tether:/chat:user:alice"])
            .ends_with('1')
    })
    .await;

    // A notification posted to node b reaches alice on node a.
    let auth = format!("Bearer {SECRET}");
    let res = post_with(
        b.addr,
        "/api/notify/alice",
        &[("Authorization", &auth)],
        r#"{"title":"cross-node"}"#,
    )
    .await;
    assert_eq!(res.body["delivered"], true, "{:?}", res.body);
    assert_eq!(res.body["nodes"], 1);
    assert_eq!(
        payload_of("notification", js.event("alice", "notification").await),
        json!({ "title": "cross-node" })
    );

    // A DM from bob (node b) reaches alice (node a), and says she is online.
    let ack = js
        .emit_with_ack("bob", "dm", json!([{ "to": "alice", "text": "hi across" }]))
        .await;
    assert_eq!(ack, json!({ "online": true }));
    assert_eq!(
        payload_of("dm", js.event("alice", "dm").await),
        json!({ "from": "bob", "text": "hi across" })
    );

    // Channel members and the online list are the cluster's, not the node's.
    let general = json!([{ "channel": "general" }]);
    let ack = js.emit_with_ack("alice", "join", general.clone()).await;
    assert_eq!(ack["members"], json!(["alice"]));
    let ack = js.emit_with_ack("bob", "join", general).await;
    assert_eq!(ack["members"], json!(["alice", "bob"]));
    assert_eq!(
        payload_of("member_joined", js.event("alice", "member_joined").await),
        json!({ "channel": "general", "user": "bob" })
    );
    js.assert_no_event("bob", "member_joined", Duration::from_millis(300))
        .await;
    // The cluster view is refreshed every heartbeat (2 s by default).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let who = js.emit_with_ack("bob", "who", json!([])).await;
        if who == json!(["alice", "bob"]) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "who on node b: {who}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    js.close().await;
}
