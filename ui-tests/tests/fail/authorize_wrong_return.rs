use tether::{Client, Relay, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[authorize_relay]
    async fn can_relay(&self, client: &Client<()>, relay: &Relay) -> Option<String> {
        let _ = client;
        (relay.event == "typing").then(|| "ok".to_owned())
    }
}

fn main() {}
