//! Errors of every backend.

use std::time::Duration;

use thiserror::Error;

use crate::ExitReport;

/// What can go wrong while running a node.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The backend's service (e.g. the Docker daemon) does not answer.
    #[error("{backend} backend unavailable: {detail}; fix: {fix}")]
    Unavailable {
        /// Which backend.
        backend: &'static str,
        /// What was tried and what happened.
        detail: String,
        /// How to make it available.
        fix: String,
    },
    /// The node could not be started.
    #[error("node `{node_id}`: could not start: {detail}")]
    Launch {
        /// The node.
        node_id: String,
        /// Why.
        detail: String,
    },
    /// The node exited before it said it was ready.
    #[error("node `{node_id}` exited before it was ready ({report}){}", tail_suffix(.log_tail))]
    ExitedBeforeReady {
        /// The node.
        node_id: String,
        /// How it ended.
        report: Box<ExitReport>,
        /// Its last output lines.
        log_tail: Vec<String>,
    },
    /// The node did not become ready in time.
    #[error("node `{node_id}` was not ready within {timeout:?}{}; fix: check its log, or raise the ready timeout", tail_suffix(.log_tail))]
    ReadyTimeout {
        /// The node.
        node_id: String,
        /// How long was waited.
        timeout: Duration,
        /// Its last output lines.
        log_tail: Vec<String>,
    },
    /// The backend failed while doing something to a running node.
    #[error("{backend} backend: {operation} failed for `{target}`: {detail}")]
    Operation {
        /// Which backend.
        backend: &'static str,
        /// What was being done.
        operation: &'static str,
        /// The node, container or session concerned.
        target: String,
        /// The underlying message.
        detail: String,
    },
}

fn tail_suffix(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last output:\n    {}", lines.join("\n    "))
    }
}
