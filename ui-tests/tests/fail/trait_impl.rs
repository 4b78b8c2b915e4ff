use tether::socket_namespace;

trait Greeter {
    fn greet(&self) -> String;
}

struct Chat;

#[socket_namespace(path = "/chat")]
impl Greeter for Chat {
    fn greet(&self) -> String {
        "hello".to_owned()
    }
}

fn main() {}
