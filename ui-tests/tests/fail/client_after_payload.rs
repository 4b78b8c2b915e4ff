use serde::Deserialize;
use tether::{Client, socket_namespace};

#[derive(Deserialize)]
struct Move {
    x: i32,
}

struct Game;

#[socket_namespace(path = "/game")]
impl Game {
    #[on("move")]
    async fn play(&self, mv: Move, client: &Client<()>) {
        let _ = (client, mv.x);
    }
}

fn main() {}
