//! Helpers for Berth's end-to-end tests: manifests in temporary folders, leak checks, and the
//! Docker switch (`BERTH_REQUIRE_DOCKER=1` turns a missing daemon into a failure).

use std::path::{Path, PathBuf};

use berth::{Manifest, Session};
use berth_transport::{SessionId, Transport};

/// The test node classes shipped with the tests (`tests/nodes`).
pub fn test_nodes_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("nodes")
}

/// A manifest written into a fresh temporary folder whose `nodes/` holds the test nodes.
pub struct Pipeline {
    /// The folder (removed on drop).
    pub dir: tempfile::TempDir,
    /// The parsed manifest.
    pub manifest: Manifest,
}

/// Writes `yaml` as `pipeline.yaml` next to a copy of the test nodes and loads it.
pub fn pipeline(yaml: &str) -> Pipeline {
    use std::os::unix::fs::PermissionsExt;
    // Modes set as each folder is made, not left to the umask: a container (capabilities
    // dropped) must search both.
    let dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let nodes = dir.path().join("nodes");
    shared_folder(&nodes);
    for entry in std::fs::read_dir(test_nodes_dir()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "py") {
            std::fs::copy(entry.path(), nodes.join(entry.file_name())).unwrap();
        }
    }
    let file = dir.path().join("pipeline.yaml");
    std::fs::write(&file, yaml).unwrap();
    let manifest = Manifest::from_path(&file).unwrap_or_else(|e| panic!("{e}"));
    Pipeline { dir, manifest }
}

/// Creates `dir` for a container to write in, its mode set (0755), not left to the umask.
pub fn shared_folder(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Asserts that nothing of the session remains: no iceoryx2 file or segment, no process.
pub fn assert_nothing_left(session: &SessionId) {
    let files = berth_iceoryx2::Iceoryx2Transport::new().session_resources(session);
    assert!(
        files.is_empty(),
        "iceoryx2 resources of session {session} remain: {files:?}"
    );
    let pids = session_processes(session.as_str());
    assert!(
        pids.is_empty(),
        "processes of session {session} remain: {pids:?}"
    );
}

/// Pids of live processes labelled with the session id.
pub fn session_processes(session: &str) -> Vec<String> {
    berth_resources::processes_with_env(&[("BERTH_SESSION_ID", session)])
        .into_iter()
        .map(|pid| pid.to_string())
        .collect()
}

/// A multi-threaded runtime for a test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Whether Docker tests can run. Without a daemon they fail when `BERTH_REQUIRE_DOCKER=1`
/// and otherwise say loudly that they were skipped.
pub fn docker_available(rt: &tokio::runtime::Runtime) -> bool {
    match rt.block_on(berth_docker::DockerBackend::connect()) {
        Ok(_) => true,
        Err(e) if std::env::var("BERTH_REQUIRE_DOCKER").as_deref() == Ok("1") => {
            panic!("BERTH_REQUIRE_DOCKER=1 but Docker is unreachable: {e}")
        }
        Err(e) => {
            eprintln!(
                "SKIPPED: Docker daemon not reachable ({e}); set BERTH_REQUIRE_DOCKER=1 to make this a failure"
            );
            false
        }
    }
}

/// Sends `frames` 960-sample frames one at a time and returns what came back, as
/// (input samples, output samples) pairs.
pub fn round_trips(session: &mut Session, input: &str, frames: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let mut pairs = Vec::with_capacity(frames);
    for i in 0..frames {
        let samples: Vec<f32> = (0..960)
            .map(|j| ((i * 960 + j) as f32 * 0.001).sin() * 0.9)
            .collect();
        session
            .send_audio(input, &samples, 48_000, 1)
            .expect("send");
        let output = session
            .recv_with(std::time::Duration::from_secs(10), |out| {
                out.audio().map(<[f32]>::to_vec)
            })
            .expect("no node error")
            .expect("an output within 10 s")
            .expect("an audio output");
        pairs.push((samples, output));
    }
    pairs
}

/// Sends `frames` frames through `session` and checks each output is `input * gain`, bit for bit,
/// and that only `node` answers.
pub fn assert_scaled(session: &mut Session, node: &str, frames: usize, gain: impl Fn(f32) -> f32) {
    for i in 0..frames {
        let input: Vec<f32> = (0..960)
            .map(|j| ((i * 960 + j) as f32 * 0.001).sin() * 0.9)
            .collect();
        session.send_audio("mic", &input, 48_000, 1).expect("send");
        let (from, output) = session
            .recv_with(std::time::Duration::from_secs(20), |out| {
                (out.node_id.to_owned(), out.audio().map(<[f32]>::to_vec))
            })
            .expect("no node error")
            .expect("an output within 20 s");
        assert_eq!(from, node, "only the last node's output reaches the host");
        let output = output.expect("audio");
        assert_bit_exact(&input, &output, &gain, &format!("frame {i}"));
    }
}

/// Asserts that `output` is `input` mapped by `f`, sample for sample and bit for bit.
pub fn assert_bit_exact(input: &[f32], output: &[f32], f: impl Fn(f32) -> f32, what: &str) {
    assert_eq!(output.len(), input.len(), "{what}: the whole frame");
    assert!(
        input
            .iter()
            .zip(output)
            .all(|(i, o)| f(*i).to_bits() == o.to_bits()),
        "{what}: not bit-exact"
    );
}
