//! Both ways the iceoryx2 transport wakes readers — a doorbell (named pipe) per reader, and
//! iceoryx2's event service — carry a real pipeline host → host process → container → host,
//! with every reader sleeping between frames (no polling), so every frame is woken.

use std::sync::Arc;
use std::time::Duration;

use berth::{Session, SessionOptions, TransportConfig, monotonic_ns};
use berth_iceoryx2::{Doorbell, Iceoryx2Transport};
use berth_tests::{Pipeline, assert_scaled, docker_available, pipeline, runtime};

const ONE_PROCESS: &str = r#"
version: "v1"
metadata: { name: "one-process" }
nodes:
  - id: half
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 0.5 }
connections:
  - { from: mic, to: half }
"#;

const PROCESS_THEN_CONTAINER: &str = r#"
version: "v1"
metadata: { name: "process-then-container" }
nodes:
  - id: half
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 0.5 }
  - id: quarter
    node_type: Scale
    params: { gain: 0.25 }
    docker:
      python_version: "3.11"
      volumes:
        - { host_path: "./nodes", container_path: "/app/nodes", read_only: true }
connections:
  - { from: mic, to: half }
  - { from: half, to: quarter }
"#;

/// The doorbell folders of a session, by channel: how many bells (pipes) each holds, and how
/// many of them have a reader's promise to look again beside them (`{bell}.awake`).
fn bells(prefix: &str) -> Vec<(String, usize, usize)> {
    use std::os::unix::fs::FileTypeExt;
    let mut found: Vec<(String, usize, usize)> = std::fs::read_dir("/dev/shm/iceoryx2")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let channel = name
                .strip_prefix(prefix)?
                .strip_suffix(".bells")?
                .to_owned();
            let entries: Vec<_> = std::fs::read_dir(e.path()).unwrap().flatten().collect();
            let pipes = entries
                .iter()
                .filter(|b| b.file_type().is_ok_and(|t| t.is_fifo()))
                .count();
            let promises = entries
                .iter()
                .filter(|b| b.file_name().to_string_lossy().ends_with(".awake"))
                .count();
            Some((channel, pipes, promises))
        })
        .collect();
    found.sort();
    found
}

/// A session of `yaml` over iceoryx2 woken by `doorbell`, and the folder it runs from (kept
/// until the session stops).
fn start(
    rt: &tokio::runtime::Runtime,
    yaml: &str,
    doorbell: Doorbell,
    config: TransportConfig,
) -> (Pipeline, Session) {
    let p = pipeline(yaml);
    let options = SessionOptions {
        transport: Some(Arc::new(Iceoryx2Transport::new().with_doorbell(doorbell))),
        transport_config: config,
        ..SessionOptions::default()
    };
    let session = rt
        .block_on(Session::start(&p.manifest, options))
        .unwrap_or_else(|e| panic!("{e}"));
    (p, session)
}

fn run(doorbell: Doorbell) {
    let rt = runtime();
    if !docker_available(&rt) {
        return;
    }
    let config = TransportConfig {
        spin: Duration::ZERO,
        reply_spin: Duration::ZERO,
        anticipate: Duration::ZERO,
        ..TransportConfig::default()
    };
    let (_p, mut session) = start(&rt, PROCESS_THEN_CONTAINER, doorbell, config);
    let id = session.id().clone();
    let s = id.as_str();
    let expected: Vec<(String, usize, usize)> = match doorbell {
        // One bell per reader: `half` reads its input, `quarter` reads `half`, the host reads
        // `quarter` and both control channels. Every bell has its promise file beside it (the
        // runners promise while they poll, the host while it polls for a reply).
        Doorbell::Fifo => [
            ("half_control", 1, 1),
            ("half_input", 1, 1),
            ("half_output", 1, 1),
            ("quarter_control", 1, 1),
            ("quarter_output", 1, 1),
        ]
        .into_iter()
        .map(|(c, pipes, promises)| (format!("{s}_{c}"), pipes, promises))
        .collect(),
        Doorbell::Event => Vec::new(),
    };
    assert_eq!(bells(&format!("berth_{s}_")), expected);
    assert_scaled(&mut session, "quarter", 200, |x| (x * 0.5) * 0.25);
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.node_errors),
        (200, 200, 0, 0)
    );
    berth_tests::assert_nothing_left(&id);
}

#[test]
fn fifo_doorbells_wake_every_reader_of_a_process_and_container_chain() {
    run(Doorbell::Fifo);
}

#[test]
fn the_event_service_wakes_every_reader_of_a_process_and_container_chain() {
    run(Doorbell::Event);
}

/// The promise (`CLOCK_MONOTONIC` ns, 0 for none) of the one reader of a doorbell folder.
fn promise_in(folder: &std::path::Path) -> u64 {
    let awake = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().ends_with(".awake"))
        .expect("the reader's promise file");
    let bytes: [u8; 8] = std::fs::read(awake.path()).unwrap()[..8]
        .try_into()
        .unwrap();
    u64::from_ne_bytes(bytes)
}

#[test]
fn the_host_promises_to_look_while_it_polls_for_a_reply_and_withdraws_after() {
    let rt = runtime();
    let config = TransportConfig {
        // So long that every reply here is polled for, however busy the machine.
        reply_spin: Duration::from_secs(60),
        ..TransportConfig::default()
    };
    let (_p, mut session) = start(&rt, ONE_PROCESS, Doorbell::Fifo, config);
    let id = session.id().clone();
    let s = id.as_str();
    let folder =
        std::path::Path::new("/dev/shm/iceoryx2").join(format!("berth_{s}_{s}_half_output.bells"));
    assert_eq!(promise_in(&folder), 0, "no promise before the first send");
    let frame = vec![0.5f32; 960];
    for i in 0..20 {
        session.send_audio("mic", &frame, 48_000, 1).unwrap();
        let before = monotonic_ns();
        let during = session
            .recv_with(Duration::from_secs(10), |_| promise_in(&folder))
            .unwrap()
            .expect("the reply");
        assert!(
            during > before && during <= monotonic_ns() + 150_000,
            "frame {i}: polling for the reply, the host promised to look until {during} \
             (polling from {before}, at most 150 µs ahead)"
        );
        assert_eq!(
            promise_in(&folder),
            0,
            "frame {i}: withdrawn once the reply is in"
        );
    }
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (20, 20, 0));
    berth_tests::assert_nothing_left(&id);
}
