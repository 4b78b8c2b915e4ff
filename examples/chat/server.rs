//! The chat demo's server: `POST /api/login`, `POST /api/notify/{user}`, the page and its
//! socket.io client bundle, and the `/chat` namespace. The `chat` example (`main.rs` beside this
//! file) serves it; the integration tests build the same app in-process ([`app_with`]).
//!
//! Namespace `/chat` (token in `auth.token`):
//!
//! | client emits | payload | ack |
//! |---|---|---|
//! | `who` | none | the online users on every node, sorted |
//! | `join` | `{channel}` | connection info and `members`: the channel's users on every node |
//! | `leave` | `{channel}` | connection info |
//! | `say` | `{channel, text}` | `{delivered}` (sockets); members receive `message` `{from, channel, text}` |
//! | `dm` | `{to, text}` | `{online}`; every socket of `to` receives `dm` `{from, text}` |
//! | `/ops/login`, `/ops/logout`, `/ops/connection` | as in tether | connection info |
//!
//! The server also emits `notification` (the body of `POST /api/notify/{user}`), `presence`
//! `{user, online}` to everyone when a user's first socket on any node connects or their last
//! one has been gone for the presence grace (`PRESENCE_GRACE_MS`, 5 s by default), and
//! `member_joined` / `member_left` `{channel, user}` to a channel's members when a user's first
//! socket joins it / their last one has left it for the grace. Every error ack is
//! `{"error": {"code", "message"}}`.
//!
//! Recovery is on: `message`, `dm` and `notification` carry their position as a last argument,
//! and a client that reconnects with `auth.recover = {offset, channels}` (the offset from
//! `/ops/connection-success` and from those positions) receives what it missed first.
//!
//! # Tokens expire, on live sockets too
//!
//! `POST /api/login {"user"}` issues a token that expires after [`ChatConfig::token_ttl`]
//! (default [`DEFAULT_TOKEN_TTL`]). The middleware hands its `exp` to tether
//! ([`JweVerifier::accept`]), so when it passes the socket receives `/ops/token-expired`
//! `{code, message, grace_seconds}`; it must send `/ops/login {token}` with a fresh token within
//! the grace ([`ChatConfig::token_grace`]), or it receives `/ops/disconnected`
//! `{code: "expired_token"}` and is disconnected. The page does this by itself: it asks
//! `/api/login` again for the same user (a demo without passwords; a real app would use a
//! refresh token or its session cookie here).
//!
//! # The notify credential
//!
//! `POST /api/notify/{user}` is for back-end services, not for browsers: it needs
//! `Authorization: Bearer <NOTIFY_SECRET>`, a shared secret ([`NotifySecret`]) compared in
//! constant time. Without the header (or with another scheme) the answer is 401
//! `{"error": {"code": "unauthorized", ..}}` with `WWW-Authenticate: Bearer`; with a wrong secret
//! it is 403 `{"error": {"code": "forbidden", ..}}`. Either way nothing is delivered and the body
//! is not read. A user's chat token is not accepted here: it would let any user push
//! notifications to any other.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tether::auth::{Claims, JweVerifier, Verified};
use tether::typescript::TS;
use tether::{
    Client, ConnectedClients, Events, Handshake, SocketError, SocketNok, SocketOk, socket_namespace,
};

mod api;
mod config;

pub use api::NotifySecret;
pub use config::{ChatConfig, DEFAULT_TOKEN_TTL, app, app_and_tether, app_with, web_dir};

/// Longest chat message, in characters.
pub const MAX_TEXT: usize = 2000;

/// Who a `/chat` socket belongs to.
#[derive(Debug, Clone, Serialize)]
struct ChatUser {
    user_id: String,
}

/// What the server sends to chat clients.
#[derive(Debug, Events)]
#[events(typescript = true)]
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

/// `message`.
#[derive(Debug, Serialize, TS)]
struct ChannelMessage {
    from: String,
    channel: String,
    text: String,
}

/// `dm`.
#[derive(Debug, Serialize, TS)]
struct DirectMessage {
    from: String,
    text: String,
}

/// `presence`.
#[derive(Debug, Serialize, TS)]
struct Presence {
    user: String,
    online: bool,
}

#[derive(Deserialize, TS)]
struct ChannelRequest {
    channel: String,
}

#[derive(Deserialize, TS)]
struct Say {
    channel: String,
    text: String,
}

#[derive(Deserialize, TS)]
struct Dm {
    to: String,
    text: String,
}

/// The ack of `join`: the socket's connection info and the channel's members on every node.
#[derive(Serialize, TS)]
struct Joined {
    #[serde(flatten)]
    info: tether::ConnectionInfo,
    members: Vec<String>,
}

/// The ack of `say`: how many sockets the message is on its way to.
#[derive(Serialize, TS)]
struct Said {
    delivered: usize,
}

/// The ack of `dm`: whether the recipient is online.
#[derive(Serialize, TS)]
struct DmSent {
    online: bool,
}

/// The socket.io-client typings of the `/chat` namespace (`web/chat.d.ts`, checked by the
/// tests): its payloads, and the `ServerToClientEvents` / `ClientToServerEvents` interfaces of
/// `io<ServerToClientEvents, ClientToServerEvents>(url)`.
pub fn typescript() -> String {
    tether::typescript::typings::<Chat>()
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
    // Notifications, DMs and channel messages survive a blip: a reconnecting page that sends
    // back its last position (`auth.recover`) gets what it missed, in order, once.
    recovery = true,
    // Channel members across the nodes, each user once: `member_joined` / `member_left`.
    presence = true,
    events = ChatEvent,
    // `typescript()` writes the typings of socket.io-client for this namespace.
    typescript = true
)]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<ChatUser>, SocketNok> {
        // `accept` carries the token's `exp` into the socket: tether enforces it on the live
        // socket. It decides `/ops/login` too (a fresh token moves the expiry).
        self.verifier
            .accept(hs, |token: Verified<Claims>| async move {
                Ok::<_, SocketNok>(ChatUser {
                    user_id: token.into_claims().sub,
                })
            })
            .await
    }

    /// A user's first socket on any node: once, cluster-wide (a reload within the presence
    /// grace does not count).
    #[on_user_online]
    async fn online(&self, user: &str, clients: &ConnectedClients<ChatUser>) {
        self.presence(clients, user, true).await;
    }

    /// A user's last socket on any node left (or logged out, or its node died) and none came
    /// back within the grace: once, cluster-wide.
    #[on_user_offline]
    async fn offline(&self, user: &str, clients: &ConnectedClients<ChatUser>) {
        self.presence(clients, user, false).await;
    }

    #[on("who")]
    async fn who(&self, client: &Client<ChatUser>) -> Vec<String> {
        client.emitter::<Self>().online_users().await
    }

    #[on("join")]
    async fn join(
        &self,
        client: &Client<ChatUser>,
        req: ChannelRequest,
    ) -> Result<Joined, SocketError> {
        check_channel(&req.channel)?;
        client.clients().join_channel(client, &req.channel);
        let members = client.emitter::<Self>().members(&req.channel).await;
        Ok(Joined {
            info: client.connection_info(),
            members,
        })
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
    async fn say(&self, client: &Client<ChatUser>, say: Say) -> Result<Said, SocketError> {
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
        Ok(Said {
            delivered: delivery.sockets,
        })
    }

    #[on("dm")]
    async fn dm(&self, client: &Client<ChatUser>, dm: Dm) -> Result<DmSent, SocketError> {
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
        Ok(DmSent {
            online: delivery.delivered(),
        })
    }

    /// Tells everyone that a user came or went.
    async fn presence(&self, clients: &ConnectedClients<ChatUser>, user: &str, online: bool) {
        let event = ChatEvent::Presence(Presence {
            user: user.to_owned(),
            online,
        });
        if let Err(e) = clients.emitter::<Self>().to_all().emit(event).await {
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
