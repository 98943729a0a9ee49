//! Errors of a session.

use berth_backend::{BackendError, ExitReport};
use berth_manifest::ManifestErrors;
use berth_transport::TransportError;
use thiserror::Error;

/// What can go wrong while running a pipeline.
#[derive(Debug, Error)]
pub enum SessionError {
    /// The manifest is invalid.
    #[error("{0}")]
    Manifest(#[from] ManifestErrors),
    /// Moving frames failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// Starting, watching or stopping a node failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A node's `process` raised for one frame; the node goes on with the next.
    #[error("node `{node_id}` raised while processing frame {sequence:?}: {error}\n{traceback}")]
    NodeRaised {
        /// The node.
        node_id: String,
        /// The sequence number of the input frame, if known.
        sequence: Option<u64>,
        /// The exception.
        error: String,
        /// Its traceback.
        traceback: String,
    },
    /// A node could not start or go on.
    #[error("node `{node_id}` failed during {stage}: {error}\n{traceback}")]
    NodeFatal {
        /// The node.
        node_id: String,
        /// Where it failed (load, initialize, run).
        stage: String,
        /// The error.
        error: String,
        /// Its traceback.
        traceback: String,
    },
    /// A node ended while the session was running.
    #[error("node `{node_id}` stopped unexpectedly: {report}{}{}", restart_note(.restart_in), tail(.log_tail))]
    NodeExited {
        /// The node.
        node_id: String,
        /// How it ended (an OOM kill names the limit and the usage).
        report: Box<ExitReport>,
        /// Its last output lines.
        log_tail: Vec<String>,
        /// When its restart policy starts it again; `None`: it stays down.
        restart_in: Option<std::time::Duration>,
    },
    /// A node's `process()` took longer than its `timeout_ms` for one frame; its runner ends
    /// itself, and its restart policy starts it again.
    #[error(
        "node `{node_id}` is hung: process() has been busy with frame {sequence:?} for {busy_ms} ms, longer than its timeout_ms of {timeout_ms}; its runner is ended and restarted"
    )]
    NodeHung {
        /// The node.
        node_id: String,
        /// The input frame it was busy with.
        sequence: Option<u64>,
        /// How long it had been busy.
        busy_ms: u64,
        /// Its limit.
        timeout_ms: u64,
    },
    /// A node whose runner died is running again (its restart policy restarted it). Frames
    /// it held when it died, and frames sent while it was down, were lost: `lost` names them.
    /// The session goes on.
    #[error("node `{node_id}` was restarted (restart {restarts} in its window); lost: {}", lost_list(.lost))]
    NodeRestarted {
        /// The node.
        node_id: String,
        /// Restarts within the policy's window so far.
        restarts: u32,
        /// The frames lost, by pipeline input and number.
        lost: Vec<crate::LostFrames>,
    },
    /// A pipeline input or output name that the manifest does not have.
    #[error("the pipeline has no {what} named `{name}`; it has: {known}")]
    UnknownEndpoint {
        /// `input` or `output`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The names it has.
        known: String,
    },
    /// The Python that host-process nodes would run under cannot run them.
    #[error(
        "host Python `{python}` cannot run Berth's host-process nodes: {problem}; fix: unset \
         BERTH_PYTHON (and SessionOptions::python) to let Berth make its own environment, or \
         `{python} -m pip install iceoryx2=={} numpy`",
        berth_images::ICEORYX2_VERSION
    )]
    HostPython {
        /// The interpreter (or environment folder) in question.
        python: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The session cannot be set up as asked.
    #[error("{0}")]
    Setup(String),
}

fn restart_note(restart_in: &Option<std::time::Duration>) -> String {
    match restart_in {
        Some(delay) => format!("; restarting it in {} ms", delay.as_millis()),
        None => String::new(),
    }
}

fn lost_list(lost: &[crate::LostFrames]) -> String {
    if lost.is_empty() {
        "none".into()
    } else {
        lost.iter()
            .map(|l| l.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last output:\n    {}", lines.join("\n    "))
    }
}
