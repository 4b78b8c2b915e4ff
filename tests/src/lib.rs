//! Shared helpers for tether's integration tests: a server on a free loopback port, and a real
//! JS `socket.io-client` driven over stdin/stdout (`tests/js/driver.mjs`).

pub mod auth;
pub mod lobby;
pub mod log;
pub mod metrics;
pub mod raw;
pub mod recovering;
pub mod redis;
pub mod sentinel;
pub mod tls;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{Notify, oneshot};

/// How long a test waits for anything before it fails.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// How long one test binary may run before [`guard_against_hangs`] ends it. The longest binary
/// takes about a minute; a hang would otherwise hold CI until its own limit, with no failure.
const BINARY_LIMIT: Duration = Duration::from_secs(600);

/// Arms, once per process, a watchdog that fails the test binary (exit code 101, like a failed
/// test) when it runs longer than ten minutes: a test stuck on something it cannot time out
/// (a child process that never answers, a blocked thread) fails instead of hanging CI. The test
/// harness names the tests still running ("has been running for over 60 seconds").
pub fn guard_against_hangs() {
    static ARMED: std::sync::Once = std::sync::Once::new();
    ARMED.call_once(|| {
        std::thread::spawn(|| {
            std::thread::sleep(BINARY_LIMIT);
            eprintln!(
                "this test binary ran for over {} s: a test hangs (see the tests named above as \
                 running for over 60 seconds); failing it",
                BINARY_LIMIT.as_secs()
            );
            std::process::exit(101);
        });
    });
}

/// Installs a tracing subscriber once (set `RUST_LOG` to see server logs in a failing test).
pub fn init_tracing() {
    guard_against_hangs();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,tether=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// An axum app served on a free loopback port until dropped.
#[derive(Debug)]
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// Serves `app` on 127.0.0.1 on a port the OS picks.
    pub async fn start(app: axum::Router) -> Self {
        init_tracing();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        Self { addr, task }
    }

    /// The URL of a namespace on this server, e.g. `url("/chat")`.
    pub fn url(&self, namespace: &str) -> String {
        format!("http://{}{}", self.addr, namespace)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The folder holding the Node helpers and their `node_modules`.
pub fn js_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js")
}

/// Fails the test with instructions when the npm packages are not installed.
pub fn require_node_modules() {
    let dir = js_dir().join("node_modules").join("socket.io-client");
    assert!(
        dir.exists(),
        "the JS test client is not installed: run `npm ci --prefix tests/js` (or `.ci/run`) first; missing {}",
        dir.display()
    );
}

#[derive(Default)]
struct Shared {
    replies: HashMap<u64, oneshot::Sender<Value>>,
    events: VecDeque<Value>,
    closed: bool,
}

/// One Node process running `driver.mjs`; it may hold many named sockets.
pub struct JsClient {
    child: Child,
    stdin: ChildStdin,
    next_id: u64,
    shared: Arc<Mutex<Shared>>,
    notify: Arc<Notify>,
}

impl std::fmt::Debug for JsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsClient").finish_non_exhaustive()
    }
}

/// The outcome of a `connect`.
#[derive(Debug, Clone)]
pub enum Connect {
    /// Connected, with the socket id.
    Ok(String),
    /// `connect_error`, with the message the client received.
    Refused(String),
}

impl JsClient {
    /// Starts a Node driver process.
    pub async fn spawn() -> Self {
        guard_against_hangs();
        require_node_modules();
        let mut child = Command::new("node")
            .arg(js_dir().join("driver.mjs"))
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start `node` (is Node.js installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let notify = Arc::new(Notify::new());
        let (s, n) = (shared.clone(), notify.clone());
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let msg: Value = match serde_json::from_str(&line) {
                    Ok(v) => v,
                    Err(_) => {
                        eprintln!("driver: {line}");
                        continue;
                    }
                };
                let mut shared = s.lock().expect("lock");
                if msg["type"] == "reply" {
                    let id = msg["id"].as_u64().unwrap_or_default();
                    if let Some(tx) = shared.replies.remove(&id) {
                        let _ = tx.send(msg);
                    }
                } else {
                    shared.events.push_back(msg);
                }
                drop(shared);
                n.notify_waiters();
            }
            s.lock().expect("lock").closed = true;
            n.notify_waiters();
        });
        Self {
            child,
            stdin,
            next_id: 0,
            shared,
            notify,
        }
    }

    async fn call(&mut self, mut cmd: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        cmd["id"] = json!(id);
        let (tx, rx) = oneshot::channel();
        self.shared.lock().expect("lock").replies.insert(id, tx);
        let line = format!("{cmd}\n");
        self.stdin
            .write_all(line.as_bytes())
            .await
            .expect("write to the driver");
        tokio::time::timeout(TIMEOUT * 2, rx)
            .await
            .unwrap_or_else(|_| panic!("no reply from the JS driver to {cmd}"))
            .expect("driver reply")
    }

    /// Connects a socket named `name` to `url` with socket.io-client options `opts`
    /// (e.g. `{"auth": {"token": ".."}, "query": {..}, "extraHeaders": {..}}`).
    pub async fn connect(&mut self, name: &str, url: &str, opts: Value) -> Connect {
        let reply = self
            .call(json!({"op": "connect", "name": name, "url": url, "opts": opts}))
            .await;
        if reply["ok"] == true {
            Connect::Ok(reply["socketId"].as_str().unwrap_or_default().to_owned())
        } else {
            Connect::Refused(
                reply["error"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    }

    /// Connects and panics unless accepted; returns the socket id.
    pub async fn connect_ok(&mut self, name: &str, url: &str, opts: Value) -> String {
        match self.connect(name, url, opts).await {
            Connect::Ok(id) => id,
            Connect::Refused(msg) => panic!("socket `{name}` was refused: {msg}"),
        }
    }

    /// Emits without ack.
    pub async fn emit(&mut self, name: &str, event: &str, args: Value) {
        let reply = self
            .call(json!({"op": "emit", "name": name, "event": event, "args": args}))
            .await;
        assert_eq!(reply["ok"], true, "emit failed: {reply}");
    }

    /// Emits and waits for the ack; panics when none comes.
    pub async fn emit_with_ack(&mut self, name: &str, event: &str, args: Value) -> Value {
        let reply = self
            .call(json!({"op": "emitWithAck", "name": name, "event": event, "args": args, "timeout": TIMEOUT.as_millis() as u64}))
            .await;
        assert_eq!(reply["ok"], true, "no ack for `{event}`: {reply}");
        reply["ack"].clone()
    }

    /// Emits every `(event, args)` at once, each with an ack, without waiting in between; returns
    /// the acks in emit order and the emit indices in the order their acks arrived.
    pub async fn burst(
        &mut self,
        name: &str,
        emits: &[(String, Value)],
    ) -> (Vec<Value>, Vec<usize>) {
        let emits: Vec<Value> = emits
            .iter()
            .map(|(event, args)| json!({"event": event, "args": args}))
            .collect();
        let reply = self
            .call(json!({"op": "burst", "name": name, "emits": emits, "timeout": TIMEOUT.as_millis() as u64}))
            .await;
        assert_eq!(reply["ok"], true, "burst failed: {reply}");
        let acks = reply["acks"].as_array().cloned().unwrap_or_default();
        let arrival = reply["arrival"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i.as_u64().and_then(|i| usize::try_from(i).ok()))
            .collect();
        (acks, arrival)
    }

    /// Disconnects a socket.
    pub async fn disconnect(&mut self, name: &str) {
        self.call(json!({"op": "disconnect", "name": name})).await;
    }

    /// Waits for the first buffered or future message matching `pred`, removing it.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + TIMEOUT;
        loop {
            let notified = self.notify.notified();
            {
                let mut shared = self.shared.lock().expect("lock");
                if let Some(pos) = shared.events.iter().position(&pred) {
                    return shared.events.remove(pos).expect("event");
                }
                assert!(
                    !shared.closed,
                    "the JS driver exited while waiting for {what}"
                );
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let seen: Vec<Value> = self
                    .shared
                    .lock()
                    .expect("lock")
                    .events
                    .iter()
                    .cloned()
                    .collect();
                panic!("timed out waiting for {what}; seen instead: {seen:?}");
            }
        }
    }

    /// Waits for socket `name` to receive `event`; returns its arguments.
    pub async fn event(&self, name: &str, event: &str) -> Vec<Value> {
        let msg = self
            .wait_for(&format!("`{event}` on `{name}`"), |m| {
                m["type"] == "event" && m["name"] == name && m["event"] == event
            })
            .await;
        msg["args"].as_array().cloned().unwrap_or_default()
    }

    /// Waits for socket `name` to be disconnected; returns socket.io-client's reason.
    pub async fn disconnected(&self, name: &str) -> String {
        let msg = self
            .wait_for(&format!("disconnect of `{name}`"), |m| {
                m["type"] == "disconnect" && m["name"] == name
            })
            .await;
        msg["reason"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits for `senders × each` of `event` on socket `name`, each with a payload
    /// `{sender, n}`, and asserts that each sender's arrive once and in order (`n` = 0, 1, ..),
    /// and that no more come within 200 ms.
    pub async fn events_in_order_per_sender(
        &self,
        name: &str,
        event: &str,
        senders: usize,
        each: u64,
    ) {
        let mut next = vec![0u64; senders];
        for _ in 0..senders as u64 * each {
            let args = self.event(name, event).await;
            let sender = usize::try_from(args[0]["sender"].as_u64().expect("sender")).unwrap();
            assert_eq!(
                args[0]["n"], next[sender],
                "sender {sender}'s emits in order"
            );
            next[sender] += 1;
        }
        self.assert_no_event(name, event, Duration::from_millis(200))
            .await;
    }

    /// Asserts socket `name` receives no `event` within `wait`.
    pub async fn assert_no_event(&self, name: &str, event: &str, wait: Duration) {
        tokio::time::sleep(wait).await;
        let shared = self.shared.lock().expect("lock");
        let found = shared
            .events
            .iter()
            .find(|m| m["type"] == "event" && m["name"] == name && m["event"] == event);
        assert!(found.is_none(), "`{name}` unexpectedly received {found:?}");
    }

    /// Ends the Node process.
    pub async fn close(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Polls `cond` until it holds or [`TIMEOUT`] passes.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An HTTP response as a client sees it: the status code and the body parsed as JSON
/// (`Value::Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The body, parsed as JSON.
    pub body: Value,
}

/// `POST`s `body` to `http://{addr}{path}` over a real TCP connection (HTTP/1.1,
/// `Connection: close`); `body` is sent as is with `Content-Type: application/json`.
pub async fn http_post(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let (status, payload) = http_exchange(addr, &request, &format!("POST {path}")).await;
    HttpResponse {
        status,
        body: serde_json::from_str(&payload).unwrap_or(Value::Null),
    }
}

/// `GET`s `http://{addr}{path}` over a real TCP connection (HTTP/1.1, `Connection: close`);
/// returns the status and the body as text.
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    http_exchange(addr, &request, &format!("GET {path}")).await
}

/// Sends a raw HTTP/1.1 request and reads the whole response: its status and body.
async fn http_exchange(addr: SocketAddr, request: &str, what: &str) -> (u16, String) {
    use tokio::io::AsyncReadExt;
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to the test server");
        stream
            .write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut raw = Vec::new();
        stream
            .read_to_end(&mut raw)
            .await
            .expect("read the response");
        raw
    };
    let raw = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("no HTTP response to {what}"));
    let text = String::from_utf8(raw).expect("a UTF-8 response");
    let (head, payload) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a malformed HTTP response: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {head:?}"));
    let chunked = head
        .lines()
        .any(|l| l.eq_ignore_ascii_case("transfer-encoding: chunked"));
    let payload = if chunked {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    (status, payload)
}

/// Decodes a `Transfer-Encoding: chunked` body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}
