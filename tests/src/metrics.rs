//! The counters tether records, read in-process: a test binary's one global recorder
//! ([`install`], before building the tether whose metrics it reads) and [`counter`].

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

/// A counter's name, its labels and a value it was seen with.
type Seen = (String, Vec<(String, String)>, u64);

/// Every counter increment seen so far: a snapshot drains the recorder's counters, so the tests
/// (which run at once, and may read a counter more than once) read from this sum instead.
fn seen() -> &'static Mutex<Vec<Seen>> {
    static SEEN: OnceLock<Mutex<Vec<Seen>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

/// The value of a counter with these labels (and maybe others) since the recorder was installed
/// (0 when never recorded). Installs the recorder if it is not yet.
///
/// # Panics
/// When another recorder was installed in this process first.
pub fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    let mut all = seen()
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (key, .., value) in snapshotter().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let key = key.key();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            all.push((key.name().to_owned(), labels, n));
        }
    }
    all.iter()
        .filter(|(n, l, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(.., v)| v)
        .sum()
}
