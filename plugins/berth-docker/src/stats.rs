//! Watching a running container's memory, to report its peak (as the kernel recorded it) and
//! the charges that hit its limit when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::StatsOptions;
use futures_util::StreamExt;

/// How often memory is sampled while a container runs.
pub(crate) const SAMPLE_INTERVAL: Duration = Duration::from_millis(200);

/// The highest memory use seen so far, in bytes (0 until a sample arrived), and the limit
/// hits the cgroup counted (`u64::MAX` until known).
#[derive(Clone, Debug)]
pub(crate) struct MemoryPeak(Arc<(AtomicU64, AtomicU64, std::sync::atomic::AtomicBool)>);

impl Default for MemoryPeak {
    fn default() -> Self {
        Self(Arc::new((
            AtomicU64::new(0),
            AtomicU64::new(u64::MAX),
            std::sync::atomic::AtomicBool::new(false),
        )))
    }
}

impl MemoryPeak {
    /// Records a sample.
    pub(crate) fn observe(&self, bytes: u64) {
        self.0.0.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Records the cgroup's count of charges that hit the limit.
    pub(crate) fn observe_hits(&self, hits: u64) {
        self.0.1.store(hits, Ordering::Relaxed);
    }

    /// The highest sample, if any arrived.
    pub(crate) fn get(&self) -> Option<u64> {
        Some(self.0.0.load(Ordering::Relaxed)).filter(|b| *b > 0)
    }

    /// The limit hits, if the cgroup was read.
    pub(crate) fn hits(&self) -> Option<u64> {
        Some(self.0.1.load(Ordering::Relaxed)).filter(|h| *h != u64::MAX)
    }

    /// Notes that the peak is the kernel's own record, not the highest of sampled readings.
    pub(crate) fn recorded_by_kernel(&self) {
        self.0.2.store(true, Ordering::Relaxed);
    }

    /// Whether the peak is the kernel's own record.
    pub(crate) fn is_kernel_record(&self) -> bool {
        self.0.2.load(Ordering::Relaxed)
    }
}

/// How often the container's cgroup is read while it runs: a few small files, so often enough
/// to catch the kernel's peak record before an OOM kill removes the cgroup.
pub(crate) const CGROUP_INTERVAL: Duration = Duration::from_millis(50);

/// Reads the container's cgroup every [`CGROUP_INTERVAL`] until cancelled: the kernel's own
/// peak record and limit-hit count, not a sampled guess.
pub(crate) async fn watch_cgroup(cgroup: berth_resources::CgroupSampler, peak: MemoryPeak) {
    use berth_resources::Sampler;
    // The OOM killer's own signal, where the cgroup gives one: the reading taken then has the
    // peak and failure count the kill was about, however fast the climb was.
    let oom = cgroup.oom_events().and_then(|fd| {
        // SAFETY: the registration owns the eventfd, so it stays open while registered.
        unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        }
        .ok()
    });
    loop {
        match cgroup.sample() {
            Ok(usage) => {
                match usage.memory_peak_bytes {
                    Some(record) => {
                        peak.observe(record);
                        peak.recorded_by_kernel();
                    }
                    None => peak.observe(usage.memory_bytes), // v2 before Linux 5.19
                }
                if let Some(hits) = usage.memory_limit_hits {
                    peak.observe_hits(hits);
                }
            }
            Err(_) => return, // the cgroup is gone with the container
        }
        match &oom {
            Some(events) => {
                if let Ok(Ok(mut ready)) =
                    tokio::time::timeout(CGROUP_INTERVAL, events.readable()).await
                {
                    use std::os::fd::AsRawFd;
                    // An eventfd's count (v1) or inotify events (v2): drained whole.
                    let mut drained = [0u8; 4096];
                    // SAFETY: a read into a buffer of the length given.
                    let _ = unsafe {
                        libc::read(
                            events.get_ref().as_raw_fd(),
                            drained.as_mut_ptr().cast(),
                            drained.len(),
                        )
                    };
                    ready.clear_ready();
                }
            }
            None => tokio::time::sleep(CGROUP_INTERVAL).await,
        }
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

/// The peak to report, and whether it is an estimate. The kernel kills a container for memory
/// only once its use reached the limit, so after an OOM kill the limit is a lower bound of the
/// peak when the last reading missed the climb; a peak taken from sampled usage, not the
/// kernel's record, is an estimate too.
pub(crate) fn reported_peak(
    sampled: Option<u64>,
    limit: Option<u64>,
    oom_killed: bool,
    kernel_record: bool,
) -> (Option<u64>, bool) {
    match (oom_killed, limit) {
        (true, Some(limit)) if sampled.is_none_or(|s| s < limit) => (Some(limit), true),
        _ => (sampled, sampled.is_some() && !kernel_record),
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
        let peak = |s, l, oom, record| reported_peak(s, l, oom, record);
        assert_eq!(peak(None, Some(128), true, true), (Some(128), true));
        assert_eq!(peak(Some(40), Some(128), true, true), (Some(128), true));
        assert_eq!(peak(Some(130), Some(128), true, true), (Some(130), false));
        assert_eq!(peak(Some(130), Some(128), true, false), (Some(130), true));
        assert_eq!(peak(Some(40), Some(128), false, true), (Some(40), false));
        assert_eq!(peak(None, None, false, false), (None, false));
    }
}
