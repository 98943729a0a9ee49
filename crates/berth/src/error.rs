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
        lost: Vec<LostFrames>,
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
        berth_cache::ICEORYX2_VERSION
    )]
    HostPython {
        /// The interpreter (or environment folder) in question.
        python: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Berth's images cannot be built or used.
    #[cfg(feature = "docker")]
    #[error(transparent)]
    Images(Box<berth_images::ImageError>),
    /// A node's image cannot be made or used.
    #[cfg(feature = "docker")]
    #[error("node `{node_id}`: {what}: {source}")]
    NodeImage {
        /// The node.
        node_id: String,
        /// What failed.
        what: String,
        /// Why.
        #[source]
        source: Box<berth_images::ImageError>,
    },
    /// A native node cannot be made or started.
    #[error("node `{node_id}`: {problem}")]
    NativeNode {
        /// The node.
        node_id: String,
        /// What is wrong.
        problem: String,
    },
    /// A node runs out of process but the transport only works within one process.
    #[error(
        "node `{node_id}` runs out of process, but the `{transport}` transport only works within one process; use the iceoryx2 transport"
    )]
    InProcessTransport {
        /// The node.
        node_id: String,
        /// The transport.
        transport: &'static str,
    },
    /// Nodes did not say they are ready in time.
    #[error(
        "nodes {} were not ready within {timeout:?}; fix: check their output below, or raise SessionOptions::ready_timeout{}",
        .waiting.join(", "),
        tail(.log_tail)
    )]
    ReadyTimeout {
        /// The nodes still not ready.
        waiting: Vec<String>,
        /// The limit.
        timeout: std::time::Duration,
        /// Their last output lines.
        log_tail: Vec<String>,
    },
    /// A volume's host folder cannot be used.
    #[error(
        "node `{node_id}`: volume host_path `{host_path}` ({}): {source}; fix: create it or correct the path (relative paths start at the manifest's folder)",
        .resolved.display()
    )]
    Volume {
        /// The node.
        node_id: String,
        /// The path as the manifest says it.
        host_path: String,
        /// The path Berth looked at.
        resolved: std::path::PathBuf,
        /// Why it cannot be used.
        #[source]
        source: std::io::Error,
    },
    /// A folder in Berth's cache cannot be used.
    #[error(
        "cannot use {} for {what}: {source}; fix: make it writable by you alone, or set BERTH_CACHE_DIR to a folder that is",
        .path.display()
    )]
    Cache {
        /// What Berth keeps there.
        what: &'static str,
        /// The folder or file.
        path: std::path::PathBuf,
        /// Why it cannot be used.
        #[source]
        source: std::io::Error,
    },
    /// A CPU list that cannot be used.
    #[error("cannot pin to CPUs `{cpus}`: {problem}")]
    CpuPinning {
        /// The list as given.
        cpus: String,
        /// What is wrong.
        problem: String,
    },
    /// Real-time scheduling that cannot be had as asked.
    #[error("real-time scheduling at priority {priority}: {problem}")]
    Realtime {
        /// The priority asked for.
        priority: u8,
        /// What is wrong, and the fix.
        problem: String,
    },
    /// A shared container was asked to attach a node while it stops.
    #[error(
        "the shared container {owner_id} is stopping; start the session again to get a fresh one"
    )]
    SharedStopping {
        /// The shared container's own id.
        owner_id: String,
    },
    /// A stopped session left resources that could not be removed (a sweep tries again).
    #[error("session {session} left resources behind: {}", .resources.join(", "))]
    Leftovers {
        /// The session.
        session: String,
        /// What is left.
        resources: Vec<String>,
    },
    /// The session needs a part this build of Berth leaves out.
    #[error(
        "{part} is not part of this build of Berth; fix: enable berth's `{feature}` cargo \
         feature (on by default)"
    )]
    NotBuilt {
        /// What is missing.
        part: &'static str,
        /// The feature that builds it.
        feature: &'static str,
    },
    /// A thread or task Berth needs could not run.
    #[error("{what}: {detail}")]
    Internal {
        /// What was being done.
        what: &'static str,
        /// What went wrong.
        detail: String,
    },
}

#[cfg(feature = "docker")]
impl From<berth_images::ImageError> for SessionError {
    fn from(e: berth_images::ImageError) -> Self {
        SessionError::Images(Box::new(e))
    }
}

fn restart_note(restart_in: &Option<std::time::Duration>) -> String {
    match restart_in {
        Some(delay) => format!("; restarting it in {} ms", delay.as_millis()),
        None => String::new(),
    }
}

fn lost_list(lost: &[LostFrames]) -> String {
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

/// Frames of one pipeline input that were lost, by number (`first..=last`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostFrames {
    /// The pipeline input.
    pub input: String,
    /// The first lost frame's number (as [`Session::send_audio`](crate::Session::send_audio)
    /// returned it).
    pub first: u64,
    /// The last lost frame's number.
    pub last: u64,
}

impl std::fmt::Display for LostFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.first == self.last {
            write!(f, "{} frame {}", self.input, self.first)
        } else {
            write!(f, "{} frames {}..={}", self.input, self.first, self.last)
        }
    }
}
