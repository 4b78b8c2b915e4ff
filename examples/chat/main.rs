//! The tether chat demo: log in with a name, see who is online, join channels, chat,
//! direct-message, and receive notifications posted over HTTP. The server is
//! [`tether_examples::chat`] (`server.rs` beside this file); this binary reads the settings and
//! serves it.
//!
//! ```text
//! cargo run --release --example chat          # then open http://127.0.0.1:3000
//! ```
//!
//! Settings: flags, or the environment variables they name (`chat --help` lists them). Without
//! `--tether-key`, a development key is generated (tokens do not survive a restart); without
//! `--notify-secret`, a random one is generated and printed once at start, like a development
//! server's token (it never appears in a log again): set it wherever logs are kept or shared.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use tether::auth::Key;
use tether_examples::chat::{self, ChatConfig, NotifySecret};

/// The tether chat demo: a socket.io chat with users, channels, presence, DMs and
/// notifications, in embedded mode or as one node of a cluster.
#[derive(Debug, Parser)]
#[command(name = "chat", version)]
struct Settings {
    /// Where to listen (0: a free port, printed at start).
    #[arg(long, env = "PORT", default_value_t = 3000)]
    port: u16,
    /// The address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// The token key (base64url, 32 bytes); a random development key without it.
    #[arg(long, env = "TETHER_KEY", hide_env_values = true)]
    tether_key: Option<String>,
    /// What `POST /api/notify/{user}` needs as `Authorization: Bearer ..`; generated and printed
    /// once without it.
    #[arg(long, env = "NOTIFY_SECRET", hide_env_values = true)]
    notify_secret: Option<String>,
    /// How long a login token lasts, in seconds.
    #[arg(long, env = "TOKEN_TTL_SECS", default_value_t = chat::DEFAULT_TOKEN_TTL.as_secs())]
    token_ttl_secs: u64,
    /// How long a socket whose token expired has to send a fresh one, in seconds.
    #[arg(long, env = "TOKEN_GRACE_SECS", default_value_t = tether::DEFAULT_TOKEN_GRACE.as_secs())]
    token_grace_secs: u64,
    /// How long a user whose last socket left still counts as online and as a channel member,
    /// in milliseconds (a reload or a blip within it announces nothing).
    #[arg(long, env = "PRESENCE_GRACE_MS", default_value_t = 5000)]
    presence_grace_ms: u64,
    /// Cluster mode: nodes sharing this Redis (and the token key) deliver to each other's
    /// sockets (`redis://`, `rediss://`, `redis+cluster://`, `redis+sentinel://`).
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The origins whose pages may connect with cookie or query tokens, comma-separated
    /// (default: this server's own, and `localhost` on a loopback address).
    #[arg(long, env = "ALLOWED_ORIGINS", value_delimiter = ',')]
    allowed_origins: Vec<String>,
}

fn key_of(text: Option<&str>) -> Key {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        tracing::warn!(
            "TETHER_KEY is not set: using a random development key; tokens will not survive \
             a restart and other nodes cannot verify them"
        );
        return Key::generate();
    };
    Key::from_base64url(text).unwrap_or_else(|e| {
        eprintln!("chat: invalid TETHER_KEY: {e}");
        std::process::exit(2);
    })
}

fn notify_secret_of(text: Option<String>) -> NotifySecret {
    match text {
        Some(secret) => NotifySecret::new(secret).unwrap_or_else(|e| {
            eprintln!("chat: invalid NOTIFY_SECRET: {e}");
            std::process::exit(2);
        }),
        None => {
            let secret = NotifySecret::generate();
            // Printed once, now, so that the demo is usable at once; set NOTIFY_SECRET to keep
            // it out of the logs.
            tracing::warn!(
                "NOTIFY_SECRET is not set: generated one for this run; POST /api/notify/{{user}} \
                 needs `Authorization: Bearer {}`",
                secret.expose()
            );
            secret
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tether=info".into()),
        )
        .init();

    let settings = Settings::parse();
    let redis_url = settings.redis_url.clone().filter(|u| !u.is_empty());
    match &redis_url {
        Some(url) => tracing::info!(
            redis = tether::cluster::redacted_url(url),
            "cluster mode: joining the nodes that share this Redis"
        ),
        None => {
            tracing::info!("embedded single-node mode (set REDIS_URL to run as a cluster node)")
        }
    }
    let mut config = ChatConfig::new(
        key_of(settings.tether_key.as_deref()),
        notify_secret_of(settings.notify_secret.clone()),
    )
    .token_ttl(Duration::from_secs(settings.token_ttl_secs))
    .token_grace(Duration::from_secs(settings.token_grace_secs))
    .presence_grace(Duration::from_millis(settings.presence_grace_ms));
    if let Some(url) = redis_url {
        config = config.redis(url);
    }
    // A backlog of 4096: the clients of a restarted node all reconnect at once.
    let listener = tether::bind(SocketAddr::from((settings.host, settings.port))).await?;
    // The bound address, not the requested one: with PORT=0 this is where to connect.
    let addr = listener.local_addr()?;
    // The page's own origin only (and `localhost` for a loopback address), unless
    // ALLOWED_ORIGINS names the public ones behind a proxy.
    let origins: Vec<String> = match settings.allowed_origins.as_slice() {
        [] if addr.ip().is_loopback() => vec![
            format!("http://{addr}"),
            format!("http://localhost:{}", addr.port()),
        ],
        [] => vec![format!("http://{addr}")],
        list => list.iter().map(|o| o.trim().to_owned()).collect(),
    };
    tracing::info!(
        ?origins,
        "pages allowed to connect with cookie or query tokens"
    );
    let metrics = tether::metrics::install_prometheus()?;
    let config = config.allowed_origins(origins).metrics(metrics);
    let (app, tether) = chat::app_and_tether(config).await?;
    tracing::info!("chat demo on http://{addr} (namespace /chat; GET /metrics, GET /healthz)");
    // With the peer address, so tether's per-address limits apply.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    // Small events go out at once (Nagle's algorithm would hold them up to ~40 ms).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Every socket is told `server_shutdown` (its page reconnects, to another node
            // behind a load balancer, and recovers what it missed), and in cluster mode this
            // node's users go offline for the other nodes at once.
            let told = tether.close().await;
            tracing::info!(sockets = told, "drained; stopping");
        })
        .await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM (what a container runtime or systemd sends to stop a service).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "SIGTERM not handled");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
