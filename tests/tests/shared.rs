//! Shared containers: the sessions of one `Runtime` share a container node whose container
//! would be identical, each with its own node instance and channels; the container goes with
//! the last session. Real Docker, real iceoryx2. Without a daemon these tests say so loudly and
//! pass, unless `BERTH_REQUIRE_DOCKER=1`.

use std::time::Duration;

use berth::{Runtime, Session, SessionError, SessionOptions};
use berth_backend::Backend;
use berth_tests::{assert_nothing_left, assert_scaled, docker_available, pipeline, runtime};
use berth_transport::SessionId;

const SHARED_GAIN: &str = r#"
version: "v1"
metadata: { name: "shared-gain" }
nodes:
  - id: gain
    node_type: Scale
    params: { gain: GAIN }
    docker:
      python_version: "3.11"
      resource_limits: { memory_mb: 256, cpu_cores: 1.0 }
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: gain }
"#;

fn gain_manifest(gain: f32) -> berth_tests::Pipeline {
    pipeline(&SHARED_GAIN.replace("GAIN", &gain.to_string()))
}

/// Containers labelled with `owner` (a session id or a shared container's own id).
fn containers_of(rt: &tokio::runtime::Runtime, owner: &str) -> Vec<String> {
    rt.block_on(berth_docker::DockerBackend::new().session_resources(owner))
        .unwrap()
}

/// Ends the session's input and waits for its end of stream; returns its node's final runner
/// report and the shared container's reading then.
fn end_and_report(session: &mut Session) -> (berth::RunnerStats, berth::Usage) {
    session.end_inputs();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !session.outputs_ended() {
        assert!(
            std::time::Instant::now() < deadline,
            "no end of stream within 20 s"
        );
        session
            .recv_with(Duration::from_millis(100), |_| ())
            .expect("no node error");
    }
    let usage = session.usage().remove(0);
    (
        usage.runner.expect("the runner's final report"),
        usage.usage.expect("the container still runs"),
    )
}

/// Asserts nothing of the sessions and of the runtime's shared containers remains.
fn assert_all_gone(rt: &tokio::runtime::Runtime, runtime: &Runtime, sessions: &[SessionId]) {
    assert_eq!(
        runtime.shared_nodes(),
        Vec::new(),
        "no shared container left"
    );
    for id in sessions {
        assert_eq!(containers_of(rt, id.as_str()), Vec::<String>::new());
        assert_nothing_left(id);
    }
}

#[test]
fn two_sessions_share_one_container_each_with_its_own_params() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    // Two manifests in one folder: the same container (same volume), different params.
    let half = gain_manifest(0.5);
    let double = half.dir.path().join("double.yaml");
    std::fs::write(&double, SHARED_GAIN.replace("GAIN", "2.0")).unwrap();
    let double = berth::Manifest::from_path(&double).unwrap();
    let mut a = rt
        .block_on(runtime.session(&half.manifest, SessionOptions::default()))
        .unwrap();
    let mut b = rt
        .block_on(runtime.session(&double, SessionOptions::default()))
        .unwrap();
    let shared = runtime.shared_nodes();
    assert_eq!(shared.len(), 1, "one container serves both: {shared:?}");
    assert_eq!(shared[0].leases, 2);
    let owner = shared[0].owner_id.clone();
    assert_eq!(containers_of(&rt, &owner).len(), 1, "one running container");
    assert_eq!(containers_of(&rt, a.id().as_str()), Vec::<String>::new());
    assert_eq!(a.nodes()[0].id, b.nodes()[0].id, "the same container");
    assert_eq!(a.nodes()[0].shared_by, 2);

    // Interleaved, each session sees its own instance's params.
    for _ in 0..3 {
        assert_scaled(&mut a, "gain", 10, |x| x * 0.5);
        assert_scaled(&mut b, "gain", 10, |x| x * 2.0);
    }
    // Both see the shared container's totals, measured from its cgroup.
    let (used_a, used_b) = (a.usage(), b.usage());
    assert_eq!(used_a[0].shared_by, 2);
    assert_eq!(used_a[0].source, used_b[0].source, "one container measured");
    assert!(used_a[0].source.starts_with("cgroup v"), "{:?}", used_a[0]);
    let usage = used_a[0].usage.expect("a reading");
    assert!(
        usage.memory_bytes > 0 && usage.cpu > Duration::ZERO,
        "{usage:?}"
    );
    assert_eq!(usage.memory_limit_bytes, Some(256 << 20));
    // Each instance's runner measures its own thread: this session's share of the container.
    let (share_a, container) = end_and_report(&mut a);
    assert_eq!((share_a.frames, share_a.errors), (30, 0), "{share_a:?}");
    assert!(
        share_a.cpu > Duration::ZERO && share_a.cpu < container.cpu,
        "a's share {share_a:?} of {container:?}"
    );
    let (ida, idb) = (a.id().clone(), b.id().clone());
    let stats = rt.block_on(a.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (30, 30, 0));
    assert_nothing_left(&ida);
    assert_eq!(
        runtime.shared_nodes().len(),
        1,
        "b still holds the container"
    );
    assert_eq!(runtime.shared_nodes()[0].leases, 1);
    assert_scaled(&mut b, "gain", 10, |x| x * 2.0);
    let (share_b, container) = end_and_report(&mut b);
    assert_eq!(share_b.frames, 40, "{share_b:?}");
    assert!(
        share_a.cpu + share_b.cpu < container.cpu,
        "shares {share_a:?} and {share_b:?} of {container:?}"
    );
    let stats = rt.block_on(b.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (40, 40, 0));
    assert_eq!(
        containers_of(&rt, &owner),
        Vec::<String>::new(),
        "gone with the last session"
    );
    assert_all_gone(&rt, &runtime, &[ida, idb, SessionId::new(owner).unwrap()]);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn two_sessions_starting_at_once_start_one_container() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = gain_manifest(0.5);
    let (a, b) = rt.block_on(async {
        tokio::join!(
            runtime.session(&p.manifest, SessionOptions::default()),
            runtime.session(&p.manifest, SessionOptions::default())
        )
    });
    let (mut a, mut b) = (a.unwrap(), b.unwrap());
    let shared = runtime.shared_nodes();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert_eq!(containers_of(&rt, &shared[0].owner_id).len(), 1);
    assert_scaled(&mut a, "gain", 5, |x| x * 0.5);
    assert_scaled(&mut b, "gain", 5, |x| x * 0.5);
    let ids = [a.id().clone(), b.id().clone()];
    rt.block_on(a.stop()).unwrap();
    rt.block_on(b.stop()).unwrap();
    let owner = SessionId::new(shared[0].owner_id.clone()).unwrap();
    assert_all_gone(&rt, &runtime, &[ids[0].clone(), ids[1].clone(), owner]);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn a_session_joining_while_the_last_one_leaves_never_gets_a_dying_container() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = gain_manifest(0.5);
    let mut seen = Vec::new();
    let mut current = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    for round in 0..8 {
        seen.push(current.id().clone());
        // The leaving session's release and the joining session's acquire race.
        let (stopped, joined) = rt.block_on(async {
            tokio::join!(
                current.stop(),
                runtime.session(&p.manifest, SessionOptions::default())
            )
        });
        stopped.unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut joined = joined.unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Whichever way the race went, the joiner's container is alive and serves it.
        assert_scaled(&mut joined, "gain", 3, |x| x * 0.5);
        let shared = runtime.shared_nodes();
        assert_eq!(shared.len(), 1, "round {round}: {shared:?}");
        assert_eq!(shared[0].leases, 1, "round {round}");
        seen.push(SessionId::new(shared[0].owner_id.clone()).unwrap());
        current = joined;
    }
    seen.push(current.id().clone());
    rt.block_on(current.stop()).unwrap();
    seen.sort();
    seen.dedup();
    assert_all_gone(&rt, &runtime, &seen);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn a_shared_containers_crash_reaches_every_session_using_it() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let crash = pipeline(
        &SHARED_GAIN
            .replace("node_type: Scale", "node_type: CrashAfter")
            .replace("gain: GAIN", "frames: 2"),
    );
    let mut a = rt
        .block_on(runtime.session(&crash.manifest, SessionOptions::default()))
        .unwrap();
    let mut b = rt
        .block_on(runtime.session(&crash.manifest, SessionOptions::default()))
        .unwrap();
    assert_eq!(runtime.shared_nodes().len(), 1);
    let owner = SessionId::new(runtime.shared_nodes()[0].owner_id.clone()).unwrap();
    // Three frames into a: its instance takes the whole container down (`os._exit`).
    for _ in 0..3 {
        a.send_audio("mic", &[0.25; 480], 48_000, 1).unwrap();
    }
    let crashed = |session: &mut Session| loop {
        match session.recv_with(Duration::from_secs(20), |_| ()) {
            Ok(Some(())) => continue,
            Ok(None) => panic!("session {}: no crash report within 20 s", session.id()),
            Err(e) => break e,
        }
    };
    for (name, session) in [("a", &mut a), ("b", &mut b)] {
        match crashed(session) {
            SessionError::NodeExited {
                node_id, report, ..
            } => {
                assert_eq!(node_id, "gain", "session {name}");
                assert_eq!(report.code, Some(3), "session {name}: {report}");
            }
            other => panic!("session {name}: expected NodeExited, got {other}"),
        }
    }
    let ids = [a.id().clone(), b.id().clone()];
    let _ = rt.block_on(a.stop());
    let _ = rt.block_on(b.stop());
    assert_all_gone(&rt, &runtime, &[ids[0].clone(), ids[1].clone(), owner]);

    // The next session gets a fresh container, not the dead one.
    let p = gain_manifest(0.5);
    let mut fresh = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    assert_scaled(&mut fresh, "gain", 3, |x| x * 0.5);
    let id = fresh.id().clone();
    let owner = SessionId::new(runtime.shared_nodes()[0].owner_id.clone()).unwrap();
    rt.block_on(fresh.stop()).unwrap();
    assert_all_gone(&rt, &runtime, &[id, owner]);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn a_node_that_cannot_load_fails_its_session_and_leaves_the_container_to_no_one() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = pipeline(&SHARED_GAIN.replace("node_type: Scale", "node_type: NoSuchNode"));
    let err = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .err()
        .expect("the session cannot start");
    match &err {
        SessionError::NodeFatal { node_id, stage, .. } => {
            assert_eq!(node_id, "gain");
            assert_eq!(stage, "load", "{err}");
        }
        other => panic!("expected NodeFatal, got {other}"),
    }
    assert!(err.to_string().contains("NoSuchNode"), "{err}");
    assert_eq!(
        runtime.shared_nodes(),
        Vec::new(),
        "its container went with its lease"
    );
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn shared_false_gives_every_session_a_container_of_its_own() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = pipeline(&SHARED_GAIN.replace("GAIN", "0.5").replace(
        "python_version: \"3.11\"",
        "python_version: \"3.11\"\n      shared: false",
    ));
    let mut a = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    let mut b = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    assert_eq!(runtime.shared_nodes(), Vec::new());
    assert_eq!(containers_of(&rt, a.id().as_str()).len(), 1);
    assert_eq!(containers_of(&rt, b.id().as_str()).len(), 1);
    assert_ne!(a.nodes()[0].id, b.nodes()[0].id);
    assert_scaled(&mut a, "gain", 3, |x| x * 0.5);
    assert_scaled(&mut b, "gain", 3, |x| x * 0.5);
    let ids = [a.id().clone(), b.id().clone()];
    rt.block_on(a.stop()).unwrap();
    rt.block_on(b.stop()).unwrap();
    assert_all_gone(&rt, &runtime, &ids);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn a_warm_container_serves_sessions_until_the_runtime_cools() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = gain_manifest(0.5);
    let options = SessionOptions::default();
    assert_eq!(rt.block_on(runtime.warm(&p.manifest, &options)).unwrap(), 1);
    let warm = runtime.shared_nodes();
    assert_eq!(warm.len(), 1, "{warm:?}");
    assert_eq!(
        (warm[0].leases, warm[0].warm),
        (1, 1),
        "held by the runtime alone"
    );
    let owner = warm[0].owner_id.clone();
    assert_eq!(
        containers_of(&rt, &owner).len(),
        1,
        "running before any session"
    );

    let mut sessions = Vec::new();
    for _ in 0..2 {
        // Each session attaches to the warm runner: the same container, never a new one.
        let mut session = rt
            .block_on(runtime.session(&p.manifest, SessionOptions::default()))
            .unwrap();
        assert_eq!(session.nodes()[0].id, warm[0].id, "the warm container");
        assert_eq!(runtime.shared_nodes()[0].leases, 2);
        // The warm hold keeps the container but is not a session sharing it.
        assert_eq!(session.nodes()[0].shared_by, 1);
        assert_eq!(session.usage()[0].shared_by, 1);
        assert_scaled(&mut session, "gain", 5, |x| x * 0.5);
        let id = session.id().clone();
        let stats = rt.block_on(session.stop()).unwrap();
        assert_eq!((stats.sent, stats.received, stats.lost), (5, 5, 0));
        assert_nothing_left(&id);
        sessions.push(id);
        assert_eq!(
            containers_of(&rt, &owner).len(),
            1,
            "still warm after its session ended"
        );
    }
    rt.block_on(runtime.cool());
    assert_eq!(
        containers_of(&rt, &owner),
        Vec::<String>::new(),
        "gone once cooled"
    );
    sessions.push(SessionId::new(owner).unwrap());
    assert_all_gone(&rt, &runtime, &sessions);
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}
