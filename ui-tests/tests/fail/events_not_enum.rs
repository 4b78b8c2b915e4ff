#[derive(tether::Events)]
struct ChatEvents {
    message: String,
}

fn main() {}
