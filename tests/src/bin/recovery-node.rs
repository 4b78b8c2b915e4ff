//! A tether node in its own process, for tests that kill one with SIGKILL: it serves `/inbox`
//! (recovery on; the auth token is the user) and `/rooms` (presence) on a free port, joined to
//! the Redis whose URL is its first argument (then, optionally, the heartbeat and the presence
//! grace in milliseconds), and prints `listening <port>` once it is connected.

use std::time::Duration;

use tether::Tether;
use tether::cluster::{ClusterConfig, ClusterState};
use tether_tests::lobby::{Inbox, Rooms};

fn millis(arg: Option<String>) -> Option<Duration> {
    arg.and_then(|a| a.parse().ok()).map(Duration::from_millis)
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let redis = args
        .next()
        .expect("usage: recovery-node <redis url> [heartbeat ms] [presence grace ms]");
    let mut config = ClusterConfig::new(redis);
    if let Some(every) = millis(args.next()) {
        config = config.heartbeat(every);
    }
    let mut builder = Tether::builder()
        .namespace(Inbox)
        .namespace(Rooms::default())
        .cluster(config);
    if let Some(grace) = millis(args.next()) {
        builder = builder.presence_grace(grace);
    }
    let tether = builder.build().await.expect("join the cluster");
    let mut state = tether.watch_cluster().expect("cluster mode");
    state
        .wait_for(|s| *s == ClusterState::Connected)
        .await
        .expect("connected");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("address").port();
    println!("listening {port}");
    let app = axum::Router::new().layer(tether.layer());
    axum::serve(listener, app).await.expect("serve");
}
