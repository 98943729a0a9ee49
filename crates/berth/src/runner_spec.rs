//! The contract between the host and the Python runner, typed: what `python -m berth.runner
//! --spec` ([`RunnerSpec`]) and `--serve` ([`ServeSpec`]) are started with (docs/PROTOCOL.md).
//!
//! Their JSON Schemas ([`schemas`]) are committed beside the runner
//! (`runner/python/berth/spec.schema.json`); the runner validates every spec against them at
//! start-up and names the field that does not fit. A test here checks that the committed file
//! is what these types generate, and the runner's tests check their own host against it, so
//! neither side can drift.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the committed schemas live, relative to the workspace root.
pub const SCHEMA_FILE: &str = "runner/python/berth/spec.schema.json";

/// What one node's runner is started with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunnerSpec {
    /// The session the node belongs to.
    #[schemars(length(min = 1))]
    pub session_id: String,
    /// The node's id in the manifest.
    #[schemars(length(min = 1))]
    pub node_id: String,
    /// The Python class to run (found in `node_dirs` or `module`).
    #[schemars(length(min = 1))]
    pub node_type: String,
    /// The manifest's `params`, given to the node's constructor.
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// Channels the node reads, in order.
    pub inputs: Vec<String>,
    /// The channel the node writes.
    #[schemars(length(min = 1))]
    pub output: String,
    /// The channel for control messages to the host.
    #[schemars(length(min = 1))]
    pub control: String,
    /// Folders searched for the node's module.
    #[serde(default)]
    pub node_dirs: Vec<String>,
    /// How long a reader spins before it sleeps, in µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spin_us: Option<u64>,
    /// How long before a steadily paced input's next frame is due the runner polls for it, in
    /// µs; 0: it sleeps until the frame's wake-up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anticipate_us: Option<u64>,
    /// Largest frame payload, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_frame_bytes: Option<u64>,
    /// Longest one `process()` call may take (ms); 0: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// An importable module that defines `node_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// How coroutine `process()` methods run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coroutine_driver: Option<CoroutineDriver>,
    /// How long the runner keeps its ports open after a `fatal` message (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_linger_ms: Option<u64>,
    /// How often the runner reports `stats` while frames flow (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats_interval_ms: Option<u64>,
    /// How long a send waits for a reader whose queue is full before the runner stops with a
    /// `fatal` naming the channel (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_timeout_ms: Option<u64>,
    /// `SCHED_FIFO` priority of the thread that runs the node (1–99); absent: the thread keeps
    /// the ordinary policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 99))]
    pub realtime_priority: Option<u8>,
    /// The transport's own fields (its `runner_spec`), e.g. where its channels live.
    #[serde(flatten)]
    pub transport: BTreeMap<String, String>,
}

/// How a runner drives a coroutine `process()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoroutineDriver {
    /// Coroutines that never suspend run without the event loop (the default).
    Inline,
    /// Always through `loop.run_until_complete` (for comparison).
    Loop,
}

/// What a shared runner (one container, one node instance per attached session) is started
/// with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ServeSpec {
    /// The owner id of the shared container's channels.
    #[schemars(length(min = 1))]
    pub pool_id: String,
    /// The node's id, for log lines.
    #[schemars(length(min = 1))]
    pub name: String,
    /// The channel the runner reads `attach`/`detach` commands from.
    #[schemars(length(min = 1))]
    pub commands: String,
    /// The channel it answers on.
    #[schemars(length(min = 1))]
    pub control: String,
    /// The transport's own fields (its `runner_spec`).
    #[serde(flatten)]
    pub transport: BTreeMap<String, String>,
}

/// Both schemas, as committed in [`SCHEMA_FILE`]: `{"runner": …, "serve": …}`.
pub fn schemas() -> serde_json::Value {
    serde_json::json!({
        "runner": schemars::schema_for!(RunnerSpec),
        "serve": schemars::schema_for!(ServeSpec),
    })
}

/// The committed file's text: [`schemas`], pretty-printed, with a final newline.
pub fn schema_file_text() -> String {
    let mut text = serde_json::to_string_pretty(&schemas()).expect("a schema is JSON");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `BERTH_BLESS=1 cargo test -p berth runner_spec` rewrites the file after a change here.
    #[test]
    fn the_committed_schema_is_what_these_types_generate() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(SCHEMA_FILE);
        let expected = schema_file_text();
        if std::env::var_os("BERTH_BLESS").is_some() {
            std::fs::write(&path, &expected).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == expected,
            "{} is not what RunnerSpec and ServeSpec generate; run \
             `BERTH_BLESS=1 cargo test -p berth runner_spec` and commit it",
            path.display()
        );
    }

    #[test]
    fn transport_fields_sit_beside_the_others() {
        let spec = ServeSpec {
            pool_id: "p".into(),
            name: "gain".into(),
            commands: "c".into(),
            control: "k".into(),
            transport: [("where".to_owned(), "here".to_owned())].into(),
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["where"], "here");
        assert_eq!(serde_json::from_value::<ServeSpec>(json).unwrap(), spec);
    }
}
