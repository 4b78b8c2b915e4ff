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
//! loadgen storm --url A --pid A --url B --pid B [--n 10000]  # kill A, all reconnect to B
//! loadgen storm .. --recovery [--feed-rate 2000]       # the same on /bench-recovery, fed: lost?
//! loadgen storm-report results/storm-*.json           # the storm table
//! loadgen free-port                                    # a free loopback TCP port
//! loadgen wait-port 127.0.0.1:3000 [--timeout 30]      # until something listens there
//! ```
//!
//! The token key comes from `BENCH_KEY` (base64url, 32 bytes). Only loopback addresses are
//! accepted. `loadgen run --help` lists every option (clap).

mod conn;
mod feeder;
mod hist;
mod proto;
mod recovery;
mod report;
mod resume;
mod run;
mod storm;
mod sys;
mod tally;
mod worker;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use run::Config;

/// The load generator of tether's benchmarks (`bench/README.md`).
#[derive(Debug, Parser)]
#[command(name = "loadgen")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the scenarios against the servers and prints the results as JSON.
    Run(Box<RunArgs>),
    /// One markdown table from results files.
    Report {
        /// `IMPL:NODES=REASON`: a row that did not run, and why.
        #[arg(long, value_parser = parse_missing)]
        missing: Vec<report::Missing>,
        /// Results files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// The recovery tables (unicast off/on with `--ns /bench-recovery`, jitter runs).
    RecoveryReport {
        /// Results files.
        files: Vec<String>,
    },
    /// A reconnect storm: N sockets on the first node, which is killed (SIGKILL); all connect
    /// again to the second at once. With `--recovery`, they recover what they missed meanwhile
    /// (tether's `/bench-recovery`) while a feeder sends them events: how many were lost.
    Storm(StormArgs),
    /// The storm table from results files.
    StormReport {
        /// Results files.
        files: Vec<String>,
    },
    /// Prints a free loopback TCP port.
    FreePort,
    /// Waits until something listens on HOST:PORT.
    WaitPort {
        /// The address (loopback only).
        #[arg(value_parser = loopback)]
        addr: SocketAddr,
        /// How long to wait, in seconds.
        #[arg(long, default_value = "30", value_parser = secs)]
        timeout: Duration,
    },
}

#[derive(Debug, Args)]
struct StormArgs {
    /// Implementation name for the report.
    #[arg(long = "impl")]
    implementation: String,
    /// The node killed, then the survivor (loopback only).
    #[arg(long = "url", required = true, num_args = 1, value_parser = loopback)]
    urls: Vec<SocketAddr>,
    /// Their pids, in the same order.
    #[arg(long = "pid", required = true)]
    pids: Vec<u32>,
    /// Sockets.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Parallel connects before the storm.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds after the kill within which a socket may come back.
    #[arg(long, default_value = "60", value_parser = secs)]
    deadline: Duration,
    /// The namespace [default: /bench, or /bench-recovery with --recovery].
    #[arg(long)]
    ns: Option<String>,
    /// Recovery on (tether only): every socket reconnects with `auth.recover` (the last position
    /// it saw) while a feeder on the survivor sends the storm's users events, from 1 s before
    /// the kill to 1 s after the storm; reports how many were received exactly once, lost,
    /// duplicated, and what the reconnects were told.
    #[arg(long)]
    recovery: bool,
    /// With --recovery: events/s fed to the storm's users (round-robin).
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    feed_rate: u64,
    /// Writes the JSON there too.
    #[arg(long)]
    out: Option<String>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Implementation name for the report (`tether`, `node`, `socketioxide`).
    #[arg(long = "impl")]
    implementation: String,
    /// A server address (loopback only); socket `i` connects to url `i % count`.
    #[arg(long = "url", required = true, value_parser = loopback)]
    urls: Vec<SocketAddr>,
    /// A server's pid (for RSS and CPU), one per node.
    #[arg(long = "pid")]
    pids: Vec<u32>,
    /// A cluster node holding no socket: its CPU is reported per phase.
    #[arg(long = "bystander-pid")]
    bystanders: Vec<u32>,
    /// The Redis server the nodes share: its CPU is reported per phase.
    #[arg(long = "redis-pid")]
    redis: Vec<u32>,
    /// Sockets held.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    n: u32,
    /// Sockets per user.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    sockets_per_user: u32,
    /// Seconds per timed phase.
    #[arg(long, default_value = "8", value_parser = secs)]
    duration: Duration,
    /// Seconds of pause before memory readings.
    #[arg(long, default_value = "1", value_parser = secs)]
    settle: Duration,
    /// Seconds to wait for stragglers after a phase.
    #[arg(long, default_value = "3", value_parser = secs)]
    drain: Duration,
    /// Parallel connects.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Outstanding unicast deliveries.
    #[arg(long, default_value_t = 1000)]
    window: u64,
    /// Channel members.
    #[arg(long, default_value_t = 500)]
    fanout: usize,
    /// Outstanding fan-out messages.
    #[arg(long, default_value_t = 4)]
    fanout_window: u64,
    /// Open-loop messages/s.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    /// Churn cycles.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(..=1000))]
    churn_cycles: u32,
    /// Sockets per churn cycle.
    #[arg(long, default_value_t = 500)]
    churn_batch: usize,
    /// Message padding, in bytes.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(..=65_536))]
    pad: u32,
    /// Comma-separated: all, unicast, fanout, latency, churn.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// The namespace.
    #[arg(long, default_value = "/bench")]
    ns: String,
    /// Recorded as is in the results (e.g. which repetition).
    #[arg(long, default_value = "")]
    tag: String,
    /// Writes the JSON there too.
    #[arg(long)]
    out: Option<String>,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Run(args) => cmd_run(*args),
        Command::Report { missing, files } => cmd_report(&files, &missing),
        Command::RecoveryReport { files } => cmd_recovery_report(&files),
        Command::Storm(args) => cmd_storm(args),
        Command::StormReport { files } => {
            read_results(&files).map(|runs| print!("{}", storm::table(&runs)))
        }
        Command::FreePort => free_port(),
        Command::WaitPort { addr, timeout } => wait_port(addr, timeout),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("loadgen: {e}");
            ExitCode::FAILURE
        }
    }
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

fn secs(v: &str) -> Result<Duration, String> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("`{v}` is not a number of seconds"))?;
    if !(0.0..=3600.0).contains(&s) {
        return Err(format!("{s} s is out of range (0 to 3600)"));
    }
    Ok(Duration::from_secs_f64(s))
}

fn cmd_run(args: RunArgs) -> Result<(), String> {
    let key = std::env::var("BENCH_KEY").map_err(|_| "set BENCH_KEY (base64url, 32 bytes)")?;
    let cfg = Config {
        implementation: args.implementation,
        urls: args.urls,
        pids: args.pids,
        bystanders: args.bystanders,
        redis: args.redis,
        ns: args.ns,
        tag: args.tag,
        key: sys::decode_key(&key)?,
        n: args.n as usize,
        sockets_per_user: args.sockets_per_user as usize,
        duration: args.duration,
        settle: args.settle,
        drain: args.drain,
        concurrency: args.concurrency,
        window: args.window,
        fanout: args.fanout,
        fanout_window: args.fanout_window,
        rate: args.rate,
        churn_cycles: args.churn_cycles as usize,
        churn_batch: args.churn_batch,
        pad: args.pad as usize,
        scenarios: args.scenarios,
    };
    drive(run::run(&cfg), args.out.as_deref())
}

/// Runs a scenario on one single-threaded runtime and prints its results as JSON (and writes
/// them to `out`).
fn drive(
    scenario: impl std::future::Future<Output = Result<serde_json::Value, String>>,
    out: Option<&str>,
) -> Result<(), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, scenario)?;
    let text = serde_json::to_string_pretty(&result).map_err(|e| e.to_string())?;
    if let Some(path) = out {
        std::fs::write(path, &text).map_err(|e| format!("cannot write {path}: {e}"))?;
    }
    println!("{text}");
    Ok(())
}

fn cmd_storm(args: StormArgs) -> Result<(), String> {
    let key = std::env::var("BENCH_KEY").map_err(|_| "set BENCH_KEY (base64url, 32 bytes)")?;
    let (Ok(urls), Ok(pids)) = (
        <[SocketAddr; 2]>::try_from(args.urls),
        <[u32; 2]>::try_from(args.pids),
    ) else {
        return Err(
            "a storm takes two --url and two --pid: the node killed, then the survivor".into(),
        );
    };
    let cfg = storm::StormConfig {
        implementation: args.implementation,
        urls,
        pids,
        key: sys::decode_key(&key)?,
        n: args.n as usize,
        ns: args.ns.unwrap_or_else(|| {
            let ns = if args.recovery {
                recovery::RECOVERY_NS
            } else {
                "/bench"
            };
            ns.to_owned()
        }),
        concurrency: args.concurrency,
        deadline: args.deadline,
        feed_rate: args.recovery.then_some(args.feed_rate),
    };
    drive(storm::storm(&cfg), args.out.as_deref())
}

fn read_results(files: &[String]) -> Result<Vec<serde_json::Value>, String> {
    files
        .iter()
        .map(|a| {
            let text = std::fs::read_to_string(a).map_err(|e| format!("cannot read {a}: {e}"))?;
            serde_json::from_str(&text).map_err(|e| format!("{a} is not JSON: {e}"))
        })
        .collect()
}

fn cmd_report(files: &[String], missing: &[report::Missing]) -> Result<(), String> {
    let runs = read_results(files)?;
    print!("{}", report::table(&runs, missing));
    println!();
    print!("{}", report::notes(&runs));
    Ok(())
}

fn cmd_recovery_report(files: &[String]) -> Result<(), String> {
    let runs = read_results(files)?;
    for (scenario, title) in [
        ("unicast", "Unicast to a user"),
        ("fanout", "Fan-out to a channel"),
    ] {
        if runs.iter().any(|v| v.get(scenario).is_some()) {
            println!("### {title}\n");
            println!("{}", recovery::scenario_table(&runs, scenario));
        }
    }
    if runs.iter().any(|v| v["jitter"] == true) {
        println!("{}", recovery::jitter_table(&runs));
        print!("{}", recovery::jitter_notes(&runs));
    }
    Ok(())
}

/// `tether:2=cluster mode pending` → `("tether", 2, "cluster mode pending")`.
fn parse_missing(spec: &str) -> Result<report::Missing, String> {
    let err = || format!("`{spec}`: expected IMPL:NODES=REASON");
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

fn wait_port(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("nothing listens on {addr} after {timeout:?}"))
}
