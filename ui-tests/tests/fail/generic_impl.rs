use std::marker::PhantomData;

use tether::socket_namespace;

struct Chat<S> {
    store: PhantomData<S>,
}

#[socket_namespace(path = "/chat")]
impl<S: Send + Sync + 'static> Chat<S> {
    #[on("ping")]
    async fn ping(&self) {}
}

fn main() {}
