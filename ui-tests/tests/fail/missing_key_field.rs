use tether::{Handshake, SocketNok, SocketOk, socket_namespace};

#[derive(Clone)]
struct DevUser {
    id: String,
}

struct Users;

#[socket_namespace(path = "/users", client_connection_key = "user_id")]
impl Users {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<DevUser>, SocketNok> {
        let id = hs.auth_str("user").unwrap_or_default().to_owned();
        Ok(SocketOk::new(DevUser { id }))
    }
}

fn main() {}
