//! A log-linear histogram of nanosecond values: 64 sub-buckets per power of two (about 1.6 %
//! precision), a fixed table of counters, no allocation while recording.

/// Sub-bucket bits: 2^6 = 64 sub-buckets per power of two above 128.
const SUB: u32 = 6;
/// Buckets needed for any `u64`.
const BUCKETS: usize = (((63 - SUB) as usize) << SUB) + 128;

/// Counts of values in log-linear buckets.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn index(v: u64) -> usize {
    if v < 128 {
        // v < 128 fits in usize on every target.
        v as usize
    } else {
        let h = 63 - v.leading_zeros();
        let s = h - SUB;
        ((s as usize) << SUB) + (v >> s) as usize
    }
}

/// The middle of bucket `i`.
fn value(i: usize) -> u64 {
    if i < 128 {
        i as u64
    } else {
        let s = (i >> SUB) - 1;
        let m = (i - (s << SUB)) as u64;
        (m << s) + ((1u64 << s) >> 1)
    }
}

impl Histogram {
    /// Records one value.
    pub(crate) fn record(&mut self, v: u64) {
        self.counts[index(v)] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.counts.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
        self.max = 0;
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.total
    }

    /// The largest value recorded (exact).
    pub(crate) fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (0..=1), within the bucket precision; 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return value(i).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_precise() {
        let mut last = 0;
        for v in (0..2_000_000u64).step_by(7) {
            let i = index(v);
            assert!(i >= last, "index must not decrease");
            last = i;
            let mid = value(i);
            let err = mid.abs_diff(v) as f64 / (v.max(1) as f64);
            assert!(err <= 0.02, "{v} -> {mid}");
        }
        assert!(index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.02);
        assert_eq!(h.max(), 1_000_000);
        assert_eq!(h.count(), 1000);
        h.clear();
        assert_eq!(h.quantile(0.99), 0);
    }
}
