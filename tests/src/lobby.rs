//! `/lobby`: a namespace keyed by user (the handshake's `auth.token` is the user id), and a
//! cluster node serving it on a free port, for the tests of cluster-wide control.

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

/// The `/lobby` namespace: a token is required, and it names the user.
#[derive(Debug)]
pub struct Lobby;

#[socket_namespace(path = "/lobby", user_key = "user_id")]
impl Lobby {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        let user = hs
            .auth_str("token")
            .ok_or_else(|| SocketNok::with_code("missing_token", "no token"))?;
        Ok(SocketOk::new(Member {
            user_id: user.to_owned(),
        }))
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
