//! A Python node's round trip (host → node → host, back to back) with large audio frames —
//! 64 KiB, 1 MiB and 8 MiB of float32 — as a host process, three ways:
//!
//! - `loaned`: the built-in `Gain` multiplies into an output it loaned in shared memory
//!   (`Node.loan_audio`, no copy);
//! - `copied`: `Gain` returns a fresh numpy array, copied into shared memory when sent;
//! - `in_place`: nothing is copied anywhere: the host fills its frame in shared memory
//!   (`Session::send_audio_with`, writing the first and last sample) and `BenchTouch` loans its
//!   output and copies only those two samples into it. What is left is what Berth itself costs
//!   a frame, which should not grow with the frame.
//!
//! In `loaned` and `copied` the host's `send_audio` copies the caller's slice into shared
//! memory and the node multiplies every sample; the reply is read in place (its length only).

#![allow(missing_docs)]

use std::time::Duration;

use berth::{SessionOptions, TransportConfig};
use berth_benches::{leaks, pipelines, runtime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const SIZES: [(&str, usize); 3] = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("8MiB", 8 << 20)];

/// The pipeline of `mode`: the built-in `Gain` (loaned or copied output) or `BenchTouch`.
fn node_yaml(mode: &str) -> String {
    let (node_type, params) = match mode {
        "loaned" => ("Gain", "{ gain: 0.5, loaned: true }"),
        "copied" => ("Gain", "{ gain: 0.5, loaned: false }"),
        "in_place" => ("BenchTouch", "{}"),
        other => panic!("no large-frame mode `{other}`"),
    };
    format!(
        r#"version: "v1"
metadata: {{ name: "bench-large-frames" }}
nodes:
  - id: node
    node_type: {node_type}
    runtime_hint: cpython
    params: {params}
connections:
  - {{ from: mic, to: node }}
"#
    )
}

fn large_frames(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("large_frames");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    // The sessions run side by side, and each size is measured in every mode in turn, so the
    // modes of one size see the same machine.
    let mut sessions: Vec<(&str, pipelines::Pipeline, berth::Session)> =
        ["loaned", "copied", "in_place"]
            .into_iter()
            .map(|mode| {
                let pipeline = pipelines::pipeline(&node_yaml(mode)).expect("bench pipeline");
                let options = SessionOptions {
                    transport_config: TransportConfig {
                        queue_depth: 4,
                        max_frame_bytes: 8 << 20,
                        ..TransportConfig::default()
                    },
                    ..SessionOptions::default()
                };
                let session = pipelines::start(&rt, &pipeline, options).expect("session");
                (mode, pipeline, session)
            })
            .collect();
    for (label, bytes) in SIZES {
        let frame: Vec<f32> = (0..bytes / 4).map(|i| (i % 1000) as f32 * 1e-3).collect();
        group.throughput(Throughput::Bytes(bytes as u64));
        for (mode, _, session) in &mut sessions {
            group.bench_function(BenchmarkId::new(*mode, label), |b| {
                if *mode == "in_place" {
                    let mut round = 0u32;
                    b.iter(|| {
                        round = (round + 1) % (1 << 24);
                        pipelines::round_trip_in_place(session, frame.len(), round as f32)
                    })
                } else {
                    b.iter(|| pipelines::round_trip(session, &frame))
                }
            });
        }
    }
    for (_, _, session) in sessions {
        pipelines::stop(&rt, session).expect("clean stop");
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = large_frames
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the large-frame bench left resources behind");
}
