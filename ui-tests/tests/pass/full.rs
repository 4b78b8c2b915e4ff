//! Every kind of method, every parameter shape, every return shape.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use tether::{
    Client, DisconnectReason, Handshake, Namespace, SocketError, SocketNok, SocketOk,
    socket_namespace,
};

#[derive(Clone, Serialize, Deserialize)]
struct DevUser {
    user_id: String,
    name: String,
}

#[derive(Deserialize)]
struct SayStuff {
    text: String,
}

#[derive(Serialize)]
struct Sent {
    id: u64,
}

#[derive(Serialize)]
struct Pong;

struct DevUserSocket {
    sent: AtomicU64,
}

#[socket_namespace(
    path = "/devUser",
    client_connection_key = "user_id",
    rate = "50/s",
    burst = 100
)]
impl DevUserSocket {
    /// Doc comments and other attributes stay on the methods.
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        let user_id = hs
            .auth_str("user_id")
            .ok_or_else(|| SocketNok::new("no user"))?;
        Ok(SocketOk::new(DevUser {
            user_id: user_id.to_owned(),
            name: "dev".to_owned(),
        }))
    }

    #[on_connect]
    async fn joined(&self, client: &Client<DevUser>) {
        let _ = client.metadata().name.len();
    }

    #[on("sayStuff", rate = "5/s", burst = 10)]
    async fn say_stuff(
        &self,
        client: &Client<DevUser>,
        msg: SayStuff,
    ) -> Result<Sent, SocketError> {
        if msg.text.is_empty() {
            return Err(SocketError::invalid_payload("say something"));
        }
        let _ = client.key();
        Ok(Sent { id: self.next_id() })
    }

    #[on("ping", concurrent)]
    async fn ping(&self) -> Pong {
        Pong
    }

    #[on("note", rate = "30/min")]
    async fn note(&self, msg: SayStuff) {
        let _ = msg.text;
    }

    #[on("count")]
    async fn count(&self, _client: &tether::Client<DevUser>) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    #[on("tuple")]
    async fn tuple(&self, (a, b): (u8, String)) -> Option<String> {
        (a > 0).then_some(b)
    }

    #[on("unit")]
    async fn unit(&self, _client: &Client<DevUser>) -> () {}

    #[on_disconnect]
    async fn left(&self, client: &Client<DevUser>, reason: DisconnectReason) {
        let _ = (client.key(), reason);
    }

    fn next_id(&self) -> u64 {
        self.sent.fetch_add(1, Ordering::Relaxed)
    }

    const HELLO: &'static str = "hello";
}

fn assert_namespace<T: Namespace<Metadata = DevUser>>() {}

fn main() {
    assert_namespace::<DevUserSocket>();
    assert_eq!(<DevUserSocket as Namespace>::PATH, "/devUser");
    assert_eq!(DevUserSocket::HELLO, "hello");
}
