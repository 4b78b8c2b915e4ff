//! `#[authorize_channel]` and `#[authorize_relay]`, with both answer types.

use tether::{Client, Relay, SocketError, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[authorize_channel]
    async fn can_join(&self, client: &Client<()>, channel: &str) -> bool {
        let _ = client;
        channel.starts_with("public-")
    }

    #[authorize_relay]
    async fn can_relay(&self, client: &Client<()>, relay: &Relay) -> Result<(), SocketError> {
        let _ = client;
        if relay.event == "typing" {
            Ok(())
        } else {
            Err(SocketError::forbidden("only typing notifications"))
        }
    }
}

fn main() {}
