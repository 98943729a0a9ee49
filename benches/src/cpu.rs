//! CPU cost beside latency: what a case's node (its process, its container, or the three
//! containers of a chain) and the bench thread used while the case ran, in % of one CPU,
//! saved as `target/cpu/<bench id>.json` for `cargo xtask bench-report`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::timing::Pacing;

/// CPU time of the calling thread.
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// How long the main threads of `pids` have waited, runnable, for a CPU so far (the second
/// field of `/proc/<pid>/schedstat`); a process that is gone counts nothing.
pub fn waited_for_cpu(pids: &[u32]) -> Duration {
    let nanos = pids
        .iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/schedstat")).ok())
        .filter_map(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Duration::from_nanos(nanos)
}

/// Where a bench's CPU figures go: `target/cpu/<id with '/' as '_'>.json`.
pub fn cpu_file(id: &str) -> PathBuf {
    crate::target_dir()
        .join("cpu")
        .join(format!("{}.json", id.replace('/', "_")))
}

/// CPU readings over a case: the node's counter and the clock at the first timed call's start
/// and the latest one's end (a counter may tick coarsely, so it is read over the whole case),
/// and the bench thread's CPU and wall time inside the timed calls.
#[derive(Debug, Default)]
pub struct CpuMeter {
    first: Option<(Instant, Option<Duration>)>,
    last: Option<(Instant, Option<Duration>)>,
    host: Duration,
    timed: Duration,
}

impl CpuMeter {
    /// Runs `timed` (one Criterion call of the case), reading `node` (the node's CPU time so
    /// far; `None` when it is not measured, a node on the host's own threads) around it.
    pub fn measure<T>(
        &mut self,
        node: &mut dyn FnMut() -> Option<Duration>,
        timed: impl FnOnce() -> T,
    ) -> T {
        let before = node();
        let (start, host) = (Instant::now(), thread_cpu());
        self.first.get_or_insert((start, before));
        let out = timed();
        self.host += thread_cpu().saturating_sub(host);
        let end = Instant::now();
        self.timed += end - start;
        self.last = Some((end, node()));
        out
    }

    /// Runs `frames` of a case paced as `pacing`, through [`CpuMeter::measure`] when paced
    /// (the CPU a paced case costs is what is saved). A back-to-back run is not metered:
    /// reading the node's counter between two frames would leave a gap there, long enough
    /// for the node to stop polling and go to sleep, and the next frame would pay its wake-up.
    pub fn run(
        &mut self,
        pacing: Pacing,
        node: &mut dyn FnMut() -> Option<Duration>,
        frames: impl FnOnce() -> Duration,
    ) -> Duration {
        match pacing {
            Pacing::Paced => self.measure(node, frames),
            Pacing::BackToBack => frames(),
        }
    }

    /// `(node, bench thread)` in % of one CPU: the node's over the case's wall time, the
    /// thread's over its timed calls; `None` before any call.
    pub fn shares(&self) -> Option<(Option<f64>, f64)> {
        let ((t0, n0), (t1, n1)) = (self.first?, self.last?);
        let pct = |cpu: Duration, wall: Duration| {
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9)
        };
        let node = n0.zip(n1).map(|(a, b)| pct(b.saturating_sub(a), t1 - t0));
        Some((node, pct(self.host, self.timed)))
    }

    /// Writes the shares to [`cpu_file`]`(id)` and prints them.
    pub fn save(&self, id: &str) {
        let Some((node, host)) = self.shares() else {
            return;
        };
        let path = cpu_file(id);
        let body = json!({ "id": id, "node_cpu_pct": node, "host_cpu_pct": host });
        eprintln!("{id}: CPU {body}");
        let written = std::fs::create_dir_all(path.parent().expect("a folder"))
            .and_then(|()| std::fs::write(&path, body.to_string()));
        written.unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_of_the_whole_case() {
        let mut meter = CpuMeter::default();
        assert_eq!(meter.shares(), None);
        let mut used = Duration::ZERO;
        let mut node = || {
            used += Duration::from_millis(5);
            Some(used)
        };
        meter.measure(&mut node, || {
            let busy = Instant::now();
            while busy.elapsed() < Duration::from_millis(20) {
                std::hint::black_box(0);
            }
        });
        let (node, host) = meter.shares().expect("measured");
        // The node's counter moved 5 ms over at least 20 ms; the thread was busy throughout.
        let node = node.expect("the node is measured");
        assert!(node > 0.0 && node <= 25.0, "{node}");
        assert!(host > 0.0 && host <= 100.0 + 1e-6, "{host}");
        let mut unmeasured = CpuMeter::default();
        unmeasured.measure(&mut || None, || ());
        assert_eq!(unmeasured.shares().map(|(n, _)| n), Some(None));
    }

    #[test]
    fn only_paced_runs_read_the_node_between_frames() {
        let mut reads = 0;
        let mut meter = CpuMeter::default();
        let ran = meter.run(
            Pacing::BackToBack,
            &mut || {
                reads += 1;
                None
            },
            || Duration::from_micros(7),
        );
        assert_eq!((ran, reads), (Duration::from_micros(7), 0));
        assert_eq!(meter.shares(), None, "nothing metered");
        meter.run(
            Pacing::Paced,
            &mut || {
                reads += 1;
                Some(Duration::ZERO)
            },
            || Duration::from_micros(7),
        );
        assert_eq!(reads, 2, "before and after");
        assert!(meter.shares().is_some());
    }
}
