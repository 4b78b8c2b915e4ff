//! `loadgen storm`: a reconnect storm. N sockets are connected to node A; A is killed with
//! SIGKILL (a crash, or a restart that did not drain); every socket then connects again to
//! node B at once, retrying after 100–300 ms when an attempt fails, until a deadline. Measured:
//! how many came back, and how long after the kill (p50 / p95 / p99 / max); how node B answered
//! a socket it already held meanwhile (a probe sending itself a message every 10 ms, on a thread
//! of its own so that the load generator's busy loop does not delay it: its latency, and how
//! many came back); node B's CPU during the storm.
//!
//! With `--recovery` (namespace `/bench-recovery`), each socket's user keeps what it saw across
//! its connections and reconnects with `auth.recover`, while a feeder on B sends the storm's
//! users numbered events from 1 s before the kill to 1 s after the storm; then: how many were
//! received exactly once, lost, duplicated, and what the reconnects were told (`resume.rs`).

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::conn::{self, Cmd, Conn, Shared};
use crate::hist::Histogram;
use crate::resume::{self, Recovering};
use crate::sys::{self, Issuer};
use crate::worker::{self, RUNNING, Worker};

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
    /// `--recovery`: the feed's rate (events/s); `None` for the plain storm.
    pub(crate) feed_rate: Option<u64>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

pub(crate) fn hist_ms(h: &Histogram, q: f64) -> f64 {
    h.quantile(q) as f64 / 1e6
}

/// Runs the storm and returns its results.
pub(crate) async fn storm(cfg: &StormConfig) -> Result<Value, String> {
    let shared = Rc::new(Shared::new(&cfg.ns, 16));
    let issuer = Issuer::new(&cfg.key)?;
    // Socket `i` is user `u{i}`; the probe is user `u{n}` and sends to itself; the feeder (with
    // `--recovery`) is user `u{n+1}`.
    let users = cfg.n + 1 + usize::from(cfg.feed_rate.is_some());
    let tokens: Vec<String> = (0..users)
        .map(|u| issuer.issue(&format!("u{u}")))
        .collect::<Result<_, _>>()?;
    let timeout = Duration::from_secs(15);
    let [a, b] = cfg.urls;
    let to = u32::try_from(cfg.n).map_err(|_| "too many sockets")?;
    let recovering = cfg
        .feed_rate
        .map(|rate| Recovering::new(cfg.n, b, tokens[cfg.n + 1].clone(), &cfg.ns, rate, &shared));
    let before: Vec<Option<Conn>> = futures_util::stream::iter(tokens[..cfg.n].iter().enumerate())
        .map(|(i, token)| {
            let shared = &shared;
            let resume = resume_of(&recovering, i);
            async move {
                conn::connect_resuming(a, token, shared, resume, timeout)
                    .await
                    .ok()
            }
        })
        .buffered(cfg.concurrency.max(1))
        .collect()
        .await;
    let held = before.iter().flatten().count();
    if held == 0 {
        return Err(format!("no socket could connect to {a}"));
    }
    let (token, ns) = (tokens[cfg.n].clone(), cfg.ns.clone());
    let probe = Worker::spawn("probe", move |state| probe(b, token, ns, to, state))
        .connected()
        .await?;
    let recovering = match recovering {
        Some(r) => Some(r.connected().await?),
        None => None,
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    probe.run();
    // With `--recovery` the feed starts 1 s before the kill: the sockets on A have events to miss.
    let lead = match &recovering {
        Some(r) => r.feed(),
        None => Duration::from_millis(100),
    };
    tokio::time::sleep(lead).await;
    if let Some(r) = &recovering {
        r.at_kill();
    }

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
        let resume = resume_of(&recovering, i);
        async move {
            let mut retries = 0u32;
            loop {
                match conn::connect_resuming(b, token, shared, resume, timeout).await {
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
    let ended = Instant::now();
    let cpu = sys::cpu_seconds(Some(cfg.pids[1])).unwrap_or(0.0) - cpu_before;
    let probed = probe.finish().await?;

    let mut times = Histogram::default();
    let mut retries = 0u64;
    let mut after = Vec::new();
    let mut came_back = Vec::with_capacity(cfg.n);
    for (done, tries) in results {
        retries += u64::from(tries);
        came_back.push(done.is_some());
        if let Some((t, c)) = done {
            times.record(u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
            after.push(c);
        }
    }
    let back = after.len();
    let mut out = json!({
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
    if let Some(r) = recovering {
        out["storm"]["recovery"] = r.finish(&came_back, ended, &shared).await?;
    }
    futures_util::future::join_all(after.into_iter().map(Conn::close)).await;
    Ok(out)
}

/// Storm user `i`'s state across its connections, with `--recovery`.
fn resume_of(recovering: &Option<Recovering>, i: usize) -> Option<&Rc<resume::Resume>> {
    recovering.as_ref().and_then(|r| r.users.get(i))
}

/// A socket on the survivor that sends itself a message every 10 ms while the storm lasts (a
/// [`Worker`]).
async fn probe(
    addr: SocketAddr,
    token: String,
    ns: String,
    to: u32,
    state: Arc<AtomicU8>,
) -> Result<Value, String> {
    let shared = Rc::new(Shared::new(&ns, 16));
    // Which of its numbered messages came back (it never reconnects: nothing to resume).
    let seen = Rc::new(resume::Resume::default());
    let conn = conn::connect_resuming(addr, &token, &shared, Some(&seen), Duration::from_secs(15))
        .await
        .map_err(|e| format!("the probe could not connect to {addr}: {e}"))?;
    worker::connected_until_run(&state).await;
    shared.reset_phase();
    let mut every = tokio::time::interval(Duration::from_millis(10));
    while state.load(Ordering::SeqCst) == RUNNING {
        every.tick().await;
        // With an ack id: a server that refuses it (tether's `overloaded`) says so.
        let seq = shared.expected.get();
        if !conn.send(Cmd::Feed { to, seq }) {
            break;
        }
        shared.expected.set(seq + 1);
    }
    // What it sent last comes back: until all has, or nothing new came for 1 s (5 s at most), so
    // that a message held up by the storm counts with its latency rather than as missing.
    let (most, quiet, every) = (
        Duration::from_secs(5),
        Duration::from_secs(1),
        Duration::from_millis(20),
    );
    worker::settle(most, quiet, every, || {
        (shared.outstanding() == 0, shared.received.get())
    })
    .await;
    let latency = shared.latency.borrow().clone();
    conn.close().await;
    let refused = shared.refused.borrow().len();
    let missing = seen.missing(shared.expected.get());
    Ok(json!({
        "missing": missing,
        "sent": shared.expected.get(),
        "received": shared.received.get(),
        "refused": refused,
        "p50_ms": hist_ms(&latency, 0.5),
        "p99_ms": hist_ms(&latency, 0.99),
        "max_ms": hist_ms(&latency, 1.0),
    }))
}

pub(crate) fn num(s: &Value, k: &str) -> Option<f64> {
    s[k].as_f64()
}

/// How a row's cell is written from a run's `storm` results.
pub(crate) type Cell = dyn Fn(&Value) -> Option<String>;

/// The storm table: one column per run (implementation; tether's recovery storm beside its
/// plain one).
pub(crate) fn table(runs: &[Value]) -> String {
    let mut runs: Vec<&Value> = runs.iter().filter(|v| v.get("storm").is_some()).collect();
    let recovery = |v: &Value| v["storm"].get("recovery").is_some();
    let rank = |v: &&Value| {
        let implementation = match v["impl"].as_str() {
            Some("tether") => 0,
            Some("node") => 1,
            _ => 2,
        };
        (implementation, recovery(v))
    };
    runs.sort_by_key(rank);
    let mut out = String::from("| storm |");
    for v in &runs {
        let on = if recovery(v) { ", recovery on" } else { "" };
        out.push_str(&format!(" {}{on} |", v["impl"].as_str().unwrap_or("?")));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|".repeat(runs.len()));
    out.push('\n');
    let cell = |v: &Value, f: &Cell| f(&v["storm"]).unwrap_or_else(|| "—".to_owned());
    let mut rows: Vec<(&str, &Cell)> = vec![
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
                let mut cell = format!(
                    "{:.1} / {:.1} / {:.1}, {:.0} of {:.0}",
                    num(p, "p50_ms")?,
                    num(p, "p99_ms")?,
                    num(p, "max_ms")?,
                    num(p, "received")?,
                    num(p, "sent")?
                );
                if let Some(refused) = num(p, "refused").filter(|r| *r > 0.0) {
                    cell.push_str(&format!(" ({refused:.0} refused by the server)"));
                }
                Some(cell)
            },
        ),
        ("survivor CPU during the storm (s)", &|s| {
            num(s, "survivor_cpu_s").map(|x| format!("{x:.2}"))
        }),
    ];
    if runs.iter().any(|v| recovery(v)) {
        rows.extend(
            crate::tally::ROWS
                .iter()
                .map(|(label, f)| (*label, f as &Cell)),
        );
    }
    for (label, f) in rows {
        out.push_str(&format!("| {label} |"));
        for v in &runs {
            out.push_str(&format!(" {} |", cell(v, f)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(implementation: &str, recovery: Option<Value>) -> Value {
        let mut v = json!({"impl": implementation, "storm": {
            "held_before": 10, "reconnected": 10, "reconnected_pct": 100.0,
            "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "max_ms": 4.0, "retries": 0,
            "probe": {"p50_ms": 0.1, "p99_ms": 0.2, "max_ms": 0.3, "received": 5, "sent": 5},
            "survivor_cpu_s": 0.5,
        }});
        if let Some(r) = recovery {
            v["storm"]["recovery"] = r;
        }
        v
    }

    #[test]
    fn recovery_rows_only_with_a_recovery_run() {
        let plain = table(&[run("node", None), run("tether", None)]);
        assert!(plain.starts_with("| storm | tether | node |"), "{plain}");
        assert!(
            plain.contains("| reconnected to the survivor | 10 (100.0 %) | 10 (100.0 %) |"),
            "{plain}"
        );
        assert!(!plain.contains("recovery"), "{plain}");

        let r = json!({"sent": 40, "feed_rate": 2000, "exactly_once": 40, "lost": 0,
            "lost_not_back": 0, "duplicated": 0, "unexpected": 0, "without_position": 0,
            "told": {"recovered": 10, "not_recovered": 0, "reasons": {}, "told_nothing": 0}});
        let both = table(&[run("tether", Some(r)), run("tether", None)]);
        assert!(
            both.starts_with("| storm | tether | tether, recovery on |"),
            "{both}"
        );
        for row in [
            "| with recovery on: events fed to the storm's users during the storm (and run by the server) | — | 40 (2000/s) |",
            "| with recovery on: of those, received exactly once / lost / duplicated | — | 40 / 0 / 0 |",
            "| with recovery on: reconnects told recovered (of those back) | — | 10 of 10 |",
        ] {
            assert!(both.contains(row), "{row}\n{both}");
        }
    }
}
