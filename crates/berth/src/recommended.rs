//! The parts Berth uses when a session names none, as types and constructors: what
//! `SessionOptions::default()` means, spelled out for code that wants to hold or replace one.
//! Names (`docker`, `process`, `iceoryx2`) stay for user configuration: a manifest's executor,
//! `berth run --transport`.
//!
//! Each part is behind the cargo feature of the same name, all on by default; a build without
//! one still compiles and says, when a session needs it, which feature to turn on.

use std::sync::Arc;

use berth_transport::Transport;

use crate::SessionError;

/// The transport between the host and its nodes: iceoryx2 shared memory.
#[cfg(feature = "iceoryx2")]
pub type DefaultTransport = berth_iceoryx2::Iceoryx2Transport;

/// How the default transport wakes a sleeping reader: a doorbell (named pipe) of its own, the
/// default, or iceoryx2's event service (`DefaultTransport::new().with_doorbell(..)`).
#[cfg(feature = "iceoryx2")]
pub use berth_iceoryx2::Doorbell;

/// The backend of nodes with a `docker:` block: Docker containers.
#[cfg(feature = "docker")]
pub type ContainerBackend = berth_docker::DockerBackend;

/// The backend of Python nodes without a `docker:` block: host processes.
#[cfg(feature = "process")]
pub type ProcessBackend = berth_process::ProcessBackend;

/// The transport sessions use unless `SessionOptions::transport` names another.
pub fn transport() -> Result<Arc<dyn Transport>, SessionError> {
    #[cfg(feature = "iceoryx2")]
    {
        Ok(Arc::new(DefaultTransport::new()))
    }
    #[cfg(not(feature = "iceoryx2"))]
    {
        Err(SessionError::NotBuilt {
            part: "the default transport (iceoryx2)",
            feature: "iceoryx2",
        })
    }
}

/// Why the backend registered as `name` is missing, when it is one of Berth's own that this
/// build leaves out.
pub(crate) fn not_built(backend: &str) -> Option<SessionError> {
    let (part, feature) = match backend {
        "docker" if cfg!(not(feature = "docker")) => (
            "the Docker backend (for nodes with a `docker:` block)",
            "docker",
        ),
        "process" if cfg!(not(feature = "process")) => (
            "the host-process backend (for nodes without a `docker:` block)",
            "process",
        ),
        _ => return None,
    };
    Some(SessionError::NotBuilt { part, feature })
}

/// Makes sure the plugins this build includes are linked, so `inventory` sees them.
pub(crate) fn link() {
    #[cfg(feature = "iceoryx2")]
    let _ = berth_iceoryx2::ICEORYX2_VERSION;
    #[cfg(feature = "process")]
    let _ = berth_process::ENV_SESSION;
    #[cfg(feature = "docker")]
    let _ = berth_docker::DEFAULT_HOST;
}
