use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

#[derive(Clone)]
struct DevUser {
    roles: Vec<String>,
}

struct Users;

#[socket_namespace(path = "/users", client_connection_key = "roles")]
impl Users {
    #[middleware]
    async fn authenticate(&self, _hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        Ok(SocketOk::new(DevUser { roles: Vec::new() }))
    }
}

fn main() {}
