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

// No `events = ChatEvents`: the namespace takes `AnyEvent`.
#[socket_namespace(path = "/chat")]
impl Chat {}

async fn notify(tether: &Tether) {
    let ping = Ping {
        hello: "world".to_owned(),
    };
    let _ = tether
        .emitter::<Chat>()
        .to_user("1")
        .emit(ChatEvents::UsersPing(ping))
        .await;
}

fn main() {
    let _ = notify;
}
