//! Issue 11, cross-site WebSocket hijacking: a page on another site opens a connection to the
//! server; the browser attaches the victim's `token` cookie (and the page may put a token it
//! found into the URL). With `allowed_origins`, tether reads cookie and query tokens only for
//! the listed origins and refuses the rest with `forbidden_origin`; without it, cookie tokens
//! are off. The attacker is a raw socket.io client sending exactly the headers a browser sends;
//! the victim's own tab (the official JS client, from the app's origin) stays served.

use std::time::Duration;

use serde_json::{Value, json};
use tether::auth::{Claims, JweVerifier, Key, KeySet};
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::auth::{Member, Profile, authenticate};
use tether_tests::raw::{RawSocket, Refused};
use tether_tests::{JsClient, TestServer};

const APP: &str = "http://app.test";
const EVIL: &str = "http://evil.example";

struct Inbox {
    verifier: JweVerifier,
}

#[socket_namespace(
    path = "/inbox",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Inbox {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        authenticate(&self.verifier, hs).await
    }

    #[on("whoami")]
    async fn whoami(&self, client: &Client<Member>) -> Value {
        json!(client.metadata().user_id)
    }
}

struct Site {
    keys: KeySet,
    server: TestServer,
    _tether: Tether,
}

impl Site {
    async fn start(allowed: Option<&[&str]>) -> Self {
        let keys = KeySet::new(Key::generate());
        let mut builder = Tether::builder().namespace(Inbox {
            verifier: JweVerifier::new(keys.clone()),
        });
        if let Some(allowed) = allowed {
            builder = builder.allowed_origins(allowed.iter().copied());
        }
        let tether = builder.build().await.expect("build");
        let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
        Self {
            keys,
            server,
            _tether: tether,
        }
    }

    fn token(&self, user: &str) -> String {
        let claims = Claims::new(user)
            .expires_in(Duration::from_secs(600))
            .extra(Profile {
                name: user.to_owned(),
            });
        self.keys.issue(&claims).expect("issue")
    }

    /// A raw connection with these headers (what a browser tab on `origin` would send).
    async fn raw(
        &self,
        headers: &[(&'static str, &str)],
        auth: &Value,
    ) -> Result<RawSocket, Refused> {
        RawSocket::connect(self.server.addr, "/inbox", auth, headers).await
    }

    /// The victim's own tab: the JS client on the app's origin with her cookie.
    async fn victim_tab(&self, js: &mut JsClient, name: &str) {
        let cookie = format!("theme=dark; token={}", self.token("alice"));
        let opts = json!({
            "transports": ["websocket"],
            "extraHeaders": {"origin": APP, "cookie": cookie},
        });
        js.connect_ok(name, &self.server.url("/inbox"), opts).await;
        assert_eq!(
            js.emit_with_ack(name, "whoami", json!([])).await,
            json!("alice")
        );
    }
}

fn refused_with(result: Result<RawSocket, Refused>, code: &str) -> String {
    match result {
        Err(Refused::ConnectError(message)) => {
            assert!(message.starts_with(&format!("{code}: ")), "{message}");
            message
        }
        Err(other) => panic!("expected a `{code}` refusal, got {other:?}"),
        Ok(_) => panic!("expected a `{code}` refusal, the connection was accepted"),
    }
}

#[tokio::test]
async fn a_page_on_another_origin_cannot_connect_with_the_victims_cookie_or_a_url_token() {
    let site = Site::start(Some(&[APP])).await;
    let mut js = JsClient::spawn().await;
    site.victim_tab(&mut js, "before").await;

    let cookie = format!("token={}", site.token("alice"));
    let hijack = site
        .raw(&[("origin", EVIL), ("cookie", &cookie)], &Value::Null)
        .await;
    let message = refused_with(hijack, "forbidden_origin");
    assert!(message.contains("cookie `token`"), "{message}");
    assert!(
        !message.contains("evil"),
        "the refusal echoes no client value: {message}"
    );

    let in_query = raw_with_query(&site, &format!("token={}", site.token("alice")), EVIL).await;
    refused_with(in_query, "forbidden_origin");

    // A page that holds a token (it logged in itself) may still use it from anywhere.
    let mut own = site
        .raw(
            &[("origin", EVIL)],
            &json!({"token": site.token("mallory")}),
        )
        .await
        .expect("a token the page holds is accepted from any origin");
    let ack = own.emit_with_ack("whoami", &[]).await;
    assert_eq!(
        own.ack(ack, Duration::from_secs(5)).await,
        Some(json!(["mallory"]))
    );

    // The victim's tab on the app's origin is served before, during and after.
    site.victim_tab(&mut js, "after").await;
    assert_eq!(
        js.emit_with_ack("before", "whoami", json!([])).await,
        json!("alice")
    );
    js.close().await;
}

#[tokio::test]
async fn cookie_tokens_are_off_until_the_application_lists_its_origins() {
    let site = Site::start(None).await;
    let cookie = format!("token={}", site.token("alice"));
    for origin in [APP, EVIL] {
        let message = refused_with(
            site.raw(&[("origin", origin), ("cookie", &cookie)], &Value::Null)
                .await,
            "missing_token",
        );
        assert!(
            message.contains("off: the server lists no allowed origins"),
            "{message}"
        );
    }
    let mut ok = site
        .raw(&[], &json!({"token": site.token("alice")}))
        .await
        .expect("auth.token works without any origin configuration");
    let ack = ok.emit_with_ack("whoami", &[]).await;
    assert_eq!(
        ok.ack(ack, Duration::from_secs(5)).await,
        Some(json!(["alice"]))
    );
}

#[tokio::test]
async fn an_origin_that_is_not_an_origin_fails_the_build() {
    let err = Tether::builder()
        .allowed_origins(["*"])
        .build()
        .await
        .expect_err("a wildcard is refused");
    assert!(
        err.to_string()
            .starts_with("allowed_origins: `*` is not an origin"),
        "{err}"
    );
}

async fn raw_with_query(site: &Site, query: &str, origin: &str) -> Result<RawSocket, Refused> {
    RawSocket::connect_with_query(
        site.server.addr,
        "/inbox",
        query,
        &Value::Null,
        &[("origin", origin)],
    )
    .await
}
