//! A real `redis-server` on a free loopback port, owned by one test: it can be stopped and
//! started again on the same port to test faults.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

/// A loopback port free now (it may be taken before it is used: callers retry).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl RedisServer {
    /// Starts a fresh server (no persistence) on a free port and waits until it answers.
    pub fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        // A port picked free can be taken (by another test's server, or as the source port of
        // an outgoing connection) before redis-server binds it: then it exits, and another
        // port is tried.
        for _ in 0..START_ATTEMPTS {
            if server.try_start() {
                return server;
            }
            server.port = free_port();
        }
        panic!("redis-server did not start on {START_ATTEMPTS} free ports");
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Stops the server (SIGKILL: as abrupt as a crash).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port.
    pub fn restart(&mut self) {
        assert!(
            self.try_start(),
            "redis-server did not start on port {}",
            self.port
        );
    }

    /// Starts the server on its port; `false` when it exited (the port was taken) or did not
    /// answer within 10 s.
    fn try_start(&mut self) -> bool {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start `redis-server` (run scripts/setup.sh to install it)");
        let up = wait_until_up(child, self.port);
        let started = up.is_some();
        self.child = up;
        started
    }

    /// Runs a `redis-cli` command against this server and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        cli(self.port, args)
    }

    /// How many subscriptions the server counts on `channel` (`PUBSUB NUMSUB`).
    pub fn subscribers(&self, channel: &str) -> usize {
        last_number(&self.cli(&["PUBSUB", "NUMSUB", channel]))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of `masters` primaries (no replicas) on free loopback ports, each node in its
/// own temporary directory, created with `redis-cli --cluster create`; killed and removed when
/// dropped. Needs Redis ≥ 7 for sharded pub/sub.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    bus_ports: Vec<u16>,
    children: Vec<Option<Child>>,
    dir: std::path::PathBuf,
}

impl RedisCluster {
    /// Starts the nodes, joins them into one cluster and waits until every node says it is ok.
    /// A cluster that does not come together (a port taken between its pick and its use) is
    /// started again on new ports.
    pub fn start(masters: usize) -> Self {
        for attempt in 1..=START_ATTEMPTS {
            let cluster = Self::start_nodes(masters);
            match cluster.create() {
                Ok(()) => return cluster,
                Err(why) => eprintln!("Redis Cluster, attempt {attempt}: {why}; new ports"),
            }
        }
        panic!("no Redis Cluster of {masters} came together in {START_ATTEMPTS} attempts");
    }

    /// Starts `masters` cluster-enabled servers, not yet joined.
    fn start_nodes(masters: usize) -> Self {
        let ports: Vec<u16> = (0..masters).map(|_| free_port()).collect();
        let dir = std::env::temp_dir().join(format!(
            "tether-redis-cluster-{}-{}",
            std::process::id(),
            ports[0]
        ));
        let mut cluster = Self {
            ports,
            bus_ports: (0..masters).map(|_| free_port()).collect(),
            children: (0..masters).map(|_| None).collect(),
            dir,
        };
        for node in 0..masters {
            // As for a single server: a port taken before redis-server binds it means new ports.
            let started = (0..START_ATTEMPTS).any(|attempt| {
                if attempt > 0 {
                    cluster.ports[node] = free_port();
                    cluster.bus_ports[node] = free_port();
                }
                cluster.try_start_node(node)
            });
            assert!(
                started,
                "cluster node {node} did not start on {START_ATTEMPTS} free ports"
            );
        }
        cluster
    }

    /// Joins the started nodes into one cluster and waits until each says it is ok.
    fn create(&self) -> Result<(), String> {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(nodes.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        // `--cluster create` waits without end for nodes that never meet.
        let out = redis_cli(&args, Duration::from_secs(30));
        if !out.success {
            return Err(format!("redis-cli --cluster create failed: {}", out.stdout));
        }
        let masters = self.ports.len();
        for &port in &self.ports {
            if !wait_until(|| cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
                return Err(format!("node {port} never said cluster_state:ok"));
            }
            if !wait_until(|| cli(port, &["CLUSTER", "NODES"]).lines().count() == masters) {
                return Err(format!("node {port} never knew the {masters} nodes"));
            }
        }
        Ok(())
    }

    /// Kills node `i` (SIGKILL, like a crash).
    pub fn stop_node(&mut self, i: usize) {
        if let Some(mut child) = self.children[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its port, from its `nodes.conf`: it rejoins with its slots.
    pub fn restart_node(&mut self, i: usize) {
        assert!(self.try_start_node(i), "cluster node {i} did not start");
    }

    /// Starts node `i` on its ports; `false` when it exited (a port was taken) or did not answer.
    fn try_start_node(&mut self, i: usize) -> bool {
        self.stop_node(i);
        let port = self.ports[i];
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string()])
            .args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
            ])
            .args(["--cluster-port", &self.bus_ports[i].to_string()])
            .args(["--cluster-node-timeout", "2000"])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start `redis-server` (run scripts/setup.sh to install it)");
        self.children[i] = wait_until_up(child, port);
        self.children[i].is_some()
    }

    /// The index of the node that owns `key`'s slot (a channel name works too).
    pub fn owner_of(&self, key: &str) -> usize {
        (0..self.ports.len())
            .find(|&i| !cli(self.ports[i], &["EXISTS", key]).starts_with("MOVED"))
            .expect("a node owns the slot")
    }

    /// How many nodes hold at least one sharded subscription.
    pub fn nodes_with_subscriptions(&self) -> usize {
        self.ports
            .iter()
            .filter(|&&p| !cli(p, &["PUBSUB", "SHARDCHANNELS"]).is_empty())
            .count()
    }

    /// The seed URL tether takes: `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis+cluster://{}", hosts.join(","))
    }

    /// The nodes' ports.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Runs a `redis-cli -c` command (following redirections) and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.ports[0].to_string();
        let mut all = vec!["-c", "-p", &port];
        all.extend(args);
        redis_cli(&all, Duration::from_secs(10)).stdout
    }

    /// Sharded subscriptions to `channel`, summed over the nodes (`PUBSUB SHARDNUMSUB` counts
    /// one node's only).
    pub fn shard_subscribers(&self, channel: &str) -> usize {
        self.ports
            .iter()
            .map(|&p| last_number(&cli(p, &["PUBSUB", "SHARDNUMSUB", channel])))
            .sum()
    }
}

/// The Redis that tether nodes share, as a test sees it: one `redis-server`, or a Redis Cluster
/// of several shards (sharded pub/sub). A single server is one shard that owns every key, so a
/// scenario written against this runs unchanged on both.
#[derive(Debug)]
pub enum Topology {
    /// One `redis-server`.
    Server(RedisServer),
    /// A Redis Cluster of primaries.
    Cluster(RedisCluster),
}

impl Topology {
    /// A fresh single `redis-server`.
    pub fn server() -> Self {
        Self::Server(RedisServer::start())
    }

    /// A fresh Redis Cluster of `shards` primaries.
    pub fn cluster(shards: usize) -> Self {
        Self::Cluster(RedisCluster::start(shards))
    }

    /// The URL tether takes (a seed list for a cluster).
    pub fn url(&self) -> String {
        match self {
            Self::Server(s) => s.url(),
            Self::Cluster(c) => c.url(),
        }
    }

    /// Runs a `redis-cli` command on whichever shard owns its key and returns its output.
    pub fn cli(&self, args: &[&str]) -> String {
        match self {
            Self::Server(s) => s.cli(args),
            Self::Cluster(c) => c.cli(args),
        }
    }

    /// Publishes `message` on `channel` as tether does (`PUBLISH`, or `SPUBLISH` on a cluster),
    /// as `redis-cli` would; returns Redis's reply, the number of subscriptions that got it.
    pub fn publish(&self, channel: &str, message: &str) -> String {
        match self {
            Self::Server(s) => s.cli(&["PUBLISH", channel, message]),
            Self::Cluster(c) => c.cli(&["SPUBLISH", channel, message]),
        }
    }

    /// Subscriptions to `channel` (plain or sharded, as tether uses on this topology).
    pub fn subscribers(&self, channel: &str) -> usize {
        match self {
            Self::Server(s) => s.subscribers(channel),
            Self::Cluster(c) => c.shard_subscribers(channel),
        }
    }

    /// How many shards there are (1 for a single server).
    pub fn shards(&self) -> usize {
        match self {
            Self::Server(_) => 1,
            Self::Cluster(c) => c.ports().len(),
        }
    }

    /// How many shards hold at least one subscription.
    pub fn shards_with_subscriptions(&self) -> usize {
        match self {
            Self::Server(s) => usize::from(!s.cli(&["PUBSUB", "CHANNELS"]).is_empty()),
            Self::Cluster(c) => c.nodes_with_subscriptions(),
        }
    }

    /// The shard that owns `key`'s slot (a channel name works too); always 0 on a single server.
    pub fn owner_of(&self, key: &str) -> usize {
        match self {
            Self::Server(_) => 0,
            Self::Cluster(c) => c.owner_of(key),
        }
    }

    /// Kills shard `i` (SIGKILL, like a crash): the whole server on a single server.
    pub fn stop_shard(&mut self, i: usize) {
        match self {
            Self::Server(s) => s.stop(),
            Self::Cluster(c) => c.stop_node(i),
        }
    }

    /// Starts shard `i` again on its port (empty on a single server; with its slots on a
    /// cluster) and waits until it answers.
    pub fn restart_shard(&mut self, i: usize) {
        match self {
            Self::Server(s) => s.restart(),
            Self::Cluster(c) => c.restart_node(i),
        }
    }
}

/// The number on the last line of a `redis-cli` reply such as `PUBSUB NUMSUB`'s; 0 if none.
pub(crate) fn last_number(reply: &str) -> usize {
    reply
        .lines()
        .last()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-p", &port];
    all.extend(args);
    redis_cli(&all, Duration::from_secs(10)).stdout
}

/// What a bounded `redis-cli` run printed, and whether it exited with success.
pub(crate) struct CliOutput {
    pub(crate) success: bool,
    pub(crate) stdout: String,
}

/// Runs `redis-cli` with `args`, killed after `limit` (it can wait without end: on a server
/// that accepted the connection but never answers, or for cluster nodes that never meet).
pub(crate) fn redis_cli(args: &[&str], limit: Duration) -> CliOutput {
    let out = Command::new("timeout")
        .args(["--kill-after=2", &format!("{}s", limit.as_secs_f64())])
        .arg("redis-cli")
        .args(args)
        .output()
        .expect("run redis-cli under coreutils' timeout");
    CliOutput {
        success: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_owned(),
    }
}

/// How many free ports a server is tried on before a test gives up.
pub(crate) const START_ATTEMPTS: usize = 5;

/// Waits until the redis-server `child` answers PING on `port`; `None` (the child killed) when
/// it exited first or did not answer within 10 s.
pub(crate) fn wait_until_up(mut child: Child, port: u16) -> Option<Child> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(mut conn) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let mut buf = [0u8; 7];
            if conn.write_all(b"PING\r\n").is_ok()
                && conn.read_exact(&mut buf).is_ok()
                && &buf == b"+PONG\r\n"
                && matches!(child.try_wait(), Ok(None))
            {
                return Some(child);
            }
        }
        if !matches!(child.try_wait(), Ok(None)) || Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub(crate) fn wait_for(cond: impl FnMut() -> bool, what: &str) {
    assert!(wait_until(cond), "timed out waiting for {what}");
}

/// Polls `cond` for up to 10 s; whether it held.
pub(crate) fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            self.stop_node(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
