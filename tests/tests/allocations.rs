//! The host's side of the data path allocates nothing of its own: once a session is up,
//! `send_audio`, `send_audio_with` and `recv_with` make no heap allocation per frame beyond
//! what the transport's library makes for a loan (iceoryx2 0.10: one, for a sample's shared
//! state). Counted on the calling thread only, with a native node (its thread is not counted,
//! and it sends no stats that the host would parse). Not per frame is not never: a pool may
//! still grow by a buffer when a frame goes out before the node gave the last one back, so a
//! tenth of an allocation a frame is allowed on top; one a frame (or more) fails.

use std::sync::Arc;
use std::time::Duration;

use berth::{Session, SessionOptions};
use berth_tests::{assert_nothing_left, pipeline, runtime};
use berth_transport::conformance::CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const GAIN: &str = r#"
version: "v1"
metadata: { name: "gain" }
nodes:
  - id: gain
    node_type: Gain
    params: { gain: 2.0 }
connections:
  - { from: mic, to: gain }
"#;

const WARM_UP: usize = 100;
const COUNTED: u64 = 1000;

/// Allocations on this thread while sending `COUNTED` frames (copied in with `send_audio`, or
/// filled in place with `send_audio_with`), and while receiving their outputs, after a warm-up.
fn host_allocations(
    options: SessionOptions,
    in_place: bool,
) -> (u64, u64, berth_transport::SessionId) {
    let rt = runtime();
    let p = pipeline(GAIN);
    let mut session = rt.block_on(Session::start(&p.manifest, options)).unwrap();
    let samples = [0.25f32; 960];
    let (mut sending, mut receiving) = (0, 0);
    for i in 0..WARM_UP + COUNTED as usize {
        let before = CountingAllocator::on_this_thread();
        if in_place {
            let fill = |frame: &mut [f32]| frame.copy_from_slice(&samples);
            session
                .send_audio_with("mic", 960, 48_000, 1, fill)
                .unwrap();
        } else {
            session.send_audio("mic", &samples, 48_000, 1).unwrap();
        }
        let between = CountingAllocator::on_this_thread();
        let last = session
            .recv_with(Duration::from_secs(10), |out| out.audio().map(|a| a[959]))
            .expect("no node error")
            .expect("an output within 10 s");
        let after = CountingAllocator::on_this_thread();
        assert_eq!(last, Some(0.5), "frame {i} doubled");
        if i >= WARM_UP {
            sending += between - before;
            receiving += after - between;
        }
    }
    let id = session.id().clone();
    rt.block_on(session.stop()).unwrap();
    (sending, receiving, id)
}

/// `allocations` in `COUNTED` frames are at most `per_frame` a frame, give or take a few.
fn assert_per_frame(allocations: u64, per_frame: u64, what: &str) {
    assert!(
        allocations <= per_frame * COUNTED + COUNTED / 10,
        "{what} {COUNTED} frames allocated {allocations} times; expected {per_frame} a frame"
    );
}

#[test]
fn over_iceoryx2_a_frame_costs_the_host_only_iceoryx2s_loan() {
    for in_place in [false, true] {
        let (sending, receiving, id) = host_allocations(SessionOptions::default(), in_place);
        assert_per_frame(receiving, 0, "receiving the outputs of");
        assert_per_frame(sending, 1, "sending"); // iceoryx2's loan
        assert_nothing_left(&id);
    }
}

#[test]
fn over_the_memory_transport_a_frame_costs_the_host_nothing() {
    for in_place in [false, true] {
        let memory = Arc::new(berth_transport::memory::MemoryTransport::new());
        let options = SessionOptions {
            transport: Some(memory),
            ..SessionOptions::default()
        };
        let (sending, receiving, _) = host_allocations(options, in_place);
        assert_per_frame(receiving, 0, "receiving the outputs of");
        assert_per_frame(sending, 0, "sending");
    }
}
