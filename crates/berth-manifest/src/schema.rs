//! The manifest's types: exactly the fields users write, nothing more.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A pipeline manifest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Format version; only `"v1"` exists.
    pub version: String,
    /// Name and description.
    pub metadata: Metadata,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// Edges from a node or pipeline input to a node.
    #[serde(default)]
    pub connections: Vec<Connection>,
    /// The folder the manifest was read from (relative paths start there).
    #[serde(skip)]
    #[schemars(skip)]
    pub(crate) base_dir: Option<PathBuf>,
}

/// Name and description of a pipeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The pipeline's name.
    pub name: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One node.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Unique id, `[A-Za-z0-9_-]+`; part of channel names.
    pub id: String,
    /// A Python class name, or a registered native node type.
    pub node_type: String,
    /// Whether the node may yield several outputs per input.
    #[serde(default)]
    pub is_streaming: bool,
    /// Free-form parameters passed to the node.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Present: the node runs in a container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerSpec>,
    /// Without `docker`: `cpython` runs the node as a host subprocess.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_hint: Option<String>,
    /// Longest a Python node's `process()` may take for one frame, in ms (default: no limit).
    /// A node that takes longer is reported hung, and its runner is ended and restarted by
    /// `restart` (in a shared container this ends the container, for every session on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What happens when the node's runner dies while its session runs (out-of-process nodes).
    #[serde(default, skip_serializing_if = "RestartPolicy::is_default")]
    pub restart: RestartPolicy,
}

/// Restarts of a node whose runner died (a crash, an OOM kill, a killed container): up to
/// `max_restarts` within `window_s` seconds, the n-th after `backoff_ms × 2^(n-1)` ms (at most
/// 30 s). Frames sent while it is down, and those it held when it died, are counted lost by
/// number. `max_restarts: 0` turns restarts off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// Restarts allowed within the window (default 3).
    #[serde(default = "default_max_restarts")]
    pub max_restarts: u32,
    /// Delay before the first restart, doubled for each further one (default 100).
    #[serde(default = "default_backoff_ms")]
    pub backoff_ms: u64,
    /// How far back restarts count against `max_restarts` (default 60).
    #[serde(default = "default_window_s")]
    pub window_s: u64,
}

fn default_max_restarts() -> u32 {
    3
}

fn default_backoff_ms() -> u64 {
    100
}

fn default_window_s() -> u64 {
    60
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            max_restarts: default_max_restarts(),
            backoff_ms: default_backoff_ms(),
            window_s: default_window_s(),
        }
    }
}

impl RestartPolicy {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }

    /// The delay before restart number `n` (1-based).
    pub fn backoff(&self, n: u32) -> std::time::Duration {
        let factor = 1u64 << n.saturating_sub(1).min(20);
        std::time::Duration::from_millis(self.backoff_ms.saturating_mul(factor).min(30_000))
    }
}

/// A container node's environment and container settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DockerSpec {
    /// One of the versions in `python-versions.txt` (default `"3.11"`).
    #[serde(default = "default_python")]
    #[schemars(schema_with = "python_version_schema")]
    pub python_version: String,
    /// A custom image to start from instead of the standard one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_image: Option<String>,
    /// Debian packages to install.
    #[serde(default)]
    pub system_dependencies: Vec<String>,
    /// pip requirements to install.
    #[serde(default)]
    pub python_packages: Vec<String>,
    /// Hard limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_limits: Option<ResourceLimits>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Host folders to mount.
    #[serde(default)]
    pub volumes: Vec<VolumeSpec>,
    /// Whether sessions of one runtime may share this node's container (default `true`):
    /// nodes with the same environment, node type, limits, env and volumes are served by one
    /// running container, each session with its own node instance. `false` gives every
    /// session a container of its own (for nodes that must be alone). Limits apply to a
    /// shared container as a whole.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub shared: bool,
    /// What network the container gets: `none` (the default: no interface but loopback),
    /// `bridge` (Docker's default network: outbound access, e.g. to fetch a model in
    /// `initialize()`), or `host` (the host's own network stack; no isolation).
    #[serde(default, skip_serializing_if = "DockerNetwork::is_none")]
    pub network: DockerNetwork,
}

/// The network a container node gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DockerNetwork {
    /// No network but loopback.
    #[default]
    None,
    /// Docker's default bridge network.
    Bridge,
    /// The host's network stack.
    Host,
}

impl DockerNetwork {
    fn is_none(&self) -> bool {
        *self == DockerNetwork::None
    }
}

fn yes() -> bool {
    true
}

fn is_true(value: &bool) -> bool {
    *value
}

fn default_python() -> String {
    "3.11".into()
}

/// `python_version` in the JSON Schema: an enum of the supported versions.
fn python_version_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let versions: Vec<&str> = crate::python::python_versions()
        .iter()
        .map(|v| v.version)
        .collect();
    schemars::json_schema!({
        "type": "string",
        "enum": versions,
        "default": default_python(),
        "description": "Python version of the node's image (see python-versions.txt)",
    })
}

/// Hard resource limits of a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceLimits {
    /// Memory limit in MiB (no swap beyond it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mb: Option<u64>,
    /// CPU limit in cores, e.g. 1.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_cores: Option<f64>,
}

/// A host folder mounted into a container.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// Host path; relative paths start at the manifest's folder.
    pub host_path: String,
    /// Absolute path inside the container.
    pub container_path: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
}

/// An edge: `from` a node or a pipeline input name, `to` a node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Connection {
    /// A node id, or a pipeline input name.
    pub from: String,
    /// A node id.
    pub to: String,
}

/// How a node runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Executor {
    /// In a container (`docker` block present).
    Docker,
    /// As a host subprocess (`runtime_hint` present).
    Process,
    /// As a native Rust node in the host.
    Native,
}

/// `runtime_hint` values that mean a host Python subprocess.
pub(crate) const PYTHON_RUNTIME_HINTS: &[&str] = &["cpython", "python"];

impl NodeSpec {
    /// How this node runs.
    pub fn executor(&self) -> Executor {
        match (&self.docker, &self.runtime_hint) {
            (Some(_), _) => Executor::Docker,
            (None, Some(_)) => Executor::Process,
            (None, None) => Executor::Native,
        }
    }
}

impl Manifest {
    /// The folder the manifest was read from, if it was read from a file.
    pub fn base_dir(&self) -> Option<&Path> {
        self.base_dir.as_deref()
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.id == id)
    }
}
