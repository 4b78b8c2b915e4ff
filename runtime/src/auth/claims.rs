//! A ready-made claims struct: `sub`, `exp`, `nbf`, `iat`, plus your own fields.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize};

/// The claims of a token: the registered `sub`, `exp`, `nbf` and `iat`, and your own fields in
/// `extra` (flattened into the same JSON object).
///
/// Times are seconds since the Unix epoch (JWT "NumericDate"); fractional values written by other
/// stacks are accepted and rounded down.
///
/// ```
/// use std::time::Duration;
/// use serde::{Deserialize, Serialize};
/// use tether::auth::Claims;
///
/// #[derive(Serialize, Deserialize)]
/// struct Extra { name: String, role: String }
///
/// let claims = Claims::new("42")
///     .expires_in(Duration::from_secs(3600))
///     .extra(Extra { name: "Ada".into(), role: "admin".into() });
/// let json = serde_json::to_value(&claims).unwrap();
/// assert_eq!(json["sub"], "42");
/// assert_eq!(json["role"], "admin");                  // flattened, not nested
/// assert!(json["exp"].as_u64().unwrap() > json["iat"].as_u64().unwrap());
/// assert!(json.get("nbf").is_none());                 // unset times are left out
///
/// let back: Claims<Extra> = serde_json::from_value(json).unwrap();
/// assert_eq!(back.extra.name, "Ada");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims<T = NoExtra> {
    /// The subject: who the token is about, usually the user id.
    pub sub: String,
    /// Expiration time (seconds since the Unix epoch).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub exp: Option<u64>,
    /// Not-before time (seconds since the Unix epoch).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub nbf: Option<u64>,
    /// Issued-at time (seconds since the Unix epoch).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "numeric_date"
    )]
    pub iat: Option<u64>,
    /// Your own claims, flattened into the same JSON object.
    #[serde(flatten)]
    pub extra: T,
}

/// No custom claims: the default `extra` of [`Claims`]. Unknown claims of a token are ignored.
///
/// ```
/// use std::collections::HashMap;
/// use std::time::Duration;
/// use tether::auth::{Claims, Key, KeySet, NoExtra};
///
/// let keys = KeySet::new(Key::generate());
/// let claims = Claims::new("42")
///     .expires_in(Duration::from_secs(60))
///     .extra(HashMap::from([("role", "admin")]));
/// let token = keys.issue(&claims).unwrap();
///
/// // A service that needs only the subject reads `Claims`, that is `Claims<NoExtra>`.
/// let claims: Claims = keys.verify(&token).unwrap();
/// assert_eq!(claims.sub, "42");
/// assert_eq!(claims.extra, NoExtra {});
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoExtra {}

impl Claims<NoExtra> {
    /// Claims for subject `sub`, issued now (`iat`), without expiry yet.
    pub fn new(sub: impl Into<String>) -> Self {
        Self {
            sub: sub.into(),
            exp: None,
            nbf: None,
            iat: Some(unix_now()),
            extra: NoExtra {},
        }
    }
}

impl<T> Claims<T> {
    /// Replaces the custom claims.
    pub fn extra<U>(self, extra: U) -> Claims<U> {
        Claims {
            sub: self.sub,
            exp: self.exp,
            nbf: self.nbf,
            iat: self.iat,
            extra,
        }
    }

    /// Expires `ttl` from now.
    pub fn expires_in(mut self, ttl: Duration) -> Self {
        self.exp = Some(unix_now().saturating_add(ttl.as_secs()));
        self
    }

    /// Expires at `at`.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.exp = Some(unix_secs(at));
        self
    }

    /// Not valid before `at`.
    pub fn not_before(mut self, at: SystemTime) -> Self {
        self.nbf = Some(unix_secs(at));
        self
    }

    /// The expiry as a time, if any.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.exp
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    }
}

pub(crate) fn unix_secs(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_now() -> u64 {
    unix_secs(SystemTime::now())
}

/// A NumericDate: any JSON number, floored to whole seconds and clamped into `u64`.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<serde_json::Number>::deserialize(deserializer)?;
    Ok(value.map(|n| {
        n.as_u64()
            .unwrap_or_else(|| n.as_f64().map_or(0, |f| f.max(0.0).floor() as u64))
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fractional_and_negative_times_from_other_stacks_are_accepted() {
        let claims: Claims =
            serde_json::from_str(r#"{"sub":"1","exp":1700000000.75,"nbf":-5,"iat":12}"#).unwrap();
        assert_eq!(claims.exp, Some(1_700_000_000));
        assert_eq!(claims.nbf, Some(0));
        assert_eq!(claims.iat, Some(12));
    }

    #[test]
    fn unknown_claims_are_ignored_by_the_default_extra() {
        let claims: Claims = serde_json::from_str(r#"{"sub":"1","role":"x","n":[1]}"#).unwrap();
        assert_eq!(claims.sub, "1");
        assert_eq!(claims.exp, None);
    }

    #[test]
    fn a_map_extra_keeps_every_custom_claim() {
        let claims: Claims<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(r#"{"sub":"1","exp":5,"role":"x"}"#).unwrap();
        assert_eq!(claims.extra.len(), 1);
        assert_eq!(claims.extra["role"], "x");
    }

    #[test]
    fn expiry_helpers_set_seconds_since_the_epoch() {
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let claims = Claims::new("1").expires_at(at).not_before(UNIX_EPOCH);
        assert_eq!(claims.exp, Some(1_000));
        assert_eq!(claims.nbf, Some(0));
        assert_eq!(claims.expiry(), Some(at));
    }
}
