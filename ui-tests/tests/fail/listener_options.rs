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

    #[on("e", rate = "5 per second")]
    async fn bad_rate(&self) {}

    #[on("f", burst = 3)]
    async fn burst_without_rate(&self) {}

    #[on("g", rate = "5/s", burst = 0)]
    async fn zero_burst(&self) {}

    #[on("h", rate = 5)]
    async fn rate_not_a_string(&self) {}
}

fn main() {}
