//! Host → node → host with a 960-sample f32 frame (20 ms at 48 kHz) and an identity node, every
//! way Berth can run the node and the alternatives, in one Criterion group and one run:
//!
//! - `native`: the built-in Rust `Gain` (1.0) on a host thread;
//! - `process`: a Python node (`BenchEcho`) as a host subprocess, through Berth's runner;
//! - `container`: the same Python node in a Docker container;
//! - `unix_socket`, `tcp`: the same frames to a minimal Python echo over a Unix stream socket
//!   and TCP on 127.0.0.1 (length-prefixed);
//! - `iox2_spin`, `iox2_event`: the floor, raw iceoryx2 ping-pong with a minimal Python echo
//!   (no Berth runner), both sides polling, or both sleeping until the event wakes them.
//!
//! Each runs `back_to_back` (next frame as soon as the last returns), `paced` (one frame every
//! 20 ms, only the round trip timed) where the OS places the threads, and `paced_pinned` with
//! the bench thread and the node on CPU 0. Every Criterion sample is one frame, so the saved
//! samples give per-frame percentiles. Berth sessions use the default transport settings
//! (`TransportConfig::default()`; the `waiting` bench compares the ways of waiting). Each paced
//! case also saves the CPU its node (or peer) and the bench thread used, in % of one CPU
//! (`target/cpu/`, read by `cargo xtask bench-report`).

#![allow(missing_docs)]

use std::cell::RefCell;
use std::time::Duration;

use berth::SessionOptions;
use berth_benches::affinity::{PINNED_CPU, pin_current_thread, pinned_cpuset, place_all_threads};
use berth_benches::cpu::CpuMeter;
use berth_benches::peers::{Iox2Echo, SocketEcho, Stream};
use berth_benches::pipelines::{self, Pipeline};
use berth_benches::timing::{Pacing, per_frame};
use berth_benches::{docker, frame, frame_bytes, leaks, runtime};
use berth_resources::Sampler;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group};

type Group<'a> = BenchmarkGroup<'a, WallTime>;

const OS_PLACED: [(Pacing, &str); 2] = [
    (Pacing::BackToBack, "back_to_back"),
    (Pacing::Paced, "paced"),
];

/// Runs the back-to-back and paced cases, then the pinned paced case, of a case whose round
/// trip is `round_trip`.
fn bench_case(
    group: &mut Group<'_>,
    (name, label): (&str, &str),
    pacing: Pacing,
    mut node_cpu: impl FnMut() -> Option<Duration>,
    mut round_trip: impl FnMut(),
) {
    per_frame(group, pacing);
    let mut meter = CpuMeter::default();
    group.bench_function(BenchmarkId::new(name, label), |b| {
        b.iter_custom(|iters| {
            meter.run(pacing, &mut node_cpu, || pacing.run(iters, &mut round_trip))
        })
    });
    if pacing == Pacing::Paced {
        meter.save(&format!("node_roundtrip/{name}/{label}"));
    }
}

fn session_cases(
    group: &mut Group<'_>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    pipeline: &Pipeline,
    image: Option<&str>,
) {
    let frame = frame();
    let options = || SessionOptions {
        images: image.map(docker::fixed_image),
        ..SessionOptions::default()
    };
    let session = RefCell::new(pipelines::start(rt, pipeline, options()).expect("session"));
    let node_cpu = || pipelines::nodes_cpu(&mut session.borrow_mut());
    let trip = || pipelines::round_trip(&mut session.borrow_mut(), &frame);
    for (pacing, label) in OS_PLACED {
        bench_case(group, (name, label), pacing, node_cpu, trip);
    }
    pipelines::stop(rt, session.into_inner()).expect("clean stop");

    // Pinned: the bench thread first, so a native node's thread (started by this thread)
    // inherits CPU 0; out-of-process nodes get the session's cpuset.
    let _pin = pin_current_thread(PINNED_CPU).expect("pin the bench thread");
    let pinned = SessionOptions {
        cpuset: Some(pinned_cpuset()),
        ..options()
    };
    let session = pipelines::start(rt, pipeline, pinned).expect("pinned session");
    for (pid, cpus) in pipelines::node_cpus(&session) {
        assert_eq!(cpus, pinned_cpuset(), "node process {pid} is not pinned");
    }
    let session = RefCell::new(session);
    let node_cpu = || pipelines::nodes_cpu(&mut session.borrow_mut());
    let trip = || pipelines::round_trip(&mut session.borrow_mut(), &frame);
    bench_case(group, (name, "paced_pinned"), Pacing::Paced, node_cpu, trip);
    pipelines::stop(rt, session.into_inner()).expect("clean stop");
}

/// The CPU time so far of the peer process `pid`.
fn peer_cpu(pid: u32) -> impl Fn() -> Option<Duration> {
    let peer = berth_resources::for_process(pid).expect("the peer runs");
    move || Some(peer.sample().expect("the peer runs").cpu)
}

fn socket_cases(group: &mut Group<'_>, name: &str, stream: Stream) {
    let mut echo = SocketEcho::start(stream, &frame_bytes()).expect("socket echo");
    let pid = echo.pid();
    for (pacing, label) in OS_PLACED {
        bench_case(group, (name, label), pacing, peer_cpu(pid), || {
            echo.round_trip().expect("socket round trip")
        });
    }
    {
        let _pin = pin_current_thread(PINNED_CPU).expect("pin the bench thread");
        place_all_threads(pid, Some(PINNED_CPU)).expect("pin the peer");
        let id = (name, "paced_pinned");
        bench_case(group, id, Pacing::Paced, peer_cpu(pid), || {
            echo.round_trip().expect("socket round trip")
        });
    }
    echo.stop().expect("socket echo stops cleanly");
}

fn iox2_cases(group: &mut Group<'_>, name: &str, spin: bool) {
    let bytes = frame_bytes();
    let mut echo = Iox2Echo::start(spin, bytes.len()).expect("raw iceoryx2 echo");
    let pid = echo.pid();
    for (pacing, label) in OS_PLACED {
        bench_case(group, (name, label), pacing, peer_cpu(pid), || {
            echo.round_trip(&bytes).expect("iceoryx2 round trip")
        });
    }
    if spin {
        // Two pollers sharing one CPU only take turns at the scheduler's pace; not measured.
        eprintln!(
            "note: {name}/paced_pinned is not run: a polling peer and a polling host on one CPU just take turns"
        );
    } else {
        let _pin = pin_current_thread(PINNED_CPU).expect("pin the bench thread");
        place_all_threads(pid, Some(PINNED_CPU)).expect("pin the peer");
        let id = (name, "paced_pinned");
        bench_case(group, id, Pacing::Paced, peer_cpu(pid), || {
            echo.round_trip(&bytes).expect("iceoryx2 round trip")
        });
    }
    echo.stop().expect("raw iceoryx2 echo stops cleanly");
}

fn node_roundtrip(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("node_roundtrip");

    let native = pipelines::pipeline(&pipelines::native_yaml()).expect("native pipeline");
    session_cases(&mut group, &rt, "native", &native, None);

    let process = pipelines::pipeline(&pipelines::process_yaml()).expect("process pipeline");
    session_cases(&mut group, &rt, "process", &process, None);

    if let Some(image) = docker::container_image(&rt, "node_roundtrip/container/*") {
        let container =
            pipelines::pipeline(&pipelines::containers_yaml(1)).expect("container pipeline");
        session_cases(&mut group, &rt, "container", &container, Some(&image));
    }

    socket_cases(&mut group, "unix_socket", Stream::Unix);
    socket_cases(&mut group, "tcp", Stream::Tcp);
    iox2_cases(&mut group, "iox2_spin", true);
    iox2_cases(&mut group, "iox2_event", false);
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = node_roundtrip
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the node round-trip bench left resources behind");
}
