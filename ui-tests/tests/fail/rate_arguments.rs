use tether::socket_namespace;

struct Fast;

#[socket_namespace(path = "/fast", rate = "0/s")]
impl Fast {}

struct Bursty;

#[socket_namespace(path = "/bursty", burst = 10)]
impl Bursty {}

struct Weekly;

#[socket_namespace(path = "/weekly", rate = "5/week", burst = 2)]
impl Weekly {}

fn main() {}
