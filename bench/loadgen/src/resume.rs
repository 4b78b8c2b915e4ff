//! The reconnect storm with recovery on (`loadgen storm --recovery`, namespace
//! `/bench-recovery`):
//!
//! - [`Resume`]: what a storm user keeps across its connections, as a client of tether's
//!   recovery does: the latest position it saw (the `offset` of `/ops/connection-success` and
//!   the last argument of each recorded `msg`), its channels, then sent back in `auth.recover`;
//!   and for the count, the feed events it received (by sequence number, with copies), the
//!   `msg`s that came without a position, and what its reconnect was told (`recovery`);
//! - [`Recovering`]: every storm user's state and the feeder (`feeder.rs`), driven by the storm;
//!   after it, the feed's tail, the wait for deliveries to settle and the count (`tally.rs`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::conn::Shared;
use crate::feeder::{FEEDERS, Fed, feed};
use crate::proto;
use crate::storm;
use crate::tally::{tally, told};
use crate::worker::{self, Worker};

/// The event that tells a socket its connection info (and, on a reconnect, its recovery).
const CONNECTION_SUCCESS: &str = "/ops/connection-success";
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
        worker::settle(SETTLE, QUIET, Duration::from_millis(100), || {
            let t = count();
            (t.lost == t.lost_not_back, t.received)
        })
        .await;
        let settle_ms = settling.elapsed().as_secs_f64() * 1e3;
        let t = count();
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
}
