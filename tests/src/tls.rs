//! Redis over TLS for tests: certificates generated with the `openssl` CLI (a CA, a server
//! certificate for 127.0.0.1, a client certificate, and an unrelated CA), and `redis-server`
//! serving only TLS (`--port 0 --tls-port …`), alone or as a Redis Cluster whose bus and
//! replication are TLS too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::redis::{START_ATTEMPTS, free_port, last_number, redis_cli, wait_for};

/// Certificates in a temporary directory, removed when dropped.
#[derive(Debug)]
pub struct Pki {
    dir: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run `openssl` (run scripts/setup.sh to install it)");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Issues `name.pem` / `name.key`, signed by `ca`, with these X.509v3 extensions.
fn issue(dir: &Path, ca: &str, name: &str, subject: &str, extensions: &str) {
    let ext = format!("{name}.ext");
    std::fs::write(dir.join(&ext), extensions).expect("write the extensions");
    let (key, csr, pem) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            subject,
        ],
    );
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-out",
            &pem,
            "-extfile",
            &ext,
        ],
    );
}

/// A self-signed CA: `name.pem` / `name.key`.
fn ca(dir: &Path, name: &str) {
    let (key, pem, subject) = (
        format!("{name}.key"),
        format!("{name}.pem"),
        format!("/CN=tether test {name}"),
    );
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &pem,
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

impl Pki {
    /// Generates a CA (`ca`), a server certificate it signs for `127.0.0.1` and `localhost`
    /// (`server`, also usable by the servers as clients of each other), a client certificate
    /// (`client`), and another CA that signed nothing here (`other_ca`).
    pub fn generate() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tether-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        ca(&dir, "ca");
        ca(&dir, "other_ca");
        issue(
            &dir,
            "ca",
            "server",
            "/CN=localhost",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
        );
        issue(
            &dir,
            "ca",
            "client",
            "/CN=tether node",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage=clientAuth\n",
        );
        Self { dir }
    }

    /// The path of a generated file, e.g. `ca.pem`, `client.key`.
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// The contents of a generated file.
    pub fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).expect("a generated file")
    }

    /// The `redis-server` arguments that serve TLS only, on `port`, with the server certificate.
    pub(crate) fn server_args(&self, port: u16, auth_clients: bool) -> Vec<String> {
        let path = |f: &str| self.path(f).display().to_string();
        [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--tls-cert-file",
            &path("server.pem"),
            "--tls-key-file",
            &path("server.key"),
            "--tls-ca-cert-file",
            &path("ca.pem"),
            "--tls-auth-clients",
            if auth_clients { "yes" } else { "no" },
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    /// `redis-cli` over TLS (with the client certificate) to `port`, its output trimmed.
    pub(crate) fn cli(&self, port: u16, extra: &[&str], args: &[&str]) -> String {
        let (ca, cert, key) = (
            self.path("ca.pem").display().to_string(),
            self.path("client.pem").display().to_string(),
            self.path("client.key").display().to_string(),
        );
        let port = port.to_string();
        let mut all = vec!["--tls", "--cacert", &ca, "--cert", &cert, "--key", &key];
        all.extend(["-p", &port]);
        all.extend(extra);
        all.extend(args);
        // Bounded: `--cluster create` waits without end for nodes that never meet.
        redis_cli(&all, Duration::from_secs(30)).stdout
    }

    /// Starts `redis-server` with `args` and waits until it answers PING over TLS on `port`;
    /// `None` (the child killed) when it exited first (a port was taken) or did not answer
    /// within 10 s.
    pub(crate) fn spawn(&self, args: &[String], port: u16) -> Option<Child> {
        let mut child = Command::new("redis-server")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start `redis-server` (run scripts/setup.sh to install it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let running = matches!(child.try_wait(), Ok(None));
            if running && self.cli(port, &[], &["PING"]) == "PONG" {
                return Some(child);
            }
            if !running || Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A `redis-server` that serves TLS only, with the certificates of a [`Pki`].
#[derive(Debug)]
pub struct TlsRedisServer {
    port: u16,
    child: Child,
}

impl TlsRedisServer {
    /// Starts a server on a free port; `auth_clients`: it requires a client certificate signed
    /// by the CA (`--tls-auth-clients yes`).
    pub fn start(pki: &Pki, auth_clients: bool) -> Self {
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            if let Some(child) = pki.spawn(&pki.server_args(port, auth_clients), port) {
                return Self { port, child };
            }
        }
        panic!("a TLS redis-server did not start on {START_ATTEMPTS} free ports");
    }

    /// `rediss://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}/", self.port)
    }

    /// The server's TLS port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TlsRedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Redis Cluster of primaries that speaks TLS only: to clients, on its bus and for
/// replication (`--tls-cluster yes --tls-replication yes`).
#[derive(Debug)]
pub struct TlsRedisCluster<'a> {
    pki: &'a Pki,
    ports: Vec<u16>,
    children: Vec<Child>,
    dir: PathBuf,
}

impl<'a> TlsRedisCluster<'a> {
    /// Starts `masters` nodes, joins them with `redis-cli --cluster create` and waits until
    /// every node says the cluster is ok.
    pub fn start(pki: &'a Pki, masters: usize) -> Self {
        let dir = pki.path("cluster");
        let mut cluster = Self {
            pki,
            ports: Vec::new(),
            children: Vec::new(),
            dir,
        };
        for node in 0..masters {
            let started = (0..START_ATTEMPTS).find_map(|_| {
                let (port, bus) = (free_port(), free_port());
                let dir = cluster.dir.join(node.to_string());
                std::fs::create_dir_all(&dir).expect("a temporary directory");
                let mut args = pki.server_args(port, false);
                args.extend(
                    [
                        "--tls-cluster",
                        "yes",
                        "--tls-replication",
                        "yes",
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        "--cluster-port",
                        &bus.to_string(),
                        "--cluster-node-timeout",
                        "2000",
                        "--dir",
                        &dir.display().to_string(),
                    ]
                    .map(str::to_owned),
                );
                pki.spawn(&args, port).map(|child| (port, child))
            });
            let (port, child) = started.unwrap_or_else(|| {
                panic!("TLS cluster node {node} did not start on {START_ATTEMPTS} free ports")
            });
            cluster.ports.push(port);
            cluster.children.push(child);
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let mut create = vec!["--cluster", "create"];
        create.extend(nodes.iter().map(String::as_str));
        create.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let out = pki.cli(cluster.ports[0], &[], &create);
        assert!(
            out.contains("[OK] All 16384 slots covered"),
            "redis-cli --cluster create failed: {out}"
        );
        for &port in &cluster.ports {
            wait_for(
                || {
                    pki.cli(port, &[], &["CLUSTER", "INFO"])
                        .contains("cluster_state:ok")
                },
                "the TLS cluster to be ok",
            );
            wait_for(
                || pki.cli(port, &[], &["CLUSTER", "NODES"]).lines().count() == masters,
                "every TLS cluster node to know the others",
            );
        }
        cluster
    }

    /// `rediss+cluster://127.0.0.1:p1,127.0.0.1:p2,…`.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("rediss+cluster://{}", hosts.join(","))
    }

    /// Sharded subscriptions to `channel`, summed over the nodes.
    pub fn shard_subscribers(&self, channel: &str) -> usize {
        self.ports
            .iter()
            .map(|&p| last_number(&self.pki.cli(p, &[], &["PUBSUB", "SHARDNUMSUB", channel])))
            .sum()
    }
}

impl Drop for TlsRedisCluster<'_> {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
