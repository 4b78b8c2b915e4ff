//! The process's log, captured: a `tracing` subscriber (the fmt layer, no colours) that writes
//! into memory, for tests that check what tether logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

/// Everything the process logged since [`CapturedLog::install`].
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Installs the process's subscriber with `filter` (an `EnvFilter` directive, e.g.
    /// `"info"`), writing here. Once per test binary, before anything logs.
    pub fn install(filter: &str) -> Self {
        let captured = Self::default();
        let writer = captured.clone();
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .init();
        captured
    }

    /// How many bytes were logged.
    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }

    /// Whether nothing was logged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The log as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }

    /// The first line that contains `needle`.
    pub fn line(&self, needle: &str) -> Option<String> {
        self.text()
            .lines()
            .find(|l| l.contains(needle))
            .map(str::to_owned)
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
