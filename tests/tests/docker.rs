//! End to end through Python nodes in real Docker containers, over real iceoryx2 shared memory.
//! Without a daemon these tests say so loudly and pass, unless `BERTH_REQUIRE_DOCKER=1`.

use std::time::Duration;

use berth::{Session, SessionError, SessionOptions};
use berth_backend::Backend;
use berth_tests::{assert_nothing_left, docker_available, pipeline, round_trips, runtime};

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

#[test]
fn exceeding_the_memory_limit_names_node_limit_and_usage() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let yaml = CONTAINER_GAIN
        .replace("node_type: Scale", "node_type: Hog")
        .replace("gain: 0.5", "mb: 48")
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
    let err = failure.expect("the node was killed before 20 frames of 48 MiB each");
    match &err {
        SessionError::NodeExited {
            node_id, report, ..
        } => {
            assert_eq!(node_id, "gain");
            assert!(report.oom_killed, "{err}");
            assert_eq!(report.memory_limit_bytes, Some(128 << 20));
            assert!(report.memory_peak_bytes.is_some(), "{err}");
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
    let rootfs = "berth/rootfs:bookworm";
    let exists = rt.block_on(async {
        berth_docker::DockerBackend::new()
            .client()
            .await
            .unwrap()
            .inspect_image(rootfs)
            .await
            .is_ok()
    });
    assert!(
        exists,
        "{rootfs} is made when berth/python:3.11 is built (cargo xtask build-images)"
    );
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
        text.contains(rootfs) && text.contains("iceoryx2==0.10.0"),
        "{text}"
    );
}
