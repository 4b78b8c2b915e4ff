//! The storm's feeder (`loadgen storm --recovery`): user `u{n+1}` on the survivor, a
//! [`Worker`](crate::worker::Worker) sending `send` `{to: "u{k}", data: {t, s, p}}` round-robin
//! over the storm's users at `--feed-rate`, numbering the events `s` and recording who each went
//! to, over [`FEEDERS`] sockets.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::conn::{self, Cmd, Shared};
use crate::worker::{self, RUNNING};

/// Padding in each fed event's data, as the probe's.
const PAD: usize = 16;

/// What the feeder sent.
#[derive(Debug)]
pub(crate) struct Fed {
    /// Per storm user, the sequence numbers sent to it and run by the server, ascending.
    pub(crate) sent: Vec<Vec<u64>>,
    /// Events the server answered with an error ack (not run, so not counted as sent), by code.
    pub(crate) refused: BTreeMap<String, u64>,
    /// How long it fed.
    pub(crate) seconds: f64,
    /// How late the latest-going event left after its time: the feeder's own lag.
    pub(crate) max_lag: Duration,
}

/// Sockets the feeder spreads its events over, user `k`'s always on socket `k % FEEDERS` (so
/// each user's events leave in order). A server runs one socket's events one at a time, each
/// awaiting its recording in Redis: one socket alone at the feed rate would be refused
/// (`overloaded`) as soon as the storm slows Redis's answers down.
pub(crate) const FEEDERS: usize = 16;
/// How long the feeder waits, after its last event, for the server's refusals (error acks)
/// before closing: a refusal is answered as the event arrives, a run event not at all.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);

/// The feeder's task (a [`Worker`](crate::worker::Worker)): connects [`FEEDERS`] sockets to
/// `addr` as its own user, waits for [`RUNNING`], then sends `rate` events/s round-robin over
/// users `u0`..`u{users-1}` until told to stop, each with an ack id (its number), so that an
/// event the server refused (answered with an error ack; a run one gets no ack) is not counted
/// as sent. `start` is the storm sockets' clock, so that `t` in the data gives their latency.
pub(crate) async fn feed(
    addr: SocketAddr,
    token: String,
    ns: String,
    users: usize,
    rate: u64,
    start: Instant,
    state: Arc<AtomicU8>,
) -> Result<Fed, String> {
    let mut shared = Shared::new(&ns, PAD);
    shared.start = start;
    let shared = Rc::new(shared);
    let mut conns = Vec::with_capacity(FEEDERS);
    for _ in 0..FEEDERS {
        let conn = conn::connect(addr, &token, &shared, Duration::from_secs(15))
            .await
            .map_err(|e| format!("the feeder could not connect to {addr}: {e}"))?;
        conns.push(conn);
    }
    worker::connected_until_run(&state).await;
    let mut sent = vec![Vec::new(); users];
    let rate = rate.max(1) as f64;
    let t0 = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let (mut seq, mut max_lag) = (0u64, Duration::ZERO);
    while state.load(Ordering::SeqCst) == RUNNING {
        tick.tick().await;
        let now = t0.elapsed();
        let due = (now.as_secs_f64() * rate) as u64;
        if due > seq {
            max_lag = max_lag.max(now.saturating_sub(Duration::from_secs_f64(seq as f64 / rate)));
        }
        while seq < due {
            let k = (seq % users.max(1) as u64) as usize;
            let to = u32::try_from(k).map_err(|_| "too many users")?;
            if !conns[k % FEEDERS].send(Cmd::Feed { to, seq }) {
                return Err(format!(
                    "a feeder connection to {addr} closed after {seq} events"
                ));
            }
            if let Some(s) = sent.get_mut(k) {
                s.push(seq);
            }
            seq += 1;
        }
    }
    let seconds = t0.elapsed().as_secs_f64();
    // A closing socket reads no more acks: the last refusals first.
    tokio::time::sleep(REFUSAL_WAIT).await;
    futures_util::future::join_all(conns.into_iter().map(conn::Conn::close)).await;
    if shared.dropped.get() > 0 {
        return Err(format!(
            "a feeder connection to {addr} dropped: some of its {seq} events may not have \
             reached the server, so none can be counted lost"
        ));
    }
    let mut refused = BTreeMap::<String, u64>::new();
    let mut refused_seqs = Vec::new();
    for (id, code) in shared.refused.borrow().iter() {
        *refused.entry(code.clone()).or_default() += 1;
        refused_seqs.push(*id);
    }
    refused_seqs.sort_unstable();
    for s in &mut sent {
        s.retain(|seq| refused_seqs.binary_search(seq).is_err());
    }
    Ok(Fed {
        sent,
        refused,
        seconds,
        max_lag,
    })
}
