//! Time from `Session::start` until every node said it is ready: one container, three
//! containers, and (for reference) one Python host subprocess. The image is already built (an
//! image provider that names it directly, so no image check or build is timed). Each sample is
//! one start; the session is stopped (not timed) before the next.
//!
//! `container/N` is cold: every container starts with its session. `container_runtime/N` is
//! cold too, from a `Runtime`: every container starts with its session and goes with it, but
//! the containers join the network namespace the runtime keeps (started by a first session,
//! not timed) instead of Docker making one for each. `container_runtime_first/N`: that first
//! session, a new `Runtime` each time (its holder starts, then the containers join it), as
//! `berth run` starts. `container_warm/N` starts sessions from a
//! `Runtime` that keeps the containers warm (`Runtime::warm`, not timed): a session attaches
//! its node instances to runners already up.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use berth::SessionOptions;
use berth_benches::pipelines::{self, Pipeline};
use berth_benches::{docker, leaks, runtime};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group};

/// Starts per case (Criterion's minimum sample count).
const STARTS: usize = 10;

fn bench_start(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    pipeline: &Pipeline,
    image: Option<&str>,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let options = SessionOptions {
                    images: image.map(docker::fixed_image),
                    ..SessionOptions::default()
                };
                let started = Instant::now();
                let session = pipelines::start(rt, pipeline, options).expect("session starts");
                total += started.elapsed();
                pipelines::stop(rt, session).expect("clean stop");
            }
            total
        })
    });
}

/// The first session of a new runtime each time (its network holder starts with it); the
/// runtime shuts down (not timed) before the next.
fn bench_first_runtime_start(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    pipeline: &Pipeline,
    image: &str,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let runtime = berth::Runtime::new();
                let options = SessionOptions {
                    images: Some(docker::fixed_image(image)),
                    ..SessionOptions::default()
                };
                let started = Instant::now();
                let session = rt
                    .block_on(runtime.session(&pipeline.manifest, options))
                    .expect("session starts");
                total += started.elapsed();
                leaks::track(session.id());
                pipelines::stop(rt, session).expect("clean stop");
                rt.block_on(runtime.shutdown());
            }
            total
        })
    });
}

/// Session starts from a runtime: one that holds `pipeline`'s containers warm (`warm`), or
/// one whose network namespace a first session (not timed) started.
fn bench_runtime_start(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    pipeline: &Pipeline,
    image: &str,
    warm: bool,
) {
    let options = || SessionOptions {
        images: Some(docker::fixed_image(image)),
        ..SessionOptions::default()
    };
    let runtime = berth::Runtime::new();
    if warm {
        rt.block_on(runtime.warm(&pipeline.manifest, &options()))
            .expect("the containers warm up");
    } else {
        let first = rt
            .block_on(runtime.session(&pipeline.manifest, options()))
            .expect("session starts");
        leaks::track(first.id());
        pipelines::stop(rt, first).expect("clean stop");
    }
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let session = rt
                    .block_on(runtime.session(&pipeline.manifest, options()))
                    .expect("session starts");
                total += started.elapsed();
                leaks::track(session.id());
                pipelines::stop(rt, session).expect("clean stop");
            }
            total
        })
    });
    rt.block_on(runtime.shutdown());
}

fn startup(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("startup");
    // One start per sample: flat sampling with a target time shorter than one start.
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(STARTS)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1))
        .nresamples(10_000);

    let process = pipelines::pipeline(&pipelines::process_yaml()).expect("process pipeline");
    bench_start(
        &mut group,
        &rt,
        BenchmarkId::new("host_process", 1),
        &process,
        None,
    );

    if let Some(image) = docker::container_image(&rt, "startup/container/*") {
        for count in [1, 3] {
            let pipeline =
                pipelines::pipeline(&pipelines::containers_yaml(count)).expect("pipeline");
            bench_start(
                &mut group,
                &rt,
                BenchmarkId::new("container", count),
                &pipeline,
                Some(&image),
            );
            bench_first_runtime_start(
                &mut group,
                &rt,
                BenchmarkId::new("container_runtime_first", count),
                &pipeline,
                &image,
            );
            bench_runtime_start(
                &mut group,
                &rt,
                BenchmarkId::new("container_runtime", count),
                &pipeline,
                &image,
                false,
            );
            bench_runtime_start(
                &mut group,
                &rt,
                BenchmarkId::new("container_warm", count),
                &pipeline,
                &image,
                true,
            );
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = startup
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the startup bench left resources behind");
}
