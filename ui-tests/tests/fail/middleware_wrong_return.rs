use tether::{Handshake, SocketNok, socket_namespace};

#[derive(Clone)]
struct DevUser {
    user_id: String,
}

struct Users;

#[socket_namespace(path = "/users")]
impl Users {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<DevUser, SocketNok> {
        let user_id = hs.auth_str("user").unwrap_or_default().to_owned();
        Ok(DevUser { user_id })
    }
}

fn main() {}
