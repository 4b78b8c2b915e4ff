use tether::socket_namespace;

struct Chat;

#[socket_namespace]
impl Chat {}

fn main() {}
