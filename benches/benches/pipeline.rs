//! End-to-end latency of a 3-node pipeline of containers: `mic → echo1 → echo2 → echo3 → host`,
//! three Python identity nodes, each in its own container (the same image, a different `env`
//! per node), frames passing from container to container over iceoryx2 without touching the
//! host. 960-sample frames (20 ms at 48 kHz), back to back and paced every 20 ms, the latter
//! also with the bench thread and all three containers on CPU 0. One Criterion sample per
//! frame, so the saved samples give the per-frame p99. Each paced case also saves the CPU the
//! three containers and the bench thread used, in % of one CPU (`target/cpu/`).

#![allow(missing_docs)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use berth::{Session, SessionOptions, TransportConfig};
use berth_benches::affinity::{PINNED_CPU, pin_current_thread, pinned_cpuset};
use berth_benches::cpu::CpuMeter;
use berth_benches::timing::{BACK_TO_BACK_FRAMES, Pacing, one_frame_per_sample};
use berth_benches::{docker, frame, leaks, pipelines, runtime};
use berth_iceoryx2::{Doorbell, Iceoryx2Transport};
use berth_transport::Transport;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group};

/// Frames per paced case: 10 s of audio, enough for a p99 from the fifth-slowest frame.
const PACED_FRAMES: usize = 500;
const STAGES: usize = 3;

fn pipeline(c: &mut Criterion) {
    let rt = runtime();
    let Some(image) = docker::container_image(&rt, "pipeline/containers_3/*") else {
        return;
    };
    let pipeline = pipelines::pipeline(&pipelines::containers_yaml(STAGES)).expect("pipeline");
    let frame = frame();
    let options = || SessionOptions {
        images: Some(docker::fixed_image(&image)),
        ..SessionOptions::default()
    };
    let name = format!("containers_{STAGES}");
    let mut group = c.benchmark_group("pipeline");

    let mut session = pipelines::start(&rt, &pipeline, options()).expect("session");
    for (pacing, label, frames) in [
        (Pacing::BackToBack, "back_to_back", BACK_TO_BACK_FRAMES),
        (Pacing::Paced, "paced", PACED_FRAMES),
    ] {
        one_frame_per_sample(&mut group, frames, Duration::from_millis(400));
        run_case(&mut group, &mut session, (&name, label), pacing, &frame);
    }
    pipelines::stop(&rt, session).expect("clean stop");

    // The same chain, every reader sleeping until its frame's wake-up (no polling ahead by
    // the nodes, none for the reply by the host): what the default waiting buys; woken by the
    // default doorbells, then by iceoryx2's event service.
    for (label, doorbell) in [
        ("paced_event", None),
        ("paced_event_iceoryx2", Some(Doorbell::Event)),
    ] {
        let event_only = SessionOptions {
            transport: doorbell
                .map(|d| Arc::new(Iceoryx2Transport::new().with_doorbell(d)) as Arc<dyn Transport>),
            transport_config: TransportConfig {
                reply_spin: Duration::ZERO,
                anticipate: Duration::ZERO,
                ..TransportConfig::default()
            },
            ..options()
        };
        let mut session = pipelines::start(&rt, &pipeline, event_only).expect("event-only session");
        one_frame_per_sample(&mut group, PACED_FRAMES, Duration::from_millis(400));
        run_case(
            &mut group,
            &mut session,
            (&name, label),
            Pacing::Paced,
            &frame,
        );
        pipelines::stop(&rt, session).expect("clean stop");
    }

    {
        let _pin = pin_current_thread(PINNED_CPU).expect("pin the bench thread");
        let pinned = SessionOptions {
            cpuset: Some(pinned_cpuset()),
            ..options()
        };
        let mut session = pipelines::start(&rt, &pipeline, pinned).expect("pinned session");
        for (pid, cpus) in pipelines::node_cpus(&session) {
            assert_eq!(cpus, pinned_cpuset(), "node process {pid} is not pinned");
        }
        one_frame_per_sample(&mut group, PACED_FRAMES, Duration::from_millis(400));
        let id = (name.as_str(), "paced_pinned");
        run_case(&mut group, &mut session, id, Pacing::Paced, &frame);
        pipelines::stop(&rt, session).expect("clean stop");
    }
    group.finish();
}

/// One case through `session`; a paced one also saves the CPU the three containers and the
/// bench thread used (`target/cpu/`).
fn run_case(
    group: &mut BenchmarkGroup<'_, WallTime>,
    session: &mut Session,
    (name, label): (&str, &str),
    pacing: Pacing,
    frame: &[f32],
) {
    let session = RefCell::new(session);
    let mut meter = CpuMeter::default();
    group.bench_function(BenchmarkId::new(name, label), |b| {
        b.iter_custom(|iters| {
            meter.run(
                pacing,
                &mut || pipelines::nodes_cpu(&mut session.borrow_mut()),
                || {
                    pacing.run(iters, || {
                        pipelines::round_trip(&mut session.borrow_mut(), frame)
                    })
                },
            )
        })
    });
    if pacing == Pacing::Paced {
        meter.save(&format!("pipeline/{name}/{label}"));
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = pipeline
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the pipeline bench left resources behind");
}
