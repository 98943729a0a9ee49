//! Round-trip latency percentiles, in an HDR histogram (3 significant digits, constant memory
//! however long the input).

use std::fmt;

use hdrhistogram::Histogram;

/// Collected latencies in nanoseconds.
pub(crate) struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Self(Histogram::new(3).expect("3 significant digits are supported"))
    }
}

impl Latencies {
    pub(crate) fn push(&mut self, ns: u64) {
        // Auto-resizing: recording cannot fail for any u64.
        let _ = self.0.record(ns.max(1));
    }

    /// Adds every latency of `other`.
    pub(crate) fn extend(&mut self, other: &Latencies) {
        let _ = self.0.add(&other.0);
    }

    pub(crate) fn len(&self) -> u64 {
        self.0.len()
    }

    /// The `p`-th percentile (0–100), within 0.1 %.
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(p / 100.0))
    }
}

impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = |p: f64| {
            self.percentile(p)
                .map_or("-".to_owned(), |ns| format!("{:.1} µs", ns as f64 / 1e3))
        };
        write!(
            f,
            "round trip p50 {}  p99 {}  max {}  ({} frames)",
            us(50.0),
            us(99.0),
            us(100.0),
            self.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let mut l = Latencies::default();
        for v in 1..=100 {
            l.push(v * 1000);
        }
        let near = |p: f64, want: u64| {
            let got = l.percentile(p).unwrap();
            assert!(got.abs_diff(want) * 1000 <= want, "p{p}: {got} vs {want}");
        };
        near(50.0, 50_000);
        near(99.0, 99_000);
        near(100.0, 100_000);
        assert!(l.to_string().contains("p50 50.0 µs"), "{l}");
        assert_eq!(Latencies::default().percentile(50.0), None);
        let mut both = Latencies::default();
        both.extend(&l);
        both.extend(&l);
        assert_eq!(both.len(), 200);
    }
}
