//! A namespace written by hand, without `#[socket_namespace]`, with public types only: what the
//! macro expands to is an ordinary implementation any user can write (checked with the official
//! JS `socket.io-client`).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use tether::{
    AnyEvent, Client, Handshake, Namespace, NamespaceDef, NoPayload, Reply, SocketError, SocketNok,
    SocketOk, Tether,
};
use tether_tests::{Connect, JsClient, TestServer};

#[derive(Debug, Clone)]
struct Member {
    name: String,
}

struct Desk {
    greeting: &'static str,
}

#[derive(Deserialize)]
struct Greet {
    to: String,
}

impl Namespace for Desk {
    type Metadata = Member;
    type Events = AnyEvent;
    const PATH: &'static str = "/desk";

    fn define(def: &mut NamespaceDef<Self>) {
        def.middleware(|_this: Arc<Desk>, hs: Handshake| async move {
            match hs.auth_str("name") {
                Some(name) if !name.is_empty() => Ok(SocketOk::new(Member {
                    name: name.to_owned(),
                })),
                _ => Err(SocketNok::with_code("missing_name", "send `auth.name`")),
            }
        });
        def.client_key(|m: &Member| m.name.clone());
        def.user_key(|m: &Member| Some(m.name.clone()));
        def.on::<Greet, _, _>(
            "greet",
            |this: Arc<Desk>, client: Client<Member>, greet: Greet| async move {
                Reply::value(&json!({
                    "text": format!("{}, {}", this.greeting, greet.to),
                    "from": client.metadata().name,
                }))
            },
        );
        def.on::<NoPayload, _, _>("whoami", |_this, client: Client<Member>, _| async move {
            Reply::result::<_, SocketError>(Ok(client.key().to_owned()))
        });
        def.on::<NoPayload, _, _>("forbidden", |_this, _client, _| async move {
            Reply::result::<(), _>(Err(SocketError::forbidden("never here")))
        });
    }
}

#[tokio::test]
async fn a_hand_written_namespace_serves_real_clients_like_a_generated_one() {
    let tether = Tether::builder()
        .namespace(Desk { greeting: "hello" })
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    let url = server.url("/desk");
    let mut js = JsClient::spawn().await;

    match js.connect("anon", &url, json!({})).await {
        Connect::Refused(msg) => assert!(msg.starts_with("missing_name: "), "{msg}"),
        Connect::Ok(_) => panic!("the middleware must refuse a socket without a name"),
    }

    js.connect_ok("ada", &url, json!({"auth": {"name": "ada"}}))
        .await;
    let info = js.event("ada", "/ops/connection-success").await;
    assert_eq!(info[0]["user_id"], "ada", "{info:?}");

    let ack = js
        .emit_with_ack("ada", "greet", json!([{"to": "bob"}]))
        .await;
    assert_eq!(ack, json!({"text": "hello, bob", "from": "ada"}));
    let ack = js.emit_with_ack("ada", "whoami", json!([])).await;
    assert_eq!(ack, json!("ada"));
    let ack = js.emit_with_ack("ada", "forbidden", json!([])).await;
    assert_eq!(ack["error"]["code"], "forbidden", "{ack}");
    let ack = js
        .emit_with_ack("ada", "greet", json!([{"nobody": 1}]))
        .await;
    assert_eq!(ack["error"]["code"], "invalid_payload", "{ack}");

    assert!(tether.clients::<Desk>().contains("ada"));
    let delivery = tether
        .emitter::<Desk>()
        .to_user("ada")
        .emit(AnyEvent::new("note", Value::from("hi")))
        .await
        .expect("emit");
    assert_eq!(delivery.sockets, 1);
    assert_eq!(js.event("ada", "note").await, vec![json!("hi")]);
    js.close().await;
}
