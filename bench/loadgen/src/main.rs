//! `loadgen`: the load generator of tether's benchmarks.
//!
//! A minimal socket.io v5 / engine.io v4 client (websocket transport only) on one
//! single-threaded tokio runtime, cheaper than the servers it measures. It drives any server
//! that implements the bench contract (`bench/README.md`): tether's `bench-server`, the Node
//! socket.io baseline and plain socketioxide.
//!
//! ```text
//! loadgen run --impl tether --url 127.0.0.1:3000 --pid 1234 [--n 2000] [--duration 8] ..
//! loadgen report results/*.json                      # one markdown table
//! loadgen recovery-report results/recovery-*.json     # the recovery tables
//! loadgen free-port                                    # a free loopback TCP port
//! loadgen wait-port 127.0.0.1:3000 [--timeout 30]      # until something listens there
//! ```
//!
//! The token key comes from `BENCH_KEY` (base64url, 32 bytes). Only loopback addresses are
//! accepted.

mod conn;
mod hist;
mod proto;
mod recovery;
mod report;
mod run;
mod sys;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::str::FromStr;
use std::time::{Duration, Instant};

use run::Config;

const USAGE: &str = "usage:
  loadgen run --impl NAME --url HOST:PORT [--url ..] [--pid PID ..] [options]
      --bystander-pid PID   a cluster node holding no socket: its CPU is reported per phase
      --redis-pid PID       the Redis server the nodes share: its CPU is reported per phase
      --n N                 sockets held (2000)
      --sockets-per-user S  sockets per user (1)
      --duration SECS       per timed phase (8)
      --settle SECS         pause before memory readings (1)
      --drain SECS          wait for stragglers after a phase (3)
      --concurrency C       parallel connects (64)
      --window W            outstanding unicast deliveries (1000)
      --fanout K            channel members (500)
      --fanout-window M     outstanding fan-out messages (4)
      --rate R              open-loop messages/s (2000)
      --churn-cycles C      churn cycles (5)
      --churn-batch B       sockets per churn cycle (500)
      --pad BYTES           message padding (64)
      --scenarios LIST      comma-separated: all, unicast, fanout, latency, churn (all)
      --ns PATH             namespace (/bench)
      --tag TEXT            recorded as is in the results (e.g. which repetition)
      --out FILE            write the JSON there too
  loadgen report [--missing IMPL:NODES=REASON ..] FILE..
  loadgen recovery-report FILE..   unicast recovery off/on (--ns /bench-recovery), jitter runs
  loadgen free-port
  loadgen wait-port HOST:PORT [--timeout SECS]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("report") => cmd_report(&args[1..]),
        Some("recovery-report") => cmd_recovery_report(&args[1..]),
        Some("free-port") => free_port(),
        Some("wait-port") => wait_port(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `--flag value` pairs, in order.
fn pairs(args: &[String]) -> Result<Vec<(&str, &str)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        out.push((flag.as_str(), value.as_str()));
    }
    Ok(out)
}

fn parse<T: FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse().map_err(|_| format!("{flag}: cannot parse `{v}`"))
}

fn loopback(v: &str) -> Result<SocketAddr, String> {
    let v = v
        .trim_start_matches("http://")
        .trim_start_matches("ws://")
        .trim_end_matches('/');
    let v = v.replacen("localhost", "127.0.0.1", 1);
    let addr: SocketAddr = v
        .parse()
        .map_err(|_| format!("`{v}` is not HOST:PORT with an IP address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address: the load generator only targets this machine"
        ));
    }
    Ok(addr)
}

fn secs(flag: &str, v: &str) -> Result<Duration, String> {
    let s: f64 = parse(flag, v)?;
    if !(0.0..=3600.0).contains(&s) {
        return Err(format!("{flag}: {s} s is out of range"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn cmd_run(args: &[String]) -> Result<(), String> {
    let key = std::env::var("BENCH_KEY").map_err(|_| "set BENCH_KEY (base64url, 32 bytes)")?;
    let mut cfg = Config {
        implementation: String::new(),
        urls: Vec::new(),
        pids: Vec::new(),
        bystanders: Vec::new(),
        redis: Vec::new(),
        ns: "/bench".to_owned(),
        tag: String::new(),
        key: sys::decode_key(&key)?,
        n: 2000,
        sockets_per_user: 1,
        duration: Duration::from_secs(8),
        settle: Duration::from_secs(1),
        drain: Duration::from_secs(3),
        concurrency: 64,
        window: 1000,
        fanout: 500,
        fanout_window: 4,
        rate: 2000,
        churn_cycles: 5,
        churn_batch: 500,
        pad: 64,
        scenarios: vec!["all".to_owned()],
    };
    let mut out_file = None;
    for (flag, v) in pairs(args)? {
        match flag {
            "--impl" => cfg.implementation = v.to_owned(),
            "--url" => cfg.urls.push(loopback(v)?),
            "--pid" => cfg.pids.push(parse(flag, v)?),
            "--bystander-pid" => cfg.bystanders.push(parse(flag, v)?),
            "--redis-pid" => cfg.redis.push(parse(flag, v)?),
            "--n" => cfg.n = parse(flag, v)?,
            "--sockets-per-user" => cfg.sockets_per_user = parse(flag, v)?,
            "--duration" => cfg.duration = secs(flag, v)?,
            "--settle" => cfg.settle = secs(flag, v)?,
            "--drain" => cfg.drain = secs(flag, v)?,
            "--concurrency" => cfg.concurrency = parse(flag, v)?,
            "--window" => cfg.window = parse(flag, v)?,
            "--fanout" => cfg.fanout = parse(flag, v)?,
            "--fanout-window" => cfg.fanout_window = parse(flag, v)?,
            "--rate" => cfg.rate = parse(flag, v)?,
            "--churn-cycles" => cfg.churn_cycles = parse(flag, v)?,
            "--churn-batch" => cfg.churn_batch = parse(flag, v)?,
            "--pad" => cfg.pad = parse(flag, v)?,
            "--scenarios" => cfg.scenarios = v.split(',').map(str::to_owned).collect(),
            "--ns" => cfg.ns = v.to_owned(),
            "--tag" => cfg.tag = v.to_owned(),
            "--out" => out_file = Some(v.to_owned()),
            _ => return Err(format!("unknown flag {flag}\n{USAGE}")),
        }
    }
    if cfg.urls.is_empty() || cfg.implementation.is_empty() {
        return Err(format!(
            "--impl and at least one --url are required\n{USAGE}"
        ));
    }
    if cfg.n == 0 || cfg.sockets_per_user == 0 || cfg.n > 100_000 || cfg.churn_cycles > 1000 {
        return Err("--n must be 1..=100000, --sockets-per-user ≥ 1, --churn-cycles ≤ 1000".into());
    }
    if cfg.pad > 64 * 1024 {
        return Err("--pad must be at most 65536".into());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, run::run(&cfg))?;
    let text = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
    if let Some(path) = out_file {
        std::fs::write(&path, &text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    println!("{text}");
    Ok(())
}

fn cmd_report(args: &[String]) -> Result<(), String> {
    let mut missing = Vec::new();
    let mut runs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--missing" {
            let spec = it.next().ok_or("--missing needs IMPL:NODES=REASON")?;
            missing.push(parse_missing(spec)?);
            continue;
        }
        let text = std::fs::read_to_string(a).map_err(|e| format!("cannot read {a}: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{a} is not JSON: {e}"))?;
        runs.push(v);
    }
    if runs.is_empty() {
        return Err("report needs at least one results file".into());
    }
    print!("{}", report::table(&runs, &missing));
    println!();
    print!("{}", report::notes(&runs));
    Ok(())
}

fn cmd_recovery_report(args: &[String]) -> Result<(), String> {
    let mut runs = Vec::new();
    for a in args {
        let text = std::fs::read_to_string(a).map_err(|e| format!("cannot read {a}: {e}"))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{a} is not JSON: {e}"))?;
        runs.push(v);
    }
    if runs.iter().any(|v| v.get("unicast").is_some()) {
        println!("{}", recovery::unicast_table(&runs));
    }
    if runs.iter().any(|v| v["jitter"] == true) {
        println!("{}", recovery::jitter_table(&runs));
        print!("{}", recovery::jitter_notes(&runs));
    }
    Ok(())
}

/// `tether:2=cluster mode pending` → `("tether", 2, "cluster mode pending")`.
fn parse_missing(spec: &str) -> Result<report::Missing, String> {
    let err = || format!("--missing {spec}: expected IMPL:NODES=REASON");
    let (what, why) = spec.split_once('=').ok_or_else(err)?;
    let (implementation, nodes) = what.split_once(':').ok_or_else(err)?;
    let nodes = nodes.parse().map_err(|_| err())?;
    Ok((implementation.to_owned(), nodes, why.to_owned()))
}

fn free_port() -> Result<(), String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = l.local_addr().map_err(|e| e.to_string())?.port();
    println!("{port}");
    Ok(())
}

fn wait_port(args: &[String]) -> Result<(), String> {
    let addr = loopback(args.first().ok_or(USAGE)?)?;
    let mut timeout = Duration::from_secs(30);
    for (flag, v) in pairs(&args[1..])? {
        match flag {
            "--timeout" => timeout = secs(flag, v)?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {addr} after {timeout:?}"))
}
