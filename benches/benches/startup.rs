//! Time from `Session::start` until every node said it is ready: one container, three
//! containers, and (for reference) one Python host subprocess. The image is already built (an
//! image provider that names it directly, so no image check or build is timed). Each sample is
//! one start; the session is stopped (not timed) before the next.
//!
//! `container/N` is cold: every container starts with its session. `container_runtime/N` is
//! cold too, from a `Runtime`: every container starts with its session and goes with it, but
//! the containers join the network namespace the runtime keeps (started by a first session,
//! not timed) instead of Docker making one for each. `container_runtime_first/N`: that first
//! session, a new `Runtime` each time (its containers get namespaces of their own; the holder
//! starts once it is up, not timed). `container_warm/N` starts sessions from a
//! `Runtime` that keeps the containers warm (`Runtime::warm`, not timed): a session attaches
//! its node instances to runners already up.
//!
//! `cold_side_by_side/N` times the cold ways side by side (`target/startup.json`): in each
//! round one start alone, one as the first session of a new runtime and one from a runtime
//! whose holder is up, in an order that rotates, so the daemon's drift over the run reaches all
//! three alike.

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use berth::SessionOptions;
use berth_benches::pipelines::{self, Pipeline};
use berth_benches::{docker, leaks, runtime};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, SamplingMode, criterion_group};

/// Starts per case (Criterion's minimum sample count).
const STARTS: usize = 10;

/// A session's options: `image` named directly (no image check or build), else the defaults.
fn options(image: Option<&str>) -> SessionOptions {
    SessionOptions {
        images: image.map(docker::fixed_image),
        ..SessionOptions::default()
    }
}

/// Cold starts, each session stopped (not timed) before the next: alone, or (`new_runtime`)
/// as the first session of a new runtime, which shuts down (not timed) after it.
fn bench_start(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    pipeline: &Pipeline,
    image: Option<&str>,
    new_runtime: bool,
) {
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let session_options = options(image);
                let runtime = new_runtime.then(berth::Runtime::new);
                let started = Instant::now();
                let session = match &runtime {
                    None => pipelines::start(rt, pipeline, session_options),
                    Some(runtime) => pipelines::start_from(rt, runtime, pipeline, session_options),
                }
                .expect("session starts");
                total += started.elapsed();
                pipelines::stop(rt, session).expect("clean stop");
                if let Some(runtime) = runtime {
                    rt.block_on(runtime.shutdown());
                }
            }
            total
        })
    });
}

/// A new runtime whose network holder is up: a first session (not timed) started it.
fn runtime_with_holder(
    rt: &tokio::runtime::Runtime,
    pipeline: &Pipeline,
    image: &str,
) -> berth::Runtime {
    let runtime = berth::Runtime::new();
    let first = pipelines::start_from(rt, &runtime, pipeline, options(Some(image)));
    pipelines::stop(rt, first.expect("session starts")).expect("clean stop");
    runtime
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
    let runtime = if warm {
        let runtime = berth::Runtime::new();
        rt.block_on(runtime.warm(&pipeline.manifest, &options(Some(image))))
            .expect("the containers warm up");
        runtime
    } else {
        runtime_with_holder(rt, pipeline, image)
    };
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let started = Instant::now();
                let session = pipelines::start_from(rt, &runtime, pipeline, options(Some(image)));
                total += started.elapsed();
                pipelines::stop(rt, session.expect("session starts")).expect("clean stop");
            }
            total
        })
    });
    rt.block_on(runtime.shutdown());
}

/// The cold ways to start `pipeline` side by side (module docs), as Criterion case `id` (a
/// sample is one round); returns a summary per way of the last [`STARTS`] rounds, none when
/// the case was filtered out.
fn cold_side_by_side(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    pipeline: &Pipeline,
    image: &str,
    count: usize,
) -> Vec<serde_json::Value> {
    const WAYS: [&str; 3] = ["alone", "runtime_first", "runtime"];
    let mut kept: Option<berth::Runtime> = None;
    let mut times: [Vec<Duration>; 3] = Default::default();
    let mut round = 0;
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let kept = kept.get_or_insert_with(|| runtime_with_holder(rt, pipeline, image));
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                for turn in 0..WAYS.len() {
                    let way = (round + turn) % WAYS.len();
                    let fresh = (way == 1).then(berth::Runtime::new);
                    let runtime = fresh.as_ref().unwrap_or(kept);
                    let started = Instant::now();
                    let session = if way == 0 {
                        pipelines::start(rt, pipeline, options(Some(image)))
                    } else {
                        pipelines::start_from(rt, runtime, pipeline, options(Some(image)))
                    };
                    let took = started.elapsed();
                    times[way].push(took);
                    total += took;
                    pipelines::stop(rt, session.expect("session starts")).expect("clean stop");
                    if let Some(runtime) = fresh {
                        rt.block_on(runtime.shutdown());
                    }
                }
                round += 1;
            }
            total
        })
    });
    if let Some(runtime) = kept {
        rt.block_on(runtime.shutdown());
    }
    WAYS.iter()
        .zip(times.iter_mut())
        .filter(|(_, times)| !times.is_empty())
        .map(|(way, times)| {
            // The last rounds: Criterion's warm-up comes first.
            let skip = times.len().saturating_sub(STARTS);
            let times = &mut times[skip..];
            times.sort();
            let ms = |d: Duration| d.as_secs_f64() * 1e3;
            let summary = serde_json::json!({
                "case": format!("{way}/{count}"),
                "starts": times.len(),
                "median_ms": ms(times[times.len() / 2]),
                "min_ms": ms(times[0]),
                "max_ms": ms(times[times.len() - 1]),
            });
            eprintln!("startup side by side: {summary}");
            summary
        })
        .collect()
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
        false,
    );

    if let Some(image) = docker::container_image(&rt, "startup/container/*") {
        let mut side_by_side = Vec::new();
        for count in [1, 3] {
            let pipeline =
                pipelines::pipeline(&pipelines::containers_yaml(count)).expect("pipeline");
            bench_start(
                &mut group,
                &rt,
                BenchmarkId::new("container", count),
                &pipeline,
                Some(&image),
                false,
            );
            bench_start(
                &mut group,
                &rt,
                BenchmarkId::new("container_runtime_first", count),
                &pipeline,
                Some(&image),
                true,
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
            side_by_side.extend(cold_side_by_side(
                &mut group,
                &rt,
                BenchmarkId::new("cold_side_by_side", count),
                &pipeline,
                &image,
                count,
            ));
        }
        // Every way for both counts, or the file is left as it was (a filtered run).
        if side_by_side.len() == 6 {
            let path = berth_benches::target_dir().join("startup.json");
            let report = serde_json::json!({ "cases": side_by_side });
            std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
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
