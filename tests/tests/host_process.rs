//! End to end through Python nodes running as host subprocesses, over real iceoryx2 shared
//! memory: bit-exact audio, every frame accounted for, errors and crashes reported, nothing left.

use std::time::{Duration, Instant};

use berth::{Session, SessionError, SessionOptions};
use berth_tests::{assert_bit_exact, assert_nothing_left, pipeline, round_trips, runtime};

const GAIN: &str = r#"
version: "v1"
metadata: { name: "gain" }
nodes:
  - id: gain
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 0.5 }
connections:
  - { from: mic, to: gain }
"#;

#[test]
fn python_gain_is_bit_exact_and_leaves_nothing() {
    let rt = runtime();
    let p = pipeline(GAIN);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    for (input, output) in round_trips(&mut session, "mic", 1000) {
        assert_bit_exact(&input, &output, |i| i * 0.5, "gain 0.5");
    }
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.node_errors),
        (1000, 1000, 0, 0)
    );
    assert_nothing_left(&id);
}

#[test]
fn ten_thousand_frames_are_all_accounted_for() {
    let rt = runtime();
    let p = pipeline(&GAIN.replace("node_type: Scale", "node_type: Echo"));
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    let (total, burst) = (10_000u64, 16u64);
    let mut next = 0u64;
    let mut sent = 0u64;
    while next < total {
        for _ in 0..burst.min(total - sent) {
            session
                .send_audio("mic", &[sent as f32; 240], 16_000, 1)
                .unwrap();
            sent += 1;
        }
        while next < sent {
            let value = session
                .recv_with(Duration::from_secs(10), |out| out.audio().map(|s| s[0]))
                .unwrap()
                .expect("every frame comes back")
                .unwrap();
            assert_eq!(value, next as f32, "frames come back in order");
            next += 1;
        }
    }
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!((stats.sent, stats.received, stats.lost), (total, total, 0));
    assert_nothing_left(&id);
}

#[test]
fn a_node_that_raises_is_reported_and_goes_on() {
    let rt = runtime();
    let p = pipeline(&GAIN.replace("node_type: Scale", "node_type: FailOnNegative"));
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    session.send_audio("mic", &[-1.0; 480], 48_000, 1).unwrap();
    let err = session
        .recv_with(Duration::from_secs(10), |_| ())
        .unwrap_err();
    match &err {
        SessionError::NodeRaised {
            node_id,
            sequence,
            error,
            traceback,
        } => {
            assert_eq!(node_id, "gain");
            assert_eq!(*sequence, Some(0));
            assert!(error.contains("negative first sample"), "{err}");
            assert!(
                traceback.contains("test_nodes.py") && traceback.contains("ValueError"),
                "{traceback}"
            );
        }
        other => panic!("expected NodeRaised, got {other}"),
    }
    session.send_audio("mic", &[0.25; 480], 48_000, 1).unwrap();
    let value = session
        .recv_with(Duration::from_secs(10), |out| out.audio().map(|s| s[0]))
        .unwrap();
    assert_eq!(
        value,
        Some(Some(0.25)),
        "the node went on with the next frame"
    );
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(stats.node_errors, 1);
    assert_nothing_left(&id);
}

#[test]
fn a_crashing_node_is_detected_fast() {
    let rt = runtime();
    let p = pipeline(
        &GAIN
            .replace("node_type: Scale", "node_type: CrashAfter")
            .replace("gain: 0.5", "frames: 2"),
    );
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    for _ in 0..2 {
        session.send_audio("mic", &[0.1; 480], 48_000, 1).unwrap();
        session
            .recv_with(Duration::from_secs(10), |_| ())
            .unwrap()
            .expect("an output");
    }
    session.send_audio("mic", &[0.1; 480], 48_000, 1).unwrap();
    let started = Instant::now();
    let err = session
        .recv_with(Duration::from_secs(10), |_| ())
        .unwrap_err();
    // Found by the exit watch (tens of ms here, measured in the closing notes), not by the
    // 10 s receive timeout; the bound is generous for a busy machine.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "detected in {:?}",
        started.elapsed()
    );
    match &err {
        SessionError::NodeExited {
            node_id, report, ..
        } => {
            assert_eq!(node_id, "gain");
            assert_eq!(report.code, Some(3), "{report}");
        }
        other => panic!("expected NodeExited, got {other}"),
    }
    let _ = rt.block_on(session.stop());
    assert_nothing_left(&id);
}

#[test]
fn an_unknown_node_type_fails_the_start_with_what_was_searched() {
    let rt = runtime();
    let p = pipeline(&GAIN.replace("node_type: Scale", "node_type: NoSuchNode"));
    let err = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .err()
        .expect("start fails");
    let text = err.to_string();
    assert!(text.contains("NoSuchNode"), "{text}");
    assert!(text.contains("nodes"), "names the folder searched: {text}");
}

#[test]
fn python_and_native_nodes_chain_without_the_host() {
    let rt = runtime();
    let yaml = r#"
version: "v1"
metadata: { name: "chain" }
nodes:
  - id: py
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 0.5 }
  - id: native
    node_type: Gain
    params: { gain: 4.0 }
connections:
  - { from: mic, to: py }
  - { from: py, to: native }
"#;
    let p = pipeline(yaml);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    assert_eq!(session.plan().outputs.len(), 1);
    for (input, output) in round_trips(&mut session, "mic", 200) {
        assert_bit_exact(&input, &output, |i| i * 0.5 * 4.0, "Python then native");
    }
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
}

#[test]
fn audio_filled_by_the_caller_reaches_every_node_its_input_feeds() {
    let rt = runtime();
    // `line` feeds one node (filled in place), `mic` two (filled once, copied to each).
    let yaml = r#"
version: "v1"
metadata: { name: "fill" }
nodes:
  - id: half
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 0.5 }
  - id: double
    node_type: Gain
    params: { gain: 2.0 }
  - id: solo
    node_type: Scale
    runtime_hint: cpython
    params: { gain: 4.0 }
connections:
  - { from: mic, to: half }
  - { from: mic, to: double }
  - { from: line, to: solo }
"#;
    let p = pipeline(yaml);
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    for frame in 0..100u32 {
        let input: Vec<f32> = (0..480).map(|i| (frame * 1000 + i) as f32).collect();
        for name in ["mic", "line"] {
            let mut fills = 0;
            let number = session
                .send_audio_with(name, input.len(), 16_000, 1, |samples| {
                    samples.copy_from_slice(&input);
                    fills += 1;
                })
                .unwrap();
            assert_eq!((number, fills), (u64::from(frame), 1), "{name}: one fill");
        }
        let mut outputs: Vec<(String, u32, Vec<f32>)> = (0..3)
            .map(|_| {
                session
                    .recv_with(Duration::from_secs(10), |out| {
                        let audio = out.audio().expect("audio").to_vec();
                        (out.node_id.to_owned(), out.header.sample_rate, audio)
                    })
                    .unwrap()
                    .expect("every output within 10 s")
            })
            .collect();
        outputs.sort_by(|a, b| a.0.cmp(&b.0));
        let nodes: Vec<&str> = outputs.iter().map(|o| o.0.as_str()).collect();
        assert_eq!(nodes, ["double", "half", "solo"], "frame {frame}");
        for ((node, rate, output), gain) in outputs.iter().zip([2.0f32, 0.5, 4.0]) {
            assert_eq!(*rate, 16_000, "{node}");
            assert_bit_exact(
                &input,
                output,
                |i| i * gain,
                &format!("{node}, frame {frame}"),
            );
        }
    }
    let stats = rt.block_on(session.stop()).unwrap();
    assert_eq!(
        (stats.sent, stats.received, stats.lost, stats.node_errors),
        (200, 300, 0, 0)
    );
    assert_nothing_left(&id);
}

#[test]
fn a_dropped_session_cleans_up_too() {
    let rt = runtime();
    let p = pipeline(GAIN);
    let session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    drop(session);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !berth_tests::session_processes(id.as_str()).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_nothing_left(&id);
}

#[test]
fn host_nodes_get_a_berth_made_python_when_none_is_named() {
    let rt = runtime();
    let cache = tempfile::tempdir().unwrap();
    let python = rt
        .block_on(berth::host_python::managed(cache.path()))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(python.starts_with(cache.path()), "{}", python.display());
    // Made once: the second call finds it.
    assert_eq!(
        rt.block_on(berth::host_python::managed(cache.path()))
            .unwrap(),
        python
    );
    let p = pipeline(GAIN);
    let options = SessionOptions {
        python: Some(python.display().to_string()),
        ..SessionOptions::default()
    };
    let mut session = rt.block_on(Session::start(&p.manifest, options)).unwrap();
    let id = session.id().clone();
    let pairs = round_trips(&mut session, "mic", 10);
    assert!(pairs.iter().all(|(i, o)| {
        i.iter()
            .zip(o)
            .all(|(i, o)| (i * 0.5f32).to_bits() == o.to_bits())
    }));
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
}

#[test]
fn a_named_python_without_the_runner_dependencies_is_refused_with_the_fix() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let venv = dir.path().join("bare");
    let status = std::process::Command::new("python3")
        .args(["-m", "venv", "--without-pip"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(status.success());
    let python = venv.join("bin/python").display().to_string();
    let p = pipeline(GAIN);
    let options = SessionOptions {
        python: Some(python.clone()),
        ..SessionOptions::default()
    };
    let err = rt
        .block_on(Session::start(&p.manifest, options))
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains(&python), "{err}");
    assert!(
        err.contains("lacks iceoryx2") && err.contains("numpy"),
        "{err}"
    );
    assert!(err.contains("unset BERTH_PYTHON"), "{err}");
    assert!(err.contains("-m pip install iceoryx2=="), "{err}");
}

#[test]
fn a_hundred_sessions_in_a_row_leave_nothing_behind() {
    let rt = runtime();
    let p = pipeline(GAIN);
    for i in 0..100 {
        let mut session = rt
            .block_on(Session::start(&p.manifest, SessionOptions::default()))
            .unwrap_or_else(|e| panic!("session {i}: {e}"));
        let id = session.id().clone();
        let pairs = round_trips(&mut session, "mic", 3);
        assert_eq!(pairs.len(), 3);
        let stats = rt.block_on(session.stop()).unwrap();
        assert_eq!(
            (stats.sent, stats.received, stats.lost),
            (3, 3, 0),
            "session {i}"
        );
        assert_nothing_left(&id);
    }
}

#[test]
fn recv_waits_without_holding_up_a_current_thread_runtime() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let p = pipeline(GAIN);
    let id = rt.block_on(async {
        let mut session = Session::start(&p.manifest, SessionOptions::default())
            .await
            .unwrap();
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = tokio::spawn({
            let ticks = Arc::clone(&ticks);
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        // Nothing was sent: recv waits out its timeout, and the other task runs meanwhile (on
        // this one thread, it could not if recv blocked it).
        let nothing = session
            .recv(Duration::from_millis(200), |_| ())
            .await
            .unwrap();
        assert!(nothing.is_none());
        assert!(
            ticks.load(Ordering::Relaxed) > 0,
            "another task ran while recv waited"
        );
        // Frames come back through it, woken by their events, bit-exact.
        for i in 0..200 {
            let input: Vec<f32> = (0..960).map(|j| ((i * 960 + j) as f32).cos()).collect();
            session.send_audio("mic", &input, 48_000, 1).unwrap();
            let output = session
                .recv(Duration::from_secs(10), |out| {
                    out.audio().map(<[f32]>::to_vec)
                })
                .await
                .unwrap()
                .expect("an output within 10 s")
                .expect("audio");
            assert!(
                input
                    .iter()
                    .zip(&output)
                    .all(|(x, y)| (x * 0.5f32).to_bits() == y.to_bits()),
                "frame {i}"
            );
        }
        ticker.abort();
        let id = session.id().clone();
        let stats = session.stop().await.unwrap();
        assert_eq!((stats.sent, stats.received, stats.lost), (200, 200, 0));
        id
    });
    assert_nothing_left(&id);
}
