use serde::Deserialize;
use tether::{Client, socket_namespace};

#[derive(Deserialize)]
struct Move {
    x: i32,
}

#[derive(Deserialize)]
struct Player {
    name: String,
}

struct Game;

#[socket_namespace(path = "/game")]
impl Game {
    #[on("move")]
    async fn play(&self, client: &Client<()>, mv: Move, player: Player) {
        let _ = (client, mv.x, player.name);
    }
}

fn main() {}
