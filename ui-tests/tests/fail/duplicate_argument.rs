use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat", path = "/talk")]
impl Chat {}

fn main() {}
