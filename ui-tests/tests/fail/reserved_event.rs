use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("disconnect")]
    async fn gone(&self) {}

    #[on("/ops/connection-success")]
    async fn spoof(&self) {}
}

fn main() {}
