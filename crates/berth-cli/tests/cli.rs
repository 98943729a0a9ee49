//! The `berth` command as a user runs it.

use std::process::Command;

fn berth(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("berth runs")
}

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn validate_accepts_the_examples() {
    for example in [
        "examples/gain/pipeline.yaml",
        "examples/gain-docker/pipeline.yaml",
    ] {
        let out = berth(&["validate", &repo(example)]);
        assert!(
            out.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    }
}

#[test]
fn validate_rejects_with_exit_code_2_and_a_located_message() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "version: v1\nmetadata: { name: x }\nnodes:\n  - id: a\n    node_type: Gain\n    docker:\n      resource_limits: { memroy_mb: 5 }\n",
    )
    .unwrap();
    let out = berth(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.yaml:7:26: nodes[0].docker.resource_limits.memroy_mb"),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `memory_mb`"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn validate_never_panics_on_garbage() {
    let dir = tempfile::tempdir().unwrap();
    for (i, text) in [
        "",
        ":",
        "[[[",
        "nodes: 5",
        "\u{0}\u{1}",
        "version: v1\nnodes: [{}]",
    ]
    .iter()
    .enumerate()
    {
        let file = dir.path().join(format!("g{i}.yaml"));
        std::fs::write(&file, text).unwrap();
        let out = berth(&["validate", file.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{text:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = berth(&["validate", "/no/such/file.yaml"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn schema_is_json_with_the_node_fields() {
    let out = berth(&["schema"]);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(schema.to_string().contains("resource_limits"));
}

#[test]
fn run_streams_the_gain_example_and_prints_latency() {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args([
            "run",
            &repo("examples/gain/pipeline.yaml"),
            "--seconds",
            "0.5",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("round trip p50"), "{stdout}");
    assert!(
        stdout.contains("frames: sent 25 received 25 lost 0 node errors 0"),
        "{stdout}"
    );
}

#[test]
fn run_streams_nodes_that_answer_some_inputs_or_several_times() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("nodes")).unwrap();
    std::fs::write(
        dir.path().join("nodes/streaming.py"),
        r#"
from berth import Node, RuntimeData

class EveryOther(Node):
    """Answers only even frames."""
    async def initialize(self):
        self.n = 0
    async def process(self, data):
        self.n += 1
        return data if self.n % 2 == 1 else None

class Twice(Node):
    """Answers every frame with its audio and a text line."""
    async def process(self, data):
        yield data
        yield RuntimeData.text("tick")
"#,
    )
    .unwrap();
    let manifest = dir.path().join("pipeline.yaml");
    std::fs::write(
        &manifest,
        r#"
version: "v1"
metadata: { name: "streaming" }
nodes:
  - { id: half, node_type: EveryOther, runtime_hint: cpython }
  - { id: twice, node_type: Twice, runtime_hint: cpython, is_streaming: true }
connections:
  - { from: mic, to: half }
  - { from: half, to: twice }
"#,
    )
    .unwrap();
    let out = berth(&["run", manifest.to_str().unwrap(), "--seconds", "0.2"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 10 inputs; `half` passes 5; `twice` answers each with two frames.
    assert!(
        stdout.contains("frames: sent 10 received 10 lost 0"),
        "{stdout}"
    );
    assert!(stdout.contains("twice: 10 outputs"), "{stdout}");
    assert_eq!(stdout.matches("twice: tick").count(), 5, "{stdout}");
}

#[test]
fn run_limits_a_wav_input_to_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("in.wav");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..48_000 {
        writer.write_sample((i as f32 * 0.01).sin() * 0.5).unwrap();
    }
    writer.finalize().unwrap();
    let out = berth(&[
        "run",
        &repo("examples/gain/pipeline.yaml"),
        "--input",
        wav.to_str().unwrap(),
        "--seconds",
        "0.1",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("frames: sent 5 received 5"), "{stdout}");
}
