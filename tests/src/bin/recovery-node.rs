//! A tether node in its own process, for tests that kill one with SIGKILL: it serves `/inbox`
//! (recovery on; the auth token is the user) on a free port, joined to the Redis whose URL is
//! its first argument, and prints `listening <port>` once it is connected.

use tether::Tether;
use tether::cluster::{ClusterConfig, ClusterState};
use tether_tests::lobby::Inbox;

#[tokio::main]
async fn main() {
    let redis = std::env::args()
        .nth(1)
        .expect("usage: recovery-node <redis url>");
    let tether = Tether::builder()
        .namespace(Inbox)
        .cluster(ClusterConfig::new(redis))
        .build()
        .await
        .expect("join the cluster");
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
