//! Keys for `alg: dir` + `enc: A256GCM` JWE, and key sets for rotation.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwe::alg::direct::{DirectJweDecrypter, DirectJweEncrypter};
use josekit::jwe::{Dir, JweHeader};
use serde::Serialize;

/// A 32-byte symmetric key for `alg: dir`, `enc: A256GCM` tokens.
///
/// Its [`Debug`](fmt::Debug) output never shows the key material.
///
/// ```
/// use tether::auth::Key;
///
/// let key = Key::generate();
/// let same = Key::from_base64url(&key.to_base64url()).unwrap();
/// assert_eq!(same.to_base64url(), key.to_base64url());
/// assert_eq!(format!("{key:?}"), "Key(<32 bytes, redacted>)");
///
/// let err = Key::from_base64url("c2hvcnQ").unwrap_err();
/// assert_eq!(err.to_string(), "the key is 5 bytes long; an A256GCM key must be exactly 32 bytes \
///     (43 characters of base64url; make one with `Key::generate()` or `openssl rand -base64 32`)");
/// ```
#[derive(Clone)]
pub struct Key {
    bytes: [u8; Key::LEN],
}

impl Key {
    /// The length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from its 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bytes = <[u8; Self::LEN]>::try_from(bytes)
            .map_err(|_| KeyError::WrongLength { len: bytes.len() })?;
        Ok(Self { bytes })
    }

    /// A key from base64url text, as `jose`'s `base64url.encode` or
    /// `crypto.randomBytes(32).toString("base64url")` write it.
    ///
    /// Surrounding whitespace is ignored, and so is `=` padding; the standard base64 alphabet
    /// (`+`, `/`) is accepted too, so `openssl rand -base64 32` output works as it is.
    pub fn from_base64url(text: &str) -> Result<Self, KeyError> {
        let bytes = decode_key_text(text).ok_or(KeyError::InvalidBase64)?;
        Self::from_bytes(&bytes)
    }

    /// A key from the base64url text in an environment variable, e.g. `Key::from_env("TETHER_KEY")`.
    ///
    /// ```
    /// use tether::auth::{Key, KeyError};
    ///
    /// let err = Key::from_env("SURELY_NOT_SET_IN_YOUR_ENV").unwrap_err();
    /// assert!(matches!(err, KeyError::MissingEnv { .. }));
    /// assert_eq!(err.to_string(), "the environment variable `SURELY_NOT_SET_IN_YOUR_ENV` holding the key is not set");
    /// ```
    pub fn from_env(var: &str) -> Result<Self, KeyError> {
        match std::env::var(var) {
            Ok(text) => Self::from_base64url(&text).map_err(|source| KeyError::InEnv {
                var: var.to_owned(),
                source: Box::new(source),
            }),
            Err(std::env::VarError::NotPresent) => Err(KeyError::MissingEnv {
                var: var.to_owned(),
            }),
            Err(std::env::VarError::NotUnicode(_)) => Err(KeyError::InEnv {
                var: var.to_owned(),
                source: Box::new(KeyError::InvalidBase64),
            }),
        }
    }

    /// A new random key (from OpenSSL's CSPRNG).
    pub fn generate() -> Self {
        let random = josekit::util::random_bytes(Self::LEN);
        Self::from_bytes(&random).expect("random_bytes returns the requested length")
    }

    /// The key as unpadded base64url text, e.g. to put a [generated](Self::generate) key in your
    /// configuration. This is the secret itself: never log it.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; Self::LEN] {
        &self.bytes
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes, redacted>)", Self::LEN)
    }
}

/// Why a [`Key`] could not be made. The messages never contain the key text.
///
/// ```
/// use tether::auth::{Key, KeyError};
///
/// assert_eq!(Key::from_base64url("not base64!").unwrap_err(), KeyError::InvalidBase64);
/// assert_eq!(Key::from_bytes(&[0; 16]).unwrap_err(), KeyError::WrongLength { len: 16 });
///
/// // At start-up: the message names the variable, never the key.
/// let err = Key::from_env("MY_APP_TOKEN_KEY_UNSET").unwrap_err();
/// assert!(matches!(&err, KeyError::MissingEnv { var } if var == "MY_APP_TOKEN_KEY_UNSET"));
/// eprintln!("cannot start: {err}");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// The decoded key is not 32 bytes long.
    WrongLength {
        /// The decoded length in bytes.
        len: usize,
    },
    /// The text is not base64url (nor standard base64).
    InvalidBase64,
    /// The environment variable is not set.
    MissingEnv {
        /// The variable's name.
        var: String,
    },
    /// The environment variable is set, but its value is not a valid key.
    InEnv {
        /// The variable's name.
        var: String,
        /// What is wrong with the value.
        source: Box<KeyError>,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongLength { len } => write!(
                f,
                "the key is {len} bytes long; an A256GCM key must be exactly {} bytes \
                 (43 characters of base64url; make one with `Key::generate()` or `openssl rand -base64 32`)",
                Key::LEN
            ),
            Self::InvalidBase64 => f.write_str("the key is not valid base64url text"),
            Self::MissingEnv { var } => {
                write!(
                    f,
                    "the environment variable `{var}` holding the key is not set"
                )
            }
            Self::InEnv { var, source } => {
                write!(
                    f,
                    "the environment variable `{var}` does not hold a valid key: {source}"
                )
            }
        }
    }
}

impl std::error::Error for KeyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::InEnv { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

/// One key of a [`KeySet`], with the josekit encrypter/decrypter made once.
#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) kid: Option<String>,
    key: Key,
    pub(crate) decrypter: DirectJweDecrypter,
}

impl Entry {
    fn new(kid: Option<String>, key: Key) -> Self {
        let decrypter = Dir
            .decrypter_from_bytes(key.bytes())
            .expect("a dir decrypter accepts any bytes");
        Self {
            kid,
            key,
            decrypter,
        }
    }

    fn encrypter(&self) -> DirectJweEncrypter {
        Dir.encrypter_from_bytes(self.key.bytes())
            .expect("a dir encrypter accepts any bytes")
    }
}

/// The keys a server issues and verifies tokens with: one current key, and older keys that still
/// verify tokens during a rotation.
///
/// Tokens are issued with the current key, and carry its key id (`kid` header) when it has one.
/// A token is verified with the keys that have its `kid` (or, when no key has it, with the keys
/// without a kid); a token without a `kid` is tried with every key, the current one first.
///
/// Its [`Debug`](fmt::Debug) output lists key ids only, never key material.
///
/// ```
/// use serde::Deserialize;
/// use tether::auth::{Claims, Key, KeySet};
///
/// let old = Key::generate();
/// let old_keys = KeySet::with_kid("2024-01", old.clone());
/// let old_token = old_keys.issue(&Claims::new("42").expires_in(std::time::Duration::from_secs(60))).unwrap();
///
/// // Rotation: a new current key; the old one still verifies tokens issued before.
/// let keys = KeySet::with_kid("2024-06", Key::generate()).with_previous("2024-01", old);
/// let claims: Claims = keys.verify(&old_token).unwrap();
/// assert_eq!(claims.sub, "42");
///
/// // Once the old key is removed, its tokens are refused.
/// let mut keys = keys;
/// assert!(keys.remove("2024-01"));
/// assert_eq!(keys.verify::<Claims>(&old_token).unwrap_err().code(), "invalid_token");
/// assert_eq!(format!("{keys:?}"), r#"KeySet { current: Some("2024-06"), previous: [] }"#);
/// ```
#[derive(Clone)]
pub struct KeySet {
    /// `entries[0]` is the current key.
    entries: Vec<Entry>,
}

impl KeySet {
    /// A set with one current key and no key id: tokens carry no `kid`.
    pub fn new(current: Key) -> Self {
        Self {
            entries: vec![Entry::new(None, current)],
        }
    }

    /// A set with one current key named `kid`: tokens carry `kid` in their header.
    pub fn with_kid(kid: impl Into<String>, current: Key) -> Self {
        Self {
            entries: vec![Entry::new(Some(kid.into()), current)],
        }
    }

    /// Adds an older key named `kid` that still verifies tokens but issues none.
    pub fn with_previous(mut self, kid: impl Into<String>, key: Key) -> Self {
        self.entries.push(Entry::new(Some(kid.into()), key));
        self
    }

    /// Adds an older key without a key id that still verifies tokens but issues none (tokens
    /// without a `kid` are tried with every key).
    pub fn with_previous_unnamed(mut self, key: Key) -> Self {
        self.entries.push(Entry::new(None, key));
        self
    }

    /// Makes `key` (named `kid`) the current key; the former current key stays, to verify tokens
    /// issued before, until it is [removed](Self::remove).
    ///
    /// ```
    /// use tether::auth::{Key, KeySet};
    /// let mut keys = KeySet::with_kid("a", Key::generate());
    /// keys.rotate("b", Key::generate());
    /// assert_eq!(keys.current_kid(), Some("b"));
    /// assert_eq!(keys.kids().collect::<Vec<_>>(), [Some("b"), Some("a")]);
    /// ```
    pub fn rotate(&mut self, kid: impl Into<String>, key: Key) {
        self.entries.insert(0, Entry::new(Some(kid.into()), key));
    }

    /// Removes the older keys named `kid`, so their tokens are refused from now on. The current key
    /// is never removed; returns whether a key was removed.
    pub fn remove(&mut self, kid: &str) -> bool {
        let before = self.entries.len();
        let mut index = 0;
        self.entries.retain(|entry| {
            let keep = index == 0 || entry.kid.as_deref() != Some(kid);
            index += 1;
            keep
        });
        self.entries.len() != before
    }

    /// The key id of the current key.
    pub fn current_kid(&self) -> Option<&str> {
        self.entries[0].kid.as_deref()
    }

    /// The key ids of all keys, the current one first (`None` for keys without an id).
    pub fn kids(&self) -> impl Iterator<Item = Option<&str>> {
        self.entries.iter().map(|e| e.kid.as_deref())
    }

    /// The number of keys, the current one included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Always `false`: a key set has at least its current key.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Issues a compact JWE token (`alg: dir`, `enc: A256GCM`, and the current key's `kid`) whose
    /// payload is `claims` as a JSON object.
    ///
    /// `claims` is usually a [`Claims`](crate::auth::Claims), or any struct that serializes to a JSON
    /// object; set an `exp` (seconds since the Unix epoch) since verification requires one by
    /// default.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tether::auth::{Claims, Key, KeySet};
    ///
    /// let keys = KeySet::new(Key::generate());
    /// let token = keys.issue(&Claims::new("42").expires_in(Duration::from_secs(3600))).unwrap();
    /// assert_eq!(token.split('.').count(), 5);
    /// assert!(keys.issue(&"not an object").is_err());
    /// ```
    pub fn issue<C: Serialize + ?Sized>(&self, claims: &C) -> Result<String, IssueError> {
        let payload =
            serde_json::to_value(claims).map_err(|e| IssueError::Serialize(e.to_string()))?;
        if !payload.is_object() {
            return Err(IssueError::NotAnObject);
        }
        let payload =
            serde_json::to_vec(&payload).map_err(|e| IssueError::Serialize(e.to_string()))?;
        let current = &self.entries[0];
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        if let Some(kid) = &current.kid {
            header.set_key_id(kid.clone());
        }
        josekit::jwe::serialize_compact(&payload, &header, &current.encrypter())
            .map_err(|_| IssueError::Encrypt)
    }

    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

impl From<Key> for KeySet {
    fn from(key: Key) -> Self {
        Self::new(key)
    }
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySet")
            .field("current", &self.entries[0].kid)
            .field(
                "previous",
                &self.entries[1..].iter().map(|e| &e.kid).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Why a token could not be issued.
///
/// ```
/// use std::time::Duration;
/// use tether::auth::{Claims, IssueError, Key, KeySet};
///
/// // A login endpoint's last step: a token for the user it just checked.
/// fn token_for(keys: &KeySet, user: &str) -> Result<String, IssueError> {
///     keys.issue(&Claims::new(user).expires_in(Duration::from_secs(3600)))
/// }
///
/// let keys = KeySet::new(Key::generate());
/// assert!(token_for(&keys, "42").is_ok());
///
/// // Claims are a JSON object; anything else is refused before encryption.
/// let err = keys.issue(&["42"]).unwrap_err();
/// assert_eq!(err, IssueError::NotAnObject);
/// assert_eq!(err.to_string(), "the claims must serialize to a JSON object");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssueError {
    /// The claims failed to serialize to JSON (the serializer's message).
    Serialize(String),
    /// The claims serialize to something other than a JSON object.
    NotAnObject,
    /// Encryption failed (an OpenSSL failure).
    Encrypt,
}

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Serialize(e) => write!(f, "the claims could not be serialized to JSON: {e}"),
            Self::NotAnObject => f.write_str("the claims must serialize to a JSON object"),
            Self::Encrypt => f.write_str("the token could not be encrypted"),
        }
    }
}

impl std::error::Error for IssueError {}

/// Decodes key text leniently: surrounding whitespace and `=` padding ignored, the standard
/// base64 alphabet (`+`, `/`) accepted beside base64url. Shared by every key type of the crate.
pub(crate) fn decode_key_text(text: &str) -> Option<Vec<u8>> {
    let normalized: String = text
        .trim()
        .trim_end_matches('=')
        .chars()
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized.as_bytes()).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_text_round_trips_and_accepts_padding_whitespace_and_the_standard_alphabet() {
        let bytes: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(250))
            .collect();
        let key = Key::from_bytes(&bytes).unwrap();
        let url = key.to_base64url();
        assert_eq!(url.len(), 43);
        let standard = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert!(
            standard.contains('+') || standard.contains('/'),
            "{standard}"
        );
        for text in [url.clone(), format!("  {url}=\n"), standard] {
            assert_eq!(Key::from_base64url(&text).unwrap().bytes(), key.bytes());
        }
    }

    #[test]
    fn key_of_the_wrong_size_is_a_typed_error() {
        for len in [0, 16, 31, 33, 48, 64] {
            let err = Key::from_bytes(&vec![7; len]).unwrap_err();
            assert_eq!(err, KeyError::WrongLength { len });
        }
        // `openssl rand -hex 32` is 64 characters, decoded as base64 that is 48 bytes.
        let hex = "00".repeat(32);
        assert_eq!(
            Key::from_base64url(&hex).unwrap_err(),
            KeyError::WrongLength { len: 48 }
        );
    }

    #[test]
    fn key_with_bad_base64_is_a_typed_error_that_does_not_echo_the_text() {
        let err = Key::from_base64url("secret*material!").unwrap_err();
        assert_eq!(err, KeyError::InvalidBase64);
        assert!(!err.to_string().contains("secret"));
    }

    #[test]
    fn key_from_env_reports_a_missing_variable() {
        let missing = "TETHER_AUTH_TEST_MISSING_KEY_4B1";
        assert_eq!(
            Key::from_env(missing).unwrap_err(),
            KeyError::MissingEnv {
                var: missing.into()
            }
        );
    }

    /// Setting a variable is `unsafe` in edition 2024 and this crate forbids unsafe code, so the
    /// test runs itself again as a child process with the variables set.
    #[test]
    fn key_from_env_reads_a_valid_key_and_names_the_variable_of_an_invalid_one() {
        const GOOD: &str = "TETHER_AUTH_TEST_GOOD_KEY";
        const SHORT: &str = "TETHER_AUTH_TEST_SHORT_KEY";
        // Bytes 0, 1, …, 31.
        const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        if std::env::var_os(GOOD).is_some() {
            let key = Key::from_env(GOOD).unwrap();
            assert_eq!(key.bytes().to_vec(), (0..32).collect::<Vec<u8>>());
            let err = Key::from_env(SHORT).unwrap_err();
            assert_eq!(
                err,
                KeyError::InEnv {
                    var: SHORT.into(),
                    source: Box::new(KeyError::WrongLength { len: 3 }),
                }
            );
            assert!(err.to_string().starts_with(
                "the environment variable `TETHER_AUTH_TEST_SHORT_KEY` does not hold a valid key: \
                 the key is 3 bytes long"
            ));
            assert!(!err.to_string().contains("c2hv"));
            return;
        }
        let test = concat!(
            module_path!(),
            "::key_from_env_reads_a_valid_key_and_names_the_variable_of_an_invalid_one"
        );
        let test = test.split_once("::").map_or(test, |(_, path)| path);
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--test-threads=1", "--nocapture"])
            .env(GOOD, format!("  {KEY}\n"))
            .env(SHORT, "c2hv")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "the child test failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    #[test]
    fn debug_output_never_contains_key_material() {
        let key = Key::generate();
        let text = key.to_base64url();
        let keys = KeySet::with_kid("current", key.clone()).with_previous("old", Key::generate());
        for shown in [
            format!("{key:?}"),
            format!("{keys:?}"),
            format!("{keys:#?}"),
        ] {
            assert!(!shown.contains(&text), "{shown}");
            assert!(!shown.contains(&format!("{:?}", key.bytes())), "{shown}");
        }
        assert_eq!(
            format!("{keys:?}"),
            r#"KeySet { current: Some("current"), previous: [Some("old")] }"#
        );
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            Key::generate().to_base64url(),
            Key::generate().to_base64url()
        );
    }

    #[test]
    fn remove_never_removes_the_current_key() {
        let mut keys = KeySet::with_kid("a", Key::generate()).with_previous("b", Key::generate());
        assert!(!keys.remove("a"));
        assert!(keys.remove("b"));
        assert!(!keys.remove("b"));
        assert_eq!(keys.len(), 1);
        assert_eq!(keys.current_kid(), Some("a"));
    }

    #[test]
    fn issued_header_is_dir_a256gcm_with_the_current_kid() {
        let keys = KeySet::with_kid("k2", Key::generate()).with_previous("k1", Key::generate());
        let token = keys.issue(&serde_json::json!({"sub": "1"})).unwrap();
        let header = token.split('.').next().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "dir", "enc": "A256GCM", "kid": "k2"})
        );
        let parts: Vec<_> = token.split('.').collect();
        assert_eq!(parts[1], "", "dir has an empty encrypted key");
    }

    #[test]
    fn issuing_claims_that_are_not_an_object_fails() {
        let keys = KeySet::new(Key::generate());
        assert_eq!(keys.issue(&[1, 2]).unwrap_err(), IssueError::NotAnObject);
        let mut bad_map = std::collections::HashMap::new();
        bad_map.insert((1, 2), 3);
        assert!(matches!(
            keys.issue(&bad_map).unwrap_err(),
            IssueError::Serialize(_)
        ));
    }
}
