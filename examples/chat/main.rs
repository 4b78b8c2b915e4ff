//! The tether chat demo: log in with a name, see who is online, join channels, chat,
//! direct-message, and receive notifications posted over HTTP. The server is
//! [`tether_examples::chat`] (`server.rs` beside this file); this binary reads the settings and
//! serves it.
//!
//! ```text
//! cargo run --release --example chat          # then open http://127.0.0.1:3000
//! ```
//!
//! Settings (environment): `PORT` (default 3000; `0` picks a free port, printed at start), `HOST`
//! (default 127.0.0.1), `TETHER_KEY` (base64url, 32 bytes; a development key is generated without
//! it), `REDIS_URL` (cluster mode: nodes
//! sharing the Redis and the key deliver to each other's sockets).

use std::net::SocketAddr;

use tether::auth::Key;
use tether_examples::chat;

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
        Some(url) => tracing::info!(url, "cluster mode: joining the nodes that share this Redis"),
        None => {
            tracing::info!("embedded single-node mode (set REDIS_URL to run as a cluster node)")
        }
    }
    let app = chat::app_on(key_from_env(), redis_url.as_deref()).await?;

    let host: std::net::IpAddr = match std::env::var("HOST") {
        Ok(h) => h
            .parse()
            .map_err(|_| format!("HOST must be an IP address, got `{h}`"))?,
        Err(_) => [127, 0, 0, 1].into(),
    };
    let listener = tokio::net::TcpListener::bind(SocketAddr::from((host, port))).await?;
    // The bound address, not the requested one: with PORT=0 this is where to connect.
    let addr = listener.local_addr()?;
    tracing::info!("chat demo on http://{addr} (namespace /chat)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
