//! Hostile input to token parsing: every bad token is refused with the right code, never a panic.
//!
//! The fixed cases live in `support/hostile_tokens.rs` (shared with the server-level test); the
//! properties below generate thousands more.

#[path = "support/hostile_tokens.rs"]
mod hostile_tokens;

use std::sync::LazyLock;
use std::time::{Duration, Instant};

use hostile_tokens::{b64, flip_bit, good_token, hostile_cases, parts, unb64, with_header};
use proptest::prelude::*;
use serde_json::json;
use tether::Handshake;
use tether::auth::{Claims, JweVerifier, Key, KeySet, TokenError};

static KEYS: LazyLock<KeySet> = LazyLock::new(|| KeySet::with_kid("k1", Key::generate()));
static VERIFIER: LazyLock<JweVerifier> = LazyLock::new(|| JweVerifier::new(KEYS.clone()));
static GOOD: LazyLock<String> = LazyLock::new(|| good_token(&KEYS));

fn verify(token: &str) -> Result<Claims, TokenError> {
    VERIFIER
        .verify_token::<Claims>(token)
        .map(|v| v.into_claims())
}

fn refused(token: &str) -> &'static str {
    match verify(token) {
        Ok(_) => panic!("a hostile token was accepted"),
        Err(err) => {
            assert!(
                token.len() < 16 || !err.message().contains(token),
                "the message echoes the token: {err}"
            );
            err.code()
        }
    }
}

/// Characters of tokens, and a few that are not.
const TOKEN_CHARS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ";

fn is_refusal_of_a_bad_token(code: &str) -> bool {
    code == "malformed_token" || code == "invalid_token"
}

#[test]
fn the_good_token_is_accepted() {
    assert_eq!(verify(&GOOD).unwrap().sub, "good-user");
}

#[test]
fn every_hostile_handshake_is_refused_with_its_code() {
    let cases = hostile_cases(&KEYS, JweVerifier::DEFAULT_MAX_TOKEN_LEN);
    assert!(cases.len() > 50);
    let mut wrong = Vec::new();
    for case in &cases {
        let hs = Handshake::builder().auth(case.auth.clone()).build();
        match VERIFIER.authenticate::<Claims>(&hs) {
            Ok(_) => wrong.push(format!("{}: accepted", case.name)),
            Err(err) if err.code() != case.code => {
                wrong.push(format!("{}: expected {}, got {err}", case.name, case.code))
            }
            Err(_) => {}
        }
        // The good client still gets in between hostile ones.
        assert!(verify(&GOOD).is_ok());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn huge_tokens_are_refused_quickly() {
    let huge = "A".repeat(16 * 1024 * 1024);
    let started = Instant::now();
    for _ in 0..1_000 {
        assert_eq!(refused(&huge), "malformed_token");
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_real_token_of_another_algorithm_with_the_same_key_is_invalid() {
    // A genuine A256KW token (the same 32 bytes used as a key-wrapping key), not a doctored header.
    use josekit::jwe::{A256KW, JweHeader};
    let key = Key::generate();
    let keys = KeySet::new(key.clone());
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    let raw = unb64(&key.to_base64url());
    let encrypter = A256KW.encrypter_from_bytes(&raw).unwrap();
    let payload = json!({"sub": "x", "exp": 9_999_999_999u64}).to_string();
    let token = josekit::jwe::serialize_compact(payload.as_bytes(), &header, &encrypter).unwrap();
    let err = JweVerifier::new(keys)
        .verify_token::<Claims>(&token)
        .unwrap_err();
    assert_eq!(err.code(), "invalid_token");
}

#[test]
fn an_authentic_payload_that_is_not_a_json_object_is_malformed() {
    use josekit::jwe::{Dir, JweHeader};
    let key = Key::generate();
    let mut header = JweHeader::new();
    header.set_content_encryption("A256GCM");
    let encrypter = Dir
        .encrypter_from_bytes(unb64(&key.to_base64url()))
        .unwrap();
    for payload in [&b"[1,2]"[..], b"\"str\"", b"not json", b""] {
        let token = josekit::jwe::serialize_compact(payload, &header, &encrypter).unwrap();
        let err = JweVerifier::new(key.clone())
            .verify_token::<Claims>(&token)
            .unwrap_err();
        assert_eq!(err.code(), "malformed_token");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_are_refused_as_malformed_or_invalid(s in any::<String>()) {
        prop_assert!(is_refusal_of_a_bad_token(refused(&s)));
    }

    #[test]
    fn arbitrary_five_part_base64url_strings_are_refused(
        p in prop::collection::vec("[A-Za-z0-9_-]{0,64}", 5)
    ) {
        prop_assert!(is_refusal_of_a_bad_token(refused(&p.join("."))));
    }

    #[test]
    fn random_bytes_in_each_part_are_refused(
        header in prop::collection::vec(any::<u8>(), 0..64),
        iv in prop::collection::vec(any::<u8>(), 0..24),
        ciphertext in prop::collection::vec(any::<u8>(), 0..256),
        tag in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let token = format!("{}..{}.{}.{}", b64(&header), b64(&iv), b64(&ciphertext), b64(&tag));
        prop_assert!(is_refusal_of_a_bad_token(refused(&token)));
    }

    #[test]
    fn random_body_under_a_valid_header_is_invalid(
        iv in prop::collection::vec(any::<u8>(), 12..=12),
        ciphertext in prop::collection::vec(any::<u8>(), 0..256),
        tag in prop::collection::vec(any::<u8>(), 16..=16),
    ) {
        let token = format!("{}..{}.{}.{}", parts(&GOOD)[0], b64(&iv), b64(&ciphertext), b64(&tag));
        prop_assert_eq!(refused(&token), "invalid_token");
    }

    #[test]
    fn every_proper_prefix_of_a_valid_token_is_malformed(cut in 0usize..10_000) {
        let cut = cut % GOOD.len();
        prop_assert_eq!(refused(&GOOD[..cut]), "malformed_token");
    }

    #[test]
    fn a_flipped_bit_in_iv_ciphertext_or_tag_is_invalid(
        part in 2usize..5, byte in any::<usize>(), bit in 0u8..8
    ) {
        prop_assert_eq!(refused(&flip_bit(&GOOD, part, byte, bit)), "invalid_token");
    }

    #[test]
    fn a_flipped_bit_in_the_header_is_refused(byte in any::<usize>(), bit in 0u8..8) {
        prop_assert!(is_refusal_of_a_bad_token(refused(&flip_bit(&GOOD, 0, byte, bit))));
    }

    #[test]
    fn any_changed_character_is_refused(
        index in any::<usize>(),
        replacement in prop::sample::select(TOKEN_CHARS.chars().collect::<Vec<_>>()),
    ) {
        let mut chars: Vec<char> = GOOD.chars().collect();
        let index = index % chars.len();
        prop_assume!(chars[index] != replacement);
        chars[index] = replacement;
        let token: String = chars.into_iter().collect();
        prop_assert!(is_refusal_of_a_bad_token(refused(&token)));
    }

    #[test]
    fn inserted_or_removed_characters_are_refused(
        index in any::<usize>(),
        insert in prop::option::of("[A-Za-z0-9_.-]"),
    ) {
        let index = index % GOOD.len();
        let token = match insert {
            Some(s) => format!("{}{s}{}", &GOOD[..index], &GOOD[index..]),
            None => format!("{}{}", &GOOD[..index], &GOOD[index + 1..]),
        };
        prop_assert!(is_refusal_of_a_bad_token(refused(&token)));
    }

    #[test]
    fn any_other_header_is_refused(
        alg in prop::option::of(prop_oneof![
            Just("none".to_owned()), Just("dir".to_owned()), Just("A256KW".to_owned()),
            Just("HS256".to_owned()), Just("DIR".to_owned()), "[a-zA-Z0-9-]{0,12}"
        ]),
        enc in prop::option::of(prop_oneof![
            Just("A256GCM".to_owned()), Just("A128GCM".to_owned()), Just("a256gcm".to_owned()),
            "[a-zA-Z0-9-]{0,12}"
        ]),
        extra in prop::option::of(prop_oneof![
            Just(("zip", json!("DEF"))), Just(("crit", json!(["b64"]))), Just(("kid", json!("k2"))),
            Just(("kid", json!(null))), Just(("typ", json!("JWT"))), Just(("kid", json!(["k1"]))),
        ]),
    ) {
        let mut header = json!({});
        if let Some(alg) = alg { header["alg"] = json!(alg); }
        if let Some(enc) = enc { header["enc"] = json!(enc); }
        if let Some((name, value)) = extra { header[name] = value; }
        prop_assume!(header != json!({"alg": "dir", "enc": "A256GCM"}));
        prop_assert!(is_refusal_of_a_bad_token(refused(&with_header(&GOOD, &header))));
    }

    #[test]
    fn tokens_made_with_another_key_are_invalid(sub in ".{0,40}", extra in ".{0,200}") {
        let other = KeySet::with_kid("k1", Key::generate());
        let token = other.issue(&json!({"sub": sub, "exp": 9_999_999_999u64, "x": extra})).unwrap();
        prop_assert_eq!(refused(&token), "invalid_token");
    }

    #[test]
    fn tokens_over_the_limit_are_malformed_whatever_they_hold(
        extra in 1usize..40_000,
        fill in "[A-Za-z0-9_.-]",
    ) {
        let token = fill.repeat(JweVerifier::DEFAULT_MAX_TOKEN_LEN + extra);
        prop_assert_eq!(refused(&token), "malformed_token");
    }

    #[test]
    fn arbitrary_auth_payloads_never_panic(auth in arbitrary_json()) {
        let hs = Handshake::builder().auth(auth).build();
        let code = VERIFIER.authenticate::<Claims>(&hs).unwrap_err().code();
        prop_assert!(matches!(code, "missing_token" | "malformed_token" | "invalid_token"));
    }

    #[test]
    fn authentic_tokens_round_trip(sub in ".{0,100}", secs in 60u64..100_000_000) {
        let claims = Claims::new(sub).expires_in(Duration::from_secs(secs));
        let token = KEYS.issue(&claims).unwrap();
        prop_assert_eq!(verify(&token).unwrap(), claims);
    }
}

fn arbitrary_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        ".{0,40}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![Just("token".to_owned()), ".{0,8}"],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop_oneof![
        value.clone(),
        value.prop_map(|token| json!({ "token": token })),
    ]
}
