//! The error type of this crate: every variant names the image or step and how to fix it.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = ImageError> = std::result::Result<T, E>;

/// Everything that can go wrong while building, validating or pruning images.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// A Docker Engine API call failed.
    #[error("Docker API call failed while {action}: {source}")]
    Docker {
        /// What was being done, e.g. "inspecting image berth/python:3.11".
        action: String,
        /// The underlying client error.
        source: bollard::errors::Error,
    },

    /// The Python version is not `MAJOR.MINOR`.
    #[error("python version `{version}` is not of the form MAJOR.MINOR (for example 3.11)")]
    InvalidPythonVersion {
        /// The rejected version string.
        version: String,
    },

    /// No Debian suite ships the requested Python version as its system Python.
    #[error(
        "Python {version} cannot be built without a registry: it is the system Python of no \
         Debian suite (offline: {offline}). On a machine with a container registry \
         BaseMode::Registry builds it FROM python:{version}-slim; without one, set the node's \
         `base_image` to a local image with Python {version} and iceoryx2 (see the README's \
         custom base image contract), or use one of {offline}"
    )]
    NoDebianSuite {
        /// The requested Python version.
        version: String,
        /// The versions that can be built offline.
        offline: String,
    },

    /// A host tool is not installed.
    #[error("{tool} not found: {hint}")]
    ToolMissing {
        /// The program that could not be started.
        tool: String,
        /// How to install it.
        hint: String,
    },

    /// A host tool ran and failed.
    #[error("{step} failed: `{command}` exited with {status}\n--- output (last lines) ---\n{log}")]
    ToolFailed {
        /// The step, e.g. "downloading the wheelhouse for Python 3.11".
        step: String,
        /// The command line that failed.
        command: String,
        /// Its exit status.
        status: String,
        /// The last lines it printed.
        log: String,
    },

    /// A cache folder or lock could not be made or used.
    #[error(transparent)]
    Cache(#[from] berth_cache::CacheError),

    /// A file system operation on the host failed.
    #[error("{context} ({path}): {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A `docker build` step failed.
    #[error("building image {image} failed at `{step}`: {message}\n--- step log ---\n{log}")]
    BuildFailed {
        /// The tag being built.
        image: String,
        /// The Dockerfile step that failed (e.g. "Step 4/9 : RUN pip install ...").
        step: String,
        /// The daemon's error message.
        message: String,
        /// The output of the failing step.
        log: String,
    },

    /// Importing a root filesystem tarball into Docker failed.
    #[error("importing the root filesystem {path} as {image} failed: {message}")]
    ImportFailed {
        /// The tag being created.
        image: String,
        /// The tarball.
        path: PathBuf,
        /// What the daemon said.
        message: String,
    },

    /// An image is not present locally.
    #[error(
        "image {image} was not found locally and no registry is reachable: build it \
         (`docker build -t {image} ...`) or load it (`docker load -i ...`) first"
    )]
    ImageNotFound {
        /// The image reference.
        image: String,
    },

    /// Pulling from a registry failed in `BaseMode::Registry`.
    #[error(
        "pulling {image} failed: {message}; no registry seems reachable, use BaseMode::Offline \
         (or BaseMode::Auto)"
    )]
    PullFailed {
        /// The image being pulled.
        image: String,
        /// What the daemon said.
        message: String,
    },

    /// A custom base image lacks something Berth needs.
    #[error("image {image} cannot run Berth nodes: {}", problems.join("; "))]
    CustomBaseMismatch {
        /// The custom base image.
        image: String,
        /// Each problem with the fix, e.g. "it lacks iceoryx2: add `RUN pip install ...`".
        problems: Vec<String>,
    },

    /// The probe container of a custom base did not produce a report.
    #[error("probing image {image} failed: {detail}")]
    ProbeFailed {
        /// The probed image.
        image: String,
        /// Exit code and output of the probe.
        detail: String,
    },

    /// The environment hash is not usable as an image tag.
    #[error(
        "environment hash `{hash}` must be at least 16 hexadecimal characters \
         (the first 16 become the tag berth/env:<hash16>)"
    )]
    InvalidEnvHash {
        /// The rejected hash.
        hash: String,
    },

    /// A package name would be read as a command-line option or is malformed.
    #[error("{kind} package name `{name}` is invalid: {reason}")]
    InvalidPackage {
        /// "system" or "python".
        kind: &'static str,
        /// The rejected name.
        name: String,
        /// Why.
        reason: &'static str,
    },

    /// System packages were requested for an image without apt.
    #[error(
        "image {image} has no /etc/apt and /var/lib/dpkg/status: system_dependencies need a \
         Debian-based image"
    )]
    NotDebianBased {
        /// The base image.
        image: String,
    },
}

impl ImageError {
    /// Wraps a bollard error with the action that failed.
    pub(crate) fn docker(action: impl Into<String>, source: bollard::errors::Error) -> Self {
        ImageError::Docker {
            action: action.into(),
            source,
        }
    }

    /// Wraps an I/O error with context and path.
    pub(crate) fn io(
        context: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        ImageError::Io {
            context: context.into(),
            path: path.into(),
            source,
        }
    }
}
