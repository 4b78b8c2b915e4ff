//! The tether chat demo: log in with a name, see who is online, join channels, chat,
//! direct-message, and receive notifications posted over HTTP. The server is
//! [`tether_examples::chat`] (`server.rs` beside this file); this binary reads the settings and
//! serves it.
//!
//! ```text
//! cargo run --release --example chat          # then open http://127.0.0.1:3000
//! ```
//!
//! Settings (environment):
//! - `PORT` (default 3000; `0` picks a free port, printed at start), `HOST` (default 127.0.0.1);
//! - `TETHER_KEY` (base64url, 32 bytes; a development key is generated without it);
//! - `NOTIFY_SECRET`: what `POST /api/notify/{user}` needs as `Authorization: Bearer ..`. Without
//!   it a random one is generated and printed once at start, like a development server's
//!   token (it never appears in a log again); set it wherever logs are kept or shared;
//! - `TOKEN_TTL_SECS` (default 3600): how long a login token lasts; `TOKEN_GRACE_SECS` (default
//!   30): how long a socket whose token expired has to send a fresh one;
//! - `PRESENCE_GRACE_MS` (default 5000): how long a user whose last socket left still counts as
//!   online and as a channel member (a reload or a blip within it announces nothing);
//! - `REDIS_URL` (cluster mode: nodes sharing the Redis and the key deliver to each other's
//!   sockets).

use std::net::SocketAddr;
use std::time::Duration;

use tether::auth::Key;
use tether_examples::chat::{self, ChatConfig, NotifySecret};

fn key_from_env() -> Key {
    match Key::from_env("TETHER_KEY") {
        Ok(key) => key,
        Err(tether::auth::KeyError::MissingEnv { .. }) => {
            let key = Key::generate();
            tracing::warn!(
                "TETHER_KEY is not set: using a random development key; tokens will not survive \
                 a restart and other nodes cannot verify them"
            );
            key
        }
        Err(e) => {
            eprintln!("chat: invalid TETHER_KEY: {e}");
            std::process::exit(2);
        }
    }
}

fn notify_secret_from_env() -> NotifySecret {
    match std::env::var("NOTIFY_SECRET") {
        Ok(secret) => NotifySecret::new(secret).unwrap_or_else(|e| {
            eprintln!("chat: invalid NOTIFY_SECRET: {e}");
            std::process::exit(2);
        }),
        Err(_) => {
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

/// A whole number of seconds from the environment, or `default`.
fn secs_from_env(name: &str, default: Duration) -> Result<Duration, String> {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{name} must be a whole number of seconds, got `{s}`")),
        Err(_) => Ok(default),
    }
}

/// A whole number of milliseconds from the environment, or `default`.
fn millis_from_env(name: &str, default: Duration) -> Result<Duration, String> {
    match std::env::var(name) {
        Ok(s) => s
            .parse()
            .map(Duration::from_millis)
            .map_err(|_| format!("{name} must be a whole number of milliseconds, got `{s}`")),
        Err(_) => Ok(default),
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

    let port: u16 = match std::env::var("PORT") {
        Ok(p) => p
            .parse()
            .map_err(|_| format!("PORT must be a port number, got `{p}`"))?,
        Err(_) => 3000,
    };
    let redis_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    match &redis_url {
        Some(url) => tracing::info!(
            redis = tether::cluster::redacted_url(url),
            "cluster mode: joining the nodes that share this Redis"
        ),
        None => {
            tracing::info!("embedded single-node mode (set REDIS_URL to run as a cluster node)")
        }
    }
    let mut config = ChatConfig::new(key_from_env(), notify_secret_from_env())
        .token_ttl(secs_from_env("TOKEN_TTL_SECS", chat::DEFAULT_TOKEN_TTL)?)
        .token_grace(secs_from_env(
            "TOKEN_GRACE_SECS",
            tether::DEFAULT_TOKEN_GRACE,
        )?)
        .presence_grace(millis_from_env(
            "PRESENCE_GRACE_MS",
            tether::DEFAULT_PRESENCE_GRACE,
        )?);
    if let Some(url) = redis_url {
        config = config.redis(url);
    }
    let host: std::net::IpAddr = match std::env::var("HOST") {
        Ok(h) => h
            .parse()
            .map_err(|_| format!("HOST must be an IP address, got `{h}`"))?,
        Err(_) => [127, 0, 0, 1].into(),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((host, port))).await?;
    // The bound address, not the requested one: with PORT=0 this is where to connect.
    let addr = listener.local_addr()?;
    // The page's own origin only (and `localhost` for a loopback address), unless
    // ALLOWED_ORIGINS (comma-separated) names the public ones behind a proxy.
    let origins: Vec<String> = match std::env::var("ALLOWED_ORIGINS") {
        Ok(list) => list.split(',').map(|o| o.trim().to_owned()).collect(),
        Err(_) if addr.ip().is_loopback() => vec![
            format!("http://{addr}"),
            format!("http://localhost:{}", addr.port()),
        ],
        Err(_) => vec![format!("http://{addr}")],
    };
    tracing::info!(
        ?origins,
        "pages allowed to connect with cookie or query tokens"
    );
    let (app, tether) = chat::app_and_tether(config.allowed_origins(origins)).await?;
    tracing::info!("chat demo on http://{addr} (namespace /chat)");
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
