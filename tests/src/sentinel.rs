//! Redis Sentinel for tests: a master, one replica and a few sentinels on free loopback ports,
//! each sentinel with its own generated configuration in a temporary directory, all plain or
//! all TLS-only (clients, replication and the sentinels' own links); the master can be killed
//! to make the sentinels promote the replica.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::redis::{START_ATTEMPTS, cli, free_port, wait_for, wait_until_up};
use crate::tls::Pki;

/// The name the sentinels monitor the master under.
pub const MASTER: &str = "mymaster";

/// A `redis-server` (or sentinel) child and its port.
#[derive(Debug)]
struct Process {
    port: u16,
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A master, its replica and `n` sentinels; everything killed and removed when dropped.
#[derive(Debug)]
pub struct SentinelSet<'a> {
    /// The certificates when everything speaks TLS only.
    pki: Option<&'a Pki>,
    master: Option<Process>,
    replica: Process,
    sentinels: Vec<Process>,
    dir: PathBuf,
}

impl<'a> SentinelSet<'a> {
    /// Starts the master, a replica of it and `n` sentinels (quorum: a majority), all plain,
    /// and waits until every sentinel knows the replica and the other sentinels, so a failover
    /// can happen.
    pub fn start(n: usize) -> Self {
        Self::start_with(n, None)
    }

    /// [`start`](Self::start), everything serving TLS only with `pki`'s server certificate.
    pub fn start_tls(n: usize, pki: &'a Pki) -> Self {
        Self::start_with(n, Some(pki))
    }

    fn start_with(n: usize, pki: Option<&'a Pki>) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "tether-sentinel-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let master = start(pki, &dir, "master", &[]);
        let replica = start(
            pki,
            &dir,
            "replica",
            &["--replicaof", "127.0.0.1", &master.port.to_string()],
        );
        wait_for(
            || {
                run_cli(pki, replica.port, &["INFO", "replication"])
                    .contains("master_link_status:up")
            },
            "the replica to sync",
        );
        let mut set = Self {
            pki,
            master: Some(master),
            replica,
            sentinels: Vec::new(),
            dir,
        };
        for i in 0..n {
            let started = (0..START_ATTEMPTS).find_map(|_| set.try_start_sentinel(i, n / 2 + 1));
            let sentinel = started.unwrap_or_else(|| {
                panic!("sentinel {i} did not start on {START_ATTEMPTS} free ports")
            });
            set.sentinels.push(sentinel);
        }
        for sentinel in &set.sentinels {
            wait_for(
                || {
                    set.cli(sentinel.port, &["SENTINEL", "REPLICAS", MASTER])
                        .contains("slave")
                },
                "every sentinel to know the replica",
            );
            wait_for(
                || {
                    let known = set.cli(sentinel.port, &["SENTINEL", "MASTER", MASTER]);
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

    fn cli(&self, port: u16, args: &[&str]) -> String {
        run_cli(self.pki, port, args)
    }

    fn try_start_sentinel(&self, i: usize, quorum: usize) -> Option<Process> {
        let port = free_port();
        let master = self.master.as_ref().expect("the first master").port;
        let listen = match self.pki {
            None => format!("port {port}\n"),
            Some(pki) => {
                let path = |f: &str| pki.path(f).display().to_string();
                format!(
                    "port 0\ntls-port {port}\ntls-cert-file {}\ntls-key-file {}\n\
                     tls-ca-cert-file {}\ntls-replication yes\ntls-auth-clients no\n",
                    path("server.pem"),
                    path("server.key"),
                    path("ca.pem")
                )
            }
        };
        let config = self.dir.join(format!("sentinel-{i}.conf"));
        std::fs::write(
            &config,
            format!(
                "{listen}bind 127.0.0.1\ndir {dir}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {master} {quorum}\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 10000\n\
                 sentinel parallel-syncs {MASTER} 1\n",
                dir = self.dir.display()
            ),
        )
        .expect("write the sentinel's configuration");
        let args = [config.display().to_string(), "--sentinel".to_owned()];
        spawn(self.pki, &args, port)
    }

    /// `redis+sentinel://127.0.0.1:s1,…/mymaster` (`rediss+sentinel://` over TLS), after
    /// `dead` (a `host:port` where nothing listens, to check that the other sentinels are
    /// asked) when given.
    pub fn url(&self, dead: Option<&str>) -> String {
        let hosts: Vec<String> = dead
            .map(str::to_owned)
            .into_iter()
            .chain(
                self.sentinels
                    .iter()
                    .map(|s| format!("127.0.0.1:{}", s.port)),
            )
            .collect();
        let scheme = if self.pki.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}+sentinel://{}/{MASTER}", hosts.join(","))
    }

    /// The master's port as the first sentinel names it now.
    pub fn master_port(&self) -> u16 {
        let reply = self.cli(
            self.sentinels[0].port,
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
        self.replica.port
    }

    /// Kills the master (SIGKILL, like a crash).
    pub fn kill_master(&mut self) {
        self.master = None;
    }

    /// Whether the failover is over: every sentinel names the replica as the master, and the
    /// replica says it is one.
    pub fn failed_over(&self) -> bool {
        let replica = self.replica.port.to_string();
        self.cli(self.replica.port, &["ROLE"]).starts_with("master")
            && self.sentinels.iter().all(|s| {
                self.cli(s.port, &["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER])
                    .ends_with(&replica)
            })
    }
}

impl Drop for SentinelSet<'_> {
    fn drop(&mut self) {
        self.sentinels.clear();
        self.master = None;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `redis-cli` to `port`, over TLS with `pki`.
fn run_cli(pki: Option<&Pki>, port: u16, args: &[&str]) -> String {
    match pki {
        Some(pki) => pki.cli(port, &[], args),
        None => cli(port, args),
    }
}

/// Starts `redis-server` with `args` and waits until it answers on `port`.
fn spawn(pki: Option<&Pki>, args: &[String], port: u16) -> Option<Process> {
    let child = match pki {
        Some(pki) => pki.spawn(args, port)?,
        None => {
            let child = Command::new("redis-server")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start `redis-server` (run scripts/setup.sh to install it)");
            wait_until_up(child, port)?
        }
    };
    Some(Process { port, child })
}

/// Starts a data server named `name` (its files in its own directory under `dir`: replication
/// writes RDB files there, not in the test's working directory), with `extra` arguments.
fn start(pki: Option<&Pki>, dir: &std::path::Path, name: &str, extra: &[&str]) -> Process {
    let data = dir.join(name);
    std::fs::create_dir_all(&data).expect("a temporary directory");
    for _ in 0..START_ATTEMPTS {
        let port = free_port();
        let mut args: Vec<String> = match pki {
            Some(pki) => pki.server_args(port, false),
            None => ["--port", &port.to_string(), "--bind", "127.0.0.1"]
                .map(str::to_owned)
                .to_vec(),
        };
        if pki.is_some() {
            args.extend(["--tls-replication", "yes"].map(str::to_owned));
        }
        args.extend(["--save", "", "--appendonly", "no", "--dir"].map(str::to_owned));
        args.push(data.display().to_string());
        args.extend(extra.iter().map(|&a| a.to_owned()));
        if let Some(process) = spawn(pki, &args, port) {
            return process;
        }
    }
    panic!("the {name} did not start on {START_ATTEMPTS} free ports");
}
