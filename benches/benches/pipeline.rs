//! End-to-end latency of a 3-node pipeline of containers: `mic → echo1 → echo2 → echo3 → host`,
//! three Python identity nodes, each in its own container (the same image, a different `env`
//! per node), frames passing from container to container over iceoryx2 without touching the
//! host. 960-sample frames (20 ms at 48 kHz), back to back and paced every 20 ms, the latter
//! also with the bench thread and all three containers on CPU 0, and real-time
//! (`SessionOptions::realtime`, the bench thread `SCHED_FIFO` too) where the machine allows. One Criterion sample per
//! frame, so the saved samples give the per-frame p99. Each paced case but `paced_traced`
//! also saves the CPU the three containers and the bench thread used, in % of one CPU
//! (`target/cpu/`).
//!
//! `paced_traced`: the paced chain again, every runner tracing its steps (`BERTH_STEP_TRACE`),
//! lined up with the host's times by the frame's timestamp: where a frame's time goes, hop by
//! hop, at the median and in the slowest 1% of frames (`target/pipeline.json`, read by
//! `cargo xtask bench-report`). With `BERTH_BENCH_TRACED_PRIORITY=N` (1–99) it runs as
//! `paced_realtime` does, the runners and the bench thread `SCHED_FIFO` at `N`, so a scheduler
//! trace (`benches/probes/sched_trace.py`) can be taken of the real-time chain too.

#![allow(missing_docs)]

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use berth::{Realtime, Session, SessionOptions, TransportConfig, monotonic_ns};
use berth_benches::affinity::{PINNED_CPU, pin_current_thread, pinned_cpuset};
use berth_benches::cpu::{CpuMeter, waited_for_cpu};
use berth_benches::timing::{BACK_TO_BACK_FRAMES, Pacing, one_frame_per_sample, percentile};
use berth_benches::{SAMPLE_RATE, docker, frame, leaks, pipelines, runtime, steps};
use berth_iceoryx2::{Doorbell, Iceoryx2Transport};
use berth_transport::Transport;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group};
use serde_json::json;

/// Frames per paced case: 10 s of audio, enough for a p99 from the sixth-slowest frame.
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

    if let Some(summary) = traced_case(&mut group, &rt, &image, &frame) {
        eprintln!("pipeline/{name}/paced_traced: {summary}");
        let path = berth_benches::target_dir().join("pipeline.json");
        std::fs::write(&path, serde_json::to_vec_pretty(&summary).expect("JSON"))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

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

    // The same chain real-time, the bench thread too: no thread of ordinary priority holds a
    // frame up. Where this machine does not allow it, the case says why and is left out.
    let realtime = SessionOptions {
        realtime: Some(Realtime::new(REALTIME_PRIORITY)),
        ..options()
    };
    match pipelines::start(&rt, &pipeline, realtime) {
        Ok(mut session) => {
            match RealtimeThread::enter(REALTIME_PRIORITY) {
                Ok(_realtime) => {
                    one_frame_per_sample(&mut group, PACED_FRAMES, Duration::from_millis(400));
                    let id = (name.as_str(), "paced_realtime");
                    run_case(&mut group, &mut session, id, Pacing::Paced, &frame);
                }
                Err(e) => {
                    eprintln!("pipeline/{name}/paced_realtime left out: the bench thread: {e}")
                }
            }
            pipelines::stop(&rt, session).expect("clean stop");
        }
        // Only a refusal of real-time scheduling leaves it out; anything else is a failure.
        Err(e)
            if ["SCHED_FIFO", "real-time budget", "real-time priority limit"]
                .iter()
                .any(|refusal| e.to_string().contains(refusal)) =>
        {
            eprintln!("pipeline/{name}/paced_realtime left out: {e}")
        }
        Err(e) => panic!("real-time session: {e}"),
    }
    group.finish();
}

/// The `SCHED_FIFO` priority of `paced_realtime`'s runners and bench thread.
const REALTIME_PRIORITY: u8 = 10;

/// The bench thread made real-time until dropped.
struct RealtimeThread;

impl RealtimeThread {
    fn enter(priority: u8) -> Result<Self, berth::SessionError> {
        berth::set_current_thread_realtime(priority)?;
        Ok(Self)
    }
}

impl Drop for RealtimeThread {
    fn drop(&mut self) {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: plain syscall on the calling thread (0) with a valid parameter.
        if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) } != 0 {
            eprintln!(
                "warning: the bench thread stays real-time: {}",
                std::io::Error::last_os_error()
            );
        }
    }
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

/// One frame's times on the host (ns, `CLOCK_MONOTONIC`): its timestamp (taken as the send
/// began), the reply's arrival, the bench thread's CPU at the send, and how long the session's
/// processes waited, runnable, for a CPU over the frame's period.
type HostTimes = (u64, u64, i32, Duration);

/// The paced chain with every runner tracing its steps; `None` when Criterion's filter left
/// the case out or ran it for fewer frames than a case measures (`--test`). The summary: each hop's median and its mean over the slowest 1% of frames,
/// and the slowest frames hop by hop.
fn traced_case(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    image: &str,
    frame: &[f32],
) -> Option<serde_json::Value> {
    let pipeline =
        pipelines::pipeline(&pipelines::traced_containers_yaml(STAGES)).expect("traced pipeline");
    let priority = traced_priority();
    let options = SessionOptions {
        images: Some(docker::fixed_image(image)),
        realtime: priority.map(Realtime::new),
        ..SessionOptions::default()
    };
    let mut session = pipelines::start(rt, &pipeline, options).expect("traced session");
    let bench_thread =
        priority.map(|p| RealtimeThread::enter(p).expect("a real-time bench thread"));
    let mut host: Vec<HostTimes> = Vec::new();
    let processes = leaks::session_processes(session.id().as_str());
    assert!(
        !processes.is_empty(),
        "no process of session {} found to read its waits for a CPU",
        session.id()
    );
    let mut waited = waited_for_cpu(&processes);
    let named = named_processes(&processes);
    // SAFETY: no arguments; the bench thread's id, as a scheduler trace names it.
    let bench_tid = unsafe { libc::gettid() };
    one_frame_per_sample(group, PACED_FRAMES, Duration::from_millis(400));
    let id = BenchmarkId::new(format!("containers_{STAGES}"), "paced_traced");
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            // Criterion gets the round trips alone: the reading of the wait for a CPU after
            // each frame is inside the paced call but not part of the frame.
            let mut round_trips = Duration::ZERO;
            Pacing::Paced.run(iters, || {
                let timestamp = monotonic_ns();
                session
                    .send_audio_at("mic", frame, SAMPLE_RATE, 1, timestamp)
                    .expect("send a frame");
                // SAFETY: no arguments; reads the calling thread's CPU.
                let cpu = unsafe { libc::sched_getcpu() };
                session
                    .recv_with(Duration::from_secs(5), |_| ())
                    .expect("no node error")
                    .expect("the frame back within 5 s");
                let back = monotonic_ns();
                round_trips += Duration::from_nanos(back - timestamp);
                // Read after the frame: it covers the whole period since the last frame's
                // reading, this frame's round trip among it.
                let now_waited = waited_for_cpu(&processes);
                // A process gone since the last reading makes the sum smaller: count nothing.
                host.push((timestamp, back, cpu, now_waited.saturating_sub(waited)));
                waited = now_waited;
            });
            round_trips
        })
    });
    drop(bench_thread); // ordinary again before the stop, as in `paced_realtime`
    pipelines::stop(rt, session).expect("clean stop");
    if host.len() < PACED_FRAMES {
        return None; // filtered out, or a `--test` pass of one frame
    }
    let mut summary = hops_summary(&host, &steps::read(&pipeline.dir.path().join("trace")));
    summary["processes"] = named;
    summary["bench_tid"] = json!(bench_tid);
    if let Some(priority) = priority {
        summary["realtime_priority"] = json!(priority);
    }
    Some(summary)
}

/// `BERTH_BENCH_TRACED_PRIORITY`: the `SCHED_FIFO` priority `paced_traced` runs at, if any.
fn traced_priority() -> Option<u8> {
    let text = std::env::var("BERTH_BENCH_TRACED_PRIORITY").ok()?;
    match text.parse() {
        Ok(priority @ 1..=99) => Some(priority),
        _ => panic!("BERTH_BENCH_TRACED_PRIORITY={text}: a priority from 1 to 99 is expected"),
    }
}

/// The session's processes by pid, each with its node (from the runner's `--spec`) and its
/// command name, so a scheduler trace of the run can be read by node
/// (`benches/probes/sched_trace.py`).
fn named_processes(pids: &[u32]) -> serde_json::Value {
    let node_of = |pid: u32| -> Option<String> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let mut args = cmdline.split(|b| *b == 0);
        args.find(|arg| *arg == b"--spec")?;
        let spec: serde_json::Value = serde_json::from_slice(args.next()?).ok()?;
        Some(spec.get("node_id")?.as_str()?.to_owned())
    };
    let comm = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_owned())
            .unwrap_or_default()
    };
    pids.iter()
        .map(|&pid| json!({ "pid": pid, "node": node_of(pid), "comm": comm(pid) }))
        .collect()
}

/// The slowest frames the summary lists one by one.
const SLOWEST: usize = 10;

/// The hops of a chain frame, in order.
const HOPS: [&str; 7] = [
    "host → echo1",
    "echo1",
    "echo1 → echo2",
    "echo2",
    "echo2 → echo3",
    "echo3",
    "echo3 → host",
];

/// Each measured frame (the last `PACED_FRAMES`) cut into [`HOPS`]: into a node is from the
/// send (or the previous node's `process()` return) to the runner taking the frame, a node
/// from taking it to its `process()` returning, and back from there to the host having it.
fn hops_summary(
    host: &[HostTimes],
    traces: &std::collections::HashMap<String, std::collections::HashMap<u64, steps::Steps>>,
) -> serde_json::Value {
    /// One frame: its timestamp, its round trip, the session's wait for a CPU over its period, its hops, the
    /// CPU of the host and of each runner, and how each runner came to it.
    struct Frame {
        timestamp: u64,
        total: u64,
        waited: Duration,
        hops: Vec<u64>,
        cpus: Vec<i64>,
        how: Vec<steps::Found>,
    }
    let measured = &host[host.len().saturating_sub(PACED_FRAMES)..];
    let mut frames: Vec<Frame> = measured
        .iter()
        .map(|&(timestamp, back, host_cpu, waited)| {
            let mut frame = Frame {
                timestamp,
                total: back - timestamp,
                waited,
                hops: Vec::with_capacity(HOPS.len()),
                cpus: vec![i64::from(host_cpu)],
                how: Vec::with_capacity(STAGES),
            };
            let mut since = timestamp;
            for i in 1..=STAGES {
                let node = format!("echo{i}");
                let s = traces
                    .get(&node)
                    .and_then(|t| t.get(&timestamp))
                    .unwrap_or_else(|| panic!("frame {timestamp} is not in {node}'s trace"));
                frame.hops.push(s.found.saturating_sub(since));
                frame.hops.push(s.returned - s.found);
                frame.cpus.push(s.cpu);
                frame.how.push(s.how);
                since = s.returned;
            }
            frame.hops.push(back.saturating_sub(since));
            frame
        })
        .collect();
    frames.sort_by_key(|f| std::cmp::Reverse(f.total));
    let us = |ns: u64| ns as f64 / 1000.0;
    let of_frames = |value: &dyn Fn(&Frame) -> u64, p: f64| {
        percentile(&mut frames.iter().map(value).collect::<Vec<_>>(), p)
    };
    let median_of = |i: usize| of_frames(&|f| f.hops[i], 0.5);
    let tail = (frames.len() / 100).max(1);
    let tail_mean =
        |i: usize| frames[..tail].iter().map(|f| us(f.hops[i])).sum::<f64>() / tail as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let waited_tail = frames[..tail].iter().map(|f| ms(f.waited)).sum::<f64>() / tail as f64;
    // How often each runner came to its frame each way, over every frame.
    let ways = (0..STAGES)
        .map(|n| {
            let count = |way: steps::Found| frames.iter().filter(|f| f.how[n] == way).count();
            json!({
                "node": format!("echo{}", n + 1),
                "polling": count(steps::Found::Polling),
                "woken_ahead": count(steps::Found::WokenAhead),
                "woken": count(steps::Found::Woken),
            })
        })
        .collect::<Vec<_>>();
    json!({
        "case": format!("containers_{STAGES}/paced_traced"),
        "frames": frames.len(),
        "hops": HOPS,
        "p50_us": (0..HOPS.len()).map(median_of).collect::<Vec<_>>(),
        "tail_frames": tail,
        "tail_mean_us": (0..HOPS.len()).map(tail_mean).collect::<Vec<_>>(),
        "round_trip_p50_us": of_frames(&|f| f.total, 0.5),
        "round_trip_p99_us": of_frames(&|f| f.total, 0.99),
        "waited_p50_ms": of_frames(&|f| f.waited.as_nanos() as u64, 0.5) / 1000.0,
        "waited_tail_mean_ms": waited_tail,
        "found": ways,
        "slowest": frames[..SLOWEST.min(frames.len())].iter().map(|f| json!({
            "timestamp_ns": f.timestamp,
            "round_trip_us": us(f.total),
            "hops_us": f.hops.iter().map(|&h| us(h)).collect::<Vec<_>>(),
            "cpus": f.cpus,
            "found": f.how.iter().map(|h| h.label()).collect::<Vec<_>>(),
            "waited_ms": ms(f.waited),
        })).collect::<Vec<_>>(),
    })
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
