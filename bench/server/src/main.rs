//! `bench-server`: the tether side of the benchmarks, implementing the bench contract
//! (`bench/README.md`) the way an application would write it with tether.
//!
//! ```text
//! BENCH_KEY=<base64url 32 bytes> PORT=3000 [REDIS_URL=redis://127.0.0.1:6379] bench-server
//! ```
//!
//! - namespace `/bench`; the handshake's `auth.token` is a JWE (`dir`, `A256GCM`) of
//!   `{"sub", "exp"}` under `BENCH_KEY`; a bad one is refused;
//! - on connect the socket is in its user's room and receives `/ops/connection-success` (tether
//!   does both);
//! - `send` `{to, data}` → `msg` `data` to every socket of user `to`, on any node;
//! - `channel` `{to, data}` → `msg` `data` to every member of channel `to`;
//! - `join` `"channel"` (or `{channel}`) → joins, acked with the connection info;
//! - `/bench-recovery`: the same namespace with recovery on (`recovery = true`): every `msg`
//!   to a user or channel is recorded and carries its position as a last argument, and a socket
//!   that reconnects with `auth.recover = {offset, channels}` receives what it missed.
//!
//! `TOKIO_WORKER_THREADS` sets the runtime's threads (default: one per core); `WS_READ_BUFFER`
//! tungstenite's read buffer per socket (socketioxide's `ws_read_buffer_size`, 4096 by default).

use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tether::auth::{Claims, JweVerifier, Key, KeySet};
use tether::{
    Client, ConnectionInfo, Events, Handshake, SocketError, SocketNok, SocketOk, Tether,
    TetherBuilder, socket_namespace,
};

/// Who a `/bench` socket belongs to.
#[derive(Debug, Clone, Serialize)]
struct BenchUser {
    user_id: String,
}

/// The one server→client event of the contract.
#[derive(Debug, Events)]
enum BenchEvent {
    #[event("msg")]
    Msg(Value),
}

/// `send` / `channel`: who to, and what.
#[derive(Debug, Deserialize)]
struct Relay {
    to: String,
    data: Value,
}

/// `join`: a channel name, bare or as `{channel}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JoinRequest {
    Name(String),
    Object { channel: String },
}

/// Stamps out a bench namespace: the contract's handlers under `path`, with any extra
/// `#[socket_namespace]` arguments (`recovery = true`).
macro_rules! bench_namespace {
    ($(#[$doc:meta])* $name:ident, path = $path:tt $(, $arg:ident = $value:tt)*) => {
        $(#[$doc])*
        struct $name {
            verifier: Arc<JweVerifier>,
        }

        #[socket_namespace(
            path = $path,
            user_key = "user_id",
            client_connection_key = "user_id",
            events = BenchEvent
            $(, $arg = $value)*
        )]
        impl $name {
            #[middleware]
            async fn auth(&self, hs: &Handshake) -> Result<SocketOk<BenchUser>, SocketNok> {
                let verified = self
                    .verifier
                    .authenticate::<Claims>(hs)
                    .map_err(SocketNok::from)?;
                Ok(SocketOk::new(BenchUser {
                    user_id: verified.into_claims().sub,
                }))
            }

            #[on("send")]
            async fn send(&self, client: &Client<BenchUser>, p: Relay) {
                if let Err(e) = client
                    .emitter::<Self>()
                    .to_user(p.to)
                    .emit(BenchEvent::Msg(p.data))
                    .await
                {
                    tracing::debug!(error = %e, "send failed");
                }
            }

            #[on("channel")]
            async fn channel(&self, client: &Client<BenchUser>, p: Relay) {
                if let Err(e) = client
                    .emitter::<Self>()
                    .to_channel(p.to)
                    .emit(BenchEvent::Msg(p.data))
                    .await
                {
                    tracing::debug!(error = %e, "channel send failed");
                }
            }

            #[on("join")]
            async fn join(
                &self,
                client: &Client<BenchUser>,
                req: JoinRequest,
            ) -> Result<ConnectionInfo, SocketError> {
                let channel = match req {
                    JoinRequest::Name(c) | JoinRequest::Object { channel: c } => c,
                };
                if channel.is_empty() || channel.len() > tether::MAX_CHANNEL_LEN {
                    return Err(SocketError::invalid_payload("a channel name"));
                }
                client.clients().join_channel(client, &channel);
                Ok(client.connection_info())
            }
        }
    };
}

bench_namespace!(
    /// The `/bench` namespace of the contract.
    Bench,
    path = "/bench"
);

bench_namespace!(
    /// `/bench-recovery`: the same with recovery on (the defaults: two minutes, 4096 events per
    /// stream), so every emit to a user is recorded and carries its position.
    BenchRecovery,
    path = "/bench-recovery",
    recovery = true
);

/// Cluster mode when `REDIS_URL` is set: the only place the bench server touches it.
fn cluster(builder: TetherBuilder, redis_url: Option<String>) -> TetherBuilder {
    match redis_url {
        Some(url) => builder.redis(url),
        None => builder,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let key = Key::from_env("BENCH_KEY")?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let redis_url = std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty());
    let clustered = redis_url.is_some();

    let verifier = Arc::new(JweVerifier::new(KeySet::new(key)));
    // No per-socket rate limit: the bench measures throughput against servers that have none.
    let builder = Tether::builder()
        .namespace(Bench {
            verifier: verifier.clone(),
        })
        .namespace(BenchRecovery { verifier })
        .rate_limit(None);
    let builder = match std::env::var("EXPERIMENT_WS_READ_BUF")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => builder.configure_socketio(move |b| b.ws_read_buffer_size(n)),
        None => builder,
    };
    let tether = cluster(builder, redis_url).build().await?;
    let app = axum::Router::new().layer(tether.layer());

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tether::bind(addr).await?;
    // Small frames go out at once, as with Node's http server (`noDelay` is its default) and the
    // demo: Nagle's algorithm would hold a burst's second frame until the client's delayed ACK
    // (~40 ms), which shows in the replay of a reconnect.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    println!(
        "tether bench server on http://{addr}{}",
        if clustered { " (cluster mode)" } else { "" }
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await?;
    tether.close().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or_default(),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
