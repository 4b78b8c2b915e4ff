//! Signed envelopes: the cluster key ([`ClusterKey`]) and the framing a signature travels in.
//!
//! A signed message is `<sig>.<json>`: `json` is the envelope, byte for byte as published, and
//! `sig` is `base64url(HMAC-SHA256(key, json))` without padding (43 characters). Only the bytes
//! after the first `.` are signed, so any language reproduces it from the bytes it publishes:
//!
//! ```text
//! Python: sig = base64.urlsafe_b64encode(hmac.new(key, body, hashlib.sha256).digest()).rstrip(b"=")
//! Node:   sig = crypto.createHmac("sha256", key).update(body).digest("base64url")
//! shell:  printf %s "$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:<key in hex>
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::error::ClusterError;
use crate::auth::decode_key_text;

/// The length of a signature in the message: 32 bytes of HMAC-SHA256 in unpadded base64url.
pub(crate) const SIG_LEN: usize = 43;

/// The secret the nodes of a cluster (and its Redis-only emitters) sign their envelopes with, at
/// least 32 bytes. A node with a key drops every envelope that is not signed with it; see
/// [`ClusterConfig::key`](super::ClusterConfig::key).
///
/// Its [`Debug`](fmt::Debug) output never shows the key material.
///
/// ```
/// use tether::cluster::ClusterKey;
///
/// let key = ClusterKey::generate();
/// let same = ClusterKey::from_base64url(&key.to_base64url()).unwrap();
/// assert_eq!(same.to_base64url(), key.to_base64url());
/// assert_eq!(format!("{key:?}"), "ClusterKey(<32 bytes, redacted>)");
/// // `openssl rand -base64 32` output works as it is.
/// assert!(ClusterKey::from_base64url("q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=").is_ok());
/// assert!(ClusterKey::from_bytes(b"too short").is_err());
/// ```
#[derive(Clone)]
pub struct ClusterKey {
    bytes: Vec<u8>,
    /// The HMAC with the key schedule done once; cloned for each message.
    mac: Hmac<Sha256>,
}

impl ClusterKey {
    /// The shortest key accepted, in bytes (HMAC-SHA256's output size).
    pub const MIN_LEN: usize = 32;

    /// A key from its raw bytes (at least [`MIN_LEN`](Self::MIN_LEN)).
    ///
    /// # Errors
    /// When the key is shorter than [`MIN_LEN`](Self::MIN_LEN).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ClusterError> {
        if bytes.len() < Self::MIN_LEN {
            return Err(ClusterError(format!(
                "the cluster key is {} bytes long; it must be at least {} (43 characters of \
                 base64url; make one with `ClusterKey::generate()` or `openssl rand -base64 32`)",
                bytes.len(),
                Self::MIN_LEN
            )));
        }
        let mac = Hmac::<Sha256>::new_from_slice(bytes)
            .map_err(|_| ClusterError("HMAC rejected the cluster key".to_owned()))?;
        Ok(Self {
            bytes: bytes.to_vec(),
            mac,
        })
    }

    /// A key from base64url text (as `crypto.randomBytes(32).toString("base64url")` writes it).
    /// Surrounding whitespace and `=` padding are ignored, and the standard alphabet (`+`, `/`)
    /// is accepted too, as for [`auth::Key`](crate::auth::Key).
    ///
    /// # Errors
    /// When the text is not base64, or the key is too short.
    pub fn from_base64url(text: &str) -> Result<Self, ClusterError> {
        let bytes = decode_key_text(text).ok_or_else(|| {
            ClusterError("the cluster key is not valid base64url text".to_owned())
        })?;
        Self::from_bytes(&bytes)
    }

    /// A key from the base64url text in an environment variable.
    ///
    /// # Errors
    /// When the variable is not set or does not hold a valid key (the message names the
    /// variable, never its value).
    pub fn from_env(var: &str) -> Result<Self, ClusterError> {
        let text = std::env::var(var).map_err(|_| {
            ClusterError(format!(
                "the environment variable `{var}` holding the cluster key is not set"
            ))
        })?;
        Self::from_base64url(&text).map_err(|e| ClusterError(format!("`{var}`: {e}")))
    }

    /// A new random 32-byte key (from OpenSSL's CSPRNG).
    pub fn generate() -> Self {
        Self::from_bytes(&josekit::util::random_bytes(Self::MIN_LEN))
            .expect("a generated key is long enough")
    }

    /// The key as unpadded base64url text. This is the secret itself: never log it.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.bytes)
    }

    /// `<sig>.<json>`: the envelope signed.
    pub(crate) fn sign(&self, json: &[u8]) -> Vec<u8> {
        let mut mac = self.mac.clone();
        mac.update(json);
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let mut message = Vec::with_capacity(SIG_LEN + 1 + json.len());
        message.extend_from_slice(sig.as_bytes());
        message.push(b'.');
        message.extend_from_slice(json);
        message
    }

    /// Whether `sig` (base64url) is the signature of `json`, compared in constant time.
    fn verifies(&self, sig: &[u8], json: &[u8]) -> bool {
        let Ok(tag) = URL_SAFE_NO_PAD.decode(sig) else {
            return false;
        };
        let mut mac = self.mac.clone();
        mac.update(json);
        mac.verify_slice(&tag).is_ok()
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey(<{} bytes, redacted>)", self.bytes.len())
    }
}

/// Why a message's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unsealed {
    /// The node has a key and the message carries no signature.
    Unsigned,
    /// The signature is not the key's.
    BadSignature,
    /// Neither `{…}` nor `<sig>.{…}`.
    Malformed,
}

/// The envelope (JSON) inside a message: `{…}` unsigned, `<sig>.{…}` signed (a signature never
/// starts with `{`), checked against `key` when there is one. Without a key a signature is not
/// checked (and may be absent): a node without a key takes what it is given.
pub(crate) fn open<'a>(key: Option<&ClusterKey>, message: &'a [u8]) -> Result<&'a [u8], Unsealed> {
    if message.first() == Some(&b'{') {
        return if key.is_some() {
            Err(Unsealed::Unsigned)
        } else {
            Ok(message)
        };
    }
    if message.get(SIG_LEN) != Some(&b'.') {
        return Err(Unsealed::Malformed);
    }
    let (sig, json) = (&message[..SIG_LEN], &message[SIG_LEN + 1..]);
    match key {
        None => Ok(json),
        Some(key) if key.verifies(sig, json) => Ok(json),
        Some(_) => Err(Unsealed::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::{ClusterKey, Unsealed, open};

    /// The test vector of the "Signed envelopes" section of docs/cluster.md, computed independently:
    /// `python3 -c 'import hmac,hashlib,base64; …'` and
    /// `printf %s "$BODY" | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f`
    /// (HMAC hex `5d835040281a3448e0ed03a76b7e2c2dbbf6aa58188cb12ed8fe80c90cb1a74e`).
    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const BODY: &str = r#"{"v":1,"id":"cli-1","ns":"/chat","targets":[{"kind":"user","id":"alice"}],"kind":"emit","event":"note","data":{"text":"hello from redis-cli"}}"#;
    const SIG: &str = "XYNQQCgaNEjg7QOna34sLbv2qlgYjLEu2P6AyQyxp04";

    #[test]
    fn the_signature_is_hmac_sha256_of_the_json_in_base64url() {
        let key = ClusterKey::from_base64url(KEY).unwrap();
        assert_eq!(key.to_base64url(), KEY);
        let signed = key.sign(BODY.as_bytes());
        assert_eq!(
            String::from_utf8(signed.clone()).unwrap(),
            format!("{SIG}.{BODY}")
        );
        assert_eq!(open(Some(&key), &signed), Ok(BODY.as_bytes()));
    }

    #[test]
    fn a_keyed_node_takes_only_what_its_key_signed() {
        let key = ClusterKey::from_base64url(KEY).unwrap();
        let other = ClusterKey::generate();
        let signed = key.sign(BODY.as_bytes());
        assert_eq!(open(Some(&key), BODY.as_bytes()), Err(Unsealed::Unsigned));
        assert_eq!(open(Some(&other), &signed), Err(Unsealed::BadSignature));
        let tampered = format!("{SIG}.{}", BODY.replace("hello", "HELLO"));
        assert_eq!(
            open(Some(&key), tampered.as_bytes()),
            Err(Unsealed::BadSignature)
        );
        let garbage = format!("{}.{BODY}", "!".repeat(43));
        assert_eq!(
            open(Some(&key), garbage.as_bytes()),
            Err(Unsealed::BadSignature)
        );
        assert_eq!(open(Some(&key), b"not json"), Err(Unsealed::Malformed));
        assert_eq!(open(Some(&key), b""), Err(Unsealed::Malformed));
    }

    #[test]
    fn a_node_without_a_key_takes_signed_and_unsigned_envelopes() {
        let key = ClusterKey::from_base64url(KEY).unwrap();
        assert_eq!(open(None, BODY.as_bytes()), Ok(BODY.as_bytes()));
        assert_eq!(open(None, &key.sign(BODY.as_bytes())), Ok(BODY.as_bytes()));
        assert_eq!(open(None, b"not json"), Err(Unsealed::Malformed));
    }

    #[test]
    fn keys_are_at_least_32_bytes_and_never_shown() {
        assert!(ClusterKey::from_bytes(&[7; 31]).is_err());
        let key = ClusterKey::from_bytes(&[7; 64]).unwrap();
        assert_eq!(format!("{key:?}"), "ClusterKey(<64 bytes, redacted>)");
        let err = ClusterKey::from_base64url("c2hvcnQ")
            .unwrap_err()
            .to_string();
        assert!(err.contains("is 5 bytes long"), "{err}");
        assert!(ClusterKey::from_base64url("not base64 at all!").is_err());
    }
}
