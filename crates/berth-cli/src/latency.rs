//! Round-trip latency percentiles.

use std::fmt;

/// Collected latencies in nanoseconds.
#[derive(Default)]
pub(crate) struct Latencies(Vec<u64>);

impl Latencies {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub(crate) fn push(&mut self, ns: u64) {
        self.0.push(ns);
    }

    /// Adds every latency of `other`.
    pub(crate) fn extend(&mut self, other: &Latencies) {
        self.0.extend_from_slice(&other.0);
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The `p`-th percentile (0–100), nearest rank.
    pub(crate) fn percentile(&self, p: f64) -> Option<u64> {
        if self.0.is_empty() {
            return None;
        }
        let mut sorted = self.0.clone();
        sorted.sort_unstable();
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        Some(sorted[rank.min(sorted.len()) - 1])
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
    fn percentiles_use_nearest_rank() {
        let mut l = Latencies::default();
        for v in 1..=100 {
            l.push(v * 1000);
        }
        assert_eq!(l.percentile(50.0), Some(50_000));
        assert_eq!(l.percentile(99.0), Some(99_000));
        assert_eq!(l.percentile(100.0), Some(100_000));
        assert!(l.to_string().contains("p50 50.0 µs"));
        assert_eq!(Latencies::default().percentile(50.0), None);
    }
}
