use tether::socket_namespace;

struct Counter {
    count: u64,
}

#[socket_namespace(path = "/counter")]
impl Counter {
    #[on("increment")]
    async fn increment(&mut self) -> u64 {
        self.count += 1;
        self.count
    }
}

fn main() {}
