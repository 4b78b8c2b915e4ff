//! The chat demo's settings ([`ChatConfig`]) and the app built from them ([`app_with`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tether::auth::{JweVerifier, Key, KeySet};
use tether::metrics::{PrometheusHandle, prometheus_route};
use tether::{BuildError, DEFAULT_PRESENCE_GRACE, DEFAULT_TOKEN_GRACE, RateLimit, Tether};
use tower_http::services::{ServeDir, ServeFile};

use super::Chat;
use super::api::{self, NotifySecret};

/// How long a demo login lasts unless [`ChatConfig::token_ttl`] says otherwise: one hour. The page
/// renews its token when tether says it expired, so users do not notice.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(3600);

/// The folder of the page: `public/` (served at `/`) and `node_modules/` (the socket.io client).
pub fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chat/web")
}

/// The chat demo's settings: the token key, the notify secret, how long tokens last and the
/// grace after they expire, and the Redis of a cluster.
///
/// ```
/// use std::time::Duration;
/// use tether::auth::Key;
/// use tether_examples::chat::{ChatConfig, NotifySecret};
/// let config = ChatConfig::new(Key::generate(), NotifySecret::generate())
///     .token_ttl(Duration::from_secs(2))
///     .token_grace(Duration::from_secs(1));
/// ```
#[derive(Debug)]
pub struct ChatConfig {
    key: Key,
    notify_secret: NotifySecret,
    token_ttl: Duration,
    token_grace: Duration,
    presence_grace: Duration,
    redis_url: Option<String>,
    allowed_origins: Vec<String>,
    rate_limit: Option<Option<RateLimit>>,
    metrics: Option<PrometheusHandle>,
}

impl ChatConfig {
    /// Tokens issued and verified with `key`; `POST /api/notify/{user}` needs `notify_secret`.
    /// Embedded single-node mode, tokens of [`DEFAULT_TOKEN_TTL`], tether's default grace.
    pub fn new(key: Key, notify_secret: NotifySecret) -> Self {
        Self {
            key,
            notify_secret,
            token_ttl: DEFAULT_TOKEN_TTL,
            token_grace: DEFAULT_TOKEN_GRACE,
            presence_grace: DEFAULT_PRESENCE_GRACE,
            redis_url: None,
            allowed_origins: Vec::new(),
            rate_limit: None,
            metrics: None,
        }
    }

    /// The origins of the pages that serve this chat (`http://127.0.0.1:3000`): only they may
    /// connect with a cookie or query token (see `TetherBuilder::allowed_origins`). The page
    /// sends its token in `auth.token`, so this guards the other ways in.
    #[must_use]
    pub fn allowed_origins(mut self, origins: impl IntoIterator<Item = String>) -> Self {
        self.allowed_origins = origins.into_iter().collect();
        self
    }

    /// Every socket's rate limit (tether's default when not set; `None` for none, which the
    /// ordering tests use to send thousands of events at once).
    #[must_use]
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// How long a token of `POST /api/login` lasts (its `exp`), at least one second.
    #[must_use]
    pub fn token_ttl(mut self, ttl: Duration) -> Self {
        self.token_ttl = ttl.max(Duration::from_secs(1));
        self
    }

    /// How long a socket whose token expired has to send a fresh one (`/ops/login`) before it is
    /// disconnected ([`TetherBuilder::token_grace`](tether::TetherBuilder::token_grace)).
    #[must_use]
    pub fn token_grace(mut self, grace: Duration) -> Self {
        self.token_grace = grace;
        self
    }

    /// How long a user whose last socket left still counts as online and as a channel member
    /// ([`TetherBuilder::presence_grace`](tether::TetherBuilder::presence_grace)).
    #[must_use]
    pub fn presence_grace(mut self, grace: Duration) -> Self {
        self.presence_grace = grace;
        self
    }

    /// Serves `GET /metrics` from this recorder (installed once per process with
    /// [`tether::metrics::install_prometheus`]).
    #[must_use]
    pub fn metrics(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// Cluster mode: nodes that share this Redis and the key deliver to each other's sockets.
    #[must_use]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis_url = Some(url.into());
        self
    }
}

/// Builds the chat demo's app in embedded single-node mode with the defaults and a random notify
/// secret (so `POST /api/notify/{user}` refuses every caller; set one with [`app_with`]).
///
/// # Errors
/// When tether cannot mount the namespace.
pub async fn app(key: Key) -> Result<Router, BuildError> {
    app_with(ChatConfig::new(key, NotifySecret::generate())).await
}

/// Builds the chat demo's app: the HTTP API, the page and the `/chat` namespace, as one node of
/// a cluster when the config names a Redis. Serve it with `axum::serve`.
///
/// # Errors
/// When tether cannot mount the namespace or reach Redis.
pub async fn app_with(config: ChatConfig) -> Result<Router, BuildError> {
    app_and_tether(config).await.map(|(app, _)| app)
}

/// [`app_with`], and the [`Tether`] behind it: `Tether::close` drains the node for a graceful
/// shutdown (the demo calls it on SIGTERM and Ctrl-C).
///
/// # Errors
/// When tether cannot mount the namespace or reach Redis.
pub async fn app_and_tether(config: ChatConfig) -> Result<(Router, Tether), BuildError> {
    let verifier = Arc::new(JweVerifier::new(KeySet::new(config.key)));
    let mut builder = Tether::builder()
        .namespace(Chat {
            verifier: verifier.clone(),
        })
        // `/ops/login`: the same tokens as the handshake (`sub` is the user).
        .login_verifier(JweVerifier::clone(&verifier))
        .token_grace(config.token_grace)
        .presence_grace(config.presence_grace);
    if !config.allowed_origins.is_empty() {
        builder = builder.allowed_origins(&config.allowed_origins);
    }
    if let Some(limit) = config.rate_limit {
        builder = builder.rate_limit(limit);
    }
    if let Some(url) = &config.redis_url {
        builder = builder.redis(url);
    }
    let tether = builder.build().await?;

    let web = web_dir();
    let client_bundle = web.join("node_modules/socket.io-client/dist/socket.io.min.js");
    if !client_bundle.exists() {
        tracing::warn!(
            "the page's socket.io client is missing: run `scripts/demo.sh` (or `npm ci --prefix examples/chat/web`) first"
        );
    }
    let mut app = Router::new()
        .route("/api/login", post(api::login))
        .route("/api/notify/{user}", post(api::notify))
        .route("/healthz", get(api::health));
    if let Some(handle) = config.metrics {
        app = app.route("/metrics", prometheus_route(handle));
    }
    let app = app
        .route_service("/vendor/socket.io.min.js", ServeFile::new(client_bundle))
        .fallback_service(ServeDir::new(web.join("public")))
        .layer(tether.layer())
        .with_state(api::AppState {
            tether: tether.clone(),
            verifier,
            emitter: tether.emitter::<Chat>(),
            notify_secret: config.notify_secret,
            token_ttl: config.token_ttl,
        });
    Ok((app, tether))
}
