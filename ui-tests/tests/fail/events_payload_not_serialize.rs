struct Ping {
    hello: String,
}

#[derive(tether::Events)]
enum ChatEvents {
    #[event("/users/ping")]
    UsersPing(Ping),
}

fn main() {}
