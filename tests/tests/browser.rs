//! Issue 6: the chat demo in a real browser. Builds the `chat` example, then runs
//! `tests/browser/chat.spec.mjs` (Node's test runner, playwright-core driving Debian's
//! `/usr/bin/chromium`): two users log in, join a channel, chat, DM, receive a notification
//! posted over HTTP with the notify secret (and none without it), see an error ack, and log out
//! and in again; on a second server with 2 s tokens (`TOKEN_TTL_SECS`), the page renews its
//! expired token by itself and, when it cannot, shows why the server disconnected it; a saved
//! session whose token expired connects again with a fresh one. The spec starts the servers
//! itself and gives each its `TETHER_KEY` and `NOTIFY_SECRET`. Screenshots land in
//! `tests/artifacts/`.
//!
//! Needs Chromium and the npm packages: `scripts/setup.sh` installs them. This test fails (never
//! skips) when they are missing.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole browser run: server start, two browser contexts, every step.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned()
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing ({}): run `scripts/setup.sh` to install Chromium and the npm packages",
        path.display()
    );
}

/// Builds the `chat` example and returns the path of its binary (as cargo reports it, so a
/// custom `CARGO_TARGET_DIR` works).
fn build_chat(root: &Path) -> PathBuf {
    let output = Command::new(env!("CARGO"))
        .args([
            "build",
            "--package",
            "tether-examples",
            "--example",
            "chat",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "`cargo build --example chat` failed"
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|msg| msg["reason"] == "compiler-artifact" && msg["target"]["name"] == "chat")
        .find_map(|msg| msg["executable"].as_str().map(PathBuf::from))
        .expect("cargo reported no `chat` executable")
}

#[test]
fn chat_demo_in_headless_chromium() {
    let root = workspace_root();
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    require(&chromium, "Chromium");
    let browser_dir = root.join("tests/browser");
    require(
        &browser_dir.join("node_modules/playwright-core"),
        "playwright-core (tests/browser/node_modules)",
    );
    require(
        &root.join("examples/chat/web/node_modules/socket.io-client/dist/socket.io.min.js"),
        "the page's socket.io client (examples/chat/web/node_modules)",
    );

    let chat = build_chat(&root);
    let started = Instant::now();
    let mut child = Command::new("node")
        .args(["--test", "--test-reporter=spec", "chat.spec.mjs"])
        .current_dir(&browser_dir)
        .env("CHAT_BIN", &chat)
        .env("CHROMIUM", &chromium)
        .env("ARTIFACTS", root.join("tests/artifacts"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start `node` (run `scripts/setup.sh` to install Node.js)");

    // Drain both pipes on threads so a chatty run cannot block on a full pipe.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    let report = format!("--- stdout\n{out}\n--- stderr\n{err}");
    match status {
        None => panic!("the browser test did not finish in {RUN_TIMEOUT:?}\n{report}"),
        Some(status) => assert!(
            status.success(),
            "the browser test failed ({status})\n{report}"
        ),
    }
    println!(
        "browser test passed in {:.1} s; screenshots in {}\n{out}",
        started.elapsed().as_secs_f64(),
        root.join("tests/artifacts").display()
    );
}

/// The demo binary says what it takes (`--help`: each flag with its environment variable), and a
/// bad value stops it with the reason and exit code 2 before it serves anything.
#[test]
fn the_demo_binary_explains_its_settings() {
    let chat = build_chat(&workspace_root());
    let help = Command::new(&chat)
        .arg("--help")
        .output()
        .expect("run chat");
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--port <PORT>",
        "[env: PORT=]",
        "--redis-url <REDIS_URL>",
        "--presence-grace-ms <PRESENCE_GRACE_MS>",
        "[env: PRESENCE_GRACE_MS=]",
        "--allowed-origins",
    ] {
        assert!(text.contains(flag), "`{flag}` missing from --help:\n{text}");
    }
    let bad = Command::new(&chat)
        .args(["--port", "http"])
        .output()
        .expect("run chat");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("invalid value 'http' for '--port <PORT>'"),
        "{err}"
    );
}
