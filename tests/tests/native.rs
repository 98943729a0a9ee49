//! Native nodes on host threads, over the in-memory transport and over iceoryx2.

use std::sync::Arc;
use std::time::Duration;

use berth::{Session, SessionOptions};
use berth_tests::{assert_nothing_left, pipeline, round_trips, runtime};

const NATIVE: &str = r#"
version: "v1"
metadata: { name: "native" }
nodes:
  - id: gain
    node_type: Gain
    params: { gain: 2.0 }
  - id: vad
    node_type: EnergyVad
connections:
  - { from: mic, to: gain }
  - { from: gain, to: vad }
"#;

fn run(options: SessionOptions) -> berth_transport::SessionId {
    let rt = runtime();
    let p = pipeline(NATIVE);
    let mut session = rt.block_on(Session::start(&p.manifest, options)).unwrap();
    let id = session.id().clone();
    session.send_audio("mic", &[0.25; 960], 48_000, 1).unwrap();
    let text = session
        .recv_with(Duration::from_secs(5), |out| out.text().map(str::to_owned))
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(text.contains(r#""speech":true"#), "{text}");
    session.send_audio("mic", &[0.0; 960], 48_000, 1).unwrap();
    let text = session
        .recv_with(Duration::from_secs(5), |out| out.text().map(str::to_owned))
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(text.contains(r#""speech":false"#), "{text}");
    rt.block_on(session.stop()).unwrap();
    id
}

#[test]
fn native_pipeline_over_iceoryx2() {
    let id = run(SessionOptions::default());
    assert_nothing_left(&id);
}

#[test]
fn native_pipeline_over_the_memory_transport() {
    let memory = Arc::new(berth_transport::memory::MemoryTransport::new());
    run(SessionOptions {
        transport: Some(memory),
        ..SessionOptions::default()
    });
}

#[test]
fn the_memory_transport_refuses_out_of_process_nodes() {
    let rt = runtime();
    let p = pipeline(
        "version: v1\nmetadata: { name: x }\nnodes:\n  - { id: a, node_type: Echo, runtime_hint: cpython }\nconnections:\n  - { from: mic, to: a }\n",
    );
    let memory = Arc::new(berth_transport::memory::MemoryTransport::new());
    let err = rt
        .block_on(Session::start(
            &p.manifest,
            SessionOptions {
                transport: Some(memory),
                ..SessionOptions::default()
            },
        ))
        .err()
        .unwrap();
    assert!(err.to_string().contains("iceoryx2"), "{err}");
}

#[test]
fn native_gain_round_trip_is_bit_exact() {
    let rt = runtime();
    let p = pipeline(
        "version: v1\nmetadata: { name: x }\nnodes:\n  - { id: g, node_type: Gain, params: { gain: 0.3 } }\nconnections:\n  - { from: mic, to: g }\n",
    );
    let mut session = rt
        .block_on(Session::start(&p.manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    for (input, output) in round_trips(&mut session, "mic", 100) {
        assert!(
            input
                .iter()
                .zip(&output)
                .all(|(i, o)| (i * 0.3f32).to_bits() == o.to_bits())
        );
    }
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
}
