//! The recovery tables (`loadgen recovery-report`): the closed-loop unicast and fan-out with
//! recovery off (`/bench`) and on (`/bench-recovery`), and the jitter runs of
//! `bench/node/jitter.mjs`.

use serde_json::Value;

use crate::report::{fmt_ms, fmt_num};

/// The namespace of tether's bench server that has recovery on.
pub(crate) const RECOVERY_NS: &str = "/bench-recovery";

fn f(v: &Value, path: &[&str]) -> Option<f64> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_f64()
}

fn or_dash(x: Option<String>) -> String {
    x.unwrap_or_else(|| "—".to_owned())
}

fn pair_ms(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} / {}", fmt_ms(a), fmt_ms(b)),
        _ => "—".to_owned(),
    }
}

fn is_on(v: &Value) -> bool {
    v["ns"].as_str() == Some(RECOVERY_NS)
}

/// The on run's deliveries/s in `scenario` ÷ those of the off run with the same nodes and
/// tag, in %.
fn kept(rows: &[&Value], v: &Value, scenario: &str) -> Option<f64> {
    let off = rows
        .iter()
        .find(|o| !is_on(o) && o["nodes"] == v["nodes"] && o["tag"] == v["tag"])?;
    let off = f(off, &[scenario, "per_s"])?;
    Some(100.0 * f(v, &[scenario, "per_s"])? / off.max(1e-9))
}

/// One closed-loop scenario (`unicast` or `fanout`) with recovery off and on: one row per run,
/// by nodes and tag (the repetition), off first; the on rows say how much of the off run's
/// throughput they kept. Then, per node count, the median of those shares.
pub(crate) fn scenario_table(runs: &[Value], scenario: &str) -> String {
    let mut rows: Vec<&Value> = runs.iter().filter(|v| v.get(scenario).is_some()).collect();
    rows.sort_by_key(|v| (v["nodes"].as_u64(), v["tag"].to_string(), is_on(v)));
    let mut out = String::from(
        "| nodes | run | recovery | deliveries/s | on ÷ off | p50 / p99 (ms) | server CPU per delivery (µs) | Redis CPU per delivery (µs) | Redis CPU (s) | lost | carried a position |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for v in &rows {
        let u = &v[scenario];
        let per_s = f(u, &["per_s"]);
        let ratio = if is_on(v) {
            kept(&rows, v, scenario).map(|r| format!("{r:.0} %"))
        } else {
            None
        };
        let deliveries = f(u, &["deliveries"]).unwrap_or(0.0);
        let positioned =
            f(u, &["with_position"]).map(|p| format!("{:.0} %", 100.0 * p / deliveries.max(1.0)));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            v["nodes"],
            v["tag"].as_str().filter(|t| !t.is_empty()).unwrap_or("—"),
            if is_on(v) { "on" } else { "off" },
            or_dash(per_s.map(fmt_num)),
            or_dash(ratio),
            pair_ms(f(u, &["p50_ms"]), f(u, &["p99_ms"])),
            or_dash(f(u, &["server_cpu_us_per_delivery"]).map(fmt_num)),
            or_dash(f(u, &["redis_cpu_us_per_delivery"]).map(fmt_num)),
            or_dash(f(u, &["redis_cpu_s"]).map(|s| format!("{s:.2}"))),
            or_dash(f(u, &["lost"]).map(fmt_num)),
            or_dash(positioned),
        ));
    }
    let mut nodes: Vec<u64> = rows.iter().filter_map(|v| v["nodes"].as_u64()).collect();
    nodes.dedup();
    for n in nodes {
        let mut shares: Vec<f64> = rows
            .iter()
            .filter(|v| is_on(v) && v["nodes"].as_u64() == Some(n))
            .filter_map(|v| kept(&rows, v, scenario))
            .collect();
        shares.sort_by(f64::total_cmp);
        if let (Some(lo), Some(hi)) = (shares.first(), shares.last()) {
            out.push_str(&format!(
                "\n{n} node(s): recovery on kept {:.0} % of the off throughput (median of {} pairs; {lo:.0}–{hi:.0} %)",
                shares[shares.len() / 2],
                shares.len(),
            ));
        }
    }
    out.push('\n');
    out
}

/// The jitter runs, in the order given.
pub(crate) fn jitter_table(runs: &[Value]) -> String {
    let mut out = String::from(
        "| server | recovery | nodes | events sent | delivered % | duplicates | out of order | reconnects | replayed | catch-up p50 / p99 (ms) | replayed age p50 / p99 (ms) | live p50 / p99 (ms) | server CPU (s) | Redis CPU (s) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for v in runs.iter().filter(|v| v["jitter"] == true) {
        let server = match v["impl"].as_str() {
            Some("node") => "Node socket.io",
            Some(other) => other,
            None => "?",
        };
        let count = |k: &str| or_dash(f(v, &[k]).map(fmt_num));
        let q = |k: &str| pair_ms(f(v, &[k, "p50"]), f(v, &[k, "p99"]));
        out.push_str(&format!(
            "| {server} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            v["label"].as_str().unwrap_or("?"),
            v["nodes"],
            count("sent"),
            or_dash(delivered(v)),
            count("duplicates"),
            count("out_of_order"),
            count("reconnects"),
            count("replayed_events"),
            q("catch_up_ms"),
            q("replayed_age_ms"),
            q("live_ms"),
            or_dash(f(v, &["server_cpu_s"]).map(|s| format!("{s:.1}"))),
            or_dash(f(v, &["redis_cpu_s"]).map(|s| format!("{s:.2}"))),
        ));
    }
    out
}

/// `99.77 (92 missing)`, or `100` when nothing is.
fn delivered(v: &Value) -> Option<String> {
    let pct = f(v, &["delivered_pct"])?;
    Some(match f(v, &["missing"]) {
        Some(m) if m > 0.0 => format!("{pct:.2} ({m} missing)"),
        _ => format!("{pct:.0}"),
    })
}

/// `v` without its field `key`.
fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove(key);
    }
    v
}

/// One line per jitter run on how it was set up.
pub(crate) fn jitter_notes(runs: &[Value]) -> String {
    let mut out = String::new();
    for v in runs.iter().filter(|v| v["jitter"] == true) {
        out.push_str(&format!(
            "- {} ({}) × {} node(s): {} users × {} events/s for {} s from {} senders, up {}–{} ms then down {}–{} ms; refused by the server {}, sender drops {}; missing by the user's state at emission {}; recoveries {}; client CPU {:.1} s\n",
            v["impl"].as_str().unwrap_or("?"),
            v["label"].as_str().unwrap_or("?"),
            v["nodes"],
            v["users"],
            v["rate"],
            v["duration_s"],
            v["senders"],
            v["blip_ms"][0],
            v["blip_ms"][1],
            v["down_ms"][0],
            v["down_ms"][1],
            v["refused"],
            v["sender_drops"],
            without(&v["missing_by_state"], "sample"),
            v["recoveries"],
            f(v, &["client_cpu_s"]).unwrap_or(0.0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn on_rows_compare_with_off() {
        let off = json!({"impl": "tether", "nodes": 1, "ns": "/bench", "unicast": {"per_s": 20000.0, "p50_ms": 1.0, "p99_ms": 2.0, "deliveries": 100.0, "with_position": 0, "lost": 0}});
        let on = json!({"impl": "tether", "nodes": 1, "ns": RECOVERY_NS, "unicast": {"per_s": 15000.0, "p50_ms": 1.0, "p99_ms": 3.0, "deliveries": 100.0, "with_position": 100, "lost": 0, "redis_cpu_s": 0.0, "redis_cpu_us_per_delivery": 0.0}});
        let t = scenario_table(&[on, off], "unicast");
        assert!(t.contains("1 node(s): recovery on kept 75 % of the off throughput (median of 1 pairs; 75–75 %)"), "{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("| 1 | — | off | 20,000 | — |"), "{t}");
        assert!(
            lines[3].starts_with("| 1 | — | on | 15,000 | 75 % |"),
            "{t}"
        );
        assert!(lines[3].ends_with("| 0 | 100 % |"), "{t}");
    }

    #[test]
    fn the_fan_out_table_compares_the_fan_out_of_the_same_runs() {
        let off = json!({"nodes": 2, "ns": "/bench", "unicast": {"per_s": 1.0}, "fanout": {"per_s": 300000.0, "deliveries": 10.0, "with_position": 0}});
        let on = json!({"nodes": 2, "ns": RECOVERY_NS, "unicast": {"per_s": 1.0}, "fanout": {"per_s": 240000.0, "deliveries": 10.0, "with_position": 10}});
        let t = scenario_table(&[off, on], "fanout");
        assert!(t.contains("2 node(s): recovery on kept 80 %"), "{t}");
        assert!(
            t.lines()
                .nth(3)
                .unwrap()
                .starts_with("| 2 | — | on | 240,000 | 80 % |"),
            "{t}"
        );
    }

    #[test]
    fn jitter_rows() {
        let run = json!({"jitter": true, "impl": "node", "label": "off", "nodes": 1, "sent": 4000, "delivered_pct": 87.456, "duplicates": 0, "out_of_order": 0, "reconnects": 300, "replayed_events": 0, "catch_up_ms": {"p50": null, "p99": null}, "replayed_age_ms": {"p50": null}, "live_ms": {"p50": 0.5, "p99": 2.0}, "server_cpu_s": 3.21, "redis_cpu_s": null, "missing": 502});
        let t = jitter_table(&[run]);
        assert!(
            t.contains("| Node socket.io | off | 1 | 4000 | 87.46 (502 missing) | 0 | 0 | 300 | 0 | — | — | 0.50 / 2.00 | 3.2 | — |"),
            "{t}"
        );
    }
}
