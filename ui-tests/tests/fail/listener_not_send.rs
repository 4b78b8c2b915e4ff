use std::sync::Mutex;

use tether::socket_namespace;

struct Counter {
    count: Mutex<u64>,
}

async fn save(count: u64) {
    let _ = count;
}

#[socket_namespace(path = "/counter")]
impl Counter {
    #[on("increment")]
    async fn increment(&self) -> u64 {
        let mut count = self.count.lock().unwrap();
        *count += 1;
        save(*count).await;
        *count
    }
}

fn main() {}
