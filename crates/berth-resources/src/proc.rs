//! A host process's usage from `/proc/<pid>`: `stat` for CPU time, `status` for memory and
//! threads. A host process shares its cgroup with others, so its own numbers come from here.

use std::path::PathBuf;
use std::time::Duration;

use crate::{ResourceError, Sampler, SavedSampler, Usage, number, read};

/// Samples one process (with its threads). It serializes to the pid and start time, so
/// another process can sample it later and never mistakes a new process for it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcSampler {
    pid: u32,
    dir: PathBuf,
    ticks_per_second: u64,
    /// The process's start time (field 22 of `stat`): a later process with the same pid has
    /// another, so it is never measured in this one's place.
    started: u64,
}

impl ProcSampler {
    /// A sampler of process `pid`; fails when it does not exist.
    pub fn new(pid: u32) -> Result<Self, ResourceError> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        if !dir.exists() {
            return Err(ResourceError::Gone {
                what: format!("process {pid}"),
            });
        }
        // SAFETY: sysconf only reads a configuration value.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let mut sampler = Self {
            pid,
            dir,
            ticks_per_second: u64::try_from(ticks).ok().filter(|t| *t > 0).unwrap_or(100),
            started: 0,
        };
        sampler.started = sampler.stat()?.2;
        Ok(sampler)
    }

    /// utime + stime (ticks) and the start time, from `stat`.
    fn stat(&self) -> Result<(u64, u64, u64), ResourceError> {
        let path = self.dir.join("stat");
        let stat = read(&path, &self.source())?;
        // Fields after the command (which may hold spaces) start after the last ')': field
        // 3 of the line is index 0 there, so utime (14), stime (15), starttime (22) are 11,
        // 12, 19.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| {
            fields
                .get(i)
                .ok_or_else(|| ResourceError::Malformed {
                    path: path.display().to_string(),
                    text: stat.chars().take(80).collect(),
                })
                .and_then(|f| number(&path, f))
        };
        Ok((field(11)?, field(12)?, field(19)?))
    }
}

impl Sampler for ProcSampler {
    fn source(&self) -> String {
        format!("process {}", self.pid)
    }

    fn saved(&self) -> Option<SavedSampler> {
        Some(SavedSampler::Process(self.clone()))
    }

    fn sample(&self) -> Result<Usage, ResourceError> {
        let what = self.source();
        let (utime, stime, started) = self.stat()?;
        if started != self.started {
            return Err(ResourceError::Gone { what }); // its pid now names another process
        }
        let cpu_ticks = utime + stime;
        let cpu = Duration::from_nanos(cpu_ticks * 1_000_000_000 / self.ticks_per_second);
        let status_path = self.dir.join("status");
        let status = read(&status_path, &what)?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|n| n.parse::<u64>().ok())
        };
        Ok(Usage {
            cpu,
            memory_bytes: field("VmRSS:").unwrap_or(0) * 1024,
            memory_peak_bytes: field("VmHWM:").map(|kib| kib * 1024),
            memory_limit_bytes: None,
            memory_limit_hits: None,
            tasks: field("Threads:"),
        })
    }
}

/// Pids of the live (not zombie) processes whose environment holds every `KEY=value` of
/// `labels`, in ascending order: how Berth finds the processes it labelled.
pub fn processes_with_env(labels: &[(&str, &str)]) -> Vec<u32> {
    let wanted: Vec<Vec<u8>> = labels
        .iter()
        .map(|(k, v)| format!("{k}={v}").into_bytes())
        .collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
                return false;
            };
            let vars: Vec<&[u8]> = environ.split(|b| *b == 0).collect();
            wanted.iter().all(|w| vars.contains(&w.as_slice())) && !is_zombie(*pid)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Whether `pid` has exited and waits to be reaped (or is gone).
fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}
