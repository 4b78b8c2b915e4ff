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

/// A payload named like one of tether's own types.
#[derive(Deserialize, ts_rs::TS)]
struct Kick {
    who: String,
}

struct Clash;

#[socket_namespace(path = "/clash", typescript = true)]
impl Clash {
    #[on("kick")]
    async fn kick(&self, kick: Kick) -> String {
        kick.who
    }
}

fn main() {
    let chat = tether::typescript::typings::<Chat>();
    assert!(chat.contains(r#""say": (payload: Say, ack: (res: number | TetherError) => void) => void;"#), "{chat}");
    assert!(chat.contains(r#""quiet": (ack?: (res: TetherError) => void) => void;"#), "{chat}");
    assert!(chat.contains(r#""ping": () => void;"#), "{chat}");
    let open = tether::typescript::typings::<Open>();
    assert!(open.contains("[event: string]: (...args: any[]) => void;"), "{open}");
    // Its typings would put it in place of `/ops/disconnected`'s `Kick`: refused, loudly.
    let clash = std::panic::catch_unwind(tether::typescript::typings::<Clash>);
    let message = clash.expect_err("a name clash panics");
    let message = message.downcast_ref::<String>().expect("a formatted message");
    assert!(message.contains("two types are named `Kick`"), "{message}");
}
