//! End to end through Python nodes in real Docker containers, over real iceoryx2 shared memory.
//! Without a daemon these tests say so loudly and pass, unless `BERTH_REQUIRE_DOCKER=1`.

use std::time::Duration;

use berth::{Session, SessionError, SessionOptions};
use berth_backend::Backend;
use berth_tests::{
    assert_nothing_left, assert_scaled, docker_available, pipeline, round_trips, runtime,
};

const CONTAINER_GAIN: &str = r#"
version: "v1"
metadata: { name: "container-gain" }
nodes:
  - id: gain
    node_type: Scale
    params: { gain: 0.5 }
    docker:
      python_version: "3.11"
      resource_limits: { memory_mb: 256, cpu_cores: 1.0 }
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: gain }
"#;

/// Builds (or reuses) the standard image of a Python version, as a session would.
async fn standard_image(python: &str) -> String {
    let docker = berth_docker::connect_client()
        .await
        .expect("Docker is reachable");
    let builder = berth_images::ImageBuilder::with_config(
        docker,
        berth_images::ImageBuilderConfig::default(),
    );
    let progress = |line: &str| eprintln!("  image | {line}");
    builder
        .ensure_base_image(python, berth_images::BaseMode::Offline, &progress)
        .await
        .unwrap_or_else(|e| panic!("berth/python:{python} cannot be built: {e}"))
        .tag
}

/// The image a container was created from.
fn image_of(rt: &tokio::runtime::Runtime, container: &str) -> String {
    rt.block_on(async {
        let docker = berth_docker::DockerBackend::new().client().await.unwrap();
        let c = docker.inspect_container(container, None).await.unwrap();
        c.config.and_then(|c| c.image).unwrap_or_default()
    })
}

fn containers_of(rt: &tokio::runtime::Runtime, session: &str) -> Vec<String> {
    rt.block_on(berth_docker::DockerBackend::new().session_resources(session))
        .unwrap()
}

#[test]
fn a_container_node_processes_1000_frames_bit_exactly() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(CONTAINER_GAIN);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    assert_eq!(
        containers_of(&rt, id.as_str()).len(),
        1,
        "the node runs in a container"
    );
    for (input, output) in round_trips(&mut session, "mic", 1000) {
        assert_eq!(input.len(), output.len());
        assert!(
            input
                .iter()
                .zip(&output)
                .all(|(i, o)| (i * 0.5f32).to_bits() == o.to_bits()),
            "bit-exact"
        );
    }
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (1000, 1000, 0));
    assert_eq!(
        containers_of(&rt, id.as_str()),
        Vec::<String>::new(),
        "the container is gone"
    );
    assert_nothing_left(&id);
}

/// The host folder a container has mounted at `destination`, and whether it is writable.
fn mount_source(
    rt: &tokio::runtime::Runtime,
    container: &str,
    destination: &str,
) -> Option<(std::path::PathBuf, bool)> {
    rt.block_on(async {
        let docker = berth_docker::DockerBackend::new().client().await.unwrap();
        let c = docker.inspect_container(container, None).await.unwrap();
        c.mounts?.into_iter().find_map(|m| {
            (m.destination.as_deref() == Some(destination))
                .then(|| (m.source.unwrap_or_default().into(), m.rw.unwrap_or(false)))
        })
    })
}

/// Every file in `dir` with when it was last written.
fn modified_times(dir: &std::path::Path) -> Vec<(String, std::time::SystemTime)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|f| {
            let name = f.file_name().to_string_lossy().into_owned();
            (name, f.metadata().unwrap().modified().unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn a_container_compiles_the_runner_once_and_never_the_node_code() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    // The node folder is writable here: still, no bytecode may land in it.
    let p = pipeline(&CONTAINER_GAIN.replace("read_only: true", "read_only: false"));
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let container = containers_of(&rt, id.as_str()).pop().expect("a container");
    let (bytecode, writable) = mount_source(&rt, &container, "/opt/berth/runner/berth/__pycache__")
        .expect("a folder is mounted over the runner's __pycache__");
    assert!(writable, "the runner's bytecode folder is writable");
    assert_eq!(round_trips(&mut session, "mic", 3).len(), 3);
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
    // Only containers of this environment write there: this one, or an earlier one.
    let compiled = modified_times(&bytecode);
    assert!(
        compiled
            .iter()
            .any(|(name, _)| name.starts_with("runner.cpython-311")),
        "no compiled runner in {}: {compiled:?}",
        bytecode.display()
    );
    assert!(
        !p.dir.path().join("nodes").join("__pycache__").exists(),
        "node code was compiled into the node folder"
    );
    // The next container of the environment loads it compiled and leaves it as it is.
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    assert_eq!(round_trips(&mut session, "mic", 3).len(), 3);
    let id = session.id().clone();
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
    let after = modified_times(&bytecode);
    for file in &compiled {
        assert!(after.contains(file), "{} was compiled again", file.0);
    }
}

#[test]
fn exceeding_the_memory_limit_names_node_limit_and_usage() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let yaml = CONTAINER_GAIN
        .replace("node_type: Scale", "node_type: Hog")
        .replace("gain: 0.5", "mb: 384") // three times its limit, in one frame
        .replace("memory_mb: 256", "memory_mb: 128");
    let p = pipeline(&yaml);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let mut failure = None;
    for _ in 0..20 {
        session.send_audio("mic", &[0.1; 960], 48_000, 1).unwrap();
        match session.recv_with(Duration::from_secs(10), |_| ()) {
            Ok(Some(())) => continue,
            Ok(None) => panic!("no output and no error"),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("the node was killed on its first frame of 384 MiB");
    match &err {
        SessionError::NodeExited {
            node_id, report, ..
        } => {
            assert_eq!(node_id, "gain");
            assert!(report.oom_killed, "{err}");
            assert_eq!(report.memory_limit_bytes, Some(128 << 20));
            assert!(report.memory_peak_bytes.is_some(), "{err}");
            // Read from the container's cgroup when its OOM killer ran: the kernel's own
            // record of the peak, not a sampled guess.
            // The cgroup's count of failed charges was read (this kernel leaves v1 `failcnt` at
            // 0 even across an OOM kill, so its value is not asserted).
            assert!(report.memory_limit_hits.is_some(), "{err}");
            assert!(!report.memory_peak_estimated, "{err}");
            assert_eq!(report.memory_peak_bytes, Some(128 << 20), "{err}");
            let text = report.to_string();
            assert!(
                text.contains("peak usage 128 MiB as the kernel recorded it"),
                "{text}"
            );
            eprintln!("OOM report: {text}");
        }
        other => panic!("expected NodeExited, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("gain") && text.contains("memory limit of 128 MiB") && text.contains("usage"),
        "{text}"
    );
    let _ = rt.block_on(session.stop());
    assert_eq!(containers_of(&rt, id.as_str()), Vec::<String>::new());
    assert_nothing_left(&id);
}

#[test]
fn a_custom_base_without_iceoryx2_is_refused_with_the_fix() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    // The root filesystem image under the standard base: Python, but no iceoryx2 or runner.
    let rootfs = "berth/rootfs:bookworm";
    rt.block_on(standard_image("3.11"));
    let yaml = CONTAINER_GAIN.replace(
        "python_version: \"3.11\"",
        &format!("python_version: \"3.11\"\n      base_image: \"{rootfs}\""),
    );
    let p = pipeline(&yaml);
    let err = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .err()
        .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains(rootfs)
            && text.contains(&format!("iceoryx2=={}", berth_images::ICEORYX2_VERSION)),
        "{text}"
    );
}

#[test]
fn every_python_version_built_offline_runs_a_node_bit_exactly() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let versions: Vec<&str> = berth_manifest::python_versions()
        .iter()
        .filter(|v| v.offline())
        .map(|v| v.version)
        .collect();
    assert!(versions.len() >= 3, "{versions:?}");
    for python in versions {
        let yaml = CONTAINER_GAIN.replace(
            "python_version: \"3.11\"",
            &format!("python_version: \"{python}\""),
        );
        let p = pipeline(&yaml);
        let mut session = rt
            .block_on(Session::start(&p.manifest, SessionOptions::default()))
            .unwrap_or_else(|e| panic!("Python {python}: {e}"));
        let id = session.id().clone();
        let node = &session.nodes()[0];
        assert_eq!(node.backend, "docker", "Python {python}");
        assert_eq!(image_of(&rt, &node.id), format!("berth/python:{python}"));
        assert_scaled(&mut session, "gain", 200, |x| x * 0.5);
        let stats = rt.block_on(session.stop()).unwrap();
        assert_eq!((stats.sent, stats.received, stats.lost), (200, 200, 0));
        assert_eq!(containers_of(&rt, id.as_str()), Vec::<String>::new());
        assert_nothing_left(&id);
    }
}

#[test]
fn a_python_version_no_debian_suite_has_is_explained_without_a_registry() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let docker = rt.block_on(berth_docker::connect_client()).unwrap();
    let builder = berth_images::ImageBuilder::with_config(
        docker,
        berth_images::ImageBuilderConfig::default(),
    );
    if rt.block_on(builder.registry_reachable("python:3.10-slim")) {
        eprintln!("a registry is reachable here: Python 3.10 builds FROM python:3.10-slim");
        return;
    }
    let yaml = CONTAINER_GAIN.replace("python_version: \"3.11\"", "python_version: \"3.10\"");
    let p = pipeline(&yaml);
    let err = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .err()
        .expect("3.10 cannot be built here")
        .to_string();
    assert!(
        err.contains("3.10") && err.contains("no Debian suite") && err.contains("base_image"),
        "{err}"
    );
}

#[test]
fn an_environment_with_manylinux_2_28_only_wheels_builds_and_runs() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    // onnxruntime ≥ 1.17 publishes Linux wheels tagged manylinux_2_27/2_28 only.
    let yaml = CONTAINER_GAIN
        .replace("node_type: Scale", "node_type: OnnxInfo")
        .replace(
            "resource_limits:",
            "python_packages: [\"onnxruntime==1.20.1\"]\n      resource_limits:",
        )
        .replace("memory_mb: 256", "memory_mb: 1024");
    let p = pipeline(&yaml);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let id = session.id().clone();
    session.send_audio("mic", &[0.0; 960], 48_000, 1).unwrap();
    let text = session
        .recv_with(Duration::from_secs(20), |out| out.text().map(str::to_owned))
        .expect("no node error")
        .expect("an answer")
        .expect("text");
    assert_eq!(text, "onnxruntime 1.20.1 cpu=True");
    rt.block_on(session.stop()).unwrap();
    assert_eq!(containers_of(&rt, id.as_str()), Vec::<String>::new());
    assert_nothing_left(&id);
}

#[test]
fn two_conflicting_environments_run_in_one_pipeline_container_to_container() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(
        r#"
version: "v1"
metadata: { name: "numpy-1-then-2" }
nodes:
  - id: old
    node_type: ScaleNumpy1
    params: { gain: 0.5 }
    docker:
      python_packages: ["numpy==1.26.4"]
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
  - id: new
    node_type: ScaleNumpy2
    params: { gain: 0.25 }
    docker:
      python_packages: ["numpy==2.2.6"]
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: old }
  - { from: old, to: new }
"#,
    );
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap_or_else(|e| panic!("{e}"));
    let id = session.id().clone();
    // `old` feeds `new` directly: the host reads only `new`.
    let outputs: Vec<&str> = session
        .plan()
        .outputs
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(outputs, ["new"]);
    let nodes = session.nodes();
    assert!(nodes.iter().all(|n| n.backend == "docker"), "{nodes:?}");
    let images: Vec<String> = nodes.iter().map(|n| image_of(&rt, &n.id)).collect();
    assert_ne!(images[0], images[1], "each environment has its own image");
    assert_eq!(containers_of(&rt, id.as_str()).len(), 2);
    assert_scaled(&mut session, "new", 100, |x| (x * 0.5) * 0.25);
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.node_errors),
        (100, 100, 0, 0)
    );
    assert_eq!(containers_of(&rt, id.as_str()), Vec::<String>::new());
    assert_nothing_left(&id);
}

#[test]
fn twenty_container_sessions_in_a_row_leave_nothing_behind() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(CONTAINER_GAIN);
    for i in 0..20 {
        let mut session = rt
            .block_on(Session::start(&p.manifest, SessionOptions::default()))
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        let id = session.id().clone();
        assert_scaled(&mut session, "gain", 3, |x| x * 0.5);
        let stats = rt.block_on(session.stop()).unwrap();
        assert_eq!(
            (stats.sent, stats.received, stats.lost),
            (3, 3, 0),
            "session {i}"
        );
        assert_eq!(
            containers_of(&rt, id.as_str()),
            Vec::<String>::new(),
            "session {i}"
        );
        assert_nothing_left(&id);
    }
}

#[test]
fn a_container_gets_the_network_its_manifest_names() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let host: std::collections::BTreeSet<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut seen = Vec::new();
    for network in ["", "none", "bridge", "host"] {
        let setting = if network.is_empty() {
            String::new()
        } else {
            format!("\n      network: {network}")
        };
        let yaml = CONTAINER_GAIN
            .replace("node_type: Scale", "node_type: Interfaces")
            .replace(
                "python_version: \"3.11\"",
                &format!("python_version: \"3.11\"{setting}"),
            );
        let p = pipeline(&yaml);
        let mut session = rt
            .block_on(Session::start(&p.manifest, SessionOptions::default()))
            .unwrap_or_else(|e| panic!("network {network:?}: {e}"));
        let id = session.id().clone();
        session.send_audio("mic", &[0.0; 960], 48_000, 1).unwrap();
        let interfaces = session
            .recv_with(Duration::from_secs(20), |out| out.text().map(str::to_owned))
            .expect("no node error")
            .expect("an answer")
            .expect("text");
        rt.block_on(session.stop()).unwrap();
        assert_nothing_left(&id);
        seen.push((network, interfaces));
    }
    let interfaces = |name: &str| -> std::collections::BTreeSet<String> {
        let (_, list) = seen.iter().find(|(n, _)| *n == name).unwrap();
        list.split(',').map(str::to_owned).collect()
    };
    assert_eq!(seen[0].1, "lo", "no network unless asked: {seen:?}");
    assert_eq!(interfaces("none"), interfaces(""), "{seen:?}");
    let bridge = interfaces("bridge");
    assert!(
        bridge.contains("lo") && bridge.len() >= 2 && bridge != host,
        "an interface of its own on Docker's bridge: {seen:?}"
    );
    assert_eq!(
        interfaces("host"),
        host,
        "the host's own interfaces: {seen:?}"
    );
}
