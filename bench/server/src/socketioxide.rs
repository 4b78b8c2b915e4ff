//! `bench-socketioxide`: the bench contract (`bench/README.md`) on plain socketioxide, with the
//! socketioxide-redis adapter when `REDIS_URL` is set. The comparison point that shows what
//! tether's layer costs on one node, and how the global-channel Redis adapter does across two.
//!
//! ```text
//! BENCH_KEY=<base64url 32 bytes> PORT=3000 [REDIS_URL=redis://127.0.0.1:6379] bench-socketioxide
//! ```

use std::net::SocketAddr;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{AckSender, Data, SocketRef, TryData};
use socketioxide::handler::ConnectHandler as _;
use socketioxide::layer::SocketIoLayer;
use socketioxide_redis::{RedisAdapter, RedisAdapterCtr};
use tether::auth::{Claims, JweVerifier, Key, KeySet};

/// The token verifier, set once at start-up.
static VERIFIER: OnceLock<JweVerifier> = OnceLock::new();

/// The socket's user, stored in its extensions by the middleware.
#[derive(Debug, Clone)]
struct User(String);

#[derive(Debug, Deserialize)]
struct Auth {
    token: String,
}

#[derive(Debug, Deserialize)]
struct Relay {
    to: String,
    data: Value,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JoinRequest {
    Name(String),
    Object { channel: String },
}

#[derive(Debug, Serialize)]
struct Info<'a> {
    client_id: String,
    client_key: &'a str,
    user_id: &'a str,
    channels: Vec<String>,
    namespace: &'static str,
}

fn info<'a, A: Adapter>(s: &SocketRef<A>, user: &'a str) -> Info<'a> {
    Info {
        client_id: s.id.to_string(),
        client_key: user,
        user_id: user,
        channels: s
            .rooms()
            .into_iter()
            .filter_map(|r| r.strip_prefix("channel:").map(str::to_owned))
            .collect(),
        namespace: "/bench",
    }
}

/// Refuses a handshake without a valid token, with the code as the message's first word.
async fn auth<A: Adapter>(s: SocketRef<A>, TryData(auth): TryData<Auth>) -> Result<(), String> {
    let token = auth
        .map_err(|_| "missing_token: send auth.token".to_owned())?
        .token;
    let verifier = VERIFIER.get().ok_or("internal: no verifier")?;
    let verified = verifier
        .verify_token::<Claims>(&token)
        .map_err(|e| format!("{}: {e}", e.code()))?;
    s.extensions.insert(User(verified.into_claims().sub));
    Ok(())
}

async fn on_connect<A: Adapter>(s: SocketRef<A>) {
    let Some(User(user)) = s.extensions.get::<User>() else {
        let _ = s.disconnect();
        return;
    };
    s.join(format!("user:{user}"));
    s.on("send", on_send::<A>);
    s.on("channel", on_channel::<A>);
    s.on("join", on_join::<A>);
    if let Err(e) = s.emit("/ops/connection-success", &info(&s, &user)) {
        tracing::debug!(error = %e, "could not send the connection info");
    }
}

async fn on_send<A: Adapter>(s: SocketRef<A>, Data(p): Data<Relay>) {
    let _ = s
        .within(format!("user:{}", p.to))
        .emit("msg", &p.data)
        .await;
}

async fn on_channel<A: Adapter>(s: SocketRef<A>, Data(p): Data<Relay>) {
    let _ = s
        .within(format!("channel:{}", p.to))
        .emit("msg", &p.data)
        .await;
}

async fn on_join<A: Adapter>(s: SocketRef<A>, Data(req): Data<JoinRequest>, ack: AckSender<A>) {
    let channel = match req {
        JoinRequest::Name(c) | JoinRequest::Object { channel: c } => c,
    };
    s.join(format!("channel:{channel}"));
    let user = s.extensions.get::<User>().map(|u| u.0).unwrap_or_default();
    let _ = ack.send(&info(&s, &user));
}

async fn serve(layer: SocketIoLayer<impl Adapter>, port: u16) -> std::io::Result<()> {
    let app = axum::Router::new().layer(layer);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    // As tether's bench server and Node's http server (`noDelay` is its default): small frames
    // go out at once, not held by Nagle's algorithm.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
    });
    println!("socketioxide bench server on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

/// socketioxide-redis's drivers speak RESP3.
fn resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{}/?protocol=resp3", url.trim_end_matches('/'))
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
    let _ = VERIFIER.set(JweVerifier::new(KeySet::new(key)));
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()?
        .unwrap_or(3000);
    let max = tether::DEFAULT_MAX_MESSAGE_SIZE;
    let builder = SocketIo::builder()
        .ws_max_message_size(max)
        .ws_max_frame_size(max)
        .max_payload(max as u64);
    match std::env::var("REDIS_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => {
            let client = redis::Client::open(resp3(&url))?;
            let adapter = RedisAdapterCtr::new_with_redis(&client).await?;
            let (layer, io) = builder
                .with_adapter::<RedisAdapter<_>>(adapter)
                .build_layer();
            io.ns("/bench", on_connect.with(auth)).await?;
            serve(layer, port).await?;
        }
        None => {
            let (layer, io) = builder.build_layer();
            io.ns("/bench", on_connect.with(auth));
            serve(layer, port).await?;
        }
    }
    Ok(())
}
