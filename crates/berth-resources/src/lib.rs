//! What a node uses, whatever runs it: CPU time, memory now and at its peak, its memory limit
//! and how often a charge failed against it, and its tasks. A [`Sampler`] reads them from the
//! node's cgroup ([`CgroupSampler`], v1 or v2 — a container's own) or from `/proc`
//! ([`ProcSampler`], a host process that shares its cgroup with others). Reading is a few small
//! files: cheap enough to sample often, and nothing is estimated that the kernel records.
//!
//! [`conformance`] checks an implementation against a real busy, allocating process.

mod cgroup;
pub mod conformance;
mod proc;

use std::time::Duration;

pub use cgroup::CgroupSampler;
pub use proc::{ProcSampler, processes_with_env};

/// One reading of what a node uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used so far, user and system.
    pub cpu: Duration,
    /// Memory charged now, in bytes (a cgroup's usage; a process's resident set).
    pub memory_bytes: u64,
    /// The most memory charged at once, as the kernel recorded it (cgroup v1
    /// `memory.max_usage_in_bytes`, v2 `memory.peak`, `/proc` `VmHWM`); `None` where the kernel
    /// keeps no such record.
    pub memory_peak_bytes: Option<u64>,
    /// The hard memory limit, when there is one.
    pub memory_limit_bytes: Option<u64>,
    /// How often a charge hit the limit (v1 `memory.failcnt` plus `memory.memsw.failcnt`, v2
    /// `max` in `memory.events`);
    /// `None` when unknown.
    pub memory_limit_hits: Option<u64>,
    /// Tasks (processes and threads) in it.
    pub tasks: Option<u64>,
}

impl Usage {
    /// The share of one CPU used between `earlier` and this reading, `elapsed` apart, in
    /// percent (200 = two CPUs busy).
    pub fn cpu_percent_since(&self, earlier: &Usage, elapsed: Duration) -> f64 {
        if elapsed.is_zero() {
            return 0.0;
        }
        let used = self.cpu.saturating_sub(earlier.cpu);
        used.as_secs_f64() / elapsed.as_secs_f64() * 100.0
    }
}

/// Why a reading failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// What was measured is gone (the process exited, the cgroup was removed).
    #[error("{what} is gone")]
    Gone {
        /// The process or cgroup.
        what: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Unreadable {
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file did not hold what the kernel documents.
    #[error("{path} holds `{text}`, not what the kernel documents")]
    Malformed {
        /// The file.
        path: String,
        /// What it held (shortened).
        text: String,
    },
}

/// Reads what one node uses.
pub trait Sampler: Send + Sync {
    /// What is measured (e.g. `cgroup v1 /docker/3f2a…`, `process 4711`), for reports.
    fn source(&self) -> String;

    /// Reads the node's usage now.
    fn sample(&self) -> Result<Usage, ResourceError>;

    /// This sampler in a form that can be written down and sampled again by another process
    /// (e.g. `berth ps` in a second terminal); `None` when it cannot be.
    fn saved(&self) -> Option<SavedSampler> {
        None
    }
}

/// A sampler that can be written down (JSON) and read back: what one process records about
/// its nodes so another can measure them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SavedSampler {
    /// A cgroup, by its paths.
    Cgroup(CgroupSampler),
    /// A process, by pid and start time.
    Process(ProcSampler),
}

impl Sampler for SavedSampler {
    fn source(&self) -> String {
        match self {
            SavedSampler::Cgroup(s) => s.source(),
            SavedSampler::Process(s) => s.source(),
        }
    }

    fn sample(&self) -> Result<Usage, ResourceError> {
        match self {
            SavedSampler::Cgroup(s) => s.sample(),
            SavedSampler::Process(s) => s.sample(),
        }
    }

    fn saved(&self) -> Option<SavedSampler> {
        Some(self.clone())
    }
}

/// The sampler of the cgroup that process `pid` belongs to (its container's, for a container
/// process seen from the host).
pub fn for_cgroup_of(pid: u32) -> Result<CgroupSampler, ResourceError> {
    CgroupSampler::of_process(pid)
}

/// The sampler of process `pid` and its threads, from `/proc`.
pub fn for_process(pid: u32) -> Result<ProcSampler, ResourceError> {
    ProcSampler::new(pid)
}

/// Reads a small kernel file; a missing one means what it describes is gone.
pub(crate) fn read(path: &std::path::Path, what: &str) -> Result<String, ResourceError> {
    std::fs::read_to_string(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => ResourceError::Gone { what: what.into() },
        _ => ResourceError::Unreadable {
            path: path.display().to_string(),
            source,
        },
    })
}

/// Parses a number a kernel file holds.
pub(crate) fn number(path: &std::path::Path, text: &str) -> Result<u64, ResourceError> {
    text.trim().parse().map_err(|_| ResourceError::Malformed {
        path: path.display().to_string(),
        text: text.trim().chars().take(80).collect(),
    })
}
