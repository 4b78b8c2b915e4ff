use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on]
    async fn nameless(&self) {}

    #[on(123)]
    async fn numbered(&self) {}

    #[middleware(strict)]
    async fn authenticate(&self, _hs: &Handshake) -> Result<SocketOk<()>, SocketNok> {
        Ok(SocketOk::new(()))
    }
}

fn main() {}
