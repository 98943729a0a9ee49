//! Checks that need the whole manifest: ids, graph, limits, versions, volumes.

use std::collections::HashMap;

use crate::error::{ManifestError, error};
use crate::locate::{Pos, Step};
use crate::python::{python_version, python_version_list};
use crate::schema::{Manifest, PYTHON_RUNTIME_HINTS};
use crate::suggest::closest;

fn key(k: &str) -> Step {
    Step::Key(k.to_owned())
}

/// Every semantic problem of `manifest`; `at` locates a path in the source.
pub(crate) fn validate(
    manifest: &Manifest,
    source: &str,
    at: &dyn Fn(&[Step]) -> Option<Pos>,
) -> Vec<ManifestError> {
    let mut errors = Vec::new();
    let mut report = |path: Vec<Step>, message: String, fix: String| {
        errors.push(error(source, at(&path), &path, message, fix));
    };
    if manifest.version != "v1" {
        report(
            vec![key("version")],
            format!("unsupported version `{}`", manifest.version),
            "set `version: \"v1\"`".into(),
        );
    }
    if manifest.nodes.is_empty() {
        report(
            vec![key("nodes")],
            "the pipeline has no nodes".into(),
            "add at least one node under `nodes:`".into(),
        );
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, node) in manifest.nodes.iter().enumerate() {
        let here = |field: &str| vec![key("nodes"), Step::Index(i), key(field)];
        let id = node.id.as_str();
        if id.is_empty()
            || id.len() > 64
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            report(
                here("id"),
                format!("node id `{id}` cannot be used in a channel name"),
                "use 1-64 characters of letters, digits, `_` and `-`".into(),
            );
        }
        if let Some(first) = seen.insert(id, i) {
            report(
                here("id"),
                format!("duplicate node id `{id}` (also nodes[{first}])"),
                "give every node its own id".into(),
            );
        }
        if node.node_type.trim().is_empty() {
            report(
                here("node_type"),
                "node_type is empty".into(),
                "name the node's class or native type".into(),
            );
        }
        if let (None, Some(hint)) = (&node.docker, &node.runtime_hint)
            && !PYTHON_RUNTIME_HINTS.contains(&hint.as_str())
        {
            report(
                here("runtime_hint"),
                format!("unknown runtime_hint `{hint}`"),
                format!("use one of: {}", PYTHON_RUNTIME_HINTS.join(", ")),
            );
        }
        if node.timeout_ms == Some(0) {
            report(
                here("timeout_ms"),
                "timeout_ms must be positive".into(),
                "set timeout_ms to the longest one frame may take in ms, e.g. 1000, or leave it out".into(),
            );
        }
        if node.restart.max_restarts > 0 && node.restart.window_s == 0 {
            report(
                vec![key("nodes"), Step::Index(i), key("restart"), key("window_s")],
                "window_s must be positive when restarts are on".into(),
                "set window_s to how many seconds back restarts count, e.g. 60, or set max_restarts: 0".into(),
            );
        }
        let Some(docker) = &node.docker else { continue };
        let docker_path = |rest: &[Step]| {
            let mut path = vec![key("nodes"), Step::Index(i), key("docker")];
            path.extend_from_slice(rest);
            path
        };
        if python_version(&docker.python_version).is_none() {
            report(
                docker_path(&[key("python_version")]),
                format!("unsupported python_version `{}`", docker.python_version),
                format!("use one of: {}", python_version_list()),
            );
        }
        if let Some(limits) = &docker.resource_limits {
            if limits.memory_mb == Some(0) {
                report(
                    docker_path(&[key("resource_limits"), key("memory_mb")]),
                    "memory_mb must be a positive integer (got 0)".into(),
                    "set memory_mb to the container's memory limit in MiB, e.g. 512".into(),
                );
            }
            if let Some(cores) = limits.cpu_cores.filter(|c| !(c.is_finite() && *c > 0.0)) {
                report(
                    docker_path(&[key("resource_limits"), key("cpu_cores")]),
                    format!("cpu_cores must be a positive number (got {cores})"),
                    "set cpu_cores to the CPU limit in cores, e.g. 1.5".into(),
                );
            }
        }
        for (v, volume) in docker.volumes.iter().enumerate() {
            let path = docker_path(&[key("volumes"), Step::Index(v), key("container_path")]);
            if volume.container_path.trim().is_empty() || !volume.container_path.starts_with('/') {
                report(
                    path,
                    format!(
                        "container_path `{}` is not an absolute path",
                        volume.container_path
                    ),
                    "give the absolute path inside the container, e.g. /app/nodes".into(),
                );
            }
            if volume.host_path.trim().is_empty() {
                report(
                    docker_path(&[key("volumes"), Step::Index(v), key("host_path")]),
                    "host_path is empty".into(),
                    "give the host folder to mount (relative paths start at the manifest's folder)"
                        .into(),
                );
            }
        }
    }
    for (c, connection) in manifest.connections.iter().enumerate() {
        if manifest.node(&connection.to).is_none() {
            let ids: Vec<&str> = manifest.nodes.iter().map(|n| n.id.as_str()).collect();
            let fix = match closest(&connection.to, ids.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? (nodes: {})", ids.join(", ")),
                None => format!("connect to one of the nodes: {}", ids.join(", ")),
            };
            report(
                vec![key("connections"), Step::Index(c), key("to")],
                format!("connection to `{}`, which is not a node", connection.to),
                fix,
            );
        }
    }
    if let Some(cycle) = crate::graph::find_cycle(manifest) {
        let first = cycle.first().cloned().unwrap_or_default();
        let index = manifest
            .connections
            .iter()
            .position(|c| c.from == first)
            .unwrap_or(0);
        report(
            vec![key("connections"), Step::Index(index)],
            format!("the connections form a cycle: {}", cycle.join(" -> ")),
            "remove one of these connections; a pipeline flows one way".into(),
        );
    }
    errors
}

impl Manifest {
    /// Checks that every native node (no `docker`, no `runtime_hint`) names a registered type.
    pub fn validate_native_types(&self, registered: &[&str]) -> Result<(), crate::ManifestErrors> {
        let source = self
            .base_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|| "manifest".into());
        let errors: Vec<ManifestError> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.executor() == crate::Executor::Native && !registered.contains(&n.node_type.as_str()))
            .map(|(i, n)| {
                let hint = closest(&n.node_type, registered.iter().copied())
                    .map(|best| format!("did you mean `{best}`? "))
                    .unwrap_or_default();
                error(
                    &source,
                    None,
                    &[key("nodes"), Step::Index(i), key("node_type")],
                    format!("`{}` is not a registered native node type", n.node_type),
                    format!(
                        "{hint}registered: {}; or add `runtime_hint: cpython` (host Python) or a `docker:` block (container) to run a Python class",
                        registered.join(", ")
                    ),
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(crate::ManifestErrors(errors))
        }
    }
}
