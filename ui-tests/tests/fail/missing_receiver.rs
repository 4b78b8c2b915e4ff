use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("ping")]
    async fn ping() -> u32 {
        1
    }
}

fn main() {}
