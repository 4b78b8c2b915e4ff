//! `recovering.mjs`: socket.io-client sessions that recover what they missed (the README's
//! snippet) while their connections blip.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::{js_dir, require_node_modules};

/// A running `recovering.mjs`.
pub struct Recovering {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl std::fmt::Debug for Recovering {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recovering").finish_non_exhaustive()
    }
}

impl Recovering {
    /// Starts the sessions (see `recovering.mjs` for `config`) and waits until each connected.
    pub async fn start(config: &Value) -> Self {
        require_node_modules();
        let mut child = Command::new("node")
            .arg(js_dir().join("recovering.mjs"))
            .arg(config.to_string())
            .current_dir(js_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("start `node` (is Node.js installed?)");
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let mut this = Self {
            _child: child,
            stdin,
            lines,
        };
        let ready = this.next("ready", Duration::from_secs(20)).await;
        assert_eq!(ready["type"], "ready");
        this
    }

    async fn next(&mut self, what: &str, within: Duration) -> Value {
        let line = tokio::time::timeout(within, self.lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("recovering.mjs: no `{what}` within {within:?}"))
            .expect("read recovering.mjs")
            .unwrap_or_else(|| panic!("recovering.mjs exited before `{what}`"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("recovering.mjs said {line:?}: {e}"))
    }

    /// Ends the blips; once every session is connected and quiet, returns what each received:
    /// `{name: {received, connects, recoveries}}`.
    pub async fn stop(mut self) -> Value {
        self.stdin.write_all(b"stop\n").await.expect("write");
        self.stdin.flush().await.expect("flush");
        let done = self.next("done", Duration::from_secs(30)).await;
        assert_eq!(done["type"], "done");
        done["sessions"].clone()
    }
}
