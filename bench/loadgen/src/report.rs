//! One markdown table from the JSON results of several runs (tether, Node socket.io,
//! socketioxide; one node and two).

use serde_json::Value;

/// Whether a bigger number is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Better {
    Higher,
    Lower,
    /// No ratio (counts such as lost messages).
    None,
}

/// One row: which scenario, which metric, where it is in the JSON.
struct Row {
    scenario: &'static str,
    /// The run: nodes holding sockets, and nodes holding none (bystanders).
    nodes: (u64, u64),
    metric: &'static str,
    section: &'static str,
    field: &'static str,
    better: Better,
}

const fn row(
    scenario: &'static str,
    nodes: (u64, u64),
    metric: &'static str,
    section: &'static str,
    field: &'static str,
    better: Better,
) -> Row {
    Row {
        scenario,
        nodes,
        metric,
        section,
        field,
        better,
    }
}

#[rustfmt::skip]
const ROWS: &[Row] = &[
    row("1 idle", (1, 0), "RSS per idle socket (KiB)", "idle", "per_socket_kib", Better::Lower),
    row("1 idle, after traffic", (1, 0), "RSS per socket (KiB)", "idle", "per_socket_after_traffic_kib", Better::Lower),
    row("2 connect + auth", (1, 0), "connects/s", "connect", "per_s", Better::Higher),
    row("2 connect + auth", (1, 0), "connect p99 (ms)", "connect", "p99_ms", Better::Lower),
    row("3 unicast to user, 1 node", (1, 0), "deliveries/s", "unicast", "per_s", Better::Higher),
    row("3 unicast to user, 1 node", (1, 0), "p50 / p99 / max (ms)", "unicast", "p50_ms", Better::Lower),
    row("3 unicast to user, 1 node", (1, 0), "lost", "unicast", "lost", Better::None),
    row("3 unicast to user, 1 node", (1, 0), "server CPU per delivery (µs)", "unicast", "server_cpu_us_per_delivery", Better::Lower),
    row("3 unicast to user, 2 nodes", (2, 1), "deliveries/s", "unicast", "per_s", Better::Higher),
    row("3 unicast to user, 2 nodes", (2, 1), "p50 / p99 / max (ms)", "unicast", "p50_ms", Better::Lower),
    row("3 unicast to user, 2 nodes", (2, 1), "lost", "unicast", "lost", Better::None),
    row("3 unicast to user, 2 nodes", (2, 1), "server CPU per delivery (µs)", "unicast", "server_cpu_us_per_delivery", Better::Lower),
    row("3 unicast to user, 2 nodes", (2, 1), "CPU of a 3rd node holding no recipient (ms)", "unicast", "bystander_cpu_ms", Better::Lower),
    row("3 unicast to user, 2 nodes", (2, 1), "cluster CPU per delivery, all 3 nodes (µs)", "unicast", "cluster_cpu_us_per_delivery", Better::Lower),
    row("3 unicast to user, 4 nodes (2 idle)", (2, 2), "deliveries/s", "unicast", "per_s", Better::Higher),
    row("3 unicast to user, 4 nodes (2 idle)", (2, 2), "cluster CPU per delivery, all 4 nodes (µs)", "unicast", "cluster_cpu_us_per_delivery", Better::Lower),
    row("4 fan-out to channel, 1 node", (1, 0), "deliveries/s", "fanout", "per_s", Better::Higher),
    row("4 fan-out to channel, 1 node", (1, 0), "p50 / p99 / max (ms)", "fanout", "p50_ms", Better::Lower),
    row("4 fan-out to channel, 1 node", (1, 0), "lost", "fanout", "lost", Better::None),
    row("4 fan-out to channel, 1 node", (1, 0), "server CPU per delivery (µs)", "fanout", "server_cpu_us_per_delivery", Better::Lower),
    row("4 fan-out to channel, 2 nodes", (2, 1), "deliveries/s", "fanout", "per_s", Better::Higher),
    row("4 fan-out to channel, 2 nodes", (2, 1), "p50 / p99 / max (ms)", "fanout", "p50_ms", Better::Lower),
    row("4 fan-out to channel, 2 nodes", (2, 1), "lost", "fanout", "lost", Better::None),
    row("4 fan-out to channel, 2 nodes", (2, 1), "CPU of a 3rd node holding no recipient (ms)", "fanout", "bystander_cpu_ms", Better::Lower),
    row("4 fan-out to channel, 2 nodes", (2, 1), "cluster CPU per delivery, all 3 nodes (µs)", "fanout", "cluster_cpu_us_per_delivery", Better::Lower),
    row("4 fan-out to channel, 4 nodes (2 idle)", (2, 2), "deliveries/s", "fanout", "per_s", Better::Higher),
    row("4 fan-out to channel, 4 nodes (2 idle)", (2, 2), "cluster CPU per delivery, all 4 nodes (µs)", "fanout", "cluster_cpu_us_per_delivery", Better::Lower),
    row("5 open loop, 1 node", (1, 0), "p50 / p99 / max (ms)", "latency", "p50_ms", Better::Lower),
    row("5 open loop, 1 node", (1, 0), "lost", "latency", "lost", Better::None),
    row("5 open loop, 2 nodes", (2, 1), "p50 / p99 / max (ms)", "latency", "p50_ms", Better::Lower),
    row("5 open loop, 2 nodes", (2, 1), "lost", "latency", "lost", Better::None),
    row("5 open loop, 2 nodes", (2, 1), "CPU of a 3rd node holding no recipient (ms)", "latency", "bystander_cpu_ms", Better::Lower),
    row("6 churn", (1, 0), "connect+disconnect/s", "churn", "per_s", Better::Higher),
    row("6 churn", (1, 0), "RSS growth after churn (KiB)", "churn", "growth_kib", Better::None),
];

/// A run's results, found by implementation and node count.
struct Runs<'a>(&'a [Value]);

impl Runs<'_> {
    fn find(&self, implementation: &str, (nodes, bystanders): (u64, u64)) -> Option<&Value> {
        self.0.iter().find(|v| {
            let held = v["nodes"].as_u64();
            // Results from before the field: a cluster run had one bystander.
            let idle = v["bystanders"]
                .as_u64()
                .unwrap_or(u64::from(held.unwrap_or(1) > 1));
            v["impl"].as_str() == Some(implementation) && held == Some(nodes) && idle == bystanders
        })
    }
}

fn num(v: &Value, section: &str, field: &str) -> Option<f64> {
    v.get(section)?.get(field)?.as_f64()
}

pub(crate) fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 10_000.0 {
        // Thousands separators for rates.
        let s = format!("{:.0}", x);
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.3}")
    }
}

/// Milliseconds with two significant decimals below 10 ms.
pub(crate) fn fmt_ms(x: f64) -> String {
    if x < 10.0 {
        format!("{x:.2}")
    } else if x < 100.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.0}")
    }
}

/// The cell of one run for one row.
fn cell(run: Option<&Value>, row: &Row) -> Option<String> {
    let v = run?;
    if row.field == "p50_ms" {
        let p50 = num(v, row.section, "p50_ms")?;
        let p99 = num(v, row.section, "p99_ms")?;
        let max = num(v, row.section, "max_ms")?;
        return Some(format!(
            "{} / {} / {}",
            fmt_ms(p50),
            fmt_ms(p99),
            fmt_ms(max)
        ));
    }
    num(v, row.section, row.field).map(fmt_num)
}

/// The value a ratio compares (p99 for latency rows).
fn key_value(run: Option<&Value>, row: &Row) -> Option<f64> {
    let field = if row.field == "p50_ms" {
        "p99_ms"
    } else {
        row.field
    };
    num(run?, row.section, field)
}

fn ratio(tether: Option<f64>, other: Option<f64>, better: Better) -> String {
    let (Some(t), Some(o)) = (tether, other) else {
        return String::new();
    };
    let r = match better {
        Better::Higher if o > 0.0 => t / o,
        Better::Lower if t > 0.0 => o / t,
        _ => return String::new(),
    };
    format!("{r:.1}×")
}

/// Why a run is missing, for its cells: `(implementation, nodes, reason)`.
pub(crate) type Missing = (String, u64, String);

/// The markdown table; `missing` explains the runs that were not made.
pub(crate) fn table(runs: &[Value], missing: &[Missing]) -> String {
    let runs = Runs(runs);
    let mut out = String::new();
    out.push_str(
        "| scenario | metric | tether | Node socket.io | tether vs Node | socketioxide (2 nodes: socketioxide-redis) |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|\n");
    for row in ROWS {
        let tether = runs.find("tether", row.nodes);
        let node = runs.find("node", row.nodes);
        let sio = runs.find("socketioxide", row.nodes);
        if [tether, node, sio]
            .iter()
            .all(|run| run.and_then(|v| v.get(row.section)).is_none())
        {
            continue;
        }
        let shown = |run: Option<&Value>, name: &str| match cell(run, row) {
            Some(c) => c,
            None => missing
                .iter()
                .find(|(i, n, _)| i == name && *n == row.nodes.0 && run.is_none())
                .map_or_else(|| "—".to_owned(), |(_, _, why)| format!("n/a ({why})")),
        };
        let t = shown(tether, "tether");
        let n = shown(node, "node");
        let s = shown(sio, "socketioxide");
        let r = ratio(key_value(tether, row), key_value(node, row), row.better);
        let metric = if row.field == "p50_ms" && !r.is_empty() {
            format!("{} (ratio on p99)", row.metric)
        } else {
            row.metric.to_owned()
        };
        out.push_str(&format!(
            "| {} | {} | {t} | {n} | {r} | {s} |\n",
            row.scenario, metric
        ));
    }
    out
}

/// One line per run on how it was configured, and contract checks.
pub(crate) fn notes(runs: &[Value]) -> String {
    let mut out = String::new();
    for v in runs {
        let fanout = v.get("fanout");
        let latency = v.get("latency");
        out.push_str(&format!(
            "- {} × {} node(s){}: N={} sockets, {} s per phase; bad token refused: {}; fan-out K={} ({} channels); open loop {} msg/s; dropped connections: {}; loadgen CPU {:.1} s\n",
            v["impl"].as_str().unwrap_or("?"),
            v["nodes"],
            match v["bystanders"].as_u64() {
                Some(idle) if idle > 0 => format!(" + {idle} holding none"),
                _ => String::new(),
            },
            v["n"],
            v["duration_s"],
            v["auth"]["bad_token_refused"],
            fanout.map_or(Value::Null, |f| f["k"].clone()),
            fanout.map_or(Value::Null, |f| f["channels"].clone()),
            latency.map_or(Value::Null, |l| l["rate"].clone()),
            v["dropped_connections"],
            v["loadgen"]["cpu_s"].as_f64().unwrap_or(0.0),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn table_with_ratios_and_pending_cluster() {
        let tether = json!({"impl": "tether", "nodes": 1, "unicast": {"per_s": 50000.0, "p50_ms": 0.1, "p99_ms": 0.5, "max_ms": 2.0, "lost": 0}});
        let node = json!({"impl": "node", "nodes": 1, "unicast": {"per_s": 10000.0, "p50_ms": 1.0, "p99_ms": 5.0, "max_ms": 9.0, "lost": 0}});
        let node2 = json!({"impl": "node", "nodes": 2, "unicast": {"per_s": 8000.0, "p50_ms": 1.0, "p99_ms": 5.0, "max_ms": 9.0, "lost": 3}});
        let pending = [("tether".to_owned(), 2, "cluster mode pending".to_owned())];
        let t = table(&[tether, node, node2], &pending);
        assert!(
            t.contains("| 3 unicast to user, 1 node | deliveries/s | 50,000 | 10,000 | 5.0× |")
        );
        assert!(t.contains("(ratio on p99) | 0.10 / 0.50 / 2.00 | 1.00 / 5.00 / 9.00 | 10.0× |"));
        assert!(t.contains(
            "| 3 unicast to user, 2 nodes | deliveries/s | n/a (cluster mode pending) | 8000 |"
        ));
        assert!(!t.contains("6 churn"));
    }

    #[test]
    fn numbers() {
        assert_eq!(fmt_num(1_234_567.0), "1,234,567");
        assert_eq!(fmt_num(250.4), "250");
        assert_eq!(fmt_num(2.54), "2.5");
        assert_eq!(fmt_num(0.1234), "0.123");
        assert_eq!(fmt_num(0.0), "0");
    }
}
