use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<String>, SocketNok> {
        let user = hs
            .auth_str("user")
            .ok_or_else(|| SocketNok::new("who are you?"))?;
        Ok(SocketOk::new(user.to_owned()))
    }

    #[middleware]
    async fn rate_limit(&self, _hs: &Handshake) -> Result<SocketOk<String>, SocketNok> {
        Err(SocketNok::new("slow down"))
    }
}

fn main() {}
