//! Issue 4 over the wire, with the JS `socket.io-client`: JWE tokens from every place a client
//! can put them, each refusal code in `connect_error`, expiry on a live socket
//! (`/ops/token-expired`, then `/ops/disconnected` unless the socket logs in again within the
//! grace period), and `/ops/login` with a JWE token.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tether::auth::{JweVerifier, Key, KeySet};
use tether::{
    Client, DISCONNECTED_EVENT, Handshake, SocketNok, SocketOk, TOKEN_EXPIRED_EVENT, Tether,
    TokenExpired, socket_namespace,
};
use tether_tests::auth::{Member, authenticate, unix_now};
use tether_tests::{Connect, JsClient, TestServer, eventually};

/// A namespace whose middleware is the ready-made JWE one.
struct Members {
    verifier: JweVerifier,
}

#[socket_namespace(
    path = "/members",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Members {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        authenticate(&self.verifier, hs).await
    }

    #[on("whoami")]
    async fn whoami(&self, client: &Client<Member>) -> Value {
        json!({"name": client.metadata().name, "user_id": client.user_id()})
    }
}

/// A namespace without middleware: sockets connect anonymously and may `/ops/login`.
struct Lobby;

#[socket_namespace(path = "/lobby")]
impl Lobby {
    #[on("whoami")]
    async fn whoami(&self, client: &Client<()>) -> Value {
        json!({"user_id": client.user_id()})
    }
}

struct Harness {
    tether: Tether,
    server: TestServer,
    js: JsClient,
    keys: KeySet,
}

impl Harness {
    async fn start(grace: Duration) -> Self {
        let keys = KeySet::with_kid("k1", Key::generate());
        // No leeway: the short tokens of the expiry tests must really expire.
        let verifier = JweVerifier::new(keys.clone()).with_leeway(Duration::ZERO);
        let tether = Tether::builder()
            .namespace(Members {
                verifier: verifier.clone(),
            })
            .namespace(Lobby)
            .login_verifier(verifier)
            .token_grace(grace)
            .allowed_origins(["http://app.test"])
            .build()
            .await
            .expect("build");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        let js = JsClient::spawn().await;
        Self {
            tether,
            server,
            js,
            keys,
        }
    }

    /// A token for `sub` expiring at `exp` (seconds since the epoch).
    fn token_until(&self, sub: &str, exp: u64) -> String {
        self.keys
            .issue(&json!({"sub": sub, "name": format!("User {sub}"), "exp": exp}))
            .expect("issued")
    }

    fn token(&self, sub: &str) -> String {
        self.token_until(sub, unix_now() + 3600)
    }

    async fn connect(&mut self, name: &str, ns: &str, opts: Value) -> Connect {
        let url = self.server.url(ns);
        self.js.connect(name, &url, opts).await
    }

    async fn connect_ok(&mut self, name: &str, ns: &str, opts: Value) {
        let url = self.server.url(ns);
        self.js.connect_ok(name, &url, opts).await;
    }

    async fn refusal(&mut self, name: &str, opts: Value) -> (String, String) {
        match self.connect(name, "/members", opts).await {
            Connect::Refused(message) => {
                let (code, text) = SocketNok::parse(&message)
                    .unwrap_or_else(|| panic!("`{message}` lacks the `code: message` framing"));
                (code.to_owned(), text.to_owned())
            }
            Connect::Ok(id) => panic!("`{name}` was accepted as {id}"),
        }
    }
}

#[tokio::test]
async fn a_token_is_accepted_from_auth_bearer_header_cookie_and_query() {
    let mut h = Harness::start(Duration::from_secs(30)).await;
    let cases = [
        ("auth", json!({"auth": {"token": h.token("from-auth")}})),
        (
            "bearer",
            json!({"extraHeaders": {"authorization": format!("Bearer {}", h.token("from-bearer"))}}),
        ),
        (
            "cookie",
            json!({"extraHeaders": {"cookie": format!("theme=dark; token={}", h.token("from-cookie"))}}),
        ),
        ("query", json!({"query": {"token": h.token("from-query")}})),
    ];
    for (name, opts) in cases {
        h.connect_ok(name, "/members", opts).await;
        let me = h.js.emit_with_ack(name, "whoami", json!([])).await;
        let user = format!("from-{name}");
        assert_eq!(
            me,
            json!({"user_id": user, "name": format!("User {user}")}),
            "{name}"
        );
        // The connection carries the token's expiry.
        let client = h
            .tether
            .clients::<Members>()
            .get(&user)
            .pop()
            .expect("registered");
        assert!(client.token_expires_at().is_some(), "{name}");
    }
}

#[tokio::test]
async fn each_refusal_reaches_connect_error_with_its_code() {
    let mut h = Harness::start(Duration::from_secs(30)).await;
    let good = h.token("42");
    let other_key = KeySet::new(Key::generate())
        .issue(&json!({"sub": "42", "name": "x", "exp": unix_now() + 3600}))
        .expect("issued");
    let not_yet = h
        .keys
        .issue(
            &json!({"sub": "42", "name": "x", "exp": unix_now() + 7200, "nbf": unix_now() + 3600}),
        )
        .expect("issued");
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[3] = parts[3].replacen(|c: char| c != 'A', "A", 1);
        parts.join(".")
    };
    let cases = [
        ("none", json!({}), "missing_token", None),
        (
            "garbage",
            json!({"auth": {"token": "garbage"}}),
            "malformed_token",
            Some("garbage"),
        ),
        (
            "number",
            json!({"auth": {"token": 42}}),
            "malformed_token",
            None,
        ),
        (
            "array",
            json!({"auth": {"token": [good]}}),
            "malformed_token",
            Some(good.as_str()),
        ),
        (
            "object",
            json!({"auth": {"token": {"t": good}}}),
            "malformed_token",
            Some(good.as_str()),
        ),
        (
            "other key",
            json!({"auth": {"token": other_key}}),
            "invalid_token",
            Some(other_key.as_str()),
        ),
        (
            "tampered",
            json!({"auth": {"token": tampered}}),
            "invalid_token",
            Some(tampered.as_str()),
        ),
        (
            "expired",
            json!({"auth": {"token": h.token_until("42", unix_now() - 60)}}),
            "expired_token",
            None,
        ),
        (
            "not yet valid",
            json!({"auth": {"token": not_yet}}),
            "not_yet_valid",
            Some(not_yet.as_str()),
        ),
        (
            "bearer garbage",
            json!({"extraHeaders": {"authorization": "Bearer nope"}}),
            "malformed_token",
            Some("nope"),
        ),
        (
            "cookie expired",
            json!({"extraHeaders": {"cookie": format!("token={}", h.token_until("42", 1))}}),
            "expired_token",
            None,
        ),
        (
            "query other key",
            json!({"query": {"token": other_key}}),
            "invalid_token",
            None,
        ),
        (
            "banned by the app",
            json!({"auth": {"token": h.token("banned")}}),
            "banned",
            None,
        ),
    ];
    for (name, opts, code, secret) in cases {
        let (got, message) = h.refusal(name, opts).await;
        assert_eq!(got, code, "{name}: {message}");
        assert!(!message.is_empty(), "{name}");
        if let Some(secret) = secret {
            assert!(
                !message.contains(secret),
                "{name}: the message echoes the token"
            );
        }
    }
    assert!(h.tether.clients::<Members>().is_empty());
    // The server still serves a good client.
    h.connect_ok("good", "/members", json!({"auth": {"token": good}}))
        .await;
    let me = h.js.emit_with_ack("good", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "42");
}

/// Waits for `/ops/token-expired` on `name`, checking it did not come before `exp`.
async fn token_expired(js: &JsClient, name: &str, exp: u64) -> TokenExpired {
    let args = js.event(name, TOKEN_EXPIRED_EVENT).await;
    let arrived = SystemTime::now();
    let expired_at = UNIX_EPOCH + Duration::from_secs(exp);
    assert!(
        arrived + Duration::from_millis(50) >= expired_at,
        "told {:?} before the token expired",
        expired_at.duration_since(arrived).unwrap_or_default()
    );
    serde_json::from_value(args[0].clone()).expect("a TokenExpired payload")
}

#[tokio::test]
async fn an_expired_token_on_a_live_socket_is_told_then_disconnected_after_the_grace() {
    let mut h = Harness::start(Duration::from_secs(1)).await;
    let exp = unix_now() + 3; // whole seconds: 2 to 3 s from now
    let token = h.token_until("42", exp);
    h.connect_ok("a", "/members", json!({"auth": {"token": token}}))
        .await;
    let clients = h.tether.clients::<Members>();
    let client = clients.get("42").pop().expect("registered");
    assert_eq!(
        client.token_expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );

    let told = token_expired(&h.js, "a", exp).await;
    let told_at = Instant::now();
    assert_eq!(told.code, "expired_token");
    assert_eq!(told.grace_seconds, 1.0);
    assert!(told.message.contains("/ops/login"), "{}", told.message);

    let kick = h.js.event("a", DISCONNECTED_EVENT).await;
    assert_eq!(kick[0]["code"], "expired_token");
    assert_eq!(h.js.disconnected("a").await, "io server disconnect");
    let waited = told_at.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "disconnected {waited:?} after being told, before the 1 s grace"
    );
    eventually("the socket is unregistered", || clients.is_empty()).await;
}

#[tokio::test]
async fn logging_in_again_within_the_grace_keeps_the_socket_and_moves_the_expiry() {
    let mut h = Harness::start(Duration::from_secs(2)).await;
    let exp = unix_now() + 3; // whole seconds: 2 to 3 s from now
    let token = h.token_until("42", exp);
    h.connect_ok("a", "/members", json!({"auth": {"token": token}}))
        .await;
    token_expired(&h.js, "a", exp).await;

    // A fresh but short token: the socket stays, and is told again when that one expires.
    let exp2 = unix_now() + 3; // whole seconds: 2 to 3 s from now
    let info =
        h.js.emit_with_ack(
            "a",
            "/ops/login",
            json!([{"token": h.token_until("42", exp2)}]),
        )
        .await;
    assert_eq!(info["user_id"], "42");
    token_expired(&h.js, "a", exp2).await;

    // A long one: the socket stays past the grace period.
    let exp3 = unix_now() + 3600;
    let info =
        h.js.emit_with_ack(
            "a",
            "/ops/login",
            json!([{"token": h.token_until("42", exp3)}]),
        )
        .await;
    assert_eq!(info["user_id"], "42");
    h.js.assert_no_event("a", DISCONNECTED_EVENT, Duration::from_secs(3))
        .await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "42");
    let client = h
        .tether
        .clients::<Members>()
        .get("42")
        .pop()
        .expect("still connected");
    assert_eq!(
        client.token_expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(exp3))
    );
}

#[tokio::test]
async fn ops_login_with_a_jwe_token_signs_an_anonymous_socket_in() {
    let mut h = Harness::start(Duration::from_secs(30)).await;
    h.connect_ok("a", "/lobby", json!({})).await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], Value::Null);

    let exp = unix_now() + 3600;
    let info =
        h.js.emit_with_ack(
            "a",
            "/ops/login",
            json!([{"token": h.token_until("42", exp)}]),
        )
        .await;
    assert_eq!(info["user_id"], "42");
    assert_eq!(info["namespace"], "/lobby");
    let pushed = h.js.event("a", "/ops/connection-success").await;
    assert_eq!(
        pushed[0]["user_id"],
        Value::Null,
        "the info sent on connect"
    );
    // The login's reply went out once, as the ack: no second copy as an event.
    h.js.assert_no_event("a", "/ops/connection-success", Duration::from_millis(200))
        .await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "42");
    let lobby = h.tether.clients::<Lobby>();
    let client = lobby
        .user_sockets("42")
        .pop()
        .expect("the socket is the user's");
    assert_eq!(
        client.token_expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );

    // Refused logins are error acks with the connection codes; the socket keeps its user.
    let other_key = KeySet::new(Key::generate())
        .issue(&json!({"sub": "7", "exp": unix_now() + 60}))
        .expect("issued");
    let cases = [
        (json!([{"token": "garbage"}]), "malformed_token"),
        (json!([{"token": other_key}]), "invalid_token"),
        (json!([{"token": h.token_until("7", 1)}]), "expired_token"),
        (json!([{"token": 42}]), "invalid_payload"),
        (json!([]), "invalid_payload"),
    ];
    for (args, code) in cases {
        let ack = h.js.emit_with_ack("a", "/ops/login", args.clone()).await;
        assert_eq!(ack["error"]["code"], code, "{args}: {ack}");
    }
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], "42");
}

#[tokio::test]
async fn logout_clears_the_expiry() {
    let mut h = Harness::start(Duration::from_millis(500)).await;
    h.connect_ok("a", "/lobby", json!({})).await;
    let short = h.token_until("42", unix_now() + 3);
    let info =
        h.js.emit_with_ack("a", "/ops/login", json!([{"token": short}]))
            .await;
    assert_eq!(info["user_id"], "42");
    let info = h.js.emit_with_ack("a", "/ops/logout", json!([])).await;
    assert_eq!(info["user_id"], Value::Null);
    // Past the token's expiry and the grace: neither told nor disconnected.
    h.js.assert_no_event("a", TOKEN_EXPIRED_EVENT, Duration::from_millis(3500))
        .await;
    h.js.assert_no_event("a", DISCONNECTED_EVENT, Duration::ZERO)
        .await;
    let me = h.js.emit_with_ack("a", "whoami", json!([])).await;
    assert_eq!(me["user_id"], Value::Null);
    let client = h.tether.clients::<Lobby>().all().pop().expect("connected");
    assert_eq!(client.token_expires_at(), None);
}
