//! What measuring a node costs, side by side in one run:
//!
//! - `usage_sample`: one reading, from a cgroup (this process's, read the same way as a
//!   container's: five or six small kernel files) and from `/proc` (two files);
//! - `sampled_round_trip`: a Python node (host process) round trip, 20 ms frames paced as live
//!   audio, while nothing else measures it (`quiet`) and while another thread reads the node's
//!   usage every 10 ms (`sampled_10ms`: 100× what `berth ps --watch` does), so the effect of
//!   sampling on latency is measured, not guessed.
//!
//! `cargo bench -p berth-benches --bench resources`.

#![allow(missing_docs)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use berth::SessionOptions;
use berth_benches::pipelines;
use berth_benches::timing::{Pacing, per_frame};
use berth_benches::{frame, leaks, runtime};
use berth_resources::Sampler;
use criterion::{BenchmarkId, Criterion, criterion_group};

fn sampling(c: &mut Criterion) {
    let pid = std::process::id();
    let mut group = c.benchmark_group("usage_sample");
    match berth_resources::for_cgroup_of(pid) {
        Ok(cgroup) => {
            let source = cgroup.source();
            group.bench_function("cgroup", |b| b.iter(|| cgroup.sample().expect(&source)));
        }
        Err(e) => eprintln!("no cgroup to read here ({e}); the cgroup case is skipped"),
    }
    let process = berth_resources::for_process(pid).expect("this process");
    group.bench_function("proc", |b| b.iter(|| process.sample().expect("a reading")));
    group.finish();
}

fn sampled_round_trip(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("sampled_round_trip");
    let pipeline = pipelines::pipeline(&pipelines::process_yaml()).expect("process pipeline");
    let mut session = pipelines::start(&rt, &pipeline, SessionOptions::default()).expect("session");
    let sampler = session.status().nodes[0]
        .sampler
        .clone()
        .expect("a host-process node can be sampled");
    let frame = frame();
    per_frame(&mut group, Pacing::Paced);
    group.bench_function(BenchmarkId::new("process", "quiet"), |b| {
        b.iter_custom(|iters| {
            Pacing::Paced.run(iters, || pipelines::round_trip(&mut session, &frame))
        })
    });
    let stop = Arc::new(AtomicBool::new(false));
    let readings = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, readings) = (Arc::clone(&stop), Arc::clone(&readings));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                sampler.sample().expect("the node is measured");
                readings.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    group.bench_function(BenchmarkId::new("process", "sampled_10ms"), |b| {
        b.iter_custom(|iters| {
            Pacing::Paced.run(iters, || pipelines::round_trip(&mut session, &frame))
        })
    });
    stop.store(true, Ordering::Relaxed);
    reader.join().expect("the sampling thread");
    eprintln!(
        "sampled_round_trip: {} readings taken while sampled",
        readings.load(Ordering::Relaxed)
    );
    group.finish();
    pipelines::stop(&rt, session).expect("clean stop");
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = sampling, sampled_round_trip
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the resources bench left resources behind");
}
