//! Every accepted hook shape.

use tether::{Client, DisconnectReason, socket_namespace};

struct A;

#[socket_namespace(path = "/a")]
impl A {
    #[on_connect]
    async fn joined(&self) {}

    #[on_disconnect]
    async fn left(&self) {}
}

struct B;

#[socket_namespace(path = "/b")]
impl B {
    #[on_connect]
    async fn joined(&self, client: &Client<()>) {
        let _ = client;
    }

    #[on_disconnect]
    async fn left(&self, client: &Client<()>) {
        let _ = client;
    }
}

struct C;

#[socket_namespace(path = "/c")]
impl C {
    #[on_disconnect]
    async fn left(&self, reason: DisconnectReason) {
        let _ = reason;
    }
}

fn main() {}
