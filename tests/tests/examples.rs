//! The shipped examples run as documented, bit-exact: output = input × gain.

use berth::{Manifest, Session, SessionOptions};
use berth_tests::{assert_nothing_left, docker_available, round_trips, runtime};

fn run_example(path: &str, frames: usize) {
    let rt = runtime();
    let file = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    let manifest = Manifest::from_path(&file).unwrap_or_else(|e| panic!("{e}"));
    let gain = manifest.nodes[0].params["gain"].as_f64().unwrap() as f32;
    let mut session = rt
        .block_on(Session::start(&manifest, SessionOptions::default()))
        .unwrap();
    let id = session.id().clone();
    for (input, output) in round_trips(&mut session, "mic", frames) {
        assert!(
            input
                .iter()
                .zip(&output)
                .all(|(i, o)| (i * gain).to_bits() == o.to_bits()),
            "bit-exact"
        );
    }
    rt.block_on(session.stop()).unwrap();
    assert_nothing_left(&id);
}

#[test]
fn the_host_process_gain_example() {
    run_example("examples/gain/pipeline.yaml", 500);
}

#[test]
fn the_container_gain_example() {
    if !docker_available(&runtime()) {
        return;
    }
    run_example("examples/gain-docker/pipeline.yaml", 500);
}
