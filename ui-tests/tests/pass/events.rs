//! Typed events: declared with `#[derive(tether::Events)]`, attached with `events = ..`, emitted
//! through the emitter.

use serde::Serialize;
use tether::{Events, Handshake, SocketNok, SocketOk, Tether, socket_namespace};

#[derive(Serialize)]
struct Ping {
    hello: String,
}

#[derive(Serialize)]
struct ChatMessage {
    text: String,
}

#[derive(tether::Events)]
enum ChatEvents {
    #[event("/users/ping")]
    UsersPing(Ping),
    Message(ChatMessage),
    Typing,
}

#[derive(tether::Events)]
enum NoEvents {}

#[derive(Clone)]
struct DevUser {
    user_id: Option<u64>,
}

struct Chat;

#[socket_namespace(
    path = "/chat",
    user_key = "user_id",
    anonymous = true,
    max_connections_per_user = 3,
    events = ChatEvents
)]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        let user_id = hs.auth_str("user_id").and_then(|id| id.parse().ok());
        Ok(SocketOk::new(DevUser { user_id }))
    }
}

struct Quiet;

#[socket_namespace(path = "/quiet", events = NoEvents)]
impl Quiet {}

async fn notify(tether: &Tether) {
    let emitter = tether.emitter::<Chat>();
    let ping = Ping {
        hello: "world".to_owned(),
    };
    let _ = emitter.to_user("1").emit(ChatEvents::UsersPing(ping)).await;
    let _ = emitter.to_all().emit(ChatEvents::Typing).await;
}

fn main() {
    let _ = notify;
    let message = ChatEvents::Message(ChatMessage {
        text: "hi".to_owned(),
    });
    assert_eq!(message.name(), "Message");
    assert_eq!(ChatEvents::Typing.name(), "Typing");
    let ping = ChatEvents::UsersPing(Ping {
        hello: "world".to_owned(),
    });
    assert_eq!(ping.name(), "/users/ping");
    assert_eq!(
        serde_json::to_string(&ping).unwrap(),
        r#"{"hello":"world"}"#
    );
    assert_eq!(serde_json::to_string(&ChatEvents::Typing).unwrap(), "null");
}
