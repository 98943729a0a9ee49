//! Restarts: a node whose runner dies mid-stream is reported, restarted by its policy, and
//! serves again; every frame is answered or reported lost by number; nothing is left behind.
//! Host processes and real Docker containers (shared or not), over real iceoryx2.

use std::time::Duration;

use berth::{LostFrames, Runtime, Session, SessionError, SessionOptions, SessionStats};
use berth_backend::Backend;
use berth_tests::{assert_nothing_left, docker_available, pipeline, runtime};

const HOST: &str = r#"
version: "v1"
metadata: { name: "crash-once" }
nodes:
  - id: echo
    node_type: CrashOnce
    runtime_hint: cpython
    params: { frames: 4, marker: "MARKER" }
connections:
  - { from: mic, to: echo }
"#;

const CONTAINER: &str = r#"
version: "v1"
metadata: { name: "crash-once" }
nodes:
  - id: echo
    node_type: CrashOnce
    params: { frames: 4, marker: "/state/crashed" }
    docker:
      python_version: "3.11"
      SHARED
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
        - { host_path: "./state", container_path: "/state", read_only: false }
connections:
  - { from: mic, to: echo }
"#;

/// What a session saw while frames went through a node that dies once.
#[derive(Debug, Default)]
struct Seen {
    answered: u64,
    exits: u32,
    /// The frame a hung node was busy with, when it said so.
    hung_on: Option<u64>,
    lost: Vec<LostFrames>,
    restarted: bool,
    /// When the fatal frame went out, the exit was reported, and the node was back.
    times: [Option<std::time::Instant>; 3],
}

/// Sends frame after frame (each frame's samples are its number) and reads what comes back,
/// until the node died (with exit code `code`), came back, and answered 3 frames after that.
fn stream_through_a_crash(session: &mut Session, code: i64) -> Seen {
    let mut seen = Seen::default();
    let mut after = 0;
    for n in 0..400u64 {
        let number = session
            .send_audio("mic", &[n as f32; 480], 48_000, 1)
            .unwrap();
        assert_eq!(number, n, "frames are numbered per input");
        if n == 4 {
            seen.times[0] = Some(std::time::Instant::now());
        }
        loop {
            match session.recv_with(Duration::from_millis(300), |out| out.audio().unwrap()[0]) {
                Ok(Some(value)) => {
                    seen.answered += 1;
                    assert!(
                        !seen
                            .lost
                            .iter()
                            .any(|l| (l.first..=l.last).contains(&(value as u64))),
                        "frame {value} was reported lost and answered"
                    );
                    if seen.restarted {
                        after += 1;
                    }
                }
                Ok(None) => break,
                Err(SessionError::NodeExited {
                    node_id, report, ..
                }) => {
                    assert_eq!(node_id, "echo");
                    assert_eq!(report.code, Some(code), "{report}");
                    seen.exits += 1;
                    seen.times[1] = Some(std::time::Instant::now());
                }
                Err(SessionError::NodeHung {
                    node_id,
                    sequence,
                    timeout_ms,
                    busy_ms,
                }) => {
                    assert_eq!((node_id.as_str(), timeout_ms), ("echo", 300));
                    assert!(busy_ms >= 300, "{busy_ms}");
                    seen.hung_on = sequence;
                }
                Err(SessionError::NodeRestarted {
                    node_id,
                    restarts,
                    lost,
                }) => {
                    assert_eq!((node_id.as_str(), restarts), ("echo", 1));
                    seen.lost = lost;
                    seen.restarted = true;
                    seen.times[2] = Some(std::time::Instant::now());
                }
                Err(other) => panic!("unexpected: {other}"),
            }
        }
        if after >= 3 {
            // Figures for the record (not asserted: a busy machine moves them).
            if let [Some(sent), Some(reported), Some(back)] = seen.times {
                eprintln!(
                    "died on frame 4: reported {:.1} ms after that frame was sent; serving again {:.1} ms after the report",
                    (reported - sent).as_secs_f64() * 1e3,
                    (back - reported).as_secs_f64() * 1e3
                );
            }
            return seen;
        }
    }
    panic!("the node did not come back and answer: {seen:?}");
}

/// Every frame is either answered or reported lost, and the lost ones are frame 4 (the one
/// the node died on) and those sent until it was back, in one run.
fn assert_accounted(seen: &Seen, stats: &SessionStats) {
    assert_eq!(seen.exits, 1, "{seen:?}");
    assert_eq!(stats.restarts, 1);
    assert_eq!(
        seen.lost.len(),
        1,
        "one run of lost frames: {:?}",
        seen.lost
    );
    let lost = &seen.lost[0];
    assert_eq!((lost.input.as_str(), lost.first), ("mic", 4), "{lost}");
    assert_eq!(stats.lost, lost.last - lost.first + 1, "{stats:?} {lost}");
    assert_eq!(stats.received, seen.answered);
    assert_eq!(
        stats.sent,
        stats.received + stats.lost + stats.drained,
        "every frame answered or lost: {stats:?}"
    );
}

#[test]
fn a_host_process_that_dies_is_restarted_and_every_frame_is_accounted_for() {
    let rt = runtime();
    let p = pipeline(HOST);
    let marker = p.dir.path().join("crashed");
    let p = pipeline(&HOST.replace("MARKER", &marker.display().to_string()));
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let seen = stream_through_a_crash(&mut session, 3);
    let stats = rt.block_on(session.stop()).unwrap();
    assert_accounted(&seen, &stats);
    assert!(marker.exists(), "it did crash");
    assert_nothing_left(&id);
}

#[test]
fn a_container_that_dies_is_restarted_and_every_frame_is_accounted_for() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(&CONTAINER.replace("SHARED", "shared: false"));
    berth_tests::shared_folder(&p.dir.path().join("state"));
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let first = session.nodes()[0].id.clone();
    let seen = stream_through_a_crash(&mut session, 3);
    assert_ne!(session.nodes()[0].id, first, "a new container serves it");
    let stats = rt.block_on(session.stop()).unwrap();
    assert_accounted(&seen, &stats);
    let left = rt
        .block_on(berth_docker::DockerBackend::new().session_resources(id.as_str()))
        .unwrap();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "the dead container was removed too"
    );
    assert_nothing_left(&id);
}

#[test]
fn a_shared_container_that_dies_comes_back_once_for_every_session_on_it() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let runtime = Runtime::new();
    let p = pipeline(&CONTAINER.replace("SHARED", "shared: true"));
    berth_tests::shared_folder(&p.dir.path().join("state"));
    let mut a = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    let mut b = rt
        .block_on(runtime.session(&p.manifest, SessionOptions::default()))
        .unwrap();
    let first = runtime.shared_nodes();
    assert_eq!(first.len(), 1);
    // a's fifth frame kills the container under both sessions.
    let seen = stream_through_a_crash(&mut a, 3);
    // b sent nothing, so it lost nothing, but it saw the exit and the restart.
    let mut events = Vec::new();
    while events.len() < 2 {
        match b.recv_with(Duration::from_secs(20), |_| ()) {
            Err(e @ (SessionError::NodeExited { .. } | SessionError::NodeRestarted { .. })) => {
                events.push(e)
            }
            other => panic!("session b: expected the exit and the restart, got {other:?}"),
        }
    }
    assert!(
        matches!(events[0], SessionError::NodeExited { .. }),
        "{}",
        events[0]
    );
    match &events[1] {
        SessionError::NodeRestarted { lost, .. } => assert_eq!(lost, &Vec::new()),
        other => panic!("{other}"),
    }
    let now = runtime.shared_nodes();
    assert_eq!(now.len(), 1, "one new container for both: {now:?}");
    assert_ne!(now[0].id, first[0].id);
    assert_eq!(now[0].leases, 2);
    b.send_audio("mic", &[7.0; 480], 48_000, 1).unwrap();
    let echoed = b
        .recv_with(Duration::from_secs(10), |out| out.audio().unwrap()[0])
        .unwrap();
    assert_eq!(echoed, Some(7.0), "b is served by the new container");
    let ids = [a.id().clone(), b.id().clone()];
    let stats = rt.block_on(a.stop()).unwrap();
    assert_accounted(&seen, &stats);
    rt.block_on(b.stop()).unwrap();
    assert_eq!(runtime.shared_nodes(), Vec::new());
    for owner in [&first[0].owner_id, &now[0].owner_id] {
        let left = rt
            .block_on(berth_docker::DockerBackend::new().session_resources(owner))
            .unwrap();
        assert_eq!(left, Vec::<String>::new());
    }
    for id in &ids {
        assert_nothing_left(id);
    }
    // Its network holder goes too; nothing of the runtime is left for a sweep.
    rt.block_on(runtime.shutdown());
}

#[test]
fn a_node_stuck_in_process_is_caught_by_its_timeout_and_restarted() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("hung");
    let p = pipeline(
        &HOST
            .replace("CrashOnce", "HangOnce")
            .replace("MARKER", &marker.display().to_string())
            .replace(
                "runtime_hint: cpython",
                "runtime_hint: cpython\n    timeout_ms: 300",
            ),
    );
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let seen = stream_through_a_crash(&mut session, 4);
    assert_eq!(seen.hung_on, Some(4), "it hung on frame 4: {seen:?}");
    let stats = rt.block_on(session.stop()).unwrap();
    assert_accounted(&seen, &stats);
    assert!(marker.exists());
    assert_nothing_left(&id);
}

const TWO_BRANCHES: &str = r#"
version: "v1"
metadata: { name: "two-branches" }
nodes:
  - id: boxed
    node_type: Echo
    docker:
      python_version: "3.11"
      shared: false
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
  - id: local
    node_type: Echo
    runtime_hint: cpython
connections:
  - { from: left, to: boxed }
  - { from: right, to: local }
"#;

#[test]
fn a_container_killed_from_outside_is_restarted_while_the_other_nodes_go_on() {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let p = pipeline(TWO_BRANCHES);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let container = session
        .nodes()
        .into_iter()
        .find(|n| n.node_id == "boxed")
        .unwrap()
        .id;
    let round = |session: &mut Session, input: &str, value: f32| {
        session.send_audio(input, &[value; 480], 48_000, 1).unwrap();
    };
    for n in 0..5 {
        round(&mut session, "left", n as f32);
        round(&mut session, "right", n as f32);
    }
    let mut outputs = std::collections::BTreeMap::<String, u64>::new();
    while outputs.values().sum::<u64>() < 10 {
        let got = session
            .recv_with(Duration::from_secs(10), |o| o.node_id.to_owned())
            .unwrap()
            .expect("outputs");
        *outputs.entry(got).or_default() += 1;
    }
    // SIGKILL from outside, as `docker kill` would (an OOM kill or a crash looks the same).
    let killed = std::time::Instant::now();
    rt.block_on(async {
        let docker = berth_docker::DockerBackend::new().client().await.unwrap();
        let options = bollard::query_parameters::KillContainerOptionsBuilder::default()
            .signal("SIGKILL")
            .build();
        docker
            .kill_container(&container, Some(options))
            .await
            .unwrap();
    });
    let (mut exited, mut back, mut local_meanwhile) = (None, None, 0u64);
    let mut n = 5;
    while back.is_none() {
        assert!(n < 2000, "the container node did not come back");
        // The host-process branch keeps going all along.
        round(&mut session, "right", n as f32);
        round(&mut session, "left", n as f32);
        n += 1;
        loop {
            match session.recv_with(Duration::from_millis(200), |o| o.node_id.to_owned()) {
                Ok(Some(node)) => {
                    if node == "local" && back.is_none() && exited.is_some() {
                        local_meanwhile += 1;
                    }
                }
                Ok(None) => break,
                Err(SessionError::NodeExited {
                    node_id, report, ..
                }) => {
                    assert_eq!(node_id, "boxed");
                    assert!(
                        report.code == Some(137) || report.signal == Some(9),
                        "{report}"
                    );
                    exited = Some(killed.elapsed());
                }
                Err(SessionError::NodeRestarted { node_id, lost, .. }) => {
                    assert_eq!(node_id, "boxed");
                    assert!(lost.iter().all(|l| l.input == "left"), "{lost:?}");
                    back = Some(killed.elapsed());
                }
                Err(other) => panic!("unexpected: {other}"),
            }
        }
    }
    assert!(
        local_meanwhile > 0,
        "the other node answered while the container was down"
    );
    eprintln!(
        "killed container: reported after {:.1} ms, serving again after {:.1} ms",
        exited.unwrap().as_secs_f64() * 1e3,
        back.unwrap().as_secs_f64() * 1e3
    );
    assert_ne!(
        session
            .nodes()
            .into_iter()
            .find(|n| n.node_id == "boxed")
            .unwrap()
            .id,
        container
    );
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(stats.restarts, 1);
    assert_eq!(
        stats.sent,
        stats.received + stats.lost + stats.drained,
        "every frame answered, lost, or drained at the stop: {stats:?}"
    );
    assert_nothing_left(&id);
}
