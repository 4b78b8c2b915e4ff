//! `loadgen storm`: a reconnect storm. N sockets are connected to node A; A is killed with
//! SIGKILL (a crash, or a restart that did not drain); every socket then connects again to
//! node B at once, retrying after 100–300 ms when an attempt fails, until a deadline. Measured:
//! how many came back, and how long after the kill (p50 / p95 / p99 / max); how node B answered
//! a socket it already held meanwhile (a probe sending itself a message every 10 ms, on a thread
//! of its own so that the load generator's busy loop does not delay it: its latency, and how
//! many came back); node B's CPU during the storm.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::conn::{self, Cmd, Conn, Shared};
use crate::hist::Histogram;
use crate::sys::{self, Issuer};

/// What a storm needs.
#[derive(Debug)]
pub(crate) struct StormConfig {
    /// Implementation name for the report.
    pub(crate) implementation: String,
    /// Node A (killed) and node B (the survivor).
    pub(crate) urls: [SocketAddr; 2],
    /// Their pids.
    pub(crate) pids: [u32; 2],
    /// The token key.
    pub(crate) key: Vec<u8>,
    /// Sockets.
    pub(crate) n: usize,
    /// The namespace.
    pub(crate) ns: String,
    /// Parallel connects while the sockets first connect to A (not during the storm).
    pub(crate) concurrency: usize,
    /// How long after the kill a socket may still come back.
    pub(crate) deadline: Duration,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn hist_ms(h: &Histogram, q: f64) -> f64 {
    h.quantile(q) as f64 / 1e6
}

/// Runs the storm and returns its results.
pub(crate) async fn storm(cfg: &StormConfig) -> Result<Value, String> {
    let shared = Rc::new(Shared::new(&cfg.ns, 16));
    let issuer = Issuer::new(&cfg.key)?;
    // Socket `i` is user `u{i}`; the probe is user `u{n}` and sends to itself.
    let tokens: Vec<String> = (0..=cfg.n)
        .map(|u| issuer.issue(&format!("u{u}")))
        .collect::<Result<_, _>>()?;
    let timeout = Duration::from_secs(15);
    let [a, b] = cfg.urls;

    let before: Vec<Option<Conn>> = futures_util::stream::iter(&tokens[..cfg.n])
        .map(|token| {
            let shared = &shared;
            async move { conn::connect(a, token, shared, timeout).await.ok() }
        })
        .buffered(cfg.concurrency.max(1))
        .collect()
        .await;
    let held = before.iter().flatten().count();
    if held == 0 {
        return Err(format!("no socket could connect to {a}"));
    }
    let to = u32::try_from(cfg.n).map_err(|_| "too many sockets")?;
    let probe = Probe::start(b, tokens[cfg.n].clone(), cfg.ns.clone(), to);
    while probe.state.load(Ordering::SeqCst) == WAITING {
        if probe.thread.is_finished() {
            return Err(probe.finish().err().unwrap_or_default());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe.state.store(PROBING, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let cpu_before = sys::cpu_seconds(Some(cfg.pids[1])).unwrap_or(0.0);
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &cfg.pids[0].to_string()])
        .status()
        .map_err(|e| format!("kill: {e}"))?;
    if !killed.success() {
        return Err(format!("could not kill node A (pid {})", cfg.pids[0]));
    }
    let at = Instant::now();
    // Their connections are dead: stop their tasks.
    for c in before.into_iter().flatten() {
        c.abort();
    }

    let deadline = cfg.deadline;
    let attempts = tokens[..cfg.n].iter().enumerate().map(|(i, token)| {
        let shared = &shared;
        async move {
            let mut retries = 0u32;
            loop {
                match conn::connect(b, token, shared, timeout).await {
                    Ok(c) => return (Some((at.elapsed(), c)), retries),
                    Err(_) if at.elapsed() < deadline => {
                        retries += 1;
                        // 100–300 ms, spread by socket so retries do not come in waves.
                        let pause = 100 + (i as u64 * 7919 + u64::from(retries) * 104_729) % 200;
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                    Err(_) => return (None, retries),
                }
            }
        }
    });
    let results = futures_util::future::join_all(attempts).await;
    let took = at.elapsed();
    let cpu = sys::cpu_seconds(Some(cfg.pids[1])).unwrap_or(0.0) - cpu_before;
    let probed = probe.finish()?;

    let mut times = Histogram::default();
    let mut retries = 0u64;
    let mut after = Vec::new();
    for (done, tries) in results {
        retries += u64::from(tries);
        if let Some((t, c)) = done {
            times.record(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
            after.push(c);
        }
    }
    let back = after.len();
    let out = json!({
        "impl": cfg.implementation,
        "storm": {
            "n": cfg.n,
            "held_before": held,
            "reconnected": back,
            "reconnected_pct": back as f64 * 100.0 / held as f64,
            "seconds": took.as_secs_f64(),
            "p50_ms": hist_ms(&times, 0.5),
            "p95_ms": hist_ms(&times, 0.95),
            "p99_ms": hist_ms(&times, 0.99),
            "max_ms": hist_ms(&times, 1.0),
            "retries": retries,
            "deadline_ms": ms(deadline),
            "survivor_cpu_s": cpu,
            "probe": probed,
        },
    });
    futures_util::future::join_all(after.into_iter().map(Conn::close)).await;
    Ok(out)
}

const WAITING: u8 = 0;
const CONNECTED: u8 = 1;
const PROBING: u8 = 2;
const STOP: u8 = 3;

/// A socket on the survivor that sends itself a message every 10 ms while the storm lasts, on a
/// thread and runtime of its own.
struct Probe {
    state: Arc<AtomicU8>,
    thread: std::thread::JoinHandle<Result<Value, String>>,
}

impl Probe {
    fn start(addr: SocketAddr, token: String, ns: String, to: u32) -> Self {
        let state = Arc::new(AtomicU8::new(WAITING));
        let shared_state = Arc::clone(&state);
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let local = tokio::task::LocalSet::new();
            local.block_on(&rt, probe(addr, token, ns, to, shared_state))
        });
        Self { state, thread }
    }

    /// Stops the probe; its results once its last messages had time to come back.
    fn finish(self) -> Result<Value, String> {
        self.state.store(STOP, Ordering::SeqCst);
        self.thread
            .join()
            .map_err(|_| "the probe's thread panicked".to_owned())?
    }
}

async fn probe(
    addr: SocketAddr,
    token: String,
    ns: String,
    to: u32,
    state: Arc<AtomicU8>,
) -> Result<Value, String> {
    let shared = Rc::new(Shared::new(&ns, 16));
    let conn = conn::connect(addr, &token, &shared, Duration::from_secs(15))
        .await
        .map_err(|e| format!("the probe could not connect to {addr}: {e}"))?;
    state.store(CONNECTED, Ordering::SeqCst);
    while state.load(Ordering::SeqCst) == CONNECTED {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shared.reset_phase();
    let mut every = tokio::time::interval(Duration::from_millis(10));
    while state.load(Ordering::SeqCst) == PROBING {
        every.tick().await;
        if !conn.send(Cmd::Send { to }) {
            break;
        }
        shared.expected.set(shared.expected.get() + 1);
    }
    // What it sent last comes back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let latency = shared.latency.borrow().clone();
    conn.close().await;
    Ok(json!({
        "sent": shared.expected.get(),
        "received": shared.received.get(),
        "p50_ms": hist_ms(&latency, 0.5),
        "p99_ms": hist_ms(&latency, 0.99),
        "max_ms": hist_ms(&latency, 1.0),
    }))
}

fn num(s: &Value, k: &str) -> Option<f64> {
    s[k].as_f64()
}

/// How a row's cell is written from a run's `storm` results.
type Cell = dyn Fn(&Value) -> Option<String>;

/// The storm table: one column per implementation.
pub(crate) fn table(runs: &[Value]) -> String {
    let mut runs: Vec<&Value> = runs.iter().filter(|v| v.get("storm").is_some()).collect();
    let rank = |v: &&Value| match v["impl"].as_str() {
        Some("tether") => 0,
        Some("node") => 1,
        _ => 2,
    };
    runs.sort_by_key(rank);
    let mut out = String::from("| storm |");
    for v in &runs {
        out.push_str(&format!(" {} |", v["impl"].as_str().unwrap_or("?")));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(runs.len()));
    out.push('\n');
    let cell = |v: &Value, f: &Cell| f(&v["storm"]).unwrap_or_else(|| "—".to_owned());
    let rows: [(&str, &Cell); 6] = [
        ("sockets held on the killed node", &|s| {
            num(s, "held_before").map(|x| format!("{x:.0}"))
        }),
        ("reconnected to the survivor", &|s| {
            Some(format!(
                "{:.0} ({:.1} %)",
                num(s, "reconnected")?,
                num(s, "reconnected_pct")?
            ))
        }),
        (
            "time to reconnected after the kill, p50 / p95 / p99 / max (ms)",
            &|s| {
                Some(format!(
                    "{:.0} / {:.0} / {:.0} / {:.0}",
                    num(s, "p50_ms")?,
                    num(s, "p95_ms")?,
                    num(s, "p99_ms")?,
                    num(s, "max_ms")?
                ))
            },
        ),
        ("failed attempts retried", &|s| {
            num(s, "retries").map(|x| format!("{x:.0}"))
        }),
        (
            "a socket already on the survivor: message p50 / p99 / max (ms), received",
            &|s| {
                let p = &s["probe"];
                Some(format!(
                    "{:.1} / {:.1} / {:.1}, {:.0} of {:.0}",
                    num(p, "p50_ms")?,
                    num(p, "p99_ms")?,
                    num(p, "max_ms")?,
                    num(p, "received")?,
                    num(p, "sent")?
                ))
            },
        ),
        ("survivor CPU during the storm (s)", &|s| {
            num(s, "survivor_cpu_s").map(|x| format!("{x:.2}"))
        }),
    ];
    for (label, f) in rows {
        out.push_str(&format!("| {label} |"));
        for v in &runs {
            out.push_str(&format!(" {} |", cell(v, f)));
        }
        out.push('\n');
    }
    out
}
