use tether::socket_namespace;

struct Chat;

#[socket_namespace(path = "/chat", client_key = "user_id")]
impl Chat {}

fn main() {}
