use serde::Deserialize;
use tether::socket_namespace;

// Deserialize, but no `#[derive(TS)]`: the typings cannot describe it.
#[derive(Deserialize)]
struct Say {
    text: String,
}

struct Chat;

#[socket_namespace(path = "/chat", typescript = true)]
impl Chat {
    #[on("say")]
    async fn say(&self, say: Say) -> usize {
        say.text.len()
    }
}

fn main() {}
