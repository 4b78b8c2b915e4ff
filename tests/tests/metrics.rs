//! Issue 14 (metrics): the chat demo serves `GET /metrics` (Prometheus's text format) and
//! `GET /healthz`; after a scripted session with the JS client, every counter says exactly what
//! the session did. One test in this binary: the recorder is the process's.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use tether::auth::Key;
use tether::metrics::PrometheusHandle;
use tether_examples::chat::{self, ChatConfig, NotifySecret};
use tether_tests::{Connect, JsClient, TestServer, http_get, http_post};

/// Series name → labels (sorted `k=v`, joined with `,`) → value, from Prometheus's text format.
type Scrape = BTreeMap<String, BTreeMap<String, f64>>;

fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().expect("a number");
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                let mut labels: Vec<String> = body
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").expect("k=\"v\"");
                        format!("{k}={}", v.trim_end_matches('"'))
                    })
                    .collect();
                labels.sort();
                (name, labels.join(","))
            }
            None => (series, String::new()),
        };
        scrape
            .entry(name.to_owned())
            .or_default()
            .insert(labels, value);
    }
    scrape
}

/// Every series of `name` in namespace `/chat`, by its other labels.
fn chat_series(scrape: &Scrape, name: &str) -> BTreeMap<String, f64> {
    scrape
        .get(name)
        .into_iter()
        .flatten()
        .filter_map(|(labels, v)| {
            let rest: Vec<&str> = labels
                .split(',')
                .filter(|l| *l != "namespace=/chat")
                .collect();
            (labels.contains("namespace=/chat")).then(|| (rest.join(","), *v))
        })
        .collect()
}

fn series(pairs: &[(&str, f64)]) -> BTreeMap<String, f64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

struct Demo {
    server: TestServer,
    js: JsClient,
}

impl Demo {
    async fn scrape(&self) -> Scrape {
        let (status, text) = http_get(self.server.addr, "/metrics").await;
        assert_eq!(status, 200, "{text}");
        parse(&text)
    }

    async fn connect(&mut self, name: &str, user: &str) {
        let res = http_post(
            self.server.addr,
            "/api/login",
            &json!({ "user": user }).to_string(),
        )
        .await;
        let token = res.body["token"].as_str().expect("a token").to_owned();
        let url = self.server.url("/chat");
        self.js
            .connect_ok(name, &url, json!({ "auth": { "token": token } }))
            .await;
        self.js.event(name, "/ops/connection-success").await;
    }

    async fn ack(&mut self, name: &str, event: &str, args: Value) -> Value {
        self.js.emit_with_ack(name, event, args).await
    }

    /// Waits until `/metrics` shows `name` with `labels` in `/chat` at `value`.
    async fn settled(&self, name: &str, labels: &str, value: f64) {
        let deadline = tokio::time::Instant::now() + tether_tests::TIMEOUT;
        loop {
            let seen = chat_series(&self.scrape().await, name).get(labels).copied();
            if seen == Some(value) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name}{{{labels}}} stayed {seen:?}, not {value}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn prometheus() -> PrometheusHandle {
    tether::metrics::install_prometheus().expect("the only recorder of this test binary")
}

#[tokio::test]
async fn the_demos_metrics_count_exactly_what_a_session_did_and_healthz_follows_the_drain() {
    let config = ChatConfig::new(
        Key::generate(),
        NotifySecret::new("test-notify-secret-0123456789").expect("a secret"),
    )
    .presence_grace(Duration::from_millis(100))
    .metrics(prometheus());
    let (app, tether) = chat::app_and_tether(config).await.expect("the demo app");
    let server = TestServer::start(app).await;
    let mut demo = Demo {
        server,
        js: JsClient::spawn().await,
    };
    let (status, text) = http_get(demo.server.addr, "/healthz").await;
    assert_eq!(status, 200, "{text}");
    let health: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(health, json!({"status": "ok", "cluster": "embedded"}));

    // Three sockets of two users; two refusals.
    demo.connect("a1", "alice").await;
    demo.connect("a2", "alice").await;
    demo.connect("b1", "bob").await;
    let url = demo.server.url("/chat");
    let refused = demo.js.connect("anon", &url, json!({})).await;
    assert!(matches!(refused, Connect::Refused(_)), "{refused:?}");
    let garbage = json!({ "auth": { "token": "garbage" } });
    let refused = demo.js.connect("garbage", &url, garbage).await;
    assert!(matches!(refused, Connect::Refused(_)), "{refused:?}");

    // Two joins (bob hears alice's), two messages to the channel's two sockets, one DM to
    // alice's two sockets, and four events answered with errors.
    demo.ack("b1", "join", json!([{ "channel": "room" }])).await;
    demo.ack("a1", "join", json!([{ "channel": "room" }])).await;
    demo.js.event("b1", "member_joined").await;
    for text in ["hi", "there"] {
        let ack = demo
            .ack("a1", "say", json!([{ "channel": "room", "text": text }]))
            .await;
        assert!(ack.get("error").is_none(), "{ack}");
    }
    let ack = demo
        .ack("b1", "dm", json!([{ "to": "alice", "text": "yo" }]))
        .await;
    assert_eq!(ack["online"], true, "{ack}");
    let errors = [
        (
            "say",
            json!([{ "channel": "room", "text": " " }]),
            "invalid_payload",
        ),
        (
            "say",
            json!([{ "channel": "hall", "text": "x" }]),
            "not_in_channel",
        ),
        ("say", json!([42]), "invalid_payload"),
        ("fly", json!([{}]), "unknown_event"),
    ];
    for (event, args, code) in errors {
        let ack = demo.ack("a1", event, args).await;
        assert_eq!(ack["error"]["code"], code, "{ack}");
    }
    for (name, event, n) in [("a1", "message", 2), ("b1", "message", 2)] {
        for _ in 0..n {
            demo.js.event(name, event).await;
        }
    }
    demo.js.event("a1", "dm").await;
    demo.js.event("a2", "dm").await;

    // One of alice's tabs closes, then bob's only one.
    demo.js.disconnect("a2").await;
    demo.js.disconnect("b1").await;
    demo.settled(tether::metrics::SOCKETS, "", 1.0).await;

    let scrape = demo.scrape().await;
    let chat = |name| chat_series(&scrape, name);
    assert_eq!(chat("tether_connections_total"), series(&[("", 3.0)]));
    assert_eq!(
        chat("tether_refusals_total"),
        series(&[("code=malformed_token", 1.0), ("code=missing_token", 1.0)])
    );
    assert_eq!(chat("tether_sockets"), series(&[("", 1.0)]));
    assert_eq!(chat("tether_users"), series(&[("", 1.0)]));
    assert_eq!(
        chat("tether_disconnects_total"),
        series(&[("reason=client_disconnect", 2.0)])
    );
    assert_eq!(
        chat("tether_events_received_total"),
        // Every listener's series exists from a socket's connection on, at 0 until used.
        series(&[
            ("event=(unknown)", 1.0),
            ("event=dm", 1.0),
            ("event=join", 2.0),
            ("event=leave", 0.0),
            ("event=say", 5.0),
            ("event=who", 0.0),
        ])
    );
    assert_eq!(
        chat("tether_error_acks_total"),
        series(&[
            ("code=invalid_payload", 2.0),
            ("code=not_in_channel", 1.0),
            ("code=unknown_event", 1.0),
        ])
    );
    let sent = chat("tether_events_sent_total");
    assert_eq!(sent.get("event=message"), Some(&4.0), "{sent:?}");
    assert_eq!(sent.get("event=dm"), Some(&2.0), "{sent:?}");
    assert_eq!(sent.get("event=member_joined"), Some(&1.0), "{sent:?}");
    // Each emit is timed: the two messages, the DM and the join announcement at least (the
    // demo's presence hooks emit too).
    let emits = chat("tether_emit_duration_seconds_count");
    assert!(emits.get("").copied().unwrap_or(0.0) >= 4.0, "{emits:?}");
    assert!(
        !scrape.contains_key("tether_cluster_connected"),
        "no cluster in embedded mode"
    );
    assert!(chat("tether_messages_dropped_total").is_empty());

    // Draining: the health check says so, and the last socket goes with `server_disconnect`.
    tether.close().await;
    let (status, text) = http_get(demo.server.addr, "/healthz").await;
    assert_eq!(status, 503, "{text}");
    let health: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(health["status"], "draining");
    demo.settled(tether::metrics::SOCKETS, "", 0.0).await;
    let scrape = demo.scrape().await;
    assert_eq!(
        chat_series(&scrape, "tether_disconnects_total"),
        series(&[
            ("reason=client_disconnect", 2.0),
            ("reason=server_disconnect", 1.0)
        ])
    );
    assert_eq!(chat_series(&scrape, "tether_users"), series(&[("", 0.0)]));
}
