//! Sampling a running container's memory use, to report its peak when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;

/// How often memory is sampled while a container runs.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// The highest memory use seen so far, in bytes (0 until a sample arrived).
#[derive(Clone, Debug, Default)]
pub(crate) struct MemoryPeak(Arc<AtomicU64>);

impl MemoryPeak {
    /// Records a sample.
    pub(crate) fn observe(&self, bytes: u64) {
        self.0.fetch_max(bytes, Ordering::Relaxed);
    }

    /// The highest sample, if any arrived.
    pub(crate) fn get(&self) -> Option<u64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }
}

/// Samples one-shot stats every [`SAMPLE_INTERVAL`] until cancelled (the caller aborts it when
/// the container has ended).
pub(crate) async fn sample_memory(docker: Docker, id: String, peak: MemoryPeak) {
    let options = StatsOptions {
        stream: false,
        one_shot: true,
    };
    loop {
        let sample = tokio::time::timeout(
            Duration::from_secs(2),
            docker.stats(&id, Some(options.clone())).next(),
        )
        .await;
        if let Ok(Some(Ok(stats))) = sample
            && let Some(memory) = stats.memory_stats
        {
            // cgroup v1 reports the high-water mark; cgroup v2 only the current use.
            for bytes in [memory.max_usage, memory.usage].into_iter().flatten() {
                peak.observe(bytes);
            }
        }
        tokio::time::sleep(SAMPLE_INTERVAL).await;
    }
}

/// The peak to report. The kernel kills a container for memory only once its use reached the
/// limit, so after an OOM kill the limit is a lower bound of the peak even when the samples
/// (taken every [`SAMPLE_INTERVAL`]) missed the climb.
pub(crate) fn reported_peak(
    sampled: Option<u64>,
    limit: Option<u64>,
    oom_killed: bool,
) -> Option<u64> {
    match (oom_killed, limit) {
        (true, Some(limit)) => {
            if sampled.is_none_or(|s| s < limit) {
                tracing::info!(
                    limit,
                    sampled = sampled.unwrap_or(0),
                    "memory peak reported as the limit: the kernel killed the node on reaching \
                     it, before a usage sample showed the climb"
                );
            }
            Some(sampled.map_or(limit, |s| s.max(limit)))
        }
        _ => sampled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_peak_keeps_the_highest_sample() {
        let peak = MemoryPeak::default();
        assert_eq!(peak.get(), None);
        peak.observe(10);
        peak.observe(5);
        assert_eq!(peak.get(), Some(10));
    }

    #[test]
    fn an_oom_kill_reports_at_least_the_limit() {
        assert_eq!(reported_peak(None, Some(128), true), Some(128));
        assert_eq!(reported_peak(Some(40), Some(128), true), Some(128));
        assert_eq!(reported_peak(Some(40), Some(128), false), Some(40));
        assert_eq!(reported_peak(None, None, false), None);
    }
}
