use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "chat")]
impl Chat {}

fn main() {}
