//! What a connection middleware sees (the socket.io `auth` payload, the query string, headers
//! and cookies) and what it returns ([`SocketOk`] / [`SocketNok`]).

mod origin;
mod outcome;

pub(crate) use origin::{AllowedOrigins, OriginCheck};

pub use outcome::{SocketNok, SocketOk};

use std::collections::HashMap;
use std::fmt;

use http::HeaderMap;
use serde_json::Value;

/// The handshake of a connecting socket, handed to a namespace's `#[middleware]`.
///
/// It gathers everything a client can send before it is connected:
/// - the socket.io `auth` payload (`io(url, { auth: { token } })` in the JS client),
/// - the query string of the connection URL (`io(url, { query: { commId, metadata } })`),
///   including the conventional `commId` field and a JSON-encoded `metadata` field,
/// - the HTTP headers of the upgrade / first polling request, and the cookies among them.
///
/// ```
/// use tether::Handshake;
///
/// let hs = Handshake::builder()
///     .auth(serde_json::json!({ "token": "abc" }))
///     .query("commId=42&metadata=%7B%22tab%22%3A1%7D")
///     .header("cookie", "theme=dark; token=xyz")
///     .build();
/// assert_eq!(hs.auth_str("token"), Some("abc"));
/// assert_eq!(hs.comm_id(), Some("42"));
/// assert_eq!(hs.metadata().unwrap().unwrap()["tab"], 1);
/// assert_eq!(hs.cookie("token"), Some("xyz"));
/// ```
#[derive(Clone)]
pub struct Handshake {
    socket_id: String,
    namespace: String,
    auth: Value,
    query: HashMap<String, String>,
    headers: HeaderMap,
    cookies: HashMap<String, String>,
    metadata: Result<Option<Value>, String>,
    origin: OriginCheck,
}

impl Handshake {
    /// Builds a handshake by hand, for tests of a middleware.
    pub fn builder() -> HandshakeBuilder {
        HandshakeBuilder::default()
    }

    pub(crate) fn new(
        socket_id: String,
        namespace: String,
        auth: Value,
        raw_query: Option<&str>,
        headers: HeaderMap,
    ) -> Self {
        let query: HashMap<String, String> = raw_query
            .map(|q| {
                form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let cookies = parse_cookies(&headers);
        let metadata = match query.get("metadata") {
            None => Ok(None),
            Some(raw) => serde_json::from_str(raw)
                .map(Some)
                .map_err(|e| format!("the `metadata` query field is not valid JSON: {e}")),
        };
        Self {
            socket_id,
            namespace,
            auth,
            query,
            headers,
            cookies,
            metadata,
            origin: OriginCheck::NotConfigured,
        }
    }

    /// The same handshake, its `Origin` checked against the application's allowed origins.
    pub(crate) fn with_origins(mut self, allowed: Option<&AllowedOrigins>) -> Self {
        self.origin = allowed.map_or(OriginCheck::NotConfigured, |a| a.check(&self.headers));
        self
    }

    /// What the `Origin` check decided (see [`origin_allowed`](Self::origin_allowed)).
    pub(crate) fn origin_check(&self) -> OriginCheck {
        self.origin
    }

    /// The handshake of a live socket that changes who it is (`/ops/login`, `/ops/logout`): the
    /// one it connected with, its credentials replaced by `token` (in `auth.token`; none for a
    /// logout). The `Cookie` and `Authorization` headers and a `token` query field are left out,
    /// so that the middleware sees the new credentials and only those.
    pub(crate) fn for_relogin(&self, token: Option<String>) -> Self {
        let mut headers = self.headers.clone();
        headers.remove(http::header::COOKIE);
        headers.remove(http::header::AUTHORIZATION);
        let mut query = self.query.clone();
        query.remove("token");
        Self {
            socket_id: self.socket_id.clone(),
            namespace: self.namespace.clone(),
            auth: token.map_or(Value::Null, |token| serde_json::json!({ "token": token })),
            query,
            headers,
            cookies: HashMap::new(),
            metadata: self.metadata.clone(),
            origin: self.origin,
        }
    }

    /// The id socket.io gave the connecting socket.
    pub fn socket_id(&self) -> &str {
        &self.socket_id
    }

    /// The namespace path the client connects to, e.g. `/chat`.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The socket.io `auth` payload; [`Value::Null`] when the client sent none.
    pub fn auth(&self) -> &Value {
        &self.auth
    }

    /// A string field of the `auth` payload, e.g. `auth_str("token")`.
    pub fn auth_str(&self, field: &str) -> Option<&str> {
        self.auth.get(field).and_then(Value::as_str)
    }

    /// A query-string parameter of the connection URL (percent-decoded).
    ///
    /// socket.io's own parameters (`EIO`, `transport`, `sid`, `t`) are present too.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// All query-string parameters.
    pub fn query_params(&self) -> &HashMap<String, String> {
        &self.query
    }

    /// The `commId` query parameter (the client's communication id, as in expresso-macchiato).
    pub fn comm_id(&self) -> Option<&str> {
        self.query("commId")
    }

    /// The `metadata` query parameter parsed as JSON: `Ok(None)` when absent, `Err` with a
    /// human-readable reason when it is present but not valid JSON.
    pub fn metadata(&self) -> Result<Option<&Value>, &str> {
        match &self.metadata {
            Ok(v) => Ok(v.as_ref()),
            Err(e) => Err(e.as_str()),
        }
    }

    /// The HTTP headers of the handshake request.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header as a string; `None` when absent or not valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The token of an `Authorization: Bearer <token>` header, if any.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim())
            .filter(|t| !t.is_empty())
    }

    /// Whether the page that opened this connection may use ambient credentials: `Some(true)`
    /// for an allowed origin (or a request without `Origin`, which no cross-site page makes),
    /// `Some(false)` for a page on another origin, `None` when the application configured no
    /// [`allowed_origins`](crate::TetherBuilder::allowed_origins). tether's token sources
    /// apply it to cookie and query tokens; a middleware that reads [`cookie`](Self::cookie)
    /// itself should check it too.
    ///
    /// ```
    /// use tether::Handshake;
    ///
    /// let hs = Handshake::builder()
    ///     .header("origin", "https://evil.example")
    ///     .allowed_origins(["https://app.example"])
    ///     .build();
    /// assert_eq!(hs.origin_allowed(), Some(false));
    /// assert_eq!(Handshake::builder().build().origin_allowed(), None);
    /// ```
    pub fn origin_allowed(&self) -> Option<bool> {
        match self.origin {
            OriginCheck::NotConfigured => None,
            OriginCheck::Allowed => Some(true),
            OriginCheck::Forbidden => Some(false),
        }
    }

    /// A cookie sent with the handshake request, whatever its origin (see
    /// [`origin_allowed`](Self::origin_allowed)).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    /// All cookies sent with the handshake request.
    pub fn cookies(&self) -> &HashMap<String, String> {
        &self.cookies
    }
}

impl fmt::Debug for Handshake {
    /// Header and cookie values and the auth payload are left out: they often hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("socket_id", &self.socket_id)
            .field("namespace", &self.namespace)
            .field("query", &self.query.keys().collect::<Vec<_>>())
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("cookies", &self.cookies.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Every cookie of every `Cookie` header, its value percent-decoded (browsers' `document.cookie`
/// writers often encode) and without surrounding quotes; a pair that is not a cookie is skipped.
fn parse_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse_encoded)
        .filter_map(Result::ok)
        .map(|c| {
            let (name, value) = c.name_value_trimmed();
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

/// Builds a [`Handshake`] by hand, e.g. to unit-test a middleware.
///
/// ```
/// use tether::{Handshake, SocketNok, SocketOk, socket_namespace};
///
/// #[derive(Clone, Debug)]
/// struct Member { user_id: String }
///
/// struct Chat;
///
/// #[socket_namespace(path = "/chat", user_key = "user_id")]
/// impl Chat {
///     #[middleware]
///     async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
///         match hs.bearer_token() {
///             Some(user) => Ok(SocketOk::new(Member { user_id: user.to_owned() })),
///             None => Err(SocketNok::with_code("missing_token", "send a bearer token")),
///         }
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hs = Handshake::builder().namespace("/chat").header("authorization", "Bearer 42").build();
/// assert_eq!(Chat.authenticate(&hs).await.unwrap().metadata().user_id, "42");
///
/// let refused = Chat.authenticate(&Handshake::builder().build()).await.unwrap_err();
/// assert_eq!(refused.code(), "missing_token");
/// # }
/// ```
#[derive(Debug, Default)]
pub struct HandshakeBuilder {
    socket_id: Option<String>,
    namespace: Option<String>,
    auth: Option<Value>,
    query: Option<String>,
    headers: HeaderMap,
    allowed_origins: Option<Vec<String>>,
}

impl HandshakeBuilder {
    /// Sets the socket id (default: `test-socket`).
    pub fn socket_id(mut self, id: impl Into<String>) -> Self {
        self.socket_id = Some(id.into());
        self
    }

    /// Sets the namespace path (default: `/`).
    pub fn namespace(mut self, path: impl Into<String>) -> Self {
        self.namespace = Some(path.into());
        self
    }

    /// Sets the socket.io `auth` payload.
    pub fn auth(mut self, auth: Value) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sets the raw query string, without the leading `?`.
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = Some(query.into());
        self
    }

    /// Adds a header.
    ///
    /// # Panics
    /// When the name or value is not a valid HTTP header name or value.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        let value = http::HeaderValue::from_str(value).expect("a valid header value");
        self.headers.append(name, value);
        self
    }

    /// Checks the `Origin` header against these origins, as
    /// [`TetherBuilder::allowed_origins`](crate::TetherBuilder::allowed_origins) does.
    ///
    /// # Panics
    /// When an entry is not an origin (`https://host[:port]`).
    #[must_use]
    pub fn allowed_origins<I, S>(mut self, origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed_origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Finishes the handshake.
    ///
    /// # Panics
    /// When an entry of [`allowed_origins`](Self::allowed_origins) is not an origin.
    pub fn build(self) -> Handshake {
        let allowed = self.allowed_origins.map(|list| {
            AllowedOrigins::new(list).unwrap_or_else(|e| panic!("allowed_origins: {e}"))
        });
        Handshake::new(
            self.socket_id.unwrap_or_else(|| "test-socket".to_owned()),
            self.namespace.unwrap_or_else(|| "/".to_owned()),
            self.auth.unwrap_or(Value::Null),
            self.query.as_deref(),
            self.headers,
        )
        .with_origins(allowed.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_token_is_case_insensitive_and_trimmed() {
        let hs = Handshake::builder()
            .header("authorization", "bearer   abc.def ")
            .build();
        assert_eq!(hs.bearer_token(), Some("abc.def"));
        let hs = Handshake::builder()
            .header("authorization", "Basic abc")
            .build();
        assert_eq!(hs.bearer_token(), None);
    }

    #[test]
    fn invalid_metadata_json_is_reported_not_dropped() {
        let hs = Handshake::builder().query("metadata=%7Bnope").build();
        let err = hs.metadata().unwrap_err();
        assert!(err.contains("not valid JSON"), "{err}");
    }

    #[test]
    fn cookies_from_several_headers_are_merged_and_decoded() {
        let hs = Handshake::builder()
            .header("cookie", "a=1; b=hello%20world")
            .header("cookie", "c=\"q\"")
            .build();
        assert_eq!(hs.cookie("a"), Some("1"));
        assert_eq!(hs.cookie("b"), Some("hello world"));
        assert_eq!(hs.cookie("c"), Some("q"));
    }

    #[test]
    fn a_cookie_value_keeps_its_ampersands_and_equals_signs() {
        let hs = Handshake::builder()
            .header("cookie", "prefs=a&b=c; plus=1+2; enc=a%3Db")
            .build();
        assert_eq!(hs.cookie("prefs"), Some("a&b=c"));
        assert_eq!(hs.cookie("plus"), Some("1+2"));
        assert_eq!(hs.cookie("enc"), Some("a=b"));
    }
}
