//! `crate = "..."` for a renamed dependency. Cargo refuses the same package twice under two
//! names, so the rename is an `extern crate`; the macro's unit tests check that no `::tether`
//! path is left in the expansion.

extern crate tether as tether2;

use tether2::{Client, Namespace, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat", crate = "tether2")]
impl Chat {
    #[on("ping")]
    async fn ping(&self, client: &Client<()>, text: String) -> String {
        let _ = client;
        text
    }
}

struct Absolute;

#[socket_namespace(path = "/absolute", crate = "::tether2")]
impl Absolute {}

fn main() {
    assert_eq!(<Chat as Namespace>::PATH, "/chat");
    assert_eq!(<Absolute as Namespace>::PATH, "/absolute");
}
