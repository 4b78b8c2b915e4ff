#[derive(tether::Events)]
enum ChatEvents {
    #[event("/ops/kick")]
    Kick,
    Moved(i32, i32),
    Renamed {
        from: String,
        to: String,
    },
    #[event]
    Typing,
}

fn main() {}
