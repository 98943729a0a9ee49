//! How a node ended.

use std::fmt;

/// The end of a node's runner: exit code or signal, and what the backend knows about memory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExitReport {
    /// The exit code, when it exited on its own.
    pub code: Option<i64>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Whether the kernel killed it for exceeding its memory limit.
    pub oom_killed: bool,
    /// The hard memory limit it ran under, in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// The most memory it was seen using, in bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Whether that peak is an estimate (no reading of the kernel's own record came in time;
    /// after an OOM kill the limit then stands in as a lower bound).
    pub memory_peak_estimated: bool,
    /// How often a memory charge hit the limit (the cgroup's failure count), when known.
    pub memory_limit_hits: Option<u64>,
}

impl ExitReport {
    /// Whether the runner ended cleanly (exit code 0).
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.oom_killed
    }
}

impl fmt::Display for ExitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.oom_killed {
            write!(f, "killed for exceeding its memory limit")?;
            if let Some(limit) = self.memory_limit_bytes {
                write!(f, " of {} MiB", limit / (1 << 20))?;
            }
            if let Some(peak) = self.memory_peak_bytes {
                if self.memory_peak_estimated {
                    write!(
                        f,
                        ", peak usage at least {} MiB (estimated: the kernel's record of it was not read in time)",
                        peak / (1 << 20)
                    )?;
                } else {
                    write!(
                        f,
                        ", peak usage {} MiB as the kernel recorded it",
                        peak / (1 << 20)
                    )?;
                }
                if let Some(limit) = self.memory_limit_bytes.filter(|l| peak > *l) {
                    write!(f, " ({} MiB over)", (peak - limit) / (1 << 20))?;
                }
            }
            if let Some(hits) = self.memory_limit_hits.filter(|h| *h > 0) {
                write!(f, "; {hits} memory charges hit the limit before the kill")?;
            }
            return Ok(());
        }
        match (self.code, self.signal) {
            (_, Some(signal)) => match signal_name(i64::from(signal)) {
                Some((name, meaning)) => {
                    write!(f, "killed by {name} (signal {signal}: {meaning})")
                }
                None => write!(f, "killed by signal {signal}"),
            },
            // A container's init reports death by signal N as exit code 128 + N.
            (Some(code), None) => match signal_name(code - 128).filter(|_| code > 128) {
                Some((name, meaning)) => write!(f, "exit code {code} ({name}: {meaning})"),
                None => write!(f, "exit code {code}"),
            },
            (None, None) => write!(f, "ended, status unknown"),
        }
    }
}

/// The name of a signal that ends processes, and what it usually means for a node.
pub fn signal_name(signal: i64) -> Option<(&'static str, &'static str)> {
    Some(match signal {
        1 => ("SIGHUP", "its terminal or parent went away"),
        2 => ("SIGINT", "interrupted"),
        4 => (
            "SIGILL",
            "an illegal instruction in native code (a wheel built for another CPU?)",
        ),
        6 => (
            "SIGABRT",
            "aborted, usually by a failed assertion in native code",
        ),
        7 => (
            "SIGBUS",
            "a bus error, usually shared memory (/dev/shm) running out of space",
        ),
        9 => (
            "SIGKILL",
            "killed from outside: the OOM killer, `docker kill`, or a stop that timed out",
        ),
        11 => ("SIGSEGV", "a segmentation fault in native code"),
        15 => ("SIGTERM", "asked to stop"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oom_kill_names_limit_and_usage() {
        let report = ExitReport {
            code: Some(137),
            oom_killed: true,
            memory_limit_bytes: Some(64 << 20),
            memory_peak_bytes: Some(64 << 20),
            memory_limit_hits: Some(812),
            ..ExitReport::default()
        };
        assert_eq!(
            report.to_string(),
            "killed for exceeding its memory limit of 64 MiB, peak usage 64 MiB as the kernel \
             recorded it; 812 memory charges hit the limit before the kill"
        );
        assert!(!report.success());
        let estimated = ExitReport {
            memory_peak_estimated: true,
            memory_limit_hits: None,
            ..report
        };
        assert!(
            estimated.to_string().ends_with(
                "peak usage at least 64 MiB (estimated: the kernel's record of it was not read in time)"
            ),
            "{estimated}"
        );
    }

    #[test]
    fn plain_exits_read_naturally() {
        assert_eq!(
            ExitReport {
                code: Some(3),
                ..Default::default()
            }
            .to_string(),
            "exit code 3"
        );
        assert_eq!(
            ExitReport {
                signal: Some(9),
                ..Default::default()
            }
            .to_string(),
            "killed by SIGKILL (signal 9: killed from outside: the OOM killer, `docker kill`, or \
             a stop that timed out)"
        );
        assert_eq!(
            ExitReport {
                code: Some(135),
                ..Default::default()
            }
            .to_string(),
            "exit code 135 (SIGBUS: a bus error, usually shared memory (/dev/shm) running out of \
             space)"
        );
        assert_eq!(
            ExitReport {
                signal: Some(64),
                ..Default::default()
            }
            .to_string(),
            "killed by signal 64"
        );
        assert!(
            ExitReport {
                code: Some(0),
                ..Default::default()
            }
            .success()
        );
    }
}
