//! Berth's host-process backend: each node's runner is a subprocess of the host.
//!
//! The runner gets its own process group (stop signals reach its children too) and a parent-death
//! signal, so it cannot outlive a crashed host. Every runner carries `BERTH_MANAGED_BY` and
//! `BERTH_SESSION_ID` in its environment; that is its label, which [`ProcessBackend`] reads back
//! from `/proc` to list and sweep a session's processes. A host process has no hard memory or
//! CPU limit, and says so in its capabilities.

mod node;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use berth_backend::{Backend, BackendError, Capabilities, LaunchSpec, NodeProcess};

pub use node::ProcessNode;

/// Environment variable naming the tool that started a runner.
pub const ENV_MANAGED_BY: &str = "BERTH_MANAGED_BY";
/// Environment variable naming the runner's session.
pub const ENV_SESSION: &str = "BERTH_SESSION_ID";

/// Runs node runners as host subprocesses.
#[derive(Clone, Debug, Default)]
pub struct ProcessBackend;

impl ProcessBackend {
    /// The backend.
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            cpu_pinning: true,
            ..Capabilities::default()
        }
    }

    async fn check(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn launch(&self, spec: &LaunchSpec) -> Result<Box<dyn NodeProcess>, BackendError> {
        Ok(Box::new(ProcessNode::spawn(spec)?))
    }

    async fn session_resources(&self, session_id: &str) -> Result<Vec<String>, BackendError> {
        Ok(session_pids(session_id)
            .iter()
            .map(|pid| format!("pid {pid}"))
            .collect())
    }

    async fn sweep_session(&self, session_id: &str) -> Result<usize, BackendError> {
        let pids = session_pids(session_id);
        for &pid in &pids {
            // SAFETY: plain syscall; the pid was read from /proc with the session's label.
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
        }
        for _ in 0..100 {
            if session_pids(session_id).is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(pids.len())
    }
}

/// Pids of the live runner processes labelled with `session_id`.
fn session_pids(session_id: &str) -> Vec<u32> {
    berth_resources::processes_with_env(&[(ENV_MANAGED_BY, "berth"), (ENV_SESSION, session_id)])
}

berth_backend::inventory::submit! {
    berth_backend::BackendPlugin { name: "process", create: || Ok(Arc::new(ProcessBackend::new())) }
}
