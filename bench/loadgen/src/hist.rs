//! Latencies in nanoseconds, in an HDR histogram (the `hdrhistogram` crate: 3 significant digits,
//! resized as values grow), behind the few calls the scenarios make.

/// Recorded latencies.
#[derive(Debug, Clone)]
pub(crate) struct Histogram(hdrhistogram::Histogram<u64>);

impl Default for Histogram {
    fn default() -> Self {
        Self(hdrhistogram::Histogram::new(3).expect("3 significant digits is a valid precision"))
    }
}

impl Histogram {
    /// Records one value (the histogram grows to hold it; one it cannot hold is clamped).
    pub(crate) fn record(&mut self, v: u64) {
        if self.0.record(v).is_err() {
            self.0.saturating_record(v);
        }
    }

    /// Forgets every value.
    pub(crate) fn clear(&mut self) {
        self.0.reset();
    }

    /// How many values were recorded.
    pub(crate) fn count(&self) -> u64 {
        self.0.len()
    }

    /// The largest value recorded (within the precision).
    pub(crate) fn max(&self) -> u64 {
        self.0.max()
    }

    /// The value at quantile `q` (0..=1); 0 when empty.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        if self.0.is_empty() {
            return 0;
        }
        self.0.value_at_quantile(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5) as f64;
        assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.002, "{p50}");
        assert!(h.max().abs_diff(1_000_000) <= 1000, "{}", h.max());
        assert_eq!(h.count(), 1000);
        h.clear();
        assert_eq!(h.quantile(0.99), 0);
    }
}
