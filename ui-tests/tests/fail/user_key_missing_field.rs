use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

#[derive(Clone)]
struct DevUser {
    id: u64,
}

struct Users;

#[socket_namespace(path = "/users", user_key = "user_id")]
impl Users {
    #[middleware]
    async fn authenticate(&self, _hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        Ok(SocketOk::new(DevUser { id: 1 }))
    }
}

fn main() {}
