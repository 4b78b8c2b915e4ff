//! Issue 4, item 7: thousands of hostile handshakes against a server whose namespace uses the
//! ready-made JWE middleware. Each is refused with the right code (read back with
//! `SocketNok::parse` from the CONNECT_ERROR packet), none is ever connected, the server stays
//! up, and a good client (a long-lived JS socket.io-client, and fresh raw ones) is served
//! between the batches.
//!
//! The bad handshakes speak raw engine.io v4 / socket.io v5 over a websocket
//! (tokio-tungstenite): far cheaper than a JS client each, and free to send what no well-behaved
//! client library would (an `auth` that is not an object, a 2 MiB token, headers of any size).
//!
//! A second test closes sockets during their handshake, by the hundred, and checks none stays
//! behind in the connected-clients map (a race between socketioxide's connect and disconnect
//! handler tasks that the hostile run first exposed).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tether::auth::{JweVerifier, Key, KeySet};
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::auth::{Member, authenticate, unix_now};
use tether_tests::{JsClient, TestServer, eventually};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const NS: &str = "/hostile";
/// How many times each case is sent.
const REPETITIONS: usize = 24;
/// Handshakes in flight at once.
const CONCURRENCY: usize = 24;
/// Repetitions of the cases that move megabytes.
const HUGE_REPETITIONS: usize = 3;

struct Hostile {
    verifier: JweVerifier,
}

#[socket_namespace(path = "/hostile", client_connection_key = "user_id")]
impl Hostile {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        authenticate(&self.verifier, hs).await
    }

    #[on("whoami")]
    async fn whoami(&self, client: &Client<Member>) -> Member {
        client.metadata().clone()
    }
}

// ---------------------------------------------------------------------------------------------
// A raw socket.io client, one handshake per websocket.

/// What a handshake sends.
#[derive(Debug, Clone, Default)]
struct Attempt {
    /// The raw JSON after `40/hostile,` (the CONNECT packet's auth payload); none when `None`.
    auth: Option<String>,
    query: Vec<(&'static str, String)>,
    headers: Vec<(&'static str, String)>,
}

impl Attempt {
    fn auth(auth: Value) -> Self {
        Self::raw_auth(auth.to_string())
    }

    fn raw_auth(raw: impl Into<String>) -> Self {
        Self {
            auth: Some(raw.into()),
            ..Self::default()
        }
    }

    fn token(token: &str) -> Self {
        Self::auth(json!({ "token": token }))
    }

    fn header(name: &'static str, value: impl Into<String>) -> Self {
        Self {
            headers: vec![(name, value.into())],
            ..Self::default()
        }
    }

    fn bearer(token: &str) -> Self {
        Self::header("authorization", format!("Bearer {token}"))
    }

    fn cookie(token: &str) -> Self {
        Self::header("cookie", format!("theme=dark; token={token}"))
    }

    fn query(token: &str) -> Self {
        Self {
            query: vec![("token", token.to_owned())],
            ..Self::default()
        }
    }

    fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// CONNECT: the socket was accepted.
    Connected,
    /// CONNECT_ERROR with this message.
    Refused(String),
    /// No CONNECT or CONNECT_ERROR: the HTTP upgrade failed or the connection was closed.
    Dropped(String),
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: SocketAddr, attempt: &Attempt) -> Result<Ws, String> {
    let mut url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    for (name, value) in &attempt.query {
        url.push_str(&format!("&{name}={}", percent_encode(value)));
    }
    let mut request = url.into_client_request().map_err(|e| e.to_string())?;
    for (name, value) in &attempt.headers {
        let value = HeaderValue::from_str(value).map_err(|e| e.to_string())?;
        request.headers_mut().append(*name, value);
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .map_err(|e| format!("upgrade failed: {e}"))?;
    match next_text(&mut ws).await {
        Some(open) if open.starts_with('0') => Ok(ws),
        other => Err(format!("no engine.io open packet: {other:?}")),
    }
}

/// The next text frame, answering pings; `None` once the connection is closed.
async fn next_text(ws: &mut Ws) -> Option<String> {
    while let Some(msg) = ws.next().await {
        match msg.ok()? {
            Message::Text(text) if text.as_str() == "2" => {
                ws.send(Message::text("3")).await.ok()?;
            }
            Message::Text(text) => return Some(text.as_str().to_owned()),
            Message::Close(_) => return None,
            _ => {}
        }
    }
    None
}

async fn handshake(addr: SocketAddr, attempt: &Attempt) -> (Outcome, Option<Ws>) {
    let mut ws = match open(addr, attempt).await {
        Ok(ws) => ws,
        Err(e) => return (Outcome::Dropped(e), None),
    };
    let connect = format!("40{NS},{}", attempt.auth.as_deref().unwrap_or(""));
    if let Err(e) = ws.send(Message::text(connect)).await {
        return (Outcome::Dropped(format!("send failed: {e}")), None);
    }
    loop {
        let Some(packet) = next_text(&mut ws).await else {
            return (Outcome::Dropped("closed by the server".into()), None);
        };
        if packet.starts_with(&format!("40{NS},")) {
            return (Outcome::Connected, Some(ws));
        }
        if let Some(data) = packet.strip_prefix(&format!("44{NS},")) {
            let message = serde_json::from_str::<Value>(data)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("unreadable CONNECT_ERROR {data}"));
            return (Outcome::Refused(message), Some(ws));
        }
    }
}

/// One handshake, within a deadline, and the connection closed afterwards.
async fn try_once(addr: SocketAddr, attempt: &Attempt) -> Outcome {
    match tokio::time::timeout(Duration::from_secs(10), handshake(addr, attempt)).await {
        Ok((outcome, ws)) => {
            if let Some(mut ws) = ws {
                let _ = ws.close(None).await;
            }
            outcome
        }
        Err(_) => Outcome::Dropped("timed out".into()),
    }
}

/// A raw client that connects with a good token and gets an ack for `whoami`.
async fn good_round_trip(addr: SocketAddr, token: &str) -> Value {
    let (outcome, ws) = handshake(addr, &Attempt::token(token)).await;
    assert_eq!(outcome, Outcome::Connected, "a good client was not served");
    let mut ws = ws.expect("an open websocket");
    ws.send(Message::text(format!("42{NS},7[\"whoami\"]")))
        .await
        .expect("send whoami");
    let ack_prefix = format!("43{NS},7");
    loop {
        let packet = next_text(&mut ws).await.expect("an ack before the close");
        if let Some(ack) = packet.strip_prefix(&ack_prefix) {
            let _ = ws.send(Message::text(format!("41{NS},"))).await;
            let _ = ws.close(None).await;
            return serde_json::from_str::<Value>(ack).expect("a JSON ack")[0].clone();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// What a case must produce.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// CONNECT_ERROR with this code.
    Code(&'static str),
    /// Never connected: refused with no particular code, or dropped (a message beyond the
    /// 1 MiB limit, headers beyond the HTTP server's limit).
    NotConnected,
}

struct Case {
    name: String,
    attempt: Attempt,
    expect: Expect,
    repetitions: usize,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A token sealed by josekit with any header and payload bytes (valid encryption).
fn seal(key: &Key, header: &[(&str, Value)], payload: &[u8]) -> String {
    let raw = URL_SAFE_NO_PAD
        .decode(key.to_base64url())
        .expect("a base64url key");
    let mut jwe_header = josekit::jwe::JweHeader::new();
    jwe_header.set_content_encryption("A256GCM");
    for (name, value) in header {
        jwe_header
            .set_claim(name, Some(value.clone()))
            .expect("a header claim");
    }
    let encrypter = josekit::jwe::Dir
        .encrypter_from_bytes(raw)
        .expect("a dir encrypter");
    josekit::jwe::serialize_compact(payload, &jwe_header, &encrypter).expect("sealed")
}

/// The five parts of a compact JWE.
fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Replaces the character at `at` of a base64url part with another one (not the last
/// character, whose low bits may be unused).
fn flip(part: &str, at: usize) -> String {
    let mut chars: Vec<char> = part.chars().collect();
    chars[at] = if chars[at] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// A protected header re-encoded from JSON (the rest of the token kept).
fn with_header(token: &str, header: Value) -> String {
    let mut p = parts(token);
    p[0] = b64(header.to_string().as_bytes());
    p.join(".")
}

/// The server's key, and a token of the good client (user 42, Ada) valid for an hour.
struct Keys {
    key: Key,
    keys: KeySet,
    good: String,
}

impl Keys {
    fn generate() -> Self {
        let key = Key::generate();
        let keys = KeySet::with_kid("k1", key.clone());
        let good = keys
            .issue(&json!({"sub": "42", "name": "Ada", "exp": unix_now() + 3600}))
            .expect("issued");
        Self { key, keys, good }
    }
}

/// A server whose one namespace is [`Hostile`], verifying with `keys`.
async fn serve(keys: &KeySet) -> (Tether, TestServer) {
    let tether = Tether::builder()
        .namespace(Hostile {
            verifier: JweVerifier::new(keys.clone()),
        })
        .allowed_origins(["http://app.test"])
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    (tether, server)
}

fn cases(k: &Keys) -> Vec<Case> {
    let key = &k.key;
    let keys = &k.keys;
    let hour = unix_now() + 3600;
    let claims = |sub: &str| json!({"sub": sub, "name": "Ada", "exp": hour});
    let issue = |v: Value| keys.issue(&v).expect("issued");
    let good = k.good.clone();
    let good2 = issue(claims("43"));
    let p = parts(&good);
    let p2 = parts(&good2);
    let other_key = Key::generate();
    let deep = format!("{{\"token\":{}{}}}", "[".repeat(5000), "]".repeat(5000));

    let mut cases: Vec<(String, Attempt, Expect)> = Vec::new();
    let mut add = |name: &str, attempt: Attempt, code: &'static str| {
        cases.push((name.to_owned(), attempt, Expect::Code(code)));
    };

    // No token at all.
    add("no auth payload", Attempt::default(), "missing_token");
    add("empty auth", Attempt::auth(json!({})), "missing_token");
    add(
        "null token",
        Attempt::auth(json!({"token": null})),
        "missing_token",
    );
    add("empty token", Attempt::token(""), "missing_token");
    add("blank token", Attempt::token("   "), "missing_token");
    add(
        "token under another name",
        Attempt::auth(json!({"tok": good})),
        "missing_token",
    );
    add("auth is null", Attempt::raw_auth("null"), "missing_token");
    // An `auth` that is not an object holds no `token` field (the token beside it is not used).
    add(
        "auth is the token itself",
        Attempt::raw_auth(format!("{good:?}")),
        "missing_token",
    );
    add("auth is a number", Attempt::raw_auth("42"), "missing_token");
    add(
        "auth is an array",
        Attempt::raw_auth(format!("[{good:?}]")),
        "missing_token",
    );
    add(
        "auth is not JSON",
        Attempt::raw_auth("{token:"),
        "missing_token",
    );
    add(
        "Basic authorization only",
        Attempt::header("authorization", "Basic dXNlcjpwdw=="),
        "missing_token",
    );
    add(
        "empty bearer",
        Attempt::header("authorization", "Bearer "),
        "missing_token",
    );
    add(
        "empty cookie",
        Attempt::header("cookie", "token="),
        "missing_token",
    );

    // `auth.token` of a wrong type.
    add(
        "number token",
        Attempt::auth(json!({"token": 42})),
        "malformed_token",
    );
    add(
        "huge number token",
        Attempt::raw_auth(r#"{"token":4.2e300}"#),
        "malformed_token",
    );
    add(
        "boolean token",
        Attempt::auth(json!({"token": true})),
        "malformed_token",
    );
    add(
        "array token",
        Attempt::auth(json!({"token": [good]})),
        "malformed_token",
    );
    add(
        "empty array token",
        Attempt::auth(json!({"token": []})),
        "malformed_token",
    );
    add(
        "object token",
        Attempt::auth(json!({"token": {"token": good}})),
        "malformed_token",
    );
    add(
        "wrong-type auth token beats a good bearer",
        Attempt::auth(json!({"token": 1})).with_header("authorization", format!("Bearer {good}")),
        "malformed_token",
    );

    // Garbage.
    add("a word", Attempt::token("garbage"), "malformed_token");
    add("three parts", Attempt::token("a.b.c"), "malformed_token");
    add(
        "five bad parts",
        Attempt::token("a.b.c.d.e"),
        "malformed_token",
    );
    add(
        "five empty parts",
        Attempt::token("...."),
        "malformed_token",
    );
    add(
        "unicode",
        Attempt::token("ünïcødé.☃.x.y.z"),
        "malformed_token",
    );
    add(
        "space inside",
        Attempt::token(&format!("{} {}", &good[..40], &good[40..])),
        "malformed_token",
    );
    add(
        "six parts",
        Attempt::token(&format!("{good}.")),
        "malformed_token",
    );
    add(
        "padded base64",
        Attempt::token(&format!("{good}==")),
        "malformed_token",
    );
    add("NUL bytes", Attempt::token("\0\0\0\0"), "malformed_token");
    add(
        "random base64 parts",
        Attempt::token(
            &[b"\x01\x02\x03" as &[u8], b"", &[7; 12], &[9; 40], &[1; 16]]
                .map(b64)
                .join("."),
        ),
        "malformed_token",
    );
    add(
        "a signed JWT",
        Attempt::token("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.c2ln"),
        "malformed_token",
    );
    add(
        "alg none JWT",
        Attempt::token("eyJhbGciOiJub25lIn0.eyJzdWIiOiI0MiJ9."),
        "malformed_token",
    );
    add(
        "header is an array",
        Attempt::token(&with_header(&good, json!([1]))),
        "malformed_token",
    );
    add(
        "kid is a number",
        Attempt::token(&with_header(
            &good,
            json!({"alg": "dir", "enc": "A256GCM", "kid": 5}),
        )),
        "malformed_token",
    );

    // Truncated.
    add(
        "tag dropped",
        Attempt::token(&p[..4].join(".")),
        "malformed_token",
    );
    add(
        "empty tag",
        Attempt::token(&format!("{}.", p[..4].join("."))),
        "malformed_token",
    );
    add(
        "tag cut to 15 bytes",
        Attempt::token(&format!("{}.{}", p[..4].join("."), &p[4][..20])),
        "malformed_token",
    );
    add(
        "iv cut to 9 bytes",
        Attempt::token(&[&p[0], "", &p[2][..12], &p[3], &p[4]].join(".")),
        "malformed_token",
    );
    add("header only", Attempt::token(&p[0]), "malformed_token");
    let cut = (p[3].len() - 4) / 4 * 4; // whole base64 quanta: valid base64, shorter ciphertext
    add(
        "ciphertext cut short",
        Attempt::token(&[&p[0], "", &p[2], &p[3][..cut], &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "empty ciphertext",
        Attempt::token(&[&p[0], "", &p[2], "", &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "iv and tag swapped",
        Attempt::token(&[&p[0], "", &p[4], &p[3], &p[2]].join(".")),
        "malformed_token",
    );

    // Tampered.
    add(
        "ciphertext flipped",
        Attempt::token(&[&p[0], "", &p[2], &flip(&p[3], 10), &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "tag flipped",
        Attempt::token(&[&p[0], "", &p[2], &p[3], &flip(&p[4], 5)].join(".")),
        "invalid_token",
    );
    add(
        "iv flipped",
        Attempt::token(&[&p[0], "", &flip(&p[2], 3), &p[3], &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "header field added",
        Attempt::token(&with_header(
            &good,
            json!({"alg": "dir", "enc": "A256GCM", "kid": "k1", "x": 1}),
        )),
        "invalid_token",
    );
    add(
        "tag of another token",
        Attempt::token(&[&p[0], "", &p[2], &p[3], &p2[4]].join(".")),
        "invalid_token",
    );
    add(
        "ciphertext of another token",
        Attempt::token(&[&p[0], "", &p[2], &p2[3], &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "encrypted key present",
        Attempt::token(&[&p[0], "AAAA", &p[2], &p[3], &p[4]].join(".")),
        "invalid_token",
    );
    for (name, h) in [
        ("alg none", json!({"alg": "none", "enc": "A256GCM"})),
        ("alg missing", json!({"enc": "A256GCM"})),
        ("alg RSA-OAEP", json!({"alg": "RSA-OAEP", "enc": "A256GCM"})),
        ("alg A256KW", json!({"alg": "A256KW", "enc": "A256GCM"})),
        ("alg HS256", json!({"alg": "HS256"})),
        ("enc A128GCM", json!({"alg": "dir", "enc": "A128GCM"})),
        (
            "enc A256CBC-HS512",
            json!({"alg": "dir", "enc": "A256CBC-HS512"}),
        ),
        (
            "zip DEF",
            json!({"alg": "dir", "enc": "A256GCM", "zip": "DEF"}),
        ),
        (
            "crit",
            json!({"alg": "dir", "enc": "A256GCM", "crit": ["exp"], "exp": 1}),
        ),
        (
            "unknown kid",
            json!({"alg": "dir", "enc": "A256GCM", "kid": "nope"}),
        ),
    ] {
        add(
            name,
            Attempt::token(&with_header(&good, h)),
            "invalid_token",
        );
    }

    // Made with another key.
    add(
        "another key",
        Attempt::token(
            &KeySet::new(other_key.clone())
                .issue(&claims("42"))
                .expect("issued"),
        ),
        "invalid_token",
    );
    add(
        "another key, same kid",
        Attempt::token(
            &KeySet::with_kid("k1", other_key.clone())
                .issue(&claims("42"))
                .expect("issued"),
        ),
        "invalid_token",
    );
    add(
        "another key, other kid",
        Attempt::token(
            &KeySet::with_kid("k2", other_key)
                .issue(&claims("42"))
                .expect("issued"),
        ),
        "invalid_token",
    );

    // Claims.
    add(
        "expired",
        Attempt::token(&issue(
            json!({"sub": "42", "name": "Ada", "exp": unix_now() - 3600}),
        )),
        "expired_token",
    );
    add(
        "expired in 1970",
        Attempt::token(&issue(json!({"sub": "42", "name": "Ada", "exp": 1}))),
        "expired_token",
    );
    add(
        "not yet valid",
        Attempt::token(&issue(
            json!({"sub": "42", "name": "Ada", "exp": hour, "nbf": hour - 60}),
        )),
        "not_yet_valid",
    );
    add(
        "no exp",
        Attempt::token(&issue(json!({"sub": "42", "name": "Ada"}))),
        "invalid_token",
    );
    add(
        "exp is a string",
        Attempt::token(&issue(
            json!({"sub": "42", "name": "Ada", "exp": "tomorrow"}),
        )),
        "invalid_token",
    );
    add(
        "no sub",
        Attempt::token(&issue(json!({"name": "Ada", "exp": hour}))),
        "invalid_token",
    );
    add(
        "sub is a number",
        Attempt::token(&issue(json!({"sub": 42, "name": "Ada", "exp": hour}))),
        "invalid_token",
    );
    add(
        "claims lack the app's field",
        Attempt::token(&issue(json!({"sub": "42", "exp": hour}))),
        "invalid_token",
    );
    add(
        "payload is an array",
        Attempt::token(&seal(key, &[("kid", json!("k1"))], b"[1,2]")),
        "malformed_token",
    );
    add(
        "payload is not JSON",
        Attempt::token(&seal(key, &[("kid", json!("k1"))], b"\xff\xfe")),
        "malformed_token",
    );
    add(
        "valid token of a banned user",
        Attempt::token(&issue(claims("banned"))),
        "banned",
    );

    // Other sources.
    add(
        "bearer garbage",
        Attempt::bearer("garbage"),
        "malformed_token",
    );
    add(
        "bearer expired",
        Attempt::bearer(&issue(json!({"sub": "42", "name": "Ada", "exp": 5}))),
        "expired_token",
    );
    add(
        "cookie tampered",
        Attempt::cookie(&[&p[0], "", &p[2], &flip(&p[3], 4), &p[4]].join(".")),
        "invalid_token",
    );
    add(
        "query another key",
        Attempt::query(
            &KeySet::new(Key::generate())
                .issue(&claims("42"))
                .expect("issued"),
        ),
        "invalid_token",
    );
    add("query garbage", Attempt::query("%%%"), "malformed_token");

    // Huge, within the 1 MiB message limit: refused by length before any parsing.
    add(
        "token of 8 KiB + 1",
        Attempt::token(&"A".repeat(8 * 1024 + 1)),
        "malformed_token",
    );
    add(
        "bearer of 32 KiB",
        Attempt::bearer(&"A".repeat(32 * 1024)),
        "malformed_token",
    );
    add(
        "cookie of 32 KiB",
        Attempt::cookie(&"A".repeat(32 * 1024)),
        "malformed_token",
    );
    add(
        "query of 16 KiB",
        Attempt::query(&"A".repeat(16 * 1024)),
        "malformed_token",
    );
    add(
        "deeply nested auth",
        Attempt::raw_auth(deep),
        "missing_token",
    );

    let mut cases: Vec<Case> = cases
        .into_iter()
        .map(|(name, attempt, expect)| Case {
            name,
            attempt,
            expect,
            repetitions: REPETITIONS,
        })
        .collect();
    let mut huge = |name: &str, attempt: Attempt, expect: Expect| {
        cases.push(Case {
            name: name.to_owned(),
            attempt,
            expect,
            repetitions: HUGE_REPETITIONS,
        });
    };
    huge(
        "token of 900 KiB",
        Attempt::token(&"A".repeat(900 * 1024)),
        Expect::Code("malformed_token"),
    );
    // Beyond the 1 MiB message limit the server drops the connection; never connected.
    huge(
        "token of 2 MiB",
        Attempt::token(&"A".repeat(2 * 1024 * 1024)),
        Expect::NotConnected,
    );
    huge(
        "bearer of 2 MiB",
        Attempt::bearer(&"A".repeat(2 * 1024 * 1024)),
        Expect::NotConnected,
    );
    huge(
        "query of 2 MiB",
        Attempt::query(&"A".repeat(2 * 1024 * 1024)),
        Expect::NotConnected,
    );
    cases
}

fn check(case: &Case, outcome: &Outcome) -> Result<(), String> {
    match (case.expect, outcome) {
        (Expect::Code(code), Outcome::Refused(message)) => match SocketNok::parse(message) {
            Some((got, text)) if got == code && !text.is_empty() => Ok(()),
            _ => Err(format!("expected `{code}`, got the refusal {message:?}")),
        },
        (Expect::NotConnected, Outcome::Refused(_) | Outcome::Dropped(_)) => Ok(()),
        (_, other) => Err(format!("expected {:?}, got {other:?}", case.expect)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_bad_handshakes_are_refused_with_the_right_code_and_the_server_keeps_serving()
{
    let started = Instant::now();
    let k = Keys::generate();
    let good = k.good.clone();
    let (tether, server) = serve(&k.keys).await;
    let addr = server.addr;
    let clients = tether.clients::<Hostile>();

    // A long-lived JS client, connected before the barrage.
    let mut js = JsClient::spawn().await;
    js.connect_ok("keeper", &server.url(NS), json!({"auth": {"token": good}}))
        .await;

    let cases = cases(&k);
    let total: usize = cases.iter().map(|c| c.repetitions).sum();
    assert!(cases.len() >= 70, "{} cases", cases.len());
    assert!(total >= 2000, "{total} handshakes");

    // Round r sends every case once (interleaved, in parallel), while a good raw client and the
    // long-lived JS client are served between the rounds.
    let rounds = cases.iter().map(|c| c.repetitions).max().unwrap_or(0);
    let mut failures = Vec::new();
    let mut sent = 0;
    for round in 0..rounds {
        let batch: Vec<&Case> = cases.iter().filter(|c| round < c.repetitions).collect();
        let outcomes: Vec<(&Case, Outcome)> = futures_util::stream::iter(batch)
            .map(|case| async move { (case, try_once(addr, &case.attempt).await) })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        sent += outcomes.len();
        for (case, outcome) in outcomes {
            if round == 0 && std::env::var_os("HOSTILE_DEBUG").is_some() {
                eprintln!("{:40} {outcome:?}", case.name);
            }
            if let Err(why) = check(case, &outcome) {
                failures.push(format!("round {round}, `{}`: {why}", case.name));
            }
        }
        let me = good_round_trip(addr, &good).await;
        assert_eq!(me, json!({"user_id": "42", "name": "Ada"}), "round {round}");
        if round % 5 == 0 {
            let me = js.emit_with_ack("keeper", "whoami", json!([])).await;
            assert_eq!(me["user_id"], "42", "round {round}");
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {sent} handshakes went wrong; the first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(40)].join("\n")
    );
    assert_eq!(sent, total);

    // Still up: the long-lived client is served, and only it is connected.
    let me = js.emit_with_ack("keeper", "whoami", json!([])).await;
    assert_eq!(me, json!({"user_id": "42", "name": "Ada"}));
    eventually("only the long-lived client is connected", || {
        clients.len() == 1
    })
    .await;
    eprintln!(
        "{sent} hostile handshakes ({} cases) in {:.1?}",
        cases.len(),
        started.elapsed()
    );
    js.close().await;
}

/// Sends CONNECT with a good token and closes the websocket at once, without waiting for the
/// answer: the transport closes while the middleware runs, or right after it.
async fn connect_and_vanish(addr: SocketAddr, token: &str) {
    let Ok(mut ws) = open(addr, &Attempt::default()).await else {
        return;
    };
    let _ = ws
        .send(Message::text(format!(
            "40{NS},{}",
            json!({ "token": token })
        )))
        .await;
    let _ = ws.close(None).await;
}

/// Sockets that close while (or right after) they are admitted must not stay in the
/// connected-clients map: socketioxide runs the connect and disconnect handlers as separate
/// tasks, and the disconnect one can run first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_closing_during_their_handshake_leave_no_ghost_clients() {
    let k = Keys::generate();
    let (tether, server) = serve(&k.keys).await;
    let addr = server.addr;
    let good = &k.good;
    futures_util::stream::iter(0..600)
        .for_each_concurrent(CONCURRENCY, |i| async move {
            if i % 2 == 0 {
                connect_and_vanish(addr, good).await;
            } else {
                good_round_trip(addr, good).await;
            }
        })
        .await;
    let clients = tether.clients::<Hostile>();
    eventually("every socket is unregistered", || clients.is_empty()).await;
    assert_eq!(good_round_trip(addr, good).await["user_id"], "42");
}
