use tether::{Client, SocketError, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on_connect]
    async fn welcome(&self, client: &Client<()>) -> Result<(), SocketError> {
        let _ = client;
        Ok(())
    }
}

fn main() {}
