//! Interop with Node's `jose`: a token made by `CompactEncrypt` (`alg: dir`, `enc: A256GCM`) with
//! the same key verifies in tether, and a tether token decrypts with `compactDecrypt`.
//!
//! Needs `node` and `tests/js/node_modules` (`npm ci --prefix tests/js`); fails, never skips,
//! when they are missing.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether::auth::{Claims, JweVerifier, Key, KeySet};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    role: String,
}

fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests")
        .join("js")
}

/// Runs `tests/js/jose-interop.mjs <mode>` with `input` on stdin; returns stdout.
fn jose(mode: &str, key: &Key, kid: Option<&str>, input: &str) -> Result<String, String> {
    let dir = js_dir();
    assert!(
        dir.join("node_modules")
            .join("jose")
            .join("package.json")
            .is_file(),
        "Node's `jose` is not installed in {}: run `npm ci --prefix tests/js` from the repository root",
        dir.display()
    );
    let mut command = Command::new("node");
    command
        .arg(dir.join("jose-interop.mjs"))
        .arg(mode)
        .current_dir(&dir)
        .env("JOSE_INTEROP_KEY", key.to_base64url())
        .env_remove("JOSE_INTEROP_KID")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(kid) = kid {
        command.env("JOSE_INTEROP_KID", kid);
    }
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!("could not run `node` ({e}): install Node.js (20 or later), then `npm ci --prefix tests/js`")
    });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8(output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn a_token_made_by_node_jose_verifies_in_tether() {
    let key = Key::generate();
    let exp = now() + 3600;
    let payload = json!({ "sub": "42", "exp": exp, "name": "Ada", "role": "admin" });
    let token = jose("encrypt", &key, None, &payload.to_string()).expect("jose encrypt");

    let verified = JweVerifier::new(KeySet::new(key))
        .verify_token::<Claims<Profile>>(&token)
        .unwrap();
    assert_eq!(verified.key_id(), None);
    assert_eq!(
        verified.expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(exp))
    );
    let claims = verified.into_claims();
    assert_eq!(claims.sub, "42");
    assert_eq!(claims.exp, Some(exp));
    assert_eq!(
        claims.extra,
        Profile {
            name: "Ada".into(),
            role: "admin".into()
        }
    );
}

#[test]
fn a_node_token_with_a_kid_picks_that_key_from_a_rotated_set() {
    let old = Key::generate();
    let keys = KeySet::with_kid("2025-06", Key::generate()).with_previous("2025-01", old.clone());
    // `Date.now() / 1000` is a float: other stacks write fractional NumericDates.
    let payload = format!(r#"{{"sub":"7","exp":{}.25}}"#, now() + 60);
    let token = jose("encrypt", &old, Some("2025-01"), &payload).expect("jose encrypt");
    let verified = JweVerifier::new(keys)
        .verify_token::<Claims>(&token)
        .unwrap();
    assert_eq!(verified.key_id(), Some("2025-01"));
    assert_eq!(verified.into_claims().sub, "7");
}

#[test]
fn a_node_token_made_with_another_key_is_invalid() {
    let payload = json!({ "sub": "42", "exp": now() + 3600 }).to_string();
    let token = jose("encrypt", &Key::generate(), None, &payload).expect("jose encrypt");
    let err = JweVerifier::new(Key::generate())
        .verify_token::<Claims>(&token)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_token");
}

#[test]
fn a_tether_token_decrypts_with_node_jose() {
    let key = Key::generate();
    let keys = KeySet::with_kid("k1", key.clone());
    let claims = Claims::new("42")
        .expires_in(Duration::from_secs(600))
        .extra(Profile {
            name: "Grace".into(),
            role: "user".into(),
        });
    let token = keys.issue(&claims).unwrap();

    let out = jose("decrypt", &key, None, &token).expect("jose decrypt");
    let out: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        out["protectedHeader"],
        json!({ "alg": "dir", "enc": "A256GCM", "kid": "k1" })
    );
    assert_eq!(out["payload"], serde_json::to_value(&claims).unwrap());
}

#[test]
fn node_jose_refuses_a_tether_token_under_another_key() {
    let token = KeySet::new(Key::generate())
        .issue(&Claims::new("42").expires_in(Duration::from_secs(60)))
        .unwrap();
    let err = jose("decrypt", &Key::generate(), None, &token).unwrap_err();
    assert!(err.contains("decryption operation failed"), "{err}");
}
