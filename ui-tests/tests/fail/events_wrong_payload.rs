use serde::Serialize;
use tether::{Tether, socket_namespace};

#[derive(Serialize)]
struct Ping {
    hello: String,
}

#[derive(tether::Events)]
enum ChatEvents {
    #[event("/users/ping")]
    UsersPing(Ping),
}

struct Chat;

#[socket_namespace(path = "/chat", events = ChatEvents)]
impl Chat {}

async fn notify(tether: &Tether) {
    let _ = tether
        .emitter::<Chat>()
        .to_user("1")
        .emit(ChatEvents::UsersPing("world"))
        .await;
}

fn main() {
    let _ = notify;
}
