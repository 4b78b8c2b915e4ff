//! No middleware: the metadata is `()`, clients are keyed by socket id.

use tether::{Client, Namespace, socket_namespace};

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("ping")]
    async fn ping(&self, client: &Client<()>) -> String {
        client.key().to_owned()
    }
}

struct Empty;

#[socket_namespace(path = "/empty")]
impl Empty {}

fn assert_namespace<T: Namespace<Metadata = ()>>() {}

fn main() {
    assert_namespace::<Chat>();
    assert_namespace::<Empty>();
}
