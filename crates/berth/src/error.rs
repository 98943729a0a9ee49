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
    #[error("node `{node_id}` stopped unexpectedly: {report}{}", tail(.log_tail))]
    NodeExited {
        /// The node.
        node_id: String,
        /// How it ended (an OOM kill names the limit and the usage).
        report: ExitReport,
        /// Its last output lines.
        log_tail: Vec<String>,
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

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; last output:\n    {}", lines.join("\n    "))
    }
}
