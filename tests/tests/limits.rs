//! Issue 11, limits against abuse: channels per socket, rate limits (per socket for a namespace,
//! per user for a listener) with `rate_limited` and a retry hint, disconnection of a client
//! that keeps going, and refused handshakes that do not linger. Each attack is made by a raw
//! socket.io client or the official JS client, with a well-behaved JS client beside it whose
//! round trips are timed.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tether::{Client, Handshake, RateLimit, SocketNok, SocketOk, Tether, socket_namespace};
use tether_tests::raw::{RawSocket, Refused};
use tether_tests::{JsClient, TestServer};

struct Room;

#[derive(Debug, Clone)]
struct Guest {
    user_id: String,
}

#[socket_namespace(
    path = "/room",
    client_connection_key = "user_id",
    user_key = "user_id"
)]
impl Room {
    #[middleware]
    async fn admit(&self, hs: &Handshake) -> Result<SocketOk<Guest>, SocketNok> {
        if hs.auth_str("user").is_some_and(|u| u.starts_with("slow")) {
            // A middleware that looks the user up somewhere slow.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        match hs.auth_str("user") {
            Some("banned") | None => Err(SocketNok::with_code("refused", "no entry")),
            Some(user) => Ok(SocketOk::new(Guest {
                user_id: user.to_owned(),
            })),
        }
    }

    #[authorize_channel]
    async fn may_join(&self, _client: &Client<Guest>, _channel: &str) -> bool {
        true
    }

    #[on("echo")]
    async fn echo(&self, n: u64) -> u64 {
        n
    }

    #[on("upload")]
    async fn upload(&self, _files: serde::de::IgnoredAny) -> &'static str {
        "stored"
    }

    #[on("say", rate = "5/s", burst = 5)]
    async fn say(&self, text: String) -> usize {
        text.len()
    }
}

async fn serve(
    configure: impl FnOnce(tether::TetherBuilder) -> tether::TetherBuilder,
) -> (Tether, TestServer) {
    let tether = configure(Tether::builder().namespace(Room))
        .build()
        .await
        .expect("build");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    (tether, server)
}

/// The p50 and p99 of `n` sequential `echo` round trips of the well-behaved JS socket `name`.
async fn round_trips(js: &mut JsClient, name: &str, n: u64) -> (Duration, Duration) {
    let mut times = Vec::new();
    for i in 0..n {
        let started = Instant::now();
        assert_eq!(js.emit_with_ack(name, "echo", json!([i])).await, json!(i));
        times.push(started.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn error_code(ack: &Value) -> Option<&str> {
    ack[0]["error"]["code"].as_str()
}

#[tokio::test]
async fn ten_thousand_joins_stop_at_the_channel_limit_and_the_side_client_stays_fast() {
    let (tether, server) = serve(|b| b.max_channels_per_socket(64).rate_limit(None)).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "side",
        &server.url("/room"),
        json!({"auth": {"user": "side"}}),
    )
    .await;
    let (quiet_p50, quiet_p99) = round_trips(&mut js, "side", 100).await;

    let mut attacker = RawSocket::connect(server.addr, "/room", &json!({"user": "mallory"}), &[])
        .await
        .expect("the attacker connects");
    let flood = tokio::spawn(async move {
        let (mut joined, mut too_many) = (0, 0);
        for batch in 0..100 {
            let mut ids = Vec::new();
            for i in 0..100 {
                let channel = format!("c{}", batch * 100 + i);
                ids.push(
                    attacker
                        .emit_with_ack("/ops/join", &[json!({"channel": channel})])
                        .await,
                );
            }
            for id in ids {
                let ack = attacker
                    .ack(id, Duration::from_secs(10))
                    .await
                    .expect("a join ack");
                match error_code(&ack) {
                    None => joined += 1,
                    Some("too_many_channels") => too_many += 1,
                    Some(other) => panic!("unexpected join error {other}: {ack}"),
                }
            }
        }
        (joined, too_many, attacker)
    });
    let (busy_p50, busy_p99) = round_trips(&mut js, "side", 200).await;
    let (joined, too_many, _attacker) = flood.await.expect("the flood ran");
    assert_eq!((joined, too_many), (64, 10_000 - 64));
    let mallory = tether.clients::<Room>().user_sockets("mallory");
    assert_eq!(mallory[0].channels().len(), 64);
    println!(
        "side client echo round trip: quiet p50 {quiet_p50:?} p99 {quiet_p99:?}; \
         during 10,000 joins p50 {busy_p50:?} p99 {busy_p99:?}"
    );
    assert!(
        busy_p99 < Duration::from_millis(250),
        "side p99 {busy_p99:?}"
    );
    js.close().await;
}

#[tokio::test]
async fn a_listeners_rate_limit_is_per_user_and_answers_with_a_retry_hint() {
    let (_tether, server) = serve(|b| b).await;
    let mut js = JsClient::spawn().await;
    let url = server.url("/room");
    js.connect_ok("ann-1", &url, json!({"auth": {"user": "ann"}}))
        .await;
    js.connect_ok("ann-2", &url, json!({"auth": {"user": "ann"}}))
        .await;
    js.connect_ok("bob", &url, json!({"auth": {"user": "bob"}}))
        .await;

    let burst: Vec<_> = (0..8).map(|_| ("say".to_owned(), json!(["hi"]))).collect();
    let (acks, _) = js.burst("ann-1", &burst).await;
    let ok = acks.iter().filter(|a| **a == json!(2)).count();
    assert_eq!(
        ok, 5,
        "the burst of 5 passes, the rest is limited: {acks:?}"
    );
    let limited = acks.iter().find(|a| a["error"]["code"] == "rate_limited");
    let limited = limited.expect("a rate_limited ack");
    let retry = limited["error"]["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    assert!((1..=200).contains(&retry), "{limited}");

    // The same user's other tab shares the bucket; another user does not.
    let other_tab = js.emit_with_ack("ann-2", "say", json!(["hi"])).await;
    assert_eq!(other_tab["error"]["code"], "rate_limited", "{other_tab}");
    assert_eq!(
        js.emit_with_ack("bob", "say", json!(["hi"])).await,
        json!(2)
    );
    // Other events of the limited user are not limited by this listener's rate.
    assert_eq!(
        js.emit_with_ack("ann-1", "echo", json!([7])).await,
        json!(7)
    );

    tokio::time::sleep(Duration::from_millis(retry + 10)).await;
    assert_eq!(
        js.emit_with_ack("ann-2", "say", json!(["hi"])).await,
        json!(2)
    );
    js.close().await;
}

#[tokio::test]
async fn a_socket_that_keeps_flooding_over_its_rate_is_disconnected_and_told_why() {
    let (_tether, server) = serve(|b| b.rate_limit(RateLimit::per_second(20).burst(20))).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "side",
        &server.url("/room"),
        json!({"auth": {"user": "side"}}),
    )
    .await;
    let mut flooder = RawSocket::connect(server.addr, "/room", &json!({"user": "flood"}), &[])
        .await
        .expect("the flooder connects");
    // Batches of 10 as fast as the server reads them, until it says stop (a flooder that sent
    // on after the server closed would lose what was in flight to the connection reset).
    let mut told = None;
    for batch in 0..50 {
        for i in 0..10 {
            flooder.emit("echo", &[json!(batch * 10 + i)]).await;
        }
        told = flooder
            .event("/ops/disconnected", Duration::from_millis(20))
            .await;
        if told.is_some() {
            break;
        }
    }
    let told = told.expect("the flooder is told why");
    assert_eq!(told[0]["code"], "rate_limited", "{told}");
    assert!(flooder.closed_within(Duration::from_secs(5)).await);
    // Within its own burst, the side client is served at once.
    let (_, p99) = round_trips(&mut js, "side", 15).await;
    assert!(p99 < Duration::from_millis(250), "side p99 {p99:?}");
    js.close().await;
}

#[tokio::test]
async fn a_refused_handshake_is_closed_within_the_connect_timeout() {
    let (_tether, server) = serve(|b| b.connect_timeout(Duration::from_secs(1))).await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut socket = RawSocket::open(server.addr).await;
        let refused = socket.join("/room", &json!({"user": "banned"})).await;
        assert_eq!(
            refused,
            Err(Refused::ConnectError("refused: no entry".into()))
        );
        sockets.push(socket);
    }
    // A connection that never sends its CONNECT packet is closed too.
    for _ in 0..5 {
        sockets.push(RawSocket::open(server.addr).await);
    }
    let started = Instant::now();
    for socket in &mut sockets {
        assert!(
            socket.closed_within(Duration::from_secs(5)).await,
            "an idle handshake lingered"
        );
    }
    println!(
        "refused and idle handshakes closed after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let ok = RawSocket::connect(server.addr, "/room", &json!({"user": "fine"}), &[]).await;
    assert!(ok.is_ok(), "a good client is still admitted");
}

/// Messages larger than a socket's read buffer (1 KiB by default, `DEFAULT_WS_READ_BUFFER`) are
/// read in pieces and arrive whole, up to the size limit; the socket reads small events after
/// them as before.
#[tokio::test]
async fn messages_larger_than_the_read_buffer_arrive_whole_up_to_the_size_limit() {
    assert_eq!(tether::DEFAULT_WS_READ_BUFFER, 1024);
    let (_tether, server) = serve(|b| b).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "big",
        &server.url("/room"),
        json!({"auth": {"user": "big"}}),
    )
    .await;
    // The largest first: near the 1 MiB limit, then around the buffer's size.
    for len in [1_000_000, 4_097, 1_025, 1_023] {
        let text = "x".repeat(len);
        let ack = js.emit_with_ack("big", "say", json!([text])).await;
        assert_eq!(ack, json!(len), "a {len}-byte text arrived whole");
    }
    assert_eq!(js.emit_with_ack("big", "echo", json!([7])).await, json!(7));
}

#[tokio::test]
async fn binary_attachments_are_bounded_in_count_and_total_size() {
    let (_tether, server) = serve(|b| b).await;
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "side",
        &server.url("/room"),
        json!({"auth": {"user": "side"}}),
    )
    .await;
    let connect = |user: &'static str| {
        let addr = server.addr;
        async move {
            RawSocket::connect(addr, "/room", &json!({"user": user}), &[])
                .await
                .expect("connects")
        }
    };

    // Within the limits: two attachments of 100 KiB.
    let mut fine = connect("fine").await;
    let id = fine.emit_binary_header("upload", 2).await;
    fine.send_binary(vec![1; 100 * 1024]).await;
    fine.send_binary(vec![2; 100 * 1024]).await;
    assert_eq!(
        fine.ack(id, Duration::from_secs(5)).await,
        Some(json!(["stored"]))
    );

    // More attachments than allowed (64): the connection is closed at the header.
    let mut many = connect("many").await;
    many.emit_binary_header("upload", 1_000).await;
    assert!(
        many.closed_within(Duration::from_secs(5)).await,
        "1,000 attachments were accepted"
    );

    // Attachments that add up to more than the message limit (1 MiB): closed.
    let mut heavy = connect("heavy").await;
    heavy.emit_binary_header("upload", 2).await;
    heavy.send_binary(vec![3; 700 * 1024]).await;
    heavy.send_binary(vec![4; 700 * 1024]).await;
    assert!(
        heavy.closed_within(Duration::from_secs(5)).await,
        "1.4 MiB of attachments were accepted"
    );

    assert_eq!(js.emit_with_ack("side", "echo", json!([3])).await, json!(3));
    js.close().await;
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_sockets_and_pending_handshakes() {
    let tether = Tether::builder()
        .namespace(Room)
        .max_connections_per_ip(5)
        .max_handshakes_per_ip(2)
        .build()
        .await
        .expect("build");
    let app = axum::Router::new().layer(tether.layer());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.expect("serve");
    });
    // The attacker's address; the well-behaved client comes from 127.0.0.1.
    let attacker: std::net::IpAddr = "127.0.0.2".parse().expect("an address");
    let mut js = JsClient::spawn().await;
    js.connect_ok(
        "side",
        &format!("http://{addr}/room"),
        json!({"auth": {"user": "side"}}),
    )
    .await;

    let mut held = Vec::new();
    for i in 0..5 {
        let user = format!("m{i}");
        held.push(
            RawSocket::connect_from(attacker, addr, "/room", &json!({ "user": user }))
                .await
                .expect("within the limit"),
        );
    }
    let sixth = RawSocket::connect_from(attacker, addr, "/room", &json!({"user": "m5"})).await;
    match sixth {
        Err(Refused::ConnectError(m)) => assert!(m.starts_with("too_many_connections: "), "{m}"),
        other => panic!("a sixth socket from one address: {other:?}"),
    }
    assert_eq!(js.emit_with_ack("side", "echo", json!([1])).await, json!(1));
    // Closing one frees its place.
    drop(held.pop());
    tether_tests::eventually("a closed socket frees its address's place", || {
        tether.clients::<Room>().len() == 1 + 4
    })
    .await;
    held.push(
        RawSocket::connect_from(attacker, addr, "/room", &json!({"user": "m5"}))
            .await
            .expect("a place was freed"),
    );
    drop(held);

    // Three slow handshakes at once: two wait for the middleware, the third is refused.
    let slow = |n: u32| async move {
        RawSocket::connect_from(
            attacker,
            addr,
            "/room",
            &json!({ "user": format!("slow{n}") }),
        )
        .await
    };
    let (a, b, c) = tokio::join!(slow(0), slow(1), slow(2));
    let refused: Vec<_> = [&a, &b, &c]
        .into_iter()
        .filter_map(|r| match r {
            Err(Refused::ConnectError(m)) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].starts_with("too_many_handshakes: "),
        "{refused:?}"
    );
    assert_eq!(js.emit_with_ack("side", "echo", json!([2])).await, json!(2));
    js.close().await;
}

/// Issue 15's handshake admission: a node works on `max_concurrent_handshakes` new connections
/// at once. The attack: engine.io sessions that never send their namespace connect, opened
/// without pause so that every slot is always taken. A well-behaved client beside it waits a
/// second at most for a slot, then goes ahead; a crowd of well-behaved clients is admitted in
/// turn, none refused.
#[tokio::test]
async fn sessions_that_never_connect_delay_other_handshakes_by_a_second_at_most() {
    tether_tests::metrics::install();
    let (_tether, server) = serve(|b| b.max_concurrent_handshakes(4)).await;
    let addr = server.addr;
    let attack = tokio::spawn(async move {
        let mut held = Vec::new();
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            let opens = (0..32).map(|_| RawSocket::open(addr));
            held.extend(futures_util::future::join_all(opens).await);
        }
        held.len()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut js = JsClient::spawn().await;
    let started = Instant::now();
    js.connect_ok(
        "side",
        &format!("http://{addr}/room"),
        json!({"auth": {"user": "side"}}),
    )
    .await;
    let took = started.elapsed();
    // The attack lasts 4 s: a handshake that waited for a free slot would take that long.
    assert!(
        took < Duration::from_millis(3000),
        "the side client connected after {took:?}"
    );
    let (p50, _) = round_trips(&mut js, "side", 20).await;
    assert!(p50 < Duration::from_millis(200), "echo p50 {p50:?}");

    let opened = attack.await.expect("the attack");
    assert!(opened >= 16, "the attack opened {opened} sessions");
    let timeouts = tether_tests::metrics::counter(tether::metrics::ADMISSION_TIMEOUTS, &[]);
    assert!(
        timeouts > 0,
        "connections that went ahead without a slot are counted"
    );

    // 40 well-behaved clients at once, 4 slots: all admitted, none refused.
    let auths: Vec<Value> = (0..40)
        .map(|i| json!({ "user": format!("g{i}") }))
        .collect();
    let crowd = auths
        .iter()
        .map(|auth| RawSocket::connect(addr, "/room", auth, &[]));
    let joined = futures_util::future::join_all(crowd).await;
    let refused: Vec<_> = joined.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(refused.is_empty(), "{refused:?}");

    // A connection gives its slot back once connected: one after another, 8 connections
    // through 4 slots take no hold's second.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let started = Instant::now();
    let mut one_by_one = Vec::new();
    for i in 0..8 {
        let auth = json!({ "user": format!("h{i}") });
        one_by_one.push(
            RawSocket::connect(addr, "/room", &auth, &[])
                .await
                .expect("admitted"),
        );
    }
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(900),
        "8 connections one after another through 4 slots took {took:?}"
    );
    assert_eq!(js.emit_with_ack("side", "echo", json!([7])).await, json!(7));
}
