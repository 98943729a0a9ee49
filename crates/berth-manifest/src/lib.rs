//! Berth's pipeline manifest.
//!
//! A manifest (YAML) lists nodes and the connections between them. This crate parses it,
//! validates it, and reports every problem with the file, line and column, the field path
//! (`nodes[1].docker.resource_limits.memory_mb`) and what to do. It also answers graph questions
//! (pipeline inputs and outputs, upstream nodes, a topological order), hashes a node's
//! environment definition, and exports the JSON Schema of the format.
//!
//! It knows nothing of Docker, iceoryx2 or how nodes run.

mod error;
mod graph;
mod hash;
mod locate;
mod parse;
pub mod python;
mod schema;
mod suggest;
mod validate;

pub use error::{ManifestError, ManifestErrors};
pub use python::{PythonSource, PythonVersion, python_version, python_versions};
pub use schema::{
    Connection, DockerNetwork, DockerSpec, Executor, Manifest, Metadata, NodeSpec, ResourceLimits,
    RestartPolicy, VolumeSpec,
};

/// The JSON Schema of the manifest format, for editors.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Manifest)).expect("a schema is JSON")
}
