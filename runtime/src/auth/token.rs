//! Parsing and decrypting a compact JWE, strictly: `alg: dir`, `enc: A256GCM`, nothing else.

use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::JweContext;
use serde_json::{Map, Value};

use super::error::{Reason, TokenError};
use super::key::KeySet;

/// A JWE context that knows A256GCM only and no compression, as a second line of defence behind
/// the header checks below.
static CONTEXT: LazyLock<JweContext> = LazyLock::new(|| {
    let mut context = JweContext::new();
    for enc in [
        "A128CBC-HS256",
        "A192CBC-HS384",
        "A256CBC-HS512",
        "A128GCM",
        "A192GCM",
    ] {
        context.remove_content_encryption(enc);
    }
    context.remove_compression("DEF");
    context
});

const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The checks of a verification.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    pub(crate) max_len: usize,
    pub(crate) leeway: Duration,
    pub(crate) require_exp: bool,
}

/// A decrypted token whose time claims passed.
#[derive(Debug)]
pub(crate) struct Decoded {
    pub(crate) claims: Map<String, Value>,
    pub(crate) exp: Option<f64>,
    pub(crate) kid: Option<String>,
}

fn b64(part: &str, name: &'static str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::new(Reason::BadBase64 { part: name }))
}

/// Decrypts `token` with `keys` and checks its header and time claims.
///
/// Every check that needs no key comes first, and the length check before anything else, so
/// garbage costs almost nothing.
pub(crate) fn decode(
    keys: &KeySet,
    token: &str,
    rules: Rules,
    now: SystemTime,
) -> Result<Decoded, TokenError> {
    if token.len() > rules.max_len {
        return Err(TokenError::new(Reason::TooLarge {
            len: token.len(),
            max: rules.max_len,
        }));
    }
    if token.is_empty() {
        return Err(TokenError::new(Reason::Empty));
    }
    let is_part_char = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.';
    if !token.bytes().all(is_part_char) {
        return Err(TokenError::new(Reason::NotCompact));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let [header_b64, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(TokenError::new(Reason::NotCompact));
    };

    let header = b64(header_b64, "protected header")?;
    let header: Map<String, Value> =
        serde_json::from_slice(&header).map_err(|_| TokenError::new(Reason::BadHeader))?;
    if header.get("alg").and_then(Value::as_str) != Some("dir") {
        return Err(TokenError::new(Reason::UnsupportedAlgorithm));
    }
    if header.get("enc").and_then(Value::as_str) != Some("A256GCM") {
        return Err(TokenError::new(Reason::UnsupportedEncryption));
    }
    if header.contains_key("zip") {
        return Err(TokenError::new(Reason::Compressed));
    }
    if header.contains_key("crit") {
        return Err(TokenError::new(Reason::CriticalHeader));
    }
    if !encrypted_key.is_empty() {
        return Err(TokenError::new(Reason::EncryptedKeyPresent));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(TokenError::new(Reason::BadHeader)),
    };
    // Decoded here only to check the lengths: OpenSSL would take a shorter GCM tag, which makes
    // forgeries far easier, and a non-96-bit IV is not what any JOSE library writes.
    let iv_len = b64(iv, "initialization vector")?.len();
    b64(ciphertext, "ciphertext")?;
    let tag_len = b64(tag, "authentication tag")?.len();
    if iv_len != IV_LEN || tag_len != TAG_LEN {
        return Err(TokenError::new(Reason::BadIvOrTag));
    }

    // Keys named like the token's kid; else (unknown kid, or none) the keys the rules allow.
    let entries = keys.entries();
    let named: Vec<_> = match kid {
        Some(kid) => {
            let named: Vec<_> = entries
                .iter()
                .filter(|e| e.kid.as_deref() == Some(kid))
                .collect();
            if named.is_empty() {
                entries.iter().filter(|e| e.kid.is_none()).collect()
            } else {
                named
            }
        }
        None => entries.iter().collect(),
    };
    if named.is_empty() {
        return Err(TokenError::new(Reason::UnknownKeyId));
    }
    let payload = named
        .iter()
        .find_map(|entry| {
            CONTEXT
                .deserialize_compact(token, &entry.decrypter)
                .ok()
                .map(|(payload, _)| payload)
        })
        .ok_or_else(|| TokenError::new(Reason::Undecryptable))?;

    let claims: Map<String, Value> =
        serde_json::from_slice(&payload).map_err(|_| TokenError::new(Reason::PayloadNotObject))?;
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    let leeway = rules.leeway.as_secs_f64();
    let exp = time_claim(&claims, "exp")?;
    let nbf = time_claim(&claims, "nbf")?;
    match exp {
        None if rules.require_exp => return Err(TokenError::new(Reason::MissingExp)),
        Some(exp) if now >= exp + leeway => {
            return Err(TokenError::new(Reason::Expired {
                ago: secs(now - exp),
                expired_at: exp.max(0.0) as u64,
            }));
        }
        _ => {}
    }
    if let Some(nbf) = nbf
        && now + leeway < nbf
    {
        return Err(TokenError::new(Reason::NotYetValid {
            wait: secs(nbf - now),
            not_before: nbf.max(0.0) as u64,
        }));
    }
    Ok(Decoded {
        claims,
        exp,
        kid: kid.map(str::to_owned),
    })
}

fn time_claim(claims: &Map<String, Value>, claim: &'static str) -> Result<Option<f64>, TokenError> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| TokenError::new(Reason::BadTimeClaim { claim })),
        Some(_) => Err(TokenError::new(Reason::BadTimeClaim { claim })),
    }
}

fn secs(f: f64) -> Duration {
    Duration::try_from_secs_f64(f.max(0.0)).unwrap_or(Duration::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::Key;

    fn rules() -> Rules {
        Rules {
            max_len: 8192,
            leeway: Duration::ZERO,
            require_exp: false,
        }
    }

    /// OpenSSL verifies a GCM tag of any length from 1 to 16 bytes, so without this check a
    /// forger would need to guess a single byte.
    #[test]
    fn a_truncated_tag_is_refused_even_when_it_is_a_prefix_of_the_right_one() {
        let keys = KeySet::new(Key::generate());
        let token = keys.issue(&serde_json::json!({"sub": "1"})).unwrap();
        assert!(decode(&keys, &token, rules(), SystemTime::now()).is_ok());
        let (rest, tag) = token.rsplit_once('.').unwrap();
        let tag = URL_SAFE_NO_PAD.decode(tag).unwrap();
        for len in [1, 4, 12, 15] {
            let truncated = format!("{rest}.{}", URL_SAFE_NO_PAD.encode(&tag[..len]));
            let err = decode(&keys, &truncated, rules(), SystemTime::now()).unwrap_err();
            assert_eq!(err.code(), "malformed_token", "tag of {len} bytes");
        }
    }

    #[test]
    fn the_size_limit_applies_before_anything_else() {
        let keys = KeySet::new(Key::generate());
        let err = decode(&keys, &"\u{0}".repeat(8193), rules(), SystemTime::now()).unwrap_err();
        assert_eq!(
            err.message(),
            "the token is 8193 bytes long, more than the 8192 allowed"
        );
    }
}
