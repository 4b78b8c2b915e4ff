//! The metrics tether records, read in-process: a test binary's one global recorder
//! ([`install`], before building the tether whose metrics it reads), [`counter`] and
//! [`histogram`].

use std::sync::{Mutex, OnceLock};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// Installs this test binary's global recorder (once; later calls do nothing). A tether registers
/// the handles of its hot paths when it is built: install before that.
///
/// # Panics
/// When another recorder was installed in this process first.
pub fn install() {
    snapshotter();
}

fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("install the metrics recorder");
        snapshotter
    })
}

/// A metric's name and labels.
type Key = (String, Vec<(String, String)>);

/// What the snapshots so far held: a snapshot drains the recorder's counters and histograms, so
/// the tests (which run at once, and may read a metric more than once) read from these instead.
#[derive(Default)]
struct Seen {
    /// Every counter increment, as snapshots found them.
    counters: Vec<(Key, u64)>,
    /// Every value a histogram recorded.
    histograms: Vec<(Key, f64)>,
}

/// Takes a snapshot and keeps what it holds; returns everything kept so far.
fn collect() -> std::sync::MutexGuard<'static, Seen> {
    static SEEN: OnceLock<Mutex<Seen>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (key, .., value) in snapshotter().snapshot().into_vec() {
        let key = key.key();
        let key: Key = (
            key.name().to_owned(),
            key.labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect(),
        );
        match value {
            DebugValue::Counter(n) => seen.counters.push((key, n)),
            DebugValue::Histogram(values) => seen
                .histograms
                .extend(values.into_iter().map(|v| (key.clone(), v.into_inner()))),
            DebugValue::Gauge(_) => {}
        }
    }
    seen
}

/// Whether a metric is `name` with these labels (and maybe others).
fn matches((n, l): &Key, name: &str, labels: &[(&str, &str)]) -> bool {
    n == name
        && labels
            .iter()
            .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
}

/// The value of a counter with these labels (and maybe others) since the recorder was installed
/// (0 when never recorded). Installs the recorder if it is not yet.
///
/// # Panics
/// When another recorder was installed in this process first.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    collect()
        .counters
        .iter()
        .filter(|(key, _)| matches(key, name, labels))
        .map(|(_, v)| v)
        .sum()
}

/// Every value a histogram recorded since the recorder was installed (whatever its labels), in no
/// particular order. Installs the recorder if it is not yet.
///
/// # Panics
/// When another recorder was installed in this process first.
pub fn histogram(name: &str) -> Vec<f64> {
    collect()
        .histograms
        .iter()
        .filter(|(key, _)| matches(key, name, &[]))
        .map(|(_, v)| *v)
        .collect()
}

/// The largest value histogram `name` recorded since the last snapshot (0 when none).
pub fn largest(name: &str) -> f64 {
    histogram(name).into_iter().fold(0.0, f64::max)
}
