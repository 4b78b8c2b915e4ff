use tether::socket_namespace;

struct SayStuff {
    text: String,
}

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("sayStuff")]
    async fn say_stuff(&self, msg: SayStuff) -> usize {
        msg.text.len()
    }
}

fn main() {}
