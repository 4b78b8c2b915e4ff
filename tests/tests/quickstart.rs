//! The README's quick start is `examples/quickstart.rs`, word for word, and it works: sockets of
//! a user, a refusal with its code, a typed listener with its ack, and an HTTP push to every
//! socket of a user, with the official JS client.

use serde_json::json;
use tether_tests::{Connect, JsClient, TestServer, http_post};

#[allow(dead_code)]
#[path = "../../examples/quickstart.rs"]
mod quickstart;

#[test]
fn the_readme_shows_the_example_word_for_word() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../../examples/quickstart.rs");
    let block = readme
        .split("```rust,no_run\n//! tether's quick start")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .map(|body| format!("//! tether's quick start{body}\n"))
        .expect("the README's quick start block");
    assert_eq!(
        block, example,
        "README.md and examples/quickstart.rs differ"
    );
}

#[tokio::test]
async fn the_quick_start_pushes_to_every_socket_of_a_user() {
    let server = TestServer::start(quickstart::app().await.expect("build")).await;
    let url = server.url("/notices");
    let mut js = JsClient::spawn().await;
    for (name, user) in [("tab1", "alice"), ("tab2", "alice"), ("bob", "bob")] {
        js.connect_ok(name, &url, json!({"auth": {"user": user}}))
            .await;
    }
    match js.connect("nobody", &url, json!({})).await {
        Connect::Refused(msg) => assert!(msg.starts_with("missing_user"), "{msg}"),
        Connect::Ok(_) => panic!("a socket without a user was accepted"),
    }
    let ack = js
        .emit_with_ack("tab1", "echo", json!([{"text": "hi"}]))
        .await;
    assert_eq!(ack, json!({"text": "alice said hi"}));
    let ack = js.emit_with_ack("bob", "echo", json!([{"text": ""}])).await;
    assert_eq!(ack["error"]["code"], "empty", "{ack}");

    let res = http_post(
        server.addr,
        "/notify/alice",
        r#"{"text": "build finished"}"#,
    )
    .await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, json!({"delivered": true, "sockets": 2}));
    for tab in ["tab1", "tab2"] {
        assert_eq!(
            js.event(tab, "notice").await,
            [json!({"text": "build finished"})]
        );
    }
    js.assert_no_event("bob", "notice", std::time::Duration::from_millis(200))
        .await;
    js.close().await;
}
