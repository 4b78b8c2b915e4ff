use serde::{Deserialize, Serialize};
use tether::{Events, SocketError, socket_namespace};

#[derive(Deserialize, ts_rs::TS)]
struct Say {
    text: String,
}

#[derive(Serialize, ts_rs::TS)]
struct Message {
    text: String,
}

#[derive(Events)]
#[events(typescript = true)]
enum ChatEvent {
    #[event("message")]
    Message(Message),
    #[event("ping")]
    Ping,
}

struct Chat;

#[socket_namespace(path = "/chat", events = ChatEvent, typescript = true)]
impl Chat {
    #[on("say")]
    async fn say(&self, say: Say) -> Result<usize, SocketError> {
        Ok(say.text.len())
    }

    #[on("quiet")]
    async fn quiet(&self) {}
}

/// A namespace without declared events: any server event.
struct Open;

#[socket_namespace(path = "/open", typescript = true)]
impl Open {
    #[on("ping")]
    async fn ping(&self) -> bool {
        true
    }
}

fn main() {
    let chat = tether::typescript::typings::<Chat>();
    assert!(chat.contains(r#""say": (payload: Say, ack: (res: number | TetherError) => void) => void;"#), "{chat}");
    assert!(chat.contains(r#""quiet": () => void;"#), "{chat}");
    assert!(chat.contains(r#""ping": () => void;"#), "{chat}");
    let open = tether::typescript::typings::<Open>();
    assert!(open.contains("[event: string]: (...args: any[]) => void;"), "{open}");
}
