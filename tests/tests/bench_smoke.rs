//! Keeps the benchmark working (not a speed test): builds the bench server and the load
//! generator (debug), runs `bench/run.sh --smoke --tether-only` against them and checks the
//! table it prints has real deliveries; then a reconnect storm of 50 sockets (`--storm`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `target/debug` (or wherever this test binary lives: `<target>/<profile>/deps/..`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The number in the `deliveries/s` cell of the tether column of a row.
fn tether_deliveries(table: &str, scenario: &str) -> Option<f64> {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("| {scenario} | deliveries/s |")))?;
    let cell = line.split('|').nth(3)?.trim().replace(',', "");
    cell.parse().ok()
}

#[test]
fn bench_smoke_run_prints_a_table_with_deliveries() {
    tether_tests::guard_against_hangs();
    let root = repo_root();
    let bins = bin_dir();
    // `cargo test` builds the bench crates' test harnesses, not their binaries: build them
    // (a no-op when fresh). The profile matches this test's.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(&root)
        .args(["build", "-p", "tether-bench-server", "-p", "tether-loadgen"]);
    if bins.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().unwrap();
    assert!(status.success(), "building the bench binaries failed");

    let (stdout, stderr) = run_bench(&root, &bins, "bench-smoke", &["--smoke"]);
    assert!(
        stdout.contains("| scenario | metric | tether |"),
        "{stdout}"
    );

    let unicast = tether_deliveries(&stdout, "3 unicast to user, 1 node");
    assert!(
        unicast.is_some_and(|d| d > 0.0),
        "no unicast deliveries in:\n{stdout}\n{stderr}"
    );
    let fanout = tether_deliveries(&stdout, "4 fan-out to channel, 1 node");
    assert!(
        fanout.is_some_and(|d| d > 0.0),
        "no fan-out deliveries in:\n{stdout}"
    );
    // Nothing lost on one node, and the contract's bad token is refused.
    let lost_row = stdout
        .lines()
        .find(|l| l.starts_with("| 3 unicast to user, 1 node | lost |"))
        .unwrap();
    assert_eq!(lost_row.split('|').nth(3).unwrap().trim(), "0", "{stdout}");
    assert!(
        stdout.contains("tether × 1 node(s)") && !stdout.contains("bad token refused: false"),
        "{stdout}"
    );

    // The reconnect storm, tiny: 50 sockets, their node killed, all back on the other.
    let (stdout, stderr) = run_bench(
        &root,
        &bins,
        "bench-smoke-storm",
        &["--storm", "--storm-n", "50"],
    );
    assert!(
        stdout.contains("| reconnected to the survivor | 50 (100.0 %) |"),
        "{stdout}\n{stderr}"
    );
}

/// Runs `bench/run.sh --tether-only` with `args` on the binaries in `bins`, results under
/// `bins/out`; asserts it succeeded and answers its stdout and stderr.
fn run_bench(root: &Path, bins: &Path, out: &str, args: &[&str]) -> (String, String) {
    let output = Command::new("bash")
        .current_dir(root)
        .arg("bench/run.sh")
        .args(args)
        .args(["--tether-only", "--bin-dir"])
        .arg(bins)
        .arg("--out")
        .arg(bins.join(out))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "bench/run.sh {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    (stdout, stderr)
}
