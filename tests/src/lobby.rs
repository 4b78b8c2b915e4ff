//! Namespaces keyed by user (the handshake's `auth.token` is the user id) shared by the cluster
//! tests and the `recovery-node` binary: `/lobby`, `/inbox` with recovery on, `/rooms` with
//! presence; a cluster node serving `/lobby` on a free port; and a node in its own process.

use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use serde::Serialize;
use tether::cluster::{ClusterConfig, ClusterState};
use tether::{Client, Handshake, SocketNok, SocketOk, Tether, TetherBuilder, socket_namespace};

use crate::TestServer;
use crate::redis::RedisServer;

/// Who a `/lobby` socket belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
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

/// The `/lobby` namespace: a token is required, and it names the user; fetches return the
/// metadata.
#[derive(Debug)]
pub struct Lobby;

#[socket_namespace(path = "/lobby", user_key = "user_id", share_metadata = true)]
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

/// The `/rooms` namespace: as `/lobby`, with channel presence (the builder's grace) on the
/// channels whose name starts with `room` ([`tracked`]), clients joining any channel, and the users that came online and went offline on this node, in order
/// (`(user, online)`).
#[derive(Debug, Default)]
pub struct Rooms {
    /// What `#[on_user_online]` and `#[on_user_offline]` saw on this node.
    pub changes: Mutex<Vec<(String, bool)>>,
}

impl Rooms {
    /// The `(user, online)` changes this node's hooks saw so far.
    pub fn changes(&self) -> Vec<(String, bool)> {
        self.changes.lock().expect("lock").clone()
    }
}

/// The channels of `/rooms` whose members are tracked.
pub fn tracked(channel: &str) -> bool {
    channel.starts_with("room")
}

#[socket_namespace(
    path = "/rooms",
    user_key = "user_id",
    presence = true,
    presence_channels = "tracked"
)]
impl Rooms {
    #[middleware]
    async fn authenticate(&self, hs: &Handshake) -> Result<SocketOk<Member>, SocketNok> {
        member(hs)
    }

    #[authorize_channel]
    async fn may_join(&self, _client: &Client<Member>, _channel: &str) -> bool {
        true
    }

    #[on_user_online]
    async fn online(&self, user: &str) {
        self.changes
            .lock()
            .expect("lock")
            .push((user.to_owned(), true));
    }

    #[on_user_offline]
    async fn offline(&self, user: &str) {
        self.changes
            .lock()
            .expect("lock")
            .push((user.to_owned(), false));
    }
}

/// A node in its own process (the `recovery-node` binary, serving `/inbox` and `/rooms`), to
/// kill with SIGKILL.
#[derive(Debug)]
pub struct NodeProcess {
    child: tokio::process::Child,
    port: u16,
}

impl NodeProcess {
    /// Starts a node (`bin`: the `recovery-node` binary, `env!("CARGO_BIN_EXE_recovery-node")`
    /// in a test) joined to `redis` with its heartbeat and presence grace.
    pub async fn start(
        bin: &str,
        redis: &RedisServer,
        heartbeat: Duration,
        grace: Duration,
    ) -> Self {
        let mut child = tokio::process::Command::new(bin)
            .arg(redis.url())
            .arg(heartbeat.as_millis().to_string())
            .arg(grace.as_millis().to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start recovery-node");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
            .await
            .expect("recovery-node listening in time")
            .expect("read")
            .expect("a line");
        let port = line
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .expect("`listening <port>`");
        Self { child, port }
    }

    /// The URL of namespace `ns` on this node.
    pub fn url(&self, ns: &str) -> String {
        format!("http://127.0.0.1:{}{ns}", self.port)
    }

    /// SIGKILL: no goodbye to anyone.
    pub async fn kill(mut self) {
        self.child.kill().await.expect("kill");
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
