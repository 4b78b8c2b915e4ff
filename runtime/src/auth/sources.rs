//! Where in a handshake a token can be: the socket.io `auth` payload, a header, a cookie, the query.

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use super::error::{Reason, TokenError, json_type_name};
use crate::handshake::{Handshake, OriginCheck};

/// One place a client can put its token.
///
/// ```
/// use tether::Handshake;
/// use tether::auth::TokenSource;
///
/// let hs = Handshake::builder().query("commId=abc").build();
/// assert_eq!(TokenSource::query("commId").extract(&hs), Ok(Some("abc")));
/// assert_eq!(TokenSource::BearerHeader.extract(&hs), Ok(None));
/// assert_eq!(TokenSource::query("commId").to_string(), "query `commId`");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenSource {
    /// A field of the socket.io `auth` payload: `io(url, { auth: { token } })` (Psychic's flow).
    AuthField(Cow<'static, str>),
    /// An `Authorization: Bearer <token>` header (non-browser clients, jac-cloud's flow).
    BearerHeader,
    /// A cookie, e.g. `token`: a returning browser tab is recognized without a new login.
    Cookie(Cow<'static, str>),
    /// A query parameter of the connection URL, e.g. `token`, or `commId` (expresso-macchiato's flow).
    Query(Cow<'static, str>),
    /// Any other header holding the bare token, e.g. `x-auth-token`.
    Header(Cow<'static, str>),
}

impl TokenSource {
    /// The `auth` payload field `name`.
    pub fn auth_field(name: impl Into<Cow<'static, str>>) -> Self {
        Self::AuthField(name.into())
    }

    /// The cookie `name`.
    pub fn cookie(name: impl Into<Cow<'static, str>>) -> Self {
        Self::Cookie(name.into())
    }

    /// The query parameter `name`.
    pub fn query(name: impl Into<Cow<'static, str>>) -> Self {
        Self::Query(name.into())
    }

    /// The header `name` (holding the bare token).
    pub fn header(name: impl Into<Cow<'static, str>>) -> Self {
        Self::Header(name.into())
    }

    /// The token this source holds in `hs`.
    ///
    /// `Ok(None)` when absent; an empty (or all-blank) value and a `null` auth field count as
    /// absent, since clients often send `""` or `null` when they have no token yet. An auth field
    /// of another type (a number, an object…) is a `malformed_token` error.
    pub fn extract<'h>(&self, hs: &'h Handshake) -> Result<Option<&'h str>, TokenError> {
        let found = match self {
            Self::AuthField(name) => match hs.auth().get(name.as_ref()) {
                None | Some(Value::Null) => None,
                Some(Value::String(token)) => Some(token.as_str()),
                Some(other) => {
                    return Err(TokenError::new(Reason::WrongType {
                        source: self.to_string(),
                        found: json_type_name(other),
                    }));
                }
            },
            Self::BearerHeader => hs.bearer_token(),
            Self::Cookie(name) => match hs.origin_check() {
                // Ambient credentials: off until the application lists the pages allowed to
                // use them.
                OriginCheck::NotConfigured => None,
                OriginCheck::Allowed => hs.cookie(name),
                OriginCheck::Forbidden => self.refuse_cross_site(hs.cookie(name))?,
            },
            Self::Query(name) => match hs.origin_check() {
                OriginCheck::Forbidden => self.refuse_cross_site(hs.query(name))?,
                OriginCheck::NotConfigured | OriginCheck::Allowed => hs.query(name),
            },
            Self::Header(name) => hs.header(name),
        };
        Ok(found.map(str::trim).filter(|t| !t.is_empty()))
    }

    /// A token this source found on a connection from a forbidden origin is refused.
    fn refuse_cross_site<'h>(&self, found: Option<&'h str>) -> Result<Option<&'h str>, TokenError> {
        match found.map(str::trim).filter(|t| !t.is_empty()) {
            Some(_) => Err(TokenError::new(Reason::ForbiddenOrigin {
                source: self.to_string(),
            })),
            None => Ok(None),
        }
    }
}

impl fmt::Display for TokenSource {
    /// A short description for messages, e.g. ``cookie `token` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AuthField(name) => write!(f, "auth.{name}"),
            Self::BearerHeader => f.write_str("Authorization: Bearer header"),
            Self::Cookie(name) => write!(f, "cookie `{name}`"),
            Self::Query(name) => write!(f, "query `{name}`"),
            Self::Header(name) => write!(f, "header `{name}`"),
        }
    }
}

/// The places a token is looked for, in order; the first one that holds a token wins.
///
/// The default order is `auth.token`, the `Authorization: Bearer` header, the `token` cookie,
/// then the `token` query parameter.
///
/// ```
/// use tether::Handshake;
/// use tether::auth::{TokenSource, TokenSources};
///
/// let hs = Handshake::builder()
///     .header("cookie", "token=from-cookie")
///     .query("token=from-query")
///     .build();
/// // Cookie tokens are read only once the application lists its pages' origins
/// // (`TetherBuilder::allowed_origins`):
/// assert_eq!(TokenSources::default().find(&hs), Ok("from-query"));
/// let listed = Handshake::builder()
///     .header("cookie", "token=from-cookie")
///     .allowed_origins(["https://app.example"])
///     .build();
/// assert_eq!(TokenSources::default().find(&listed), Ok("from-cookie"));
///
/// let query_first = TokenSources::new([TokenSource::query("token"), TokenSource::cookie("token")]);
/// assert_eq!(query_first.find(&hs), Ok("from-query"));
///
/// let err = TokenSources::new([TokenSource::auth_field("token")]).find(&hs).unwrap_err();
/// assert_eq!(err.to_string(), "missing_token: no token found in the handshake (looked in: auth.token)");
///
/// // A token of the wrong type is refused, not skipped.
/// let hs = Handshake::builder().auth(serde_json::json!({ "token": 42 })).build();
/// assert_eq!(TokenSources::default().find(&hs).unwrap_err().code(), "malformed_token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSources {
    sources: Vec<TokenSource>,
}

impl TokenSources {
    /// These sources, in this order.
    pub fn new(sources: impl IntoIterator<Item = TokenSource>) -> Self {
        Self {
            sources: sources.into_iter().collect(),
        }
    }

    /// The sources, in order.
    pub fn iter(&self) -> impl Iterator<Item = &TokenSource> {
        self.sources.iter()
    }

    /// The first token found in `hs`, or `missing_token` when no source holds one
    /// (`malformed_token` when a source holds a value of the wrong type; see
    /// [`TokenSource::extract`]).
    pub fn find<'h>(&self, hs: &'h Handshake) -> Result<&'h str, TokenError> {
        self.find_with_source(hs).map(|(_, token)| token)
    }

    /// Like [`find`](Self::find), also telling which source held the token.
    pub fn find_with_source<'h>(
        &self,
        hs: &'h Handshake,
    ) -> Result<(&TokenSource, &'h str), TokenError> {
        for source in &self.sources {
            if let Some(token) = source.extract(hs)? {
                return Ok((source, token));
            }
        }
        let looked_in = if self.sources.is_empty() {
            "nowhere: no token source is configured".to_owned()
        } else {
            let cookies_off = hs.origin_check() == OriginCheck::NotConfigured;
            self.sources
                .iter()
                .map(|source| match source {
                    TokenSource::Cookie(_) if cookies_off => {
                        format!("{source} (off: the server lists no allowed origins)")
                    }
                    _ => source.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        Err(TokenError::missing(looked_in))
    }
}

impl Default for TokenSources {
    fn default() -> Self {
        Self::new([
            TokenSource::auth_field("token"),
            TokenSource::BearerHeader,
            TokenSource::cookie("token"),
            TokenSource::query("token"),
        ])
    }
}

impl FromIterator<TokenSource> for TokenSources {
    fn from_iter<I: IntoIterator<Item = TokenSource>>(iter: I) -> Self {
        Self::new(iter)
    }
}

impl From<TokenSource> for TokenSources {
    fn from(source: TokenSource) -> Self {
        Self::new([source])
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    fn everything() -> Handshake {
        Handshake::builder()
            .auth(json!({ "token": "from-auth" }))
            .header("authorization", "Bearer from-bearer")
            .header("cookie", "token=from-cookie")
            .header("x-auth-token", "from-header")
            .query("token=from-query&commId=from-comm-id")
            .allowed_origins(["https://app.example"])
            .build()
    }

    #[test]
    fn default_order_is_auth_then_bearer_then_cookie_then_query() {
        let sources = TokenSources::default();
        let order: Vec<_> = sources.iter().map(ToString::to_string).collect();
        assert_eq!(
            order,
            [
                "auth.token",
                "Authorization: Bearer header",
                "cookie `token`",
                "query `token`"
            ]
        );
        assert_eq!(sources.find(&everything()), Ok("from-auth"));
    }

    #[test]
    fn each_source_reads_its_own_place() {
        let hs = everything();
        let cases = [
            (TokenSource::auth_field("token"), "from-auth"),
            (TokenSource::BearerHeader, "from-bearer"),
            (TokenSource::cookie("token"), "from-cookie"),
            (TokenSource::query("token"), "from-query"),
            (TokenSource::query("commId"), "from-comm-id"),
            (TokenSource::header("x-auth-token"), "from-header"),
        ];
        for (source, expected) in cases {
            let only = TokenSources::from(source.clone());
            let (found_in, token) = only.find_with_source(&hs).unwrap();
            assert_eq!((found_in, token), (&source, expected));
        }
    }

    #[test]
    fn later_sources_are_used_when_earlier_ones_are_absent() {
        let hs = Handshake::builder().query("token=q").build();
        assert_eq!(
            TokenSources::default().find_with_source(&hs),
            Ok((&TokenSource::query("token"), "q"))
        );
    }

    #[test]
    fn empty_and_null_tokens_count_as_absent() {
        let hs = Handshake::builder()
            .auth(json!({ "token": null }))
            .header("authorization", "Bearer    ")
            .header("cookie", "token=")
            .query("token=%20&x=1")
            .allowed_origins(["https://app.example"])
            .build();
        let err = TokenSources::default().find(&hs).unwrap_err();
        assert_eq!(err.code(), "missing_token");
        let hs = Handshake::builder()
            .auth(json!({ "token": "" }))
            .header("cookie", "token=c")
            .allowed_origins(["https://app.example"])
            .build();
        assert_eq!(TokenSources::default().find(&hs), Ok("c"));
    }

    #[test]
    fn auth_token_of_a_wrong_type_is_malformed_whatever_other_sources_hold() {
        for bad in [json!(42), json!(true), json!(["a"]), json!({"a": 1})] {
            let hs = Handshake::builder()
                .auth(json!({ "token": bad }))
                .header("cookie", "token=fine")
                .build();
            let err = TokenSources::default().find(&hs).unwrap_err();
            assert_eq!(err.code(), "malformed_token", "{bad}");
            assert!(
                err.message()
                    .starts_with("auth.token must be a string, got ")
            );
            assert!(!err.message().contains("fine"));
        }
    }

    #[test]
    fn auth_payload_that_is_not_an_object_holds_no_token() {
        for auth in [json!("a-bare-string"), json!(7), json!([1]), Value::Null] {
            let hs = Handshake::builder().auth(auth).build();
            assert_eq!(
                TokenSources::default().find(&hs).unwrap_err().code(),
                "missing_token"
            );
        }
    }

    #[test]
    fn missing_message_lists_where_it_looked() {
        let hs = Handshake::builder().build();
        let err = TokenSources::default().find(&hs).unwrap_err();
        assert_eq!(
            err.message(),
            "no token found in the handshake (looked in: auth.token, Authorization: Bearer header, \
             cookie `token` (off: the server lists no allowed origins), query `token`)"
        );
        let hs = Handshake::builder()
            .allowed_origins(["https://app.example"])
            .build();
        let err = TokenSources::default().find(&hs).unwrap_err();
        assert_eq!(
            err.message(),
            "no token found in the handshake (looked in: auth.token, Authorization: Bearer header, \
             cookie `token`, query `token`)"
        );
        let err = TokenSources::new([]).find(&hs).unwrap_err();
        assert!(err.message().contains("no token source is configured"));
    }

    #[test]
    fn cookie_tokens_are_off_until_origins_are_listed_and_then_only_for_them() {
        let cookie = |origin: Option<&str>, allowed: Option<&[&str]>| {
            let mut hs = Handshake::builder().header("cookie", "token=ambient");
            if let Some(origin) = origin {
                hs = hs.header("origin", origin);
            }
            if let Some(allowed) = allowed {
                hs = hs.allowed_origins(allowed.iter().copied());
            }
            let hs = hs.build();
            TokenSources::default()
                .find(&hs)
                .map(str::to_owned)
                .map_err(|e| e.code())
        };
        let app: &[&str] = &["https://app.example"];
        assert_eq!(
            cookie(Some("https://app.example"), None),
            Err("missing_token")
        );
        assert_eq!(
            cookie(Some("https://app.example"), Some(app)).as_deref(),
            Ok("ambient")
        );
        assert_eq!(cookie(None, Some(app)).as_deref(), Ok("ambient"));
        assert_eq!(
            cookie(Some("https://evil.example"), Some(app)),
            Err("forbidden_origin")
        );
    }

    #[test]
    fn query_tokens_from_a_forbidden_origin_are_refused_and_auth_tokens_are_not() {
        let hs = |auth: serde_json::Value| {
            Handshake::builder()
                .auth(auth)
                .query("token=in-the-url")
                .header("origin", "https://evil.example")
                .allowed_origins(["https://app.example"])
                .build()
        };
        let err = TokenSources::default().find(&hs(Value::Null)).unwrap_err();
        assert_eq!(err.code(), "forbidden_origin");
        assert!(err.message().contains("query `token`"), "{}", err.message());
        assert!(
            !err.message().contains("evil"),
            "the message echoes no client value"
        );
        let with_auth = hs(json!({"token": "held-by-the-page"}));
        assert_eq!(
            TokenSources::default().find(&with_auth),
            Ok("held-by-the-page")
        );
    }
}
