//! Hostile handshake `auth` payloads, each with the code a server must refuse it with.
//!
//! Shared data: `runtime/tests/token_parsing.rs` checks them against `JweVerifier::authenticate`,
//! and a server-level test can send the same payloads from real clients, e.g. with
//! `#[path = "../../runtime/tests/support/hostile_tokens.rs"] mod hostile_tokens;`.
//! Needs `tether`, `serde_json` and `base64` only.
#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tether::auth::{Claims, Key, KeySet};

/// One hostile handshake: the `auth` payload a client sends, and the code it must be refused with.
#[derive(Debug, Clone)]
pub struct HostileCase {
    /// What the case is, for failure messages.
    pub name: String,
    /// The socket.io `auth` payload.
    pub auth: Value,
    /// The stable code the refusal must carry.
    pub code: &'static str,
}

/// A token `keys` accept for an hour (the "good client" between hostile ones).
pub fn good_token(keys: &KeySet) -> String {
    keys.issue(&Claims::new("good-user").expires_in(Duration::from_secs(3600)))
        .expect("issue")
}

/// The five parts of a compact token.
pub fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes one part.
pub fn unb64(part: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(part)
        .expect("a part of a token this file made")
}

/// `token` with the header replaced by `header` (the rest kept as is).
pub fn with_header(token: &str, header: &Value) -> String {
    let mut p = parts(token);
    p[0] = b64(header.to_string().as_bytes());
    p.join(".")
}

/// `token` with one bit of the decoded part `index` flipped.
pub fn flip_bit(token: &str, index: usize, byte: usize, bit: u8) -> String {
    let mut p = parts(token);
    let mut bytes = unb64(&p[index]);
    let len = bytes.len();
    bytes[byte % len] ^= 1 << (bit % 8);
    p[index] = b64(&bytes);
    p.join(".")
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Every hostile case against a server whose keys are `keys` and whose largest accepted token is
/// `max_len` bytes (8 KiB by default).
pub fn hostile_cases(keys: &KeySet, max_len: usize) -> Vec<HostileCase> {
    let good = good_token(keys);
    let now = unix(SystemTime::now());
    let mut cases = Vec::new();
    let mut case = |name: &str, auth: Value, code: &'static str| {
        cases.push(HostileCase {
            name: name.to_owned(),
            auth,
            code,
        });
    };
    let token = |t: String| json!({ "token": t });
    let header = unb64(&parts(&good)[0]);
    let header: Value = serde_json::from_slice(&header).unwrap();
    let with = |key: &str, value: Value| {
        let mut h = header.clone();
        h[key] = value;
        h
    };

    // Nothing to verify.
    case("no auth payload", Value::Null, "missing_token");
    case("empty auth object", json!({}), "missing_token");
    case("null token", json!({ "token": null }), "missing_token");
    case("empty token", json!({ "token": "" }), "missing_token");
    case("blank token", json!({ "token": "   " }), "missing_token");
    case(
        "auth is a bare string",
        json!("just-a-string"),
        "missing_token",
    );
    case("auth is an array", json!(["token"]), "missing_token");

    // Wrong types in `auth`.
    case(
        "token is a number",
        json!({ "token": 42 }),
        "malformed_token",
    );
    case(
        "token is a boolean",
        json!({ "token": true }),
        "malformed_token",
    );
    case(
        "token is an array",
        json!({ "token": [good.clone()] }),
        "malformed_token",
    );
    case(
        "token is an object",
        json!({ "token": { "jwe": good.clone() } }),
        "malformed_token",
    );

    // Garbage.
    case("garbage", token("garbage".into()), "malformed_token");
    case(
        "non-ascii",
        token("tökén.ä.ö.ü.ß".into()),
        "malformed_token",
    );
    case(
        "control characters",
        token("a\u{0}b.c\n.d.e.f".into()),
        "malformed_token",
    );
    case("only dots", token("....".into()), "malformed_token");
    case(
        "a JWT-looking string",
        token("eyJhbGciOiJIUzI1NiJ9.e30.c2ln".into()),
        "malformed_token",
    );
    case(
        "bad base64 in every part",
        token("!.!.!.!.!".into()),
        "malformed_token",
    );
    case(
        "one character parts",
        token("a.b.c.d.e".into()),
        "malformed_token",
    );
    case(
        "header is not JSON",
        token(format!("{}....", b64(b"not json"))),
        "malformed_token",
    );
    case(
        "header is a JSON array",
        token(format!("{}.{}", b64(b"[]"), parts(&good)[1..].join("."))),
        "malformed_token",
    );
    case(
        "six parts",
        token(format!("{good}.AAAA")),
        "malformed_token",
    );
    case(
        "four parts",
        token(parts(&good)[..4].join(".")),
        "malformed_token",
    );
    case(
        "padded base64",
        token(format!("{good}==")),
        "malformed_token",
    );
    case(
        "huge token",
        token("A".repeat(max_len + 1)),
        "malformed_token",
    );
    case(
        "huge valid-looking token",
        token(format!("{good}{}", "A".repeat(max_len))),
        "malformed_token",
    );
    case(
        "very huge token",
        token("eyJ".repeat(64 * 1024)),
        "malformed_token",
    );

    // Truncations.
    case(
        "truncated by one character",
        token(good[..good.len() - 1].to_owned()),
        "malformed_token",
    );
    case(
        "truncated to half",
        token(good[..good.len() / 2].to_owned()),
        "malformed_token",
    );
    case(
        "header only",
        token(parts(&good)[0].clone()),
        "malformed_token",
    );
    case(
        "tag cut to 15 bytes",
        token({
            let mut p = parts(&good);
            let tag = unb64(&p[4]);
            p[4] = b64(&tag[..15]);
            p.join(".")
        }),
        "malformed_token",
    );
    case(
        "tag cut to 1 byte",
        token({
            let mut p = parts(&good);
            let tag = unb64(&p[4]);
            p[4] = b64(&tag[..1]);
            p.join(".")
        }),
        "malformed_token",
    );
    case(
        "empty tag",
        token({
            let mut p = parts(&good);
            p[4].clear();
            p.join(".")
        }),
        "malformed_token",
    );
    case(
        "empty iv",
        token({
            let mut p = parts(&good);
            p[2].clear();
            p.join(".")
        }),
        "malformed_token",
    );

    // Tampering.
    case(
        "ciphertext bit flipped",
        token(flip_bit(&good, 3, 0, 0)),
        "invalid_token",
    );
    case(
        "last ciphertext byte flipped",
        token(flip_bit(&good, 3, usize::MAX, 7)),
        "invalid_token",
    );
    case(
        "tag bit flipped",
        token(flip_bit(&good, 4, 5, 3)),
        "invalid_token",
    );
    case(
        "iv bit flipped",
        token(flip_bit(&good, 2, 11, 1)),
        "invalid_token",
    );
    case(
        "ciphertext emptied",
        token({
            let mut p = parts(&good);
            p[3].clear();
            p.join(".")
        }),
        "invalid_token",
    );
    case(
        "header gains a field",
        token(with_header(&good, &with("typ", json!("JWT")))),
        "invalid_token",
    );
    case(
        "kid swapped",
        token(with_header(&good, &with("kid", json!("someone-else")))),
        "invalid_token",
    );
    case(
        "kid is a number",
        token(with_header(&good, &with("kid", json!(1)))),
        "malformed_token",
    );

    // Other algorithms.
    case(
        "alg none",
        token(with_header(&good, &with("alg", json!("none")))),
        "invalid_token",
    );
    case(
        "alg missing",
        token(with_header(&good, &json!({ "enc": "A256GCM" }))),
        "invalid_token",
    );
    case(
        "alg null",
        token(with_header(&good, &with("alg", Value::Null))),
        "invalid_token",
    );
    case(
        "alg A256KW with an encrypted key",
        token({
            let mut p = parts(&with_header(&good, &with("alg", json!("A256KW"))));
            p[1] = b64(&[7; 40]);
            p.join(".")
        }),
        "invalid_token",
    );
    case(
        "alg HS256 (a JWS header)",
        token(with_header(&good, &json!({ "alg": "HS256" }))),
        "invalid_token",
    );
    case(
        "dir with an encrypted key",
        token({
            let mut p = parts(&good);
            p[1] = b64(&[7; 32]);
            p.join(".")
        }),
        "invalid_token",
    );
    case(
        "enc A128GCM",
        token(with_header(&good, &with("enc", json!("A128GCM")))),
        "invalid_token",
    );
    case(
        "enc A256CBC-HS512",
        token(with_header(&good, &with("enc", json!("A256CBC-HS512")))),
        "invalid_token",
    );
    case(
        "compressed",
        token(with_header(&good, &with("zip", json!("DEF")))),
        "invalid_token",
    );
    case(
        "critical extension",
        token(with_header(&good, &with("crit", json!(["exp"])))),
        "invalid_token",
    );
    case(
        "unsecured JWT (alg none, three parts)",
        token(format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(br#"{"sub":"admin","exp":9999999999}"#)
        )),
        "malformed_token",
    );

    // Valid crypto, unacceptable claims, or another key.
    let foreign = KeySet::with_kid(keys.current_kid().unwrap_or("k"), Key::generate());
    case(
        "made with another key",
        token(good_token(&foreign)),
        "invalid_token",
    );
    case(
        "expired",
        token(
            keys.issue(&json!({ "sub": "u", "exp": now - 3600 }))
                .unwrap(),
        ),
        "expired_token",
    );
    case(
        "expired at the epoch",
        token(keys.issue(&json!({ "sub": "u", "exp": 0 })).unwrap()),
        "expired_token",
    );
    case(
        "negative exp",
        token(keys.issue(&json!({ "sub": "u", "exp": -1e300 })).unwrap()),
        "expired_token",
    );
    case(
        "not yet valid",
        token(
            keys.issue(&json!({ "sub": "u", "exp": now + 7200, "nbf": now + 3600 }))
                .unwrap(),
        ),
        "not_yet_valid",
    );
    case(
        "no exp",
        token(keys.issue(&json!({ "sub": "u" })).unwrap()),
        "invalid_token",
    );
    case(
        "exp is a string",
        token(
            keys.issue(&json!({ "sub": "u", "exp": (now + 60).to_string() }))
                .unwrap(),
        ),
        "invalid_token",
    );
    case(
        "sub is missing",
        token(keys.issue(&json!({ "exp": now + 60 })).unwrap()),
        "invalid_token",
    );
    case(
        "sub is a number",
        token(keys.issue(&json!({ "sub": 7, "exp": now + 60 })).unwrap()),
        "invalid_token",
    );
    cases
}
