//! Namespaces keyed by user (the handshake's `auth.token` is the user id) shared by the cluster
//! tests and the `recovery-node` binary: `/lobby`, and `/inbox` with recovery on; and a cluster
//! node serving `/lobby` on a free port.

use std::time::Duration;

use serde::Serialize;
use tether::cluster::{ClusterConfig, ClusterState};
use tether::{Handshake, SocketNok, SocketOk, Tether, TetherBuilder, socket_namespace};

use crate::TestServer;
use crate::redis::RedisServer;

/// Who a `/lobby` socket belongs to.
#[derive(Debug, Clone, Serialize)]
pub struct Member {
    /// The user id (the handshake's token).
    pub user_id: String,
}

/// The user a handshake's token names; refused with `missing_token` without one.
fn member(hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
    let user = hs
        .auth_str("token")
        .ok_or_else(|| SocketNok::with_code("missing_token", "no token"))?;
    Ok(SocketOk::new(Member {
        user_id: user.to_owned(),
    }))
}

/// The `/lobby` namespace: a token is required, and it names the user.
#[derive(Debug)]
pub struct Lobby;

#[socket_namespace(path = "/lobby", user_key = "user_id")]
impl Lobby {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

/// The `/inbox` namespace: as `/lobby`, with recovery on (the defaults).
#[derive(Debug)]
pub struct Inbox;

#[socket_namespace(path = "/inbox", user_key = "user_id", recovery = true)]
impl Inbox {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }
}

/// A node serving `/lobby`, joined to `redis` and connected to it, with the builder's other
/// settings from `configure`.
pub async fn lobby_node(
    redis: &RedisServer,
    configure: impl FnOnce(TetherBuilder) -> TetherBuilder,
) -> (Tether, TestServer) {
    let builder = Tether::builder()
        .namespace(Lobby)
        .cluster(ClusterConfig::new(redis.url()));
    let tether = configure(builder).build().await.expect("join the cluster");
    let server = TestServer::start(axum::Router::new().layer(tether.layer())).await;
    let mut watch = tether.watch_cluster().expect("cluster mode");
    tokio::time::timeout(
        Duration::from_secs(5),
        watch.wait_for(|s| *s == ClusterState::Connected),
    )
    .await
    .expect("connected in time")
    .expect("watch");
    (tether, server)
}
