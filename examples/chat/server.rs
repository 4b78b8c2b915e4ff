//! The chat demo's server: `POST /api/login`, `POST /api/notify/{user}`, the page and its
//! socket.io client bundle, and the `/chat` namespace. The `chat` example (`main.rs` beside this
//! file) serves it; the integration tests build the same app in-process.
//!
//! Namespace `/chat` (token in `auth.token`):
//!
//! | client emits | payload | ack |
//! |---|---|---|
//! | `who` | none | the online users, sorted |
//! | `join` / `leave` | `{channel}` | connection info |
//! | `say` | `{channel, text}` | `{delivered}` (sockets); members receive `message` `{from, channel, text}` |
//! | `dm` | `{to, text}` | `{online}`; every socket of `to` receives `dm` `{from, text}` |
//! | `/ops/login`, `/ops/logout`, `/ops/connection` | as in tether | connection info |
//!
//! The server also emits `notification` (the body of `POST /api/notify/{user}`) and `presence`
//! `{user, online}`. Every error ack is `{"error": {"code", "message"}}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tether::auth::{Claims, JweVerifier, Key, KeySet};
use tether::{
    BuildError, Client, DisconnectReason, Emitter, Events, Handshake, SocketError, SocketNok,
    SocketOk, Tether, socket_namespace,
};
use tower_http::services::{ServeDir, ServeFile};

/// Longest chat message, in characters.
pub const MAX_TEXT: usize = 2000;
/// How long a demo login lasts.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// Who a `/chat` socket belongs to.
#[derive(Debug, Clone, Serialize)]
struct ChatUser {
    user_id: String,
}

/// What the server sends to chat clients.
#[derive(Debug, Events)]
enum ChatEvent {
    #[event("message")]
    Message(ChannelMessage),
    #[event("dm")]
    Dm(DirectMessage),
    #[event("notification")]
    Notification(Value),
    #[event("presence")]
    Presence(Presence),
}

#[derive(Debug, Serialize)]
struct ChannelMessage {
    from: String,
    channel: String,
    text: String,
}

#[derive(Debug, Serialize)]
struct DirectMessage {
    from: String,
    text: String,
}

#[derive(Debug, Serialize)]
struct Presence {
    user: String,
    online: bool,
}

#[derive(Deserialize)]
struct ChannelRequest {
    channel: String,
}

#[derive(Deserialize)]
struct Say {
    channel: String,
    text: String,
}

#[derive(Deserialize)]
struct Dm {
    to: String,
    text: String,
}

/// The `/chat` namespace.
struct Chat {
    verifier: Arc<JweVerifier>,
}

#[socket_namespace(
    path = "/chat",
    client_connection_key = "user_id",
    user_key = "user_id",
    // Handshakes need a token (the middleware refuses one without); a live socket may log out
    // and stay connected, signed out, until it logs in again.
    anonymous = true,
    events = ChatEvent
)]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<ChatUser>, SocketNok> {
        let verified = self
            .verifier
            .authenticate::<Claims>(hs)
            .map_err(SocketNok::from)?;
        Ok(SocketOk::new(ChatUser {
            user_id: verified.into_claims().sub,
        }))
    }

    #[on_connect]
    async fn connected(&self, client: &Client<ChatUser>) {
        let user = &client.metadata().user_id;
        if client.clients().user_sockets(user).len() == 1 {
            self.presence(client, user, true).await;
        }
    }

    #[on_disconnect]
    async fn disconnected(&self, client: &Client<ChatUser>, _reason: DisconnectReason) {
        // The socket's user when it left: `/ops/login` may have changed it since the handshake,
        // and an anonymous socket (after `/ops/logout`) takes nobody offline.
        let Some(user) = client.user_id() else {
            return;
        };
        if !client.clients().is_online(&user) {
            self.presence(client, &user, false).await;
        }
    }

    /// `/ops/logout` and `/ops/login` change a live socket's user: tell everyone when that took
    /// the last socket of the old user away, or brought the new one online.
    #[on_user_change]
    async fn user_changed(&self, client: &Client<ChatUser>, previous: Option<String>) {
        if let Some(old) = previous
            && !client.clients().is_online(&old)
        {
            self.presence(client, &old, false).await;
        }
        if let Some(new) = client.user_id()
            && client.clients().user_sockets(&new).len() == 1
        {
            self.presence(client, &new, true).await;
        }
    }

    #[on("who")]
    async fn who(&self, client: &Client<ChatUser>) -> Vec<String> {
        let mut users = client.clients().users();
        users.sort();
        users
    }

    #[on("join")]
    async fn join(
        &self,
        client: &Client<ChatUser>,
        req: ChannelRequest,
    ) -> Result<tether::ConnectionInfo, SocketError> {
        check_channel(&req.channel)?;
        client.clients().join_channel(client, &req.channel);
        Ok(client.connection_info())
    }

    #[on("leave")]
    async fn leave(
        &self,
        client: &Client<ChatUser>,
        req: ChannelRequest,
    ) -> Result<tether::ConnectionInfo, SocketError> {
        check_channel(&req.channel)?;
        if !client.clients().leave_channel(client, &req.channel) {
            return Err(SocketError::new(
                "not_in_channel",
                format!("you are not in `{}`", req.channel),
            ));
        }
        Ok(client.connection_info())
    }

    #[on("say")]
    async fn say(&self, client: &Client<ChatUser>, say: Say) -> Result<Value, SocketError> {
        check_channel(&say.channel)?;
        check_text(&say.text)?;
        if !client.in_channel(&say.channel) {
            return Err(SocketError::new(
                "not_in_channel",
                format!("join `{}` before you write to it", say.channel),
            ));
        }
        let from = sender(client)?;
        let delivery = client
            .emitter::<Self>()
            .to_channel(&say.channel)
            .emit(ChatEvent::Message(ChannelMessage {
                from,
                channel: say.channel,
                text: say.text,
            }))
            .await
            .map_err(|e| SocketError::new("emit_failed", e.to_string()))?;
        Ok(json!({ "delivered": delivery.sockets }))
    }

    #[on("dm")]
    async fn dm(&self, client: &Client<ChatUser>, dm: Dm) -> Result<Value, SocketError> {
        check_user(&dm.to).map_err(SocketError::invalid_payload)?;
        check_text(&dm.text)?;
        let from = sender(client)?;
        let delivery = client
            .emitter::<Self>()
            .to_user(&dm.to)
            .emit(ChatEvent::Dm(DirectMessage {
                from,
                text: dm.text,
            }))
            .await
            .map_err(|e| SocketError::new("emit_failed", e.to_string()))?;
        Ok(json!({ "online": delivery.delivered() }))
    }

    /// Tells everyone that a user came or went.
    async fn presence(&self, client: &Client<ChatUser>, user: &str, online: bool) {
        let event = ChatEvent::Presence(Presence {
            user: user.to_owned(),
            online,
        });
        if let Err(e) = client.emitter::<Self>().to_all().emit(event).await {
            tracing::warn!(error = %e, "presence not sent");
        }
    }
}

/// The user a message is from: the socket's current user (it may have logged out).
fn sender(client: &Client<ChatUser>) -> Result<String, SocketError> {
    client
        .user_id()
        .ok_or_else(|| SocketError::new("unauthenticated", "log in to chat"))
}

fn check_channel(channel: &str) -> Result<(), SocketError> {
    let ok = !channel.is_empty()
        && channel.len() <= 32
        && channel
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(SocketError::new(
            "invalid_channel",
            "channel names are 1 to 32 letters, digits, `-` or `_`",
        ))
    }
}

fn check_text(text: &str) -> Result<(), SocketError> {
    if text.trim().is_empty() {
        return Err(SocketError::invalid_payload("`text` is empty"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(SocketError::new(
            "text_too_long",
            format!("messages are at most {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

fn check_user(user: &str) -> Result<(), String> {
    let ok = !user.is_empty()
        && user.len() <= 32
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err("user names are 1 to 32 letters, digits, `-` or `_`".to_owned())
    }
}

/// What the HTTP handlers share.
#[derive(Clone)]
struct AppState {
    verifier: Arc<JweVerifier>,
    emitter: Emitter<Chat>,
}

/// An HTTP error with the same `{"error": {code, message}}` shape as the socket acks.
struct ApiError(StatusCode, SocketError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

#[derive(Deserialize)]
struct LoginRequest {
    user: String,
}

/// `POST /api/login {"user": "alice"}` → `{"token": ".."}`. A demo: no passwords.
async fn login(
    State(app): State<AppState>,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(req) = body.map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            SocketError::invalid_payload(format!("expected {{\"user\": \"name\"}}: {e}")),
        )
    })?;
    check_user(&req.user)
        .map_err(|m| ApiError(StatusCode::BAD_REQUEST, SocketError::invalid_payload(m)))?;
    let token = app
        .verifier
        .issue(&Claims::new(req.user).expires_in(TOKEN_TTL))
        .map_err(|e| {
            tracing::error!(error = %e, "token not issued");
            ApiError(StatusCode::INTERNAL_SERVER_ERROR, SocketError::internal())
        })?;
    Ok(Json(json!({ "token": token })))
}

/// `POST /api/notify/{user}` with any JSON body → `notification` to every socket of the user.
async fn notify(
    State(app): State<AppState>,
    Path(user): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError(
            StatusCode::BAD_REQUEST,
            SocketError::invalid_payload(format!("the body must be JSON: {e}")),
        )
    })?;
    let delivery = app
        .emitter
        .to_user(&user)
        .emit(ChatEvent::Notification(body))
        .await
        .map_err(|e| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                SocketError::new("emit_failed", e.to_string()),
            )
        })?;
    // `nodes`: the nodes that hold a socket of the user (this one alone in embedded mode).
    Ok(Json(if delivery.delivered() {
        json!({ "delivered": true, "sockets": delivery.sockets, "nodes": delivery.nodes })
    } else if delivery.cluster_unavailable {
        json!({ "delivered": false, "reason": "cluster_unavailable", "nodes": 0 })
    } else {
        json!({ "delivered": false, "reason": "offline", "nodes": 0 })
    }))
}

/// The folder of the page: `public/` (served at `/`) and `node_modules/` (the socket.io client).
pub fn web_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("chat/web")
}

/// Builds the chat demo's app in embedded single-node mode: the HTTP API, the page and the
/// `/chat` namespace, with tokens issued and verified with `key`. Serve it with `axum::serve`.
///
/// # Errors
/// When tether cannot mount the namespace.
pub async fn app(key: Key) -> Result<Router, BuildError> {
    app_on(key, None).await
}

/// [`app`], as one node of a cluster when `redis_url` is given: nodes that share the Redis and
/// the key deliver to each other's sockets.
///
/// # Errors
/// When tether cannot mount the namespace or reach Redis.
pub async fn app_on(key: Key, redis_url: Option<&str>) -> Result<Router, BuildError> {
    let verifier = Arc::new(JweVerifier::new(KeySet::new(key)));
    let mut builder = Tether::builder()
        .namespace(Chat {
            verifier: verifier.clone(),
        })
        // `/ops/login`: the same tokens as the handshake (`sub` is the user).
        .login_verifier(JweVerifier::clone(&verifier));
    if let Some(url) = redis_url {
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
    Ok(Router::new()
        .route("/api/login", post(login))
        .route("/api/notify/{user}", post(notify))
        .route_service("/vendor/socket.io.min.js", ServeFile::new(client_bundle))
        .fallback_service(ServeDir::new(web.join("public")))
        .layer(tether.layer())
        .with_state(AppState {
            verifier,
            emitter: tether.emitter::<Chat>(),
        }))
}
