//! The expansion adds no warning, even pedantic ones. trybuild builds this file with rustc only;
//! `tests/clippy_pedantic.rs` makes it a module of that test, so `cargo clippy --all-targets`
//! checks it too (hence `pub(crate) fn main`, which that test calls).

#![deny(warnings, clippy::pedantic)]

use serde::{Deserialize, Serialize};
use tether::{
    Client, DisconnectReason, Events, Handshake, Namespace, Relay, SocketError, SocketNok,
    SocketOk, socket_namespace,
};

#[derive(Serialize)]
struct Ping {
    hello: String,
}

#[derive(tether::Events)]
enum UserEvents {
    #[event("/users/ping")]
    UsersPing(Ping),
    Typing,
}

#[derive(tether::Events)]
enum NoEvents {}

#[derive(Clone)]
struct DevUser {
    user_id: u64,
}

#[derive(Deserialize)]
struct SayStuff {
    text: String,
}

#[derive(Serialize)]
struct Sent {
    len: usize,
}

struct Users;

#[socket_namespace(
    path = "/users",
    client_connection_key = "user_id",
    user_key = "user_id",
    anonymous = false,
    max_connections_per_user = 2,
    events = UserEvents
)]
impl Users {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        let user_id = hs.auth_str("user_id").and_then(|id| id.parse().ok());
        let user_id = user_id.ok_or_else(|| SocketNok::new("no user"))?;
        Ok(SocketOk::new(DevUser { user_id }))
    }

    #[on_connect]
    async fn joined(&self, client: &Client<DevUser>) {
        let _ = client.metadata().user_id;
    }

    #[on("sayStuff")]
    async fn say_stuff(
        &self,
        client: &Client<DevUser>,
        msg: SayStuff,
    ) -> Result<Sent, SocketError> {
        let _ = client.key();
        Ok(Sent {
            len: msg.text.len(),
        })
    }

    #[on("ping")]
    async fn ping(&self) -> &'static str {
        "pong"
    }

    #[on("note")]
    async fn note(&self, msg: SayStuff) {
        let _ = msg.text;
    }

    #[authorize_channel]
    async fn can_join(&self, _client: &Client<DevUser>, channel: &str) -> bool {
        channel.starts_with("public-")
    }

    #[authorize_relay]
    async fn can_relay(
        &self,
        _client: &Client<DevUser>,
        _relay: &Relay,
    ) -> Result<(), SocketError> {
        Ok(())
    }

    #[on_disconnect]
    async fn left(&self, client: &Client<DevUser>, reason: DisconnectReason) {
        let _ = (client.key(), reason);
    }
}

struct Empty;

#[socket_namespace(path = "/empty", events = NoEvents)]
impl Empty {}

pub(crate) fn main() {
    assert_eq!(<Users as Namespace>::PATH, "/users");
    assert_eq!(<Empty as Namespace>::PATH, "/empty");
    let ping = UserEvents::UsersPing(Ping {
        hello: "world".to_owned(),
    });
    assert_eq!(ping.name(), "/users/ping");
    assert_eq!(UserEvents::Typing.name(), "Typing");
}
