//! The backend traits.

use std::time::{Duration, Instant};

use async_trait::async_trait;

use crate::{BackendError, ExitReport, LaunchSpec, LogTail};

/// What a backend can enforce.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// A hard memory limit; exceeding it kills the node and is reported as such.
    pub hard_memory_limit: bool,
    /// A hard CPU limit.
    pub cpu_limit: bool,
    /// A file system of its own (an image), with only the mounts asked for.
    pub isolated_filesystem: bool,
    /// Pinning to CPUs.
    pub cpu_pinning: bool,
    /// Joining another container's network namespace (`LaunchSpec::network_of`).
    pub shared_network: bool,
}

/// A way to run node runners in isolation.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// The executor name it serves (`docker`, `process`).
    fn name(&self) -> &'static str;

    /// What it can enforce.
    fn capabilities(&self) -> Capabilities;

    /// Checks that the backend can run anything at all (e.g. the daemon answers).
    async fn check(&self) -> Result<(), BackendError>;

    /// Starts a node's runner.
    async fn launch(&self, spec: &LaunchSpec) -> Result<Box<dyn NodeProcess>, BackendError>;

    /// Names of the resources a session still holds (containers, processes).
    async fn session_resources(&self, session_id: &str) -> Result<Vec<String>, BackendError>;

    /// Removes whatever a session left behind (e.g. after a crash); returns how many.
    async fn sweep_session(&self, session_id: &str) -> Result<usize, BackendError>;
}

/// A running node's runner.
#[async_trait]
pub trait NodeProcess: Send + Sync {
    /// The backend's id for it (a pid, a container id).
    fn id(&self) -> &str;

    /// The node id.
    fn node_id(&self) -> &str;

    /// Its exit, if it has exited; never blocks.
    fn try_exit(&self) -> Option<ExitReport>;

    /// Waits for it to exit.
    async fn wait(&self) -> ExitReport;

    /// Asks it to stop, kills it after `grace`, and releases everything it held.
    async fn stop(&self, grace: Duration) -> Result<ExitReport, BackendError>;

    /// Its output so far (the last lines).
    fn logs(&self) -> &LogTail;

    /// What it uses (CPU, memory, limit hits), read from its own cgroup or process; `None`
    /// when the backend cannot measure it.
    fn sampler(&self) -> Option<Box<dyn berth_resources::Sampler>> {
        None
    }

    /// Kills it without waiting and releases what it held, best effort. For drop paths that
    /// cannot await [`NodeProcess::stop`].
    fn abort(&self);

    /// Waits until `ready()` says so, failing early if the node exits or `timeout` passes.
    async fn wait_ready(
        &self,
        ready: &mut (dyn FnMut() -> bool + Send),
        timeout: Duration,
    ) -> Result<(), BackendError> {
        let deadline = Instant::now() + timeout;
        loop {
            if ready() {
                return Ok(());
            }
            if let Some(report) = self.try_exit() {
                // The node may have said "ready" just before exiting.
                if ready() {
                    return Ok(());
                }
                return Err(BackendError::ExitedBeforeReady {
                    node_id: self.node_id().to_owned(),
                    report: Box::new(report),
                    log_tail: self.logs().last_text(20),
                });
            }
            if Instant::now() >= deadline {
                return Err(BackendError::ReadyTimeout {
                    node_id: self.node_id().to_owned(),
                    timeout,
                    log_tail: self.logs().last_text(20),
                });
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
