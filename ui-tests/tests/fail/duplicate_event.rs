use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("message")]
    async fn message(&self, text: String) {
        let _ = text;
    }

    #[on("message")]
    async fn message_again(&self, text: String) {
        let _ = text;
    }
}

fn main() {}
