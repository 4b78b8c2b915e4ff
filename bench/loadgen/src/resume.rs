//! The reconnect storm with recovery on (`loadgen storm --recovery`, namespace
//! `/bench-recovery`):
//!
//! - [`Resume`]: what a storm user keeps across its connections, as a client of tether's
//!   recovery does: the latest position it saw (the `offset` of `/ops/connection-success` and
//!   the last argument of each recorded `msg`), its channels, then sent back in `auth.recover`;
//!   and for the count, the feed events it received (by sequence number, with copies), the
//!   `msg`s that came without a position, and what its reconnect was told (`recovery`);
//! - the feeder: user `u{n+1}` on the survivor, a [`Worker`] sending `send`
//!   `{to: "u{k}", data: {t, s, p}}` round-robin over the storm's users at `--feed-rate`,
//!   numbering the events `s` and recording who each went to;
//! - [`Recovering`]: both, driven by the storm; after it, the feed's tail, the wait for
//!   deliveries to settle and the count ([`tally`]): sent, received exactly once, lost,
//!   duplicated, and the reconnects told recovered or not (and why);
//! - [`ROWS`]: the storm table's rows for it.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::conn::{self, Cmd, Shared};
use crate::proto;
use crate::storm::{self, CONNECTED, RUNNING, Worker};

/// The event that tells a socket its connection info (and, on a reconnect, its recovery).
const CONNECTION_SUCCESS: &str = "/ops/connection-success";
/// Padding in each fed event's data, as the probe's.
const PAD: usize = 16;
/// How long the feed goes on before the kill, so that the sockets on A have events to miss.
const LEAD: Duration = Duration::from_secs(1);
/// How long the feed goes on after the storm (all back, or the deadline).
const TAIL: Duration = Duration::from_secs(1);
/// At most this long waiting for the last deliveries after the feed stops...
const SETTLE: Duration = Duration::from_secs(3);
/// ...or until nothing new arrived for this long.
const QUIET: Duration = Duration::from_secs(1);

/// A position `<ms>-<seq>` in a namespace's history, in its order.
fn position(text: &str) -> Option<(u64, u64)> {
    let (ms, seq) = text.split_once('-')?;
    Some((ms.parse().ok()?, seq.parse().ok()?))
}

/// What one storm user keeps across its connections.
#[derive(Debug, Default)]
pub(crate) struct Resume {
    /// The latest position seen, parsed and as the server wrote it.
    offset: RefCell<Option<((u64, u64), String)>>,
    /// The channels of the last `/ops/connection-success`.
    channels: RefCell<Value>,
    /// Feed sequence number → copies received.
    got: RefCell<HashMap<u64, u32>>,
    /// `msg`s received without a position (a recorded one always carries it).
    unpositioned: Cell<u64>,
    /// Event frames that were not what they should be (not JSON, a `msg` without `s`).
    unparsed: Cell<u64>,
    /// The `recovery` of the last `/ops/connection-success` that had one.
    recovery: RefCell<Option<Value>>,
}

impl Resume {
    /// The numbers below `sent` never received, as at most 10 ranges `[first, last]` (the
    /// probe's diagnosis: which of its messages, in time, went missing).
    pub(crate) fn missing(&self, sent: u64) -> Vec<[u64; 2]> {
        let got = self.got.borrow();
        let mut ranges: Vec<[u64; 2]> = Vec::new();
        for seq in (0..sent).filter(|s| !got.contains_key(s)) {
            match ranges.last_mut() {
                Some(r) if r[1] + 1 == seq => r[1] = seq,
                _ => ranges.push([seq, seq]),
            }
        }
        ranges.truncate(10);
        ranges
    }

    /// `{"offset": .., "channels": [..]}` for `auth.recover`, once a position is known.
    pub(crate) fn recover(&self) -> Option<Value> {
        let offset = self.offset.borrow();
        let (_, text) = offset.as_ref()?;
        let channels = match &*self.channels.borrow() {
            Value::Array(c) => Value::Array(c.clone()),
            _ => Value::Array(Vec::new()),
        };
        Some(json!({"offset": text, "channels": channels}))
    }

    /// Records an event frame of namespace `ns`: a `msg` (its feed number and position) or
    /// `/ops/connection-success`; `true` for a `msg` that carried a position.
    pub(crate) fn on_frame(&self, text: &str, ns: &str) -> bool {
        let args = proto::event_body(text, ns).and_then(|b| serde_json::from_str::<Value>(b).ok());
        let Some(Value::Array(args)) = args else {
            self.unparsed.set(self.unparsed.get() + 1);
            return false;
        };
        match args.first().and_then(Value::as_str) {
            Some("msg") => self.on_msg(&args),
            Some(CONNECTION_SUCCESS) => {
                if let Some(info) = args.get(1) {
                    self.on_connection_success(info);
                }
                false
            }
            _ => false,
        }
    }

    /// `["msg", {"t", "s", "p"}, "<ms>-<seq>"]`.
    fn on_msg(&self, args: &[Value]) -> bool {
        // The position is an extra last argument, after the data.
        let at = match args {
            [_, _, .., last] => last.as_str().filter(|p| position(p).is_some()),
            _ => None,
        };
        match at {
            Some(p) => self.advance(p),
            None => self.unpositioned.set(self.unpositioned.get() + 1),
        }
        match args.get(1).and_then(|d| d.get("s")).and_then(Value::as_u64) {
            Some(seq) => *self.got.borrow_mut().entry(seq).or_default() += 1,
            None => self.unparsed.set(self.unparsed.get() + 1),
        }
        at.is_some()
    }

    /// `{"offset", "channels", "recovery"?, ..}`.
    fn on_connection_success(&self, info: &Value) {
        if let Some(offset) = info.get("offset").and_then(Value::as_str) {
            self.advance(offset);
        }
        if let Some(channels @ Value::Array(_)) = info.get("channels") {
            *self.channels.borrow_mut() = channels.clone();
        }
        if let Some(recovery) = info.get("recovery") {
            *self.recovery.borrow_mut() = Some(recovery.clone());
        }
    }

    /// The offset becomes `at` if it is a later position.
    fn advance(&self, at: &str) {
        let Some(parsed) = position(at) else { return };
        let mut offset = self.offset.borrow_mut();
        if offset.as_ref().is_none_or(|(current, _)| parsed > *current) {
            *offset = Some((parsed, at.to_owned()));
        }
    }
}

/// What the feeder sent.
#[derive(Debug)]
pub(crate) struct Fed {
    /// Per storm user, the sequence numbers sent to it and run by the server, ascending.
    sent: Vec<Vec<u64>>,
    /// Events the server answered with an error ack (not run, so not counted as sent), by code.
    refused: BTreeMap<String, u64>,
    /// How long it fed.
    seconds: f64,
    /// How late the latest-going event left after its time: the feeder's own lag.
    max_lag: Duration,
}

/// Sockets the feeder spreads its events over, user `k`'s always on socket `k % FEEDERS` (so
/// each user's events leave in order). A server runs one socket's events one at a time, each
/// awaiting its recording in Redis: one socket alone at the feed rate would be refused
/// (`overloaded`) as soon as the storm slows Redis's answers down.
const FEEDERS: usize = 16;
/// How long the feeder waits, after its last event, for the server's refusals (error acks)
/// before closing: a refusal is answered as the event arrives, a run event not at all.
const REFUSAL_WAIT: Duration = Duration::from_millis(500);

/// The feeder's task (a [`Worker`]): connects [`FEEDERS`] sockets to `addr` as its own user,
/// waits for [`RUNNING`], then sends `rate` events/s round-robin over users
/// `u0`..`u{users-1}` until told to stop, each with an ack id (its number), so that an event the
/// server refused (answered with an error ack; a run one gets no ack) is not counted as sent. `start` is the storm sockets' clock, so that `t` in
/// the data gives their latency.
async fn feed(
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
    state.store(CONNECTED, Ordering::SeqCst);
    while state.load(Ordering::SeqCst) == CONNECTED {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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

/// The count at the end of a recovery storm.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Events fed.
    pub(crate) sent: u64,
    /// Feed events received, copies included.
    pub(crate) received: u64,
    /// Distinct feed events received.
    pub(crate) distinct: u64,
    /// Events fed that their user received exactly once.
    pub(crate) exactly_once: u64,
    /// Events fed that their user never received.
    pub(crate) lost: u64,
    /// Of those, the ones of users whose socket did not come back.
    pub(crate) lost_not_back: u64,
    /// Copies beyond the first (received − distinct).
    pub(crate) duplicated: u64,
    /// Distinct events a user received that were not fed to it.
    pub(crate) unexpected: u64,
}

/// Counts, per user `k`: `sent[k]` (ascending) against `got[k]` (sequence number → copies);
/// `back[k]` says whether its socket came back.
pub(crate) fn tally(sent: &[Vec<u64>], got: &[&HashMap<u64, u32>], back: &[bool]) -> Tally {
    let mut t = Tally::default();
    let empty = HashMap::new();
    for (k, sent) in sent.iter().enumerate() {
        let got = got.get(k).copied().unwrap_or(&empty);
        let back = back.get(k).copied().unwrap_or(false);
        t.sent += sent.len() as u64;
        for seq in sent {
            match got.get(seq) {
                None | Some(0) => {
                    t.lost += 1;
                    t.lost_not_back += u64::from(!back);
                }
                Some(1) => t.exactly_once += 1,
                Some(_) => {}
            }
        }
    }
    for (k, got) in got.iter().enumerate() {
        let sent = sent.get(k).map_or(&[][..], Vec::as_slice);
        t.received += got.values().map(|&c| u64::from(c)).sum::<u64>();
        t.distinct += got.values().filter(|&&c| c > 0).count() as u64;
        t.unexpected += got
            .keys()
            .filter(|seq| sent.binary_search(seq).is_err())
            .count() as u64;
    }
    t.duplicated = t.received - t.distinct;
    t
}

/// What the reconnects that came back were told in `/ops/connection-success` → `recovery`.
fn told<'a>(recoveries: impl Iterator<Item = Option<&'a Value>>) -> Value {
    let (mut recovered, mut not, mut silent, mut replayed) = (0u64, 0u64, 0u64, 0u64);
    let mut reasons = BTreeMap::<String, u64>::new();
    for r in recoveries {
        let Some(r) = r else {
            silent += 1;
            continue;
        };
        replayed += r["replayed"].as_u64().unwrap_or(0);
        if r["recovered"].as_bool() == Some(true) {
            recovered += 1;
        } else {
            not += 1;
            let reason = r["reason"].as_str().unwrap_or("(none given)");
            *reasons.entry(reason.to_owned()).or_default() += 1;
        }
    }
    json!({
        "recovered": recovered,
        "not_recovered": not,
        "reasons": reasons,
        "replayed": replayed,
        "told_nothing": silent,
    })
}

/// The storm's recovery side: every storm user's [`Resume`] and the feeder.
#[derive(Debug)]
pub(crate) struct Recovering {
    /// Storm user `i`'s state.
    pub(crate) users: Vec<Rc<Resume>>,
    feeder: Worker<Fed>,
    ns: String,
    rate: u64,
    /// Users that had a position to recover from when node A was killed.
    offsets_at_kill: Cell<usize>,
}

impl Recovering {
    /// State for `n` users, and the feeder (user `u{n+1}`, `token`) connecting to `survivor`;
    /// its timestamps on `shared`'s clock.
    pub(crate) fn new(
        n: usize,
        survivor: SocketAddr,
        token: String,
        ns: &str,
        rate: u64,
        shared: &Shared,
    ) -> Self {
        let (feeder_ns, start) = (ns.to_owned(), shared.start);
        let feeder = Worker::spawn("feeder", move |state| {
            feed(survivor, token, feeder_ns, n, rate, start, state)
        });
        Self {
            users: (0..n).map(|_| Rc::default()).collect(),
            feeder,
            ns: ns.to_owned(),
            rate,
            offsets_at_kill: Cell::new(0),
        }
    }

    /// Waits until the feeder has connected.
    pub(crate) async fn connected(mut self) -> Result<Self, String> {
        self.feeder = self.feeder.connected().await?;
        Ok(self)
    }

    /// Starts the feed; answers how long to feed before the kill ([`LEAD`]).
    pub(crate) fn feed(&self) -> Duration {
        self.feeder.run();
        LEAD
    }

    /// Notes, as node A is killed, how many users have a position to recover from.
    pub(crate) fn at_kill(&self) {
        let with = self.users.iter().filter(|u| u.offset.borrow().is_some());
        self.offsets_at_kill.set(with.count());
    }

    /// After the storm `ended`: feeds [`TAIL`] more, stops the feeder, waits for the last
    /// deliveries (until none is missing, nothing new came for [`QUIET`], or [`SETTLE`]) and
    /// counts. `back[i]`: storm socket `i` came back; `shared`: the storm sockets' counters.
    pub(crate) async fn finish(
        self,
        back: &[bool],
        ended: Instant,
        shared: &Shared,
    ) -> Result<Value, String> {
        let Self {
            users,
            feeder,
            ns,
            rate,
            offsets_at_kill,
        } = self;
        tokio::time::sleep_until((ended + TAIL).into()).await;
        let fed = feeder.finish().await?;
        let count = || {
            let maps: Vec<_> = users.iter().map(|u| u.got.borrow()).collect();
            let got: Vec<&HashMap<u64, u32>> = maps.iter().map(|m| &**m).collect();
            tally(&fed.sent, &got, back)
        };
        let settling = Instant::now();
        let (mut last, mut quiet_since) = (None, Instant::now());
        let t = loop {
            let t = count();
            if t.lost == t.lost_not_back || settling.elapsed() >= SETTLE {
                break t;
            }
            if last != Some(t.received) {
                (last, quiet_since) = (Some(t.received), Instant::now());
            } else if quiet_since.elapsed() >= QUIET {
                break t;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let settle_ms = settling.elapsed().as_secs_f64() * 1e3;
        let sum = |f: fn(&Resume) -> u64| users.iter().map(|u| f(u)).sum::<u64>();
        let recoveries: Vec<_> = users.iter().map(|u| u.recovery.borrow()).collect();
        let came_back = recoveries
            .iter()
            .zip(back)
            .filter(|(_, b)| **b)
            .map(|(r, _)| r.as_ref());
        let lat = shared.latency.borrow();
        Ok(json!({
            "ns": ns,
            "feed_rate": rate,
            "feed_seconds": fed.seconds,
            "feed_per_s": t.sent as f64 / fed.seconds.max(1e-9),
            "feed_max_lag_ms": fed.max_lag.as_secs_f64() * 1e3,
            "feed_sockets": FEEDERS,
            "refused": fed.refused,
            "sent": t.sent,
            "received": t.received,
            "distinct": t.distinct,
            "exactly_once": t.exactly_once,
            "lost": t.lost,
            "lost_not_back": t.lost_not_back,
            "duplicated": t.duplicated,
            "unexpected": t.unexpected,
            "without_position": sum(|u| u.unpositioned.get()),
            "unparsed": sum(|u| u.unparsed.get()),
            "offsets_at_kill": offsets_at_kill.get(),
            "settle_ms": settle_ms,
            "told": told(came_back),
            "latency_ms": {
                "p50": storm::hist_ms(&lat, 0.5),
                "p99": storm::hist_ms(&lat, 0.99),
                "max": storm::hist_ms(&lat, 1.0),
            },
        }))
    }
}

fn fed_row(s: &Value) -> Option<String> {
    let r = s.get("recovery")?;
    let mut cell = format!(
        "{:.0} ({:.0}/s",
        storm::num(r, "sent")?,
        storm::num(r, "feed_rate")?
    );
    // Refused events were not run: they are not in the count, and say why here.
    for (code, n) in r["refused"].as_object().into_iter().flatten() {
        cell.push_str(&format!("; {n} more refused: {code}"));
    }
    cell.push(')');
    Some(cell)
}

fn received_row(s: &Value) -> Option<String> {
    let r = s.get("recovery")?;
    let mut cell = format!(
        "{:.0} / {:.0} / {:.0}",
        storm::num(r, "exactly_once")?,
        storm::num(r, "lost")?,
        storm::num(r, "duplicated")?
    );
    let notes = [
        ("lost by sockets not back", "lost_not_back"),
        ("not fed to their user", "unexpected"),
        ("without a position", "without_position"),
    ];
    for (what, k) in notes {
        if let Some(x) = storm::num(r, k).filter(|x| *x > 0.0) {
            cell.push_str(&format!("; {x:.0} {what}"));
        }
    }
    Some(cell)
}

fn told_row(s: &Value) -> Option<String> {
    let t = &s.get("recovery")?["told"];
    let mut cell = format!(
        "{:.0} of {:.0}",
        storm::num(t, "recovered")?,
        storm::num(s, "reconnected")?
    );
    let mut why: Vec<String> = t["reasons"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(reason, n)| format!("{reason}: {n}"))
        .collect();
    if let Some(x) = storm::num(t, "told_nothing").filter(|x| *x > 0.0) {
        why.push(format!("told nothing: {x:.0}"));
    }
    if !why.is_empty() {
        cell.push_str(&format!(" ({})", why.join(", ")));
    }
    Some(cell)
}

/// A row of the storm table: its label, and its cell from a run's `storm` results.
pub(crate) type Row = (&'static str, fn(&Value) -> Option<String>);

/// The storm table's rows for the recovery storm ("—" for the other runs).
pub(crate) const ROWS: [Row; 3] = [
    (
        "with recovery on: events fed to the storm's users during the storm (and run by the server)",
        fed_row,
    ),
    (
        "with recovery on: of those, received exactly once / lost / duplicated",
        received_row,
    ),
    (
        "with recovery on: reconnects told recovered (of those back)",
        told_row,
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "/bench-recovery";

    #[test]
    fn positions_order() {
        assert_eq!(position("1733430000000-3"), Some((1_733_430_000_000, 3)));
        assert!(position("1733430000000-10") > position("1733430000000-9"));
        assert!(position("1733430000001-0") > position("1733430000000-9"));
        assert_eq!(position("xx"), None);
        assert_eq!(position("1-"), None);
        assert_eq!(position("-1"), None);
    }

    #[test]
    fn msgs_give_their_position_and_sequence_number() {
        let r = Resume::default();
        assert_eq!(r.recover(), None);
        let frame = r#"42/bench-recovery,["msg",{"t":12,"s":7,"p":"xx"},"1733430000000-3"]"#;
        assert!(r.on_frame(frame, NS));
        // An older position does not move the offset back; a copy counts twice.
        let older = r#"42/bench-recovery,["msg",{"t":12,"s":7,"p":"xx"},"1733429999999-9"]"#;
        assert!(r.on_frame(older, NS));
        assert_eq!(
            r.recover(),
            Some(json!({"offset": "1733430000000-3", "channels": []}))
        );
        assert_eq!(r.got.borrow().get(&7), Some(&2));
        // Without a position (a plain namespace): counted, the offset unchanged.
        assert!(!r.on_frame(r#"42/bench-recovery,["msg",{"t":1,"s":8,"p":""}]"#, NS));
        assert_eq!(r.unpositioned.get(), 1);
        assert_eq!(r.got.borrow().get(&8), Some(&1));
        // A last string argument that is not a position is no position.
        assert!(!r.on_frame(r#"42/bench-recovery,["msg",{"s":9},"hello"]"#, NS));
        assert_eq!(r.unpositioned.get(), 2);
        // Not JSON, or no sequence number: counted as unparsed, nothing panics.
        assert!(!r.on_frame(r#"42/bench-recovery,["msg",{"t":1"#, NS));
        assert!(r.on_frame(r#"42/bench-recovery,["msg",{},"1733430000001-0"]"#, NS));
        assert!(!r.on_frame(r#"42/bench-recovery,["msg"]"#, NS));
        assert_eq!(r.unparsed.get(), 3);
        assert_eq!(
            r.recover().unwrap()["offset"],
            "1733430000001-0",
            "the later position wins"
        );
    }

    #[test]
    fn connection_success_gives_offset_channels_and_recovery() {
        let r = Resume::default();
        let first = r#"42/bench-recovery,["/ops/connection-success",{"client_id":"a","client_key":"a","user_id":"u1","channels":["c1"],"namespace":"/bench-recovery","offset":"1733430000000-3"}]"#;
        assert!(!r.on_frame(first, NS));
        assert_eq!(
            r.recover(),
            Some(json!({"offset": "1733430000000-3", "channels": ["c1"]}))
        );
        assert_eq!(*r.recovery.borrow(), None);
        let again = r#"42/bench-recovery,["/ops/connection-success",{"channels":[],"offset":"1733430000009-0","recovery":{"recovered":false,"replayed":0,"reason":"expired","lost":["user:u1"]}}]"#;
        assert!(!r.on_frame(again, NS));
        assert_eq!(
            r.recover(),
            Some(json!({"offset": "1733430000009-0", "channels": []}))
        );
        let told = told([r.recovery.borrow().as_ref(), None].into_iter());
        assert_eq!(
            told,
            json!({"recovered": 0, "not_recovered": 1, "reasons": {"expired": 1}, "replayed": 0, "told_nothing": 1})
        );
        // Another namespace's frames and odd payloads change nothing.
        assert!(!r.on_frame(r#"42/bench,["msg",{"s":1},"1733430000010-0"]"#, NS));
        assert!(!r.on_frame(r#"42/bench-recovery,["/ops/connection-success","x"]"#, NS));
        assert!(!r.on_frame(r#"42/bench-recovery,{"a":1}"#, NS));
        assert_eq!(r.recover().unwrap()["offset"], "1733430000009-0");
    }

    #[test]
    fn tally_counts_lost_and_duplicated() {
        let sent = vec![vec![0, 2, 4], vec![1, 3, 5], vec![6]];
        let u0 = HashMap::from([(0, 1), (2, 2), (4, 1)]);
        let u1 = HashMap::from([(1, 1), (5, 3), (9, 1)]);
        let u2 = HashMap::new();
        let t = tally(&sent, &[&u0, &u1, &u2], &[true, true, false]);
        assert_eq!(
            t,
            Tally {
                sent: 7,
                received: 9,
                distinct: 6,
                exactly_once: 3,
                lost: 2,
                lost_not_back: 1,
                duplicated: 3,
                unexpected: 1,
            }
        );
        // Everything once: nothing lost, nothing duplicated.
        let all = HashMap::from([(0, 1), (2, 1), (4, 1)]);
        let t = tally(&sent[..1], &[&all], &[true]);
        assert_eq!((t.exactly_once, t.lost, t.duplicated), (3, 0, 0));
    }

    #[test]
    fn table_rows() {
        let s = json!({"reconnected": 10, "recovery": {"sent": 1200, "feed_rate": 2000, "exactly_once": 1190, "lost": 10, "lost_not_back": 10, "duplicated": 0, "unexpected": 0, "without_position": 0, "told": {"recovered": 9, "not_recovered": 1, "reasons": {"expired": 1}, "told_nothing": 0}}});
        assert_eq!(fed_row(&s).unwrap(), "1200 (2000/s)");
        let mut refused = s.clone();
        refused["recovery"]["refused"] = json!({"overloaded": 3});
        assert_eq!(
            fed_row(&refused).unwrap(),
            "1200 (2000/s; 3 more refused: overloaded)"
        );
        assert_eq!(
            received_row(&s).unwrap(),
            "1190 / 10 / 0; 10 lost by sockets not back"
        );
        assert_eq!(told_row(&s).unwrap(), "9 of 10 (expired: 1)");
        assert_eq!(told_row(&json!({"reconnected": 10})), None);
    }
}
