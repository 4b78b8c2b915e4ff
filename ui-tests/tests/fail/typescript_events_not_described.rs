use serde::Serialize;
use tether::{Events, socket_namespace};

#[derive(Serialize, ts_rs::TS)]
struct Message {
    text: String,
}

// No `#[events(typescript = true)]`: the namespace's typings cannot describe these events.
#[derive(Events)]
enum ChatEvent {
    #[event("message")]
    Message(Message),
}

struct Chat;

#[socket_namespace(path = "/chat", events = ChatEvent, typescript = true)]
impl Chat {}

fn main() {}
