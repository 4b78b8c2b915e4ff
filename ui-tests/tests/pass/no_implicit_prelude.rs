//! The expansion uses absolute paths only.

#![no_implicit_prelude]

#[derive(::std::clone::Clone, ::serde::Deserialize)]
struct DevUser {
    user_id: ::std::string::String,
}

#[derive(::serde::Deserialize)]
struct SayStuff {
    text: ::std::string::String,
}

#[derive(::serde::Serialize)]
struct Ping {
    hello: ::std::string::String,
}

#[derive(::tether::Events)]
enum UserEvents {
    #[event("/users/ping")]
    UsersPing(Ping),
    Typing,
}

#[derive(::tether::Events)]
enum NoEvents {}

struct Users;

#[::tether::socket_namespace(
    path = "/users",
    client_connection_key = "user_id",
    user_key = "user_id",
    anonymous = true,
    max_connections_per_user = 2,
    events = UserEvents
)]
impl Users {
    #[middleware]
    async fn authenticate(
        &self,
        hs: &::tether::Handshake,
    ) -> ::std::result::Result<::tether::SocketOk<DevUser>, ::tether::SocketNok> {
        let _ = hs;
        ::std::result::Result::Ok(::tether::SocketOk::new(DevUser {
            user_id: ::std::string::String::new(),
        }))
    }

    #[on_connect]
    async fn joined(&self, client: &::tether::Client<DevUser>) {
        let _ = client;
    }

    #[on("sayStuff")]
    async fn say_stuff(
        &self,
        client: &::tether::Client<DevUser>,
        msg: SayStuff,
    ) -> ::std::result::Result<usize, ::tether::SocketError> {
        let _ = client;
        ::std::result::Result::Ok(msg.text.len())
    }

    #[on("ping")]
    async fn ping(&self) -> u8 {
        1
    }

    #[on("note")]
    async fn note(&self, msg: SayStuff) {
        let _ = msg.text;
    }

    #[authorize_channel]
    async fn can_join(&self, client: &::tether::Client<DevUser>, channel: &str) -> bool {
        let _ = client;
        channel.is_empty()
    }

    #[authorize_relay]
    async fn can_relay(
        &self,
        client: &::tether::Client<DevUser>,
        relay: &::tether::Relay,
    ) -> ::std::result::Result<(), ::tether::SocketError> {
        let _ = (client, relay);
        ::std::result::Result::Ok(())
    }

    #[on_disconnect]
    async fn left(&self, client: &::tether::Client<DevUser>, reason: ::tether::DisconnectReason) {
        let _ = (client, reason);
    }
}

struct Quiet;

#[::tether::socket_namespace(path = "/quiet", events = NoEvents)]
impl Quiet {}

fn main() {
    let _ = (
        UserEvents::Typing,
        UserEvents::UsersPing(Ping {
            hello: ::std::string::String::new(),
        }),
    );
}
