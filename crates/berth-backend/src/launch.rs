//! What to start: the command, its environment, and the isolation settings.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Label key: which tool created a resource.
pub const LABEL_MANAGED_BY: &str = "berth.managed-by";
/// Label value of [`LABEL_MANAGED_BY`].
pub const MANAGED_BY: &str = "berth";
/// Label key: the session that created a resource.
pub const LABEL_SESSION: &str = "berth.session";
/// Label key: the node a resource runs.
pub const LABEL_NODE: &str = "berth.node";
/// Label key: the hash of the node's environment definition.
pub const LABEL_ENV_HASH: &str = "berth.env-hash";

/// Everything a backend needs to start one node's runner.
#[derive(Clone, Debug, Default)]
pub struct LaunchSpec {
    /// The session the node belongs to.
    pub session_id: String,
    /// The node.
    pub node_id: String,
    /// The program and its arguments, resolved inside the environment.
    pub command: Vec<String>,
    /// Environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory inside the environment.
    pub working_dir: Option<PathBuf>,
    /// The image to run (container backends).
    pub image: Option<String>,
    /// Resource limits, enforced where the backend declares it can.
    pub limits: Limits,
    /// Host directories to make visible (container backends).
    pub mounts: Vec<Mount>,
    /// Extra labels, on top of the managed-by, session and node labels.
    pub labels: BTreeMap<String, String>,
    /// Pin the node to these CPUs, when the backend can.
    pub cpuset: Option<String>,
    /// Real-time scheduling for the thread that waits for and handles the node's frames.
    pub realtime: Option<Realtime>,
    /// The network a container gets (backends without network isolation ignore it).
    pub network: Network,
    /// With [`Network::None`]: the running container whose network namespace (loopback only)
    /// this one joins instead of getting one of its own, which saves the container runtime
    /// making one at every start. Used where [`Capabilities::shared_network`] says so.
    ///
    /// [`Capabilities::shared_network`]: crate::Capabilities::shared_network
    pub network_of: Option<String>,
    /// A file to append the node's output to, a timestamped line each, for readers in other
    /// processes (`berth logs`); for backends whose runtime keeps no logs of its own (host
    /// processes; Docker keeps a container's).
    pub log_file: Option<PathBuf>,
}

impl LaunchSpec {
    /// The labels every resource of this node carries.
    pub fn all_labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert(LABEL_MANAGED_BY.into(), MANAGED_BY.into());
        labels.insert(LABEL_SESSION.into(), self.session_id.clone());
        labels.insert(LABEL_NODE.into(), self.node_id.clone());
        labels
    }
}

/// The network a node's container gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Network {
    /// None but loopback.
    #[default]
    None,
    /// The container runtime's default bridge network.
    Bridge,
    /// The host's own network stack.
    Host,
}

/// Hard resource limits.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Limits {
    /// Memory limit in bytes (no swap beyond it).
    pub memory_bytes: Option<u64>,
    /// CPU limit in cores (e.g. 1.5).
    pub cpu_cores: Option<f64>,
}

/// A host path made visible inside the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path on the host.
    pub host_path: PathBuf,
    /// Absolute path inside the environment.
    pub container_path: PathBuf,
    /// Whether the node may only read it.
    pub read_only: bool,
}

/// Real-time scheduling (`SCHED_FIFO`) for the thread of a node that waits for and handles
/// its frames: no thread of ordinary priority holds it up, and when it cannot run where it
/// is queued it moves to a free CPU at once, not at the next load balancing (BENCHMARKS.md,
/// "Pipeline").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Realtime {
    /// `SCHED_FIFO` priority, 1 (lowest) to 99.
    pub priority: u8,
    /// How much real-time CPU time a container may use each second where the kernel budgets
    /// real-time threads by cgroup (cgroup v1 with `CONFIG_RT_GROUP_SCHED`): a container whose
    /// real-time threads use more (a shared container: every session's instance together) is
    /// stopped until the next second. The container engine's own budget for its containers
    /// (Docker: `--cpu-rt-runtime`) must cover every real-time container at once.
    pub budget: Duration,
}

impl Realtime {
    /// The budget [`Realtime::new`] gives: a tenth of a CPU a second, so that the system's
    /// whole 950 ms, given to Docker (`--cpu-rt-runtime=950000`), covers nine containers.
    pub const DEFAULT_BUDGET: Duration = Duration::from_millis(100);

    /// `SCHED_FIFO` at `priority`, with [`Realtime::DEFAULT_BUDGET`].
    pub fn new(priority: u8) -> Self {
        Self {
            priority,
            budget: Self::DEFAULT_BUDGET,
        }
    }

    /// Checks the priority (1–99) and the budget (more than nothing, at most a second).
    pub fn check(&self) -> Result<(), RealtimeError> {
        if !(1..=99).contains(&self.priority) {
            return Err(RealtimeError::Priority(self.priority));
        }
        if self.budget.is_zero() || self.budget > Duration::from_secs(1) {
            return Err(RealtimeError::Budget(self.budget));
        }
        Ok(())
    }
}

/// A [`Realtime`] setting out of range.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RealtimeError {
    /// The priority is not one `SCHED_FIFO` takes.
    #[error("real-time priority {0} is out of range: SCHED_FIFO takes 1 to 99")]
    Priority(u8),
    /// The budget is not a share of a second.
    #[error("real-time budget {0:?} is not within (0, 1 s]: it is CPU time a second")]
    Budget(Duration),
}

/// Parses a CPU list such as `0`, `0,1` or `0-3` (the form of [`LaunchSpec::cpuset`]).
pub fn parse_cpu_list(text: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("cpuset `{text}` is not a CPU list like `0`, `0,1` or `0-3`");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (
                    a.parse::<usize>().map_err(|_| bad())?,
                    b.parse::<usize>().map_err(|_| bad())?,
                );
                if a > b {
                    return Err(bad());
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::{Realtime, RealtimeError, parse_cpu_list};
    use std::time::Duration;

    #[test]
    fn realtime_settings_are_checked() {
        assert!(Realtime::new(10).check().is_ok());
        assert_eq!(Realtime::new(0).check(), Err(RealtimeError::Priority(0)));
        assert!(
            Realtime::new(100)
                .check()
                .unwrap_err()
                .to_string()
                .contains("1 to 99")
        );
        let none = Realtime {
            budget: Duration::ZERO,
            ..Realtime::new(10)
        };
        assert_eq!(none.check(), Err(RealtimeError::Budget(Duration::ZERO)));
        let too_much = Realtime {
            budget: Duration::from_millis(1500),
            ..Realtime::new(10)
        };
        assert!(too_much.check().is_err());
    }

    #[test]
    fn cpu_lists_parse() {
        assert_eq!(parse_cpu_list("0").unwrap(), vec![0]);
        assert_eq!(parse_cpu_list("0,2-3").unwrap(), vec![0, 2, 3]);
        assert!(parse_cpu_list("zero").is_err());
        assert!(parse_cpu_list("3-1").is_err());
    }
}
