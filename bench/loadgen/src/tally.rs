//! The count at the end of a storm with recovery on ([`tally`]: sent, received exactly once,
//! lost, duplicated; [`told`]: what the reconnects were told), and the storm table's rows for it
//! ([`ROWS`]).

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::storm;

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
pub(crate) fn told<'a>(recoveries: impl Iterator<Item = Option<&'a Value>>) -> Value {
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
