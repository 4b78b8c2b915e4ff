use tether::{Client, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[authorize_channel]
    async fn can_join(&self, channel: String, client: &Client<()>) -> bool {
        let _ = client;
        channel.starts_with("public-")
    }
}

fn main() {}
