//! The container-backend trait of Berth.
//!
//! A [`Backend`] starts a node's runner in an isolated environment (a container, a host
//! process) from a [`LaunchSpec`], and hands back a [`NodeProcess`] to watch and stop it.
//! Readiness is decided by the caller (the runner says so over the transport's control
//! channel); [`NodeProcess::wait_ready`] only combines that probe with exit detection and a
//! timeout. Backends declare what they can enforce in [`Capabilities`]; the [`conformance`]
//! suite (feature `conformance`) checks each capability only where it is declared.
//!
//! Every backend forwards the runner's stdout and stderr to `tracing` (fields `session_id`,
//! `node_id`, `stream`) and keeps the last lines for error reports ([`LogTail`]).

mod error;
mod exit;
mod launch;
mod logs;
mod registry;
mod traits;

#[cfg(feature = "conformance")]
pub mod conformance;

pub use error::BackendError;
pub use exit::{ExitReport, signal_name};
pub use launch::{
    LABEL_ENV_HASH, LABEL_MANAGED_BY, LABEL_NODE, LABEL_SESSION, LaunchSpec, Limits, MANAGED_BY,
    Mount, Network, Realtime, RealtimeError, parse_cpu_list,
};
pub use logs::{LOG_FILE_LIMIT, LogLine, LogStream, LogTail, read_log_line};
pub use registry::{BackendPlugin, backend_by_name, backend_names};
pub use traits::{Backend, Capabilities, NodeProcess};

/// Re-exported so plugins register without depending on `inventory` themselves.
pub use inventory;
