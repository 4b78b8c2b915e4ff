use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat")]
impl Chat {
    #[on("a", parallel)]
    async fn unknown(&self) {}

    #[on("b", concurrent, concurrent)]
    async fn twice(&self) {}

    #[on("c", "d")]
    async fn not_an_option(&self) {}
}

fn main() {}
