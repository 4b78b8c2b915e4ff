use tether::socket_namespace;

#[socket_namespace(path = "/chat")]
struct Chat;

fn main() {}
