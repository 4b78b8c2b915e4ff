use tether::{Client, socket_namespace};

struct Chat {
    count: u64,
}

#[socket_namespace(path = "chat", colour = "blue")]
impl Chat {
    #[on("message")]
    fn message(&self, text: String) {
        let _ = text;
    }

    #[on("message")]
    async fn count(&mut self) -> u64 {
        self.count += 1;
        self.count
    }

    #[on_connect]
    async fn joined(&self, client: &Client<()>, extra: u8) {
        let _ = (client, extra);
    }
}

fn main() {}
