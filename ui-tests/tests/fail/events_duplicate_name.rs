use serde::Serialize;

#[derive(Serialize)]
struct Ping;

#[derive(tether::Events)]
enum ChatEvents {
    #[event("ping")]
    Ping(Ping),
    #[event("ping")]
    Pong(Ping),
}

fn main() {}
