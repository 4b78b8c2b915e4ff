use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

#[derive(Clone)]
struct DevUser {
    user_id: String,
}

struct Users;

#[socket_namespace(path = "/users", user_key = "user_id", max_connections_per_user = 0)]
impl Users {
    #[middleware]
    async fn authenticate(&self, _hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        Ok(SocketOk::new(DevUser {
            user_id: String::new(),
        }))
    }
}

fn main() {}
