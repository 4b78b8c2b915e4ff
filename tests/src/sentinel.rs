//! Redis Sentinel for tests: a master, one replica and a few sentinels on free loopback ports,
//! each sentinel with its own generated configuration in a temporary directory; the master can
//! be killed to make the sentinels promote the replica.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::redis::{RedisServer, START_ATTEMPTS, cli, free_port, wait_for, wait_until_up};

/// The name the sentinels monitor the master under.
pub const MASTER: &str = "mymaster";

/// A master, its replica and `n` sentinels; everything killed and removed when dropped.
#[derive(Debug)]
pub struct SentinelSet {
    master: Option<RedisServer>,
    replica: RedisServer,
    sentinels: Vec<(u16, Child)>,
    dir: PathBuf,
}

impl SentinelSet {
    /// Starts the master, a replica of it and `n` sentinels (quorum: a majority), and waits
    /// until every sentinel knows the replica and the other sentinels, so a failover can happen.
    pub fn start(n: usize) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tether-sentinel-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        // Replication writes its RDB files to `--dir`: not the test's working directory.
        let data = |name: &str| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).expect("a temporary directory");
            d.display().to_string()
        };
        let master = RedisServer::start_with(&["--dir", &data("master")]);
        let replica = RedisServer::start_with(&[
            "--dir",
            &data("replica"),
            "--replicaof",
            "127.0.0.1",
            &master.port().to_string(),
        ]);
        wait_for(
            || {
                replica
                    .cli(&["INFO", "replication"])
                    .contains("master_link_status:up")
            },
            "the replica to sync",
        );
        let quorum = n / 2 + 1;
        let mut set = Self {
            master: Some(master),
            replica,
            sentinels: Vec::new(),
            dir,
        };
        for i in 0..n {
            let started = (0..START_ATTEMPTS).find_map(|_| set.try_start_sentinel(i, quorum));
            let sentinel = started.unwrap_or_else(|| {
                panic!("sentinel {i} did not start on {START_ATTEMPTS} free ports")
            });
            set.sentinels.push(sentinel);
        }
        for &(port, _) in &set.sentinels {
            wait_for(
                || cli(port, &["SENTINEL", "REPLICAS", MASTER]).contains("slave"),
                "every sentinel to know the replica",
            );
            wait_for(
                || {
                    let known = cli(port, &["SENTINEL", "MASTER", MASTER]);
                    // `num-other-sentinels` is followed by its value on the next line.
                    known
                        .lines()
                        .skip_while(|l| *l != "num-other-sentinels")
                        .nth(1)
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        == Some(n - 1)
                },
                "every sentinel to know the others",
            );
        }
        set
    }

    fn try_start_sentinel(&self, i: usize, quorum: usize) -> Option<(u16, Child)> {
        let port = free_port();
        let master = self.master.as_ref().expect("the first master").port();
        let config = self.dir.join(format!("sentinel-{i}.conf"));
        std::fs::write(
            &config,
            format!(
                "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {master} {quorum}\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 10000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = self.dir.display()
            ),
        )
        .expect("write the sentinel's configuration");
        let child = Command::new("redis-server")
            .arg(&config)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start `redis-server --sentinel` (run scripts/setup.sh to install it)");
        wait_until_up(child, port).map(|child| (port, child))
    }

    /// `redis+sentinel://127.0.0.1:s1,…/mymaster`, after `dead` (a `host:port` where nothing
    /// listens, to check that the other sentinels are asked) when given.
    pub fn url(&self, dead: Option<&str>) -> String {
        let hosts: Vec<String> = dead
            .map(str::to_owned)
            .into_iter()
            .chain(self.sentinels.iter().map(|(p, _)| format!("127.0.0.1:{p}")))
            .collect();
        format!("redis+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The master's port as the first sentinel names it now.
    pub fn master_port(&self) -> u16 {
        let reply = cli(
            self.sentinels[0].0,
            &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER],
        );
        reply
            .lines()
            .last()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The replica's port (the master after a failover).
    pub fn replica_port(&self) -> u16 {
        self.replica.port()
    }

    /// Kills the master (SIGKILL, like a crash).
    pub fn kill_master(&mut self) {
        if let Some(mut master) = self.master.take() {
            master.stop();
        }
    }

    /// Whether the failover is over: every sentinel names the replica as the master, and the
    /// replica says it is one.
    pub fn failed_over(&self) -> bool {
        let replica = self.replica.port().to_string();
        self.replica.cli(&["ROLE"]).starts_with("master")
            && self.sentinels.iter().all(|&(port, _)| {
                cli(port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER]).ends_with(&replica)
            })
    }
}

impl Drop for SentinelSet {
    fn drop(&mut self) {
        for (_, child) in &mut self.sentinels {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.kill_master();
        self.replica.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
