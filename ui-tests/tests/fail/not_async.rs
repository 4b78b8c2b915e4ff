use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("ping")]
    fn ping(&self) -> u32 {
        1
    }
}

fn main() {}
