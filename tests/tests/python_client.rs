//! python-socketio (installed by `scripts/setup.sh` into `tests/python/.venv`) against the chat
//! demo: the README's Python recovery snippet receives, after a reconnect, the notifications it
//! missed, in order, and is told it recovered.

use std::path::PathBuf;

use serde_json::{Value, json};
use tether::auth::Key;
use tether_examples::chat::{self, ChatConfig, NotifySecret};
use tether_tests::TestServer;

const SECRET: &str = "python-notify-secret-0123456789";

fn python_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python")
}

#[tokio::test]
async fn python_socketio_recovers_what_it_missed_with_the_readme_snippet() {
    let python = python_dir().join(".venv/bin/python");
    assert!(
        python.exists(),
        "python-socketio is not installed: run `scripts/setup.sh` (it creates {})",
        python.display()
    );
    let config = ChatConfig::new(
        Key::generate(),
        NotifySecret::new(SECRET).expect("a valid secret"),
    );
    let app = chat::app_with(config).await.expect("build the chat app");
    let server = TestServer::start(app).await;
    let base = format!("http://{}", server.addr);
    let output = tokio::process::Command::new(&python)
        .arg(python_dir().join("recover.py"))
        .arg(&base)
        .arg(SECRET)
        .output()
        .await
        .expect("run recover.py");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "recover.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(
        result,
        json!({
            "received": [{"n": 0}, {"n": 1}, {"n": 2}],
            "recovery": {"recovered": true, "replayed": 3},
        })
    );
}
