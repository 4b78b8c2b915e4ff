use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat", client_connection_key = "user_id")]
impl Chat {
    #[on("ping")]
    async fn ping(&self) {}
}

fn main() {}
