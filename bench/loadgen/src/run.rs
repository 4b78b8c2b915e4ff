//! The scenarios, run in order over one set of connected sockets:
//! 2 connect + auth, 1 idle memory, 3 unicast, 4 fan-out, 5 open-loop latency, 1b memory after
//! the traffic, 6 churn. The result is one JSON object.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::conn::{self, Cmd, Conn, ConnectError, Shared};
use crate::hist::Histogram;
use crate::sys::{self, Issuer};

/// What to run and against what.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Implementation name for the report (`tether`, `node`, `socketioxide`).
    pub(crate) implementation: String,
    /// Server addresses; socket `i` connects to `urls[i % len]`.
    pub(crate) urls: Vec<SocketAddr>,
    /// Server pids (for RSS and CPU), one per node.
    pub(crate) pids: Vec<u32>,
    /// Pids of nodes in the same cluster that hold no socket: their CPU shows the work a node
    /// does for messages none of its sockets receive.
    pub(crate) bystanders: Vec<u32>,
    /// Pids of the Redis server(s) the nodes share: their CPU is reported per phase.
    pub(crate) redis: Vec<u32>,
    /// The namespace.
    pub(crate) ns: String,
    /// Free text recorded in the results (`--tag`), e.g. which repetition a run is.
    pub(crate) tag: String,
    /// The 32-byte token key.
    pub(crate) key: Vec<u8>,
    /// Sockets held.
    pub(crate) n: usize,
    /// Sockets per user (recipients per unicast message).
    pub(crate) sockets_per_user: usize,
    /// Duration of each timed phase.
    pub(crate) duration: Duration,
    /// Pause before a memory reading.
    pub(crate) settle: Duration,
    /// How long to wait for stragglers after a phase.
    pub(crate) drain: Duration,
    /// Parallel connection attempts.
    pub(crate) concurrency: usize,
    /// Outstanding deliveries allowed in the closed-loop unicast phase.
    pub(crate) window: u64,
    /// Members per channel in the fan-out phase.
    pub(crate) fanout: usize,
    /// Outstanding messages (each `fanout` deliveries) in the fan-out phase.
    pub(crate) fanout_window: u64,
    /// Messages per second in the open-loop phase.
    pub(crate) rate: u64,
    /// Connect/disconnect cycles in the churn phase.
    pub(crate) churn_cycles: usize,
    /// Sockets per churn cycle.
    pub(crate) churn_batch: usize,
    /// Padding bytes per message.
    pub(crate) pad: usize,
    /// Which scenarios to run (`idle`, `connect`, `unicast`, `fanout`, `latency`, `churn`).
    pub(crate) scenarios: Vec<String>,
}

impl Config {
    fn wants(&self, s: &str) -> bool {
        self.scenarios.iter().any(|x| x == s || x == "all")
    }
}

/// Runs the configured scenarios and returns the results.
pub(crate) async fn run(cfg: &Config) -> Result<Value, String> {
    let shared = Rc::new(Shared::new(&cfg.ns, cfg.pad));
    let issuer = Issuer::new(&cfg.key)?;
    let users = cfg.n.div_ceil(cfg.sockets_per_user);
    let churn_users = if cfg.wants("churn") {
        cfg.churn_batch
    } else {
        0
    };
    let tokens: Vec<String> = (0..users + churn_users)
        .map(|u| issuer.issue(&format!("u{u}")))
        .collect::<Result<_, _>>()?;
    let timeout = Duration::from_secs(15);

    let mut out = json!({
        "impl": cfg.implementation,
        "nodes": cfg.urls.len(),
        "bystanders": cfg.bystanders.len(),
        "ns": cfg.ns,
        "tag": cfg.tag,
        "n": cfg.n,
        "sockets_per_user": cfg.sockets_per_user,
        "duration_s": cfg.duration.as_secs_f64(),
        "pad_bytes": cfg.pad,
    });

    // The contract: a bad token is refused.
    let bad = conn::connect(cfg.urls[0], "not-a-token", &shared, timeout).await;
    let bad_refused = matches!(bad, Err(ConnectError::Refused(_)));
    let bad_answer = match bad {
        Ok(c) => {
            c.close().await;
            "accepted".to_owned()
        }
        Err(e) => e.to_string(),
    };
    out["auth"] = json!({ "bad_token_refused": bad_refused, "bad_token_answer": bad_answer });

    tokio::time::sleep(cfg.settle).await;
    let rss_base = sys::total_rss_kib(&cfg.pids);

    // 2. connect + auth
    let t0 = Instant::now();
    let (conns, hist, failed) = connect_many(cfg, &shared, &tokens, 0..cfg.n, timeout).await;
    let elapsed = t0.elapsed().as_secs_f64();
    let connected = conns.iter().filter(|c| c.is_some()).count();
    out["connect"] = json!({
        "sockets": connected,
        "failed": failed,
        "seconds": elapsed,
        "per_s": connected as f64 / elapsed.max(1e-9),
        "p50_ms": ms(hist.quantile(0.5)),
        "p99_ms": ms(hist.quantile(0.99)),
        "max_ms": ms(hist.max()),
    });
    if connected == 0 {
        return Err(format!("no socket could connect to {:?}", cfg.urls));
    }

    // 1. idle
    tokio::time::sleep(cfg.settle * 2).await;
    let rss_idle = sys::total_rss_kib(&cfg.pids);
    out["idle"] = json!({
        "rss_base_kib": rss_base,
        "rss_idle_kib": rss_idle,
        "per_socket_kib": per_socket(rss_idle, rss_base, connected),
        "connection_events": shared.events.get(),
    });

    // 3. unicast emit-to-user, closed loop
    if cfg.wants("unicast") {
        let spu = cfg.sockets_per_user;
        let n = cfg.n;
        let users = users as u64;
        let mut next = 0usize;
        let r = closed_loop(cfg, &shared, &conns, cfg.window, |_| {
            let sender = next;
            next = (next + 1) % n;
            // The next user: on another node when there are two and one socket per user.
            let to = ((sender / spu) as u64 + 1) % users;
            (sender, Cmd::Send { to: to as u32 }, spu as u64)
        })
        .await;
        out["unicast"] = r;
    }

    // 4. fan-out to channels of `fanout` members
    if cfg.wants("fanout") {
        let k = cfg.fanout.clamp(1, cfg.n);
        let channels = cfg.n / k;
        let members = channels * k;
        // Join: channel c = sockets [c*k, (c+1)*k); they alternate between nodes.
        shared.acks.set(0);
        let mut asked = 0u64;
        for (i, c) in conns.iter().enumerate().take(members) {
            if let Some(c) = c
                && c.send(Cmd::Join {
                    chan: (i / k) as u32,
                })
            {
                asked += 1;
            }
        }
        let joined = wait_for(|| shared.acks.get() >= asked, timeout).await;
        let n = cfg.n;
        let mut next = 0usize;
        let mut r = closed_loop(cfg, &shared, &conns, cfg.fanout_window * k as u64, |_| {
            let sender = next;
            next = (next + 1) % n;
            let chan = ((sender / k + 1) % channels) as u32;
            (sender, Cmd::Channel { chan }, k as u64)
        })
        .await;
        r["k"] = json!(k);
        r["channels"] = json!(channels);
        r["joined"] = json!(joined);
        out["fanout"] = r;
    }

    // 5. latency at a fixed rate, open loop
    if cfg.wants("latency") {
        out["latency"] = open_loop(cfg, &shared, &conns, users).await;
    }

    // 1b. memory after the traffic
    tokio::time::sleep(cfg.settle * 2).await;
    let rss_after = sys::total_rss_kib(&cfg.pids);
    out["idle"]["rss_after_traffic_kib"] = json!(rss_after);
    out["idle"]["per_socket_after_traffic_kib"] = json!(per_socket(rss_after, rss_base, connected));

    // 6. churn
    if cfg.wants("churn") && cfg.churn_batch > 0 {
        let rss_before = sys::total_rss_kib(&cfg.pids);
        let cpu0 = sys::total_cpu(&cfg.pids);
        let t0 = Instant::now();
        let mut cycles_failed = 0;
        let mut done = 0usize;
        for _ in 0..cfg.churn_cycles {
            let range = users..users + cfg.churn_batch;
            let (batch, _, failed) = connect_many(cfg, &shared, &tokens, range, timeout).await;
            cycles_failed += failed;
            for c in batch.into_iter().flatten() {
                c.close().await;
                done += 1;
            }
        }
        let elapsed = t0.elapsed().as_secs_f64();
        let cpu = sys::total_cpu(&cfg.pids) - cpu0;
        tokio::time::sleep(cfg.settle * 2).await;
        let rss_after = sys::total_rss_kib(&cfg.pids);
        out["churn"] = json!({
            "cycles": cfg.churn_cycles,
            "batch": cfg.churn_batch,
            "sockets": done,
            "failed": cycles_failed,
            "per_s": done as f64 / elapsed.max(1e-9),
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "growth_kib": rss_after as i64 - rss_before as i64,
            "server_cpu_ms_per_cycle": cpu * 1e3 / done.max(1) as f64,
        });
    }

    out["dropped_connections"] = json!(shared.dropped.get());
    for c in conns.into_iter().flatten() {
        c.close().await;
    }
    out["loadgen"] = json!({
        "cpu_s": sys::cpu_seconds(None),
        "rss_kib": sys::rss_kib(std::process::id()),
    });
    out["server"] = json!({ "cpu_s": sys::total_cpu(&cfg.pids) });
    Ok(out)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

fn per_socket(rss: u64, base: u64, sockets: usize) -> f64 {
    rss.saturating_sub(base) as f64 / sockets.max(1) as f64
}

/// Connects sockets `range` (socket `i` as user `i / sockets_per_user`, to node `i % nodes`),
/// `concurrency` at a time. Returns the connections (in order), connect latencies, failures.
async fn connect_many(
    cfg: &Config,
    shared: &Rc<Shared>,
    tokens: &[String],
    range: std::ops::Range<usize>,
    timeout: Duration,
) -> (Vec<Option<Conn>>, Histogram, usize) {
    let spu = cfg.sockets_per_user;
    let first = range.start;
    let attempts = futures_util::stream::iter(range)
        .map(|i| {
            let addr = cfg.urls[i % cfg.urls.len()];
            // Churn sockets use their own users (`first..`): one per socket.
            let user = if first == 0 { i / spu } else { i };
            let token = tokens[user.min(tokens.len() - 1)].as_str();
            async move {
                let t = Instant::now();
                let r = conn::connect(addr, token, shared, timeout).await;
                (r, t.elapsed())
            }
        })
        .buffered(cfg.concurrency.max(1));
    let results: Vec<_> = attempts.collect().await;
    let mut hist = Histogram::default();
    let mut failed = 0;
    let mut first_error = None;
    let conns = results
        .into_iter()
        .map(|(r, took)| match r {
            Ok(c) => {
                hist.record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
                Some(c)
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e);
                None
            }
        })
        .collect();
    if let Some(e) = first_error {
        eprintln!("loadgen: {failed} connections failed, the first: {e}");
    }
    (conns, hist, failed)
}

/// Waits (bounded) until `done()` holds, polling every millisecond.
async fn wait_for(mut done: impl FnMut() -> bool, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while !done() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    true
}

/// Sends as fast as the server delivers, keeping at most `window` deliveries outstanding;
/// `make(i)` picks message `i`'s sender, command and number of recipients.
async fn closed_loop(
    cfg: &Config,
    shared: &Shared,
    conns: &[Option<Conn>],
    window: u64,
    mut make: impl FnMut(u64) -> (usize, Cmd, u64),
) -> Value {
    shared.reset_phase();
    shared.low_water.set(window / 2);
    let meter = sys::PhaseCpu::start(&cfg.pids, &cfg.bystanders, &cfg.redis);
    let t0 = Instant::now();
    let deadline = t0 + cfg.duration;
    let (mut i, mut sent, mut skipped) = (0u64, 0u64, 0u64);
    while Instant::now() < deadline {
        // Bounded by the window: each pass adds at least one expected delivery, or skips.
        let mut budget = window;
        while shared.outstanding() < window && budget > 0 {
            budget -= 1;
            let (sender, cmd, recipients) = make(i);
            i += 1;
            match conns.get(sender).and_then(Option::as_ref) {
                Some(c) if c.send(cmd) => {
                    shared.expected.set(shared.expected.get() + recipients);
                    sent += 1;
                }
                _ => skipped += 1,
            }
        }
        let _ = tokio::time::timeout_at(deadline.into(), shared.notify.notified()).await;
    }
    let in_window = shared.received.get();
    let positioned = shared.positioned.get();
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = meter.used();
    shared.low_water.set(0);
    let _ = wait_for(|| shared.outstanding() == 0, cfg.drain).await;
    let lat = shared.latency.borrow();
    let mut out = json!({
        "messages": sent,
        "skipped": skipped,
        "deliveries": in_window,
        "samples": lat.count(),
        "per_s": in_window as f64 / elapsed,
        "p50_ms": ms(lat.quantile(0.5)),
        "p99_ms": ms(lat.quantile(0.99)),
        "max_ms": ms(lat.max()),
        "lost": shared.outstanding(),
        "window": window,
        "server_cpu_s": cpu.servers,
        "server_cpu_us_per_delivery": cpu.servers * 1e6 / in_window.max(1) as f64,
        // Of the deliveries counted above (stragglers after the phase are not).
        "with_position": positioned,
    });
    meter.report(&cpu, &mut out, in_window);
    out
}

/// Unicast at `cfg.rate` messages per second on a fixed schedule, whatever the server does.
async fn open_loop(cfg: &Config, shared: &Shared, conns: &[Option<Conn>], users: usize) -> Value {
    shared.reset_phase();
    shared.low_water.set(0);
    let spu = cfg.sockets_per_user;
    let rate = cfg.rate.max(1) as f64;
    let meter = sys::PhaseCpu::start(&cfg.pids, &cfg.bystanders, &cfg.redis);
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut sent, mut skipped) = (0u64, 0u64);
    let mut max_lag = Duration::ZERO;
    let mut sender = 0usize;
    while t0.elapsed() < cfg.duration {
        tick.tick().await;
        let now = t0.elapsed();
        let due = (now.as_secs_f64() * rate) as u64;
        if due > sent {
            // How late the oldest due message goes out: the load generator's own lag.
            let intended = Duration::from_secs_f64(sent as f64 / rate);
            max_lag = max_lag.max(now.saturating_sub(intended));
        }
        while sent + skipped < due {
            let s = sender;
            sender = (sender + 1) % cfg.n;
            let to = ((s / spu + 1) % users) as u32;
            match conns.get(s).and_then(Option::as_ref) {
                Some(c) if c.send(Cmd::Send { to }) => {
                    shared.expected.set(shared.expected.get() + spu as u64);
                    sent += 1;
                }
                _ => skipped += 1,
            }
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let _ = wait_for(|| shared.outstanding() == 0, cfg.drain).await;
    let cpu = meter.used();
    let lat = shared.latency.borrow();
    let mut out = json!({
        "rate": cfg.rate,
        "messages": sent,
        "skipped": skipped,
        "achieved_per_s": sent as f64 / elapsed,
        "deliveries": shared.received.get(),
        "p50_ms": ms(lat.quantile(0.5)),
        "p99_ms": ms(lat.quantile(0.99)),
        "p999_ms": ms(lat.quantile(0.999)),
        "max_ms": ms(lat.max()),
        "lost": shared.outstanding(),
        "max_send_lag_ms": max_lag.as_secs_f64() * 1e3,
        "server_cpu_s": cpu.servers,
        "with_position": shared.positioned.get(),
    });
    meter.report(&cpu, &mut out, shared.received.get());
    out
}
