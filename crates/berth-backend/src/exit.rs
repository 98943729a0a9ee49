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
                write!(f, ", peak usage {} MiB", peak / (1 << 20))?;
                if let Some(limit) = self.memory_limit_bytes.filter(|l| peak > *l) {
                    write!(f, " ({} MiB over)", (peak - limit) / (1 << 20))?;
                }
            }
            return Ok(());
        }
        match (self.code, self.signal) {
            (_, Some(signal)) => write!(f, "killed by signal {signal}"),
            (Some(code), None) => write!(f, "exit code {code}"),
            (None, None) => write!(f, "ended, status unknown"),
        }
    }
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
            ..ExitReport::default()
        };
        assert_eq!(
            report.to_string(),
            "killed for exceeding its memory limit of 64 MiB, peak usage 64 MiB"
        );
        assert!(!report.success());
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
            "killed by signal 9"
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
