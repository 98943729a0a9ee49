//! A Python node's round trip (host → node → host, back to back) with large audio frames —
//! 64 KiB, 1 MiB and 8 MiB of float32 — through the built-in `Gain` node as a host process,
//! once writing its output into a loaned shared-memory sample (`Node.loan_audio`, no copy)
//! and once returning a fresh numpy array (copied into shared memory when sent). Both do the
//! same multiply; the difference is the output copy (and the allocation before it).
//!
//! The host's side is the same in both: `send_audio` writes the caller's slice into shared
//! memory (one copy in), and the reply is read in place (its length only).

#![allow(missing_docs)]

use std::time::Duration;

use berth::{SessionOptions, TransportConfig};
use berth_benches::{leaks, pipelines, runtime};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

const SIZES: [(&str, usize); 3] = [("64KiB", 64 << 10), ("1MiB", 1 << 20), ("8MiB", 8 << 20)];

fn gain_yaml(loaned: bool) -> String {
    format!(
        r#"version: "v1"
metadata: {{ name: "bench-large-frames" }}
nodes:
  - id: gain
    node_type: Gain
    runtime_hint: cpython
    params: {{ gain: 0.5, loaned: {loaned} }}
connections:
  - {{ from: mic, to: gain }}
"#
    )
}

fn large_frames(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("large_frames");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    // Both sessions run side by side, and each size is measured loaned then copied, so the
    // two modes of one size see the same machine.
    let mut sessions: Vec<(&str, pipelines::Pipeline, berth::Session)> =
        [("loaned", true), ("copied", false)]
            .into_iter()
            .map(|(mode, loaned)| {
                let pipeline = pipelines::pipeline(&gain_yaml(loaned)).expect("gain pipeline");
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
                b.iter(|| pipelines::round_trip(session, &frame))
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
