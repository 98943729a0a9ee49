//! How the wait for a frame is done, paced: one 960-sample frame every 20 ms through a Python
//! node (host process and container) and back, with each waiting strategy, next to a Python
//! echo over a Unix stream socket in the same run. Every case reports its CPU cost beside its
//! latency, and where the round trip's time goes.
//!
//! Strategies (`TransportConfig`, and the iceoryx2 transport's `Doorbell`):
//! - `event`: readers poll `spin` (50 µs), then sleep on iceoryx2's event (two wake-ups a
//!   round trip: the node's for the frame, the host's for the reply);
//! - `fifo`: the same, sleeping on a doorbell (a named pipe per reader) instead of the event;
//! - `reply_spin`: the host, having sent, polls for the reply up to twice the recent median
//!   round trip (`reply_spin`, at most 1 ms) — no host wake-up;
//! - `anticipate`: the node's runner learns the input's period, sleeps until `anticipate`
//!   (300 µs) before the next frame is due and polls for it — no node wake-up;
//! - `both`; `both_split`: both, with the host thread on CPU 0 and the node on CPU 1;
//!   `both_event`: both, woken by iceoryx2's event.
//!
//! Cases other than `event`, `fifo` and `both_event` use the transport's default doorbell.
//!
//! Side by side, for comparisons that the machine's drift between cases cannot skew: the
//! contenders start together and each gets one frame in every 20 ms period, contender `k` of
//! `n` at `k/n` of the period (`timing::staggered`). CPU: what answers each (node or peer),
//! and the bench thread's CPU during that contender's round trips.
//! - `doorbells/<target>/<waiting>/<doorbell>`: a session per doorbell, with event wake-ups
//!   only (`event_only`) and with the default waiting (`both`);
//! - `versus_socket/<contender>`: the Unix-socket echo, a host-process node and a container
//!   node, the nodes echoes too (`BenchEcho`, nothing stamped: like for like with the socket's
//!   peer) with the default settings: the comparison the latency targets are judged on;
//!   `…_stamp`: the same nodes stamping (`BenchStamp`), for what a node's own work costs.
//!
//! - `steps/<pacing>`: where a frame's time goes, step by step, paced and back to back: a
//!   host-process node with the default settings whose runner keeps each frame's step times
//!   (`BERTH_STEP_TRACE`), lined up with the host's own by the frame's timestamp.
//!
//! The other cases' node (`BenchStamp`) writes `CLOCK_MONOTONIC` at `process()` entry into the
//! frame, so each round trip splits into *in* (host send → node `process()`: the host's send,
//! the node's wake-up or poll, the runner's decode) and *out* (`process()` → host has the
//! reply: the node's copy and send, the host's wake-up or poll). CPU: the node's (its process, or its
//! container's cgroup) and the bench thread's, each over the case's wall time, in % of one CPU.
//! Per case: Criterion's per-frame samples, and `target/waiting.json` (read by
//! `cargo xtask bench-report`).

#![allow(missing_docs)]

use std::time::{Duration, Instant};

use std::sync::Arc;

use berth::{Session, SessionOptions, TransportConfig, monotonic_ns};
use berth_benches::affinity::pin_current_thread;
use berth_benches::cpu::{CpuMeter, thread_cpu};
use berth_benches::peers::{SocketEcho, Stream};
use berth_benches::pipelines::{self, PYTHON_NODE};
use berth_benches::timing::{PACED_FRAMES, Pacing, per_frame, percentile, staggered};
use berth_benches::{docker, frame, frame_bytes, leaks, runtime, steps};
use berth_iceoryx2::{Doorbell, Iceoryx2Transport};
use berth_resources::Sampler;
use criterion::{BenchmarkId, Criterion, criterion_group};
use serde_json::json;

const STAMP_NODE: &str = "BenchStamp";

/// A strategy: its name, `reply_spin`, `anticipate`, whether the host thread and the node get
/// a CPU each (host on CPU 0, node on CPU 1) rather than where the OS places them, and the
/// doorbell (`None`: the transport's default).
type Strategy = (&'static str, Duration, Duration, bool, Option<Doorbell>);

const SPIN: Duration = Duration::from_millis(1);
const AHEAD: Duration = Duration::from_micros(300);
const NONE: Duration = Duration::ZERO;

const STRATEGIES: [Strategy; 7] = [
    ("event", NONE, NONE, false, Some(Doorbell::Event)),
    ("fifo", NONE, NONE, false, Some(Doorbell::Fifo)),
    ("reply_spin", SPIN, NONE, false, None),
    ("anticipate", NONE, AHEAD, false, None),
    ("both", SPIN, AHEAD, false, None),
    ("both_split", SPIN, AHEAD, true, None),
    ("both_event", SPIN, AHEAD, false, Some(Doorbell::Event)),
];

/// The node's CPU time so far (its process or container), as the session measures it.
fn node_cpu(session: &mut Session) -> Duration {
    session
        .usage()
        .into_iter()
        .find_map(|u| u.usage.map(|u| u.cpu))
        .expect("the node's usage is measured")
}

/// The median in µs; `None` for a case that does not measure it.
fn median(values: &mut [u64]) -> Option<f64> {
    (!values.is_empty()).then(|| percentile(values, 0.5))
}

/// What a case measured beyond Criterion's samples.
#[derive(Default)]
struct Case {
    rt_us: Vec<u64>,
    in_us: Vec<u64>,
    out_us: Vec<u64>,
    send_us: Vec<u64>,
    /// The node's and the bench thread's CPU over the case.
    cpu: CpuMeter,
}

impl Case {
    /// Times `iters` paced round trips, measuring CPU around them.
    fn run(
        &mut self,
        iters: u64,
        node_cpu: &mut dyn FnMut() -> Duration,
        round_trip: &mut dyn FnMut(&mut Self),
    ) -> Duration {
        let mut cpu = std::mem::take(&mut self.cpu);
        let timed = cpu.measure(&mut || Some(node_cpu()), || {
            Pacing::Paced.run(iters, || round_trip(self))
        });
        self.cpu = cpu;
        timed
    }

    /// Keeps one stamped round trip: (round trip, in, out, the host's send) in ns.
    fn record(&mut self, (rt_ns, in_ns, out_ns, send_ns): (u64, u64, u64, u64)) {
        self.rt_us.push(rt_ns);
        self.in_us.push(in_ns);
        self.out_us.push(out_ns);
        self.send_us.push(send_ns);
    }

    /// Only the measured frames (Criterion's warm-up calls come first).
    fn keep_measured(&mut self) {
        let keep = PACED_FRAMES.min(self.rt_us.len());
        for values in [
            &mut self.rt_us,
            &mut self.in_us,
            &mut self.out_us,
            &mut self.send_us,
        ] {
            let extra = values.len().saturating_sub(keep);
            values.drain(..extra);
        }
    }

    /// `None` when the case did not run (filtered out on the command line).
    fn summary(self, name: &str) -> Option<serde_json::Value> {
        let (node_cpu, host_cpu) = self.cpu.shares()?;
        let mut summary = self.latencies(name)?;
        summary["host_cpu_pct"] = json!(host_cpu);
        summary["node_cpu_pct"] = json!(node_cpu);
        Some(summary)
    }

    /// The measured frames' latencies; `None` when the case did not run.
    fn latencies(mut self, name: &str) -> Option<serde_json::Value> {
        self.keep_measured();
        if self.rt_us.is_empty() {
            return None;
        }
        Some(json!({
            "case": name,
            "frames": self.rt_us.len(),
            "p50_us": percentile(&mut self.rt_us, 0.5),
            "p99_us": percentile(&mut self.rt_us, 0.99),
            "in_p50_us": median(&mut self.in_us),
            "out_p50_us": median(&mut self.out_us),
            "send_p50_us": median(&mut self.send_us),
        }))
    }
}

/// One paced round trip, `read` seeing the reply: (what `read` made of it, when the send
/// began, when it returned, when the reply was in), times in ns.
fn round_trip<R>(
    session: &mut Session,
    frame: &[f32],
    read: impl FnMut(berth::Output<'_>) -> R,
) -> (R, u64, u64, u64) {
    let sent = monotonic_ns();
    session
        .send_audio("mic", frame, 48_000, 1)
        .expect("send a frame");
    let send_done = monotonic_ns();
    let read = session
        .recv_with(Duration::from_secs(5), read)
        .expect("no node error")
        .expect("the frame back within 5 s");
    (read, sent, send_done, monotonic_ns())
}

/// One paced round trip through the stamping node: (round trip, in, out, the host's send) in
/// ns.
fn stamped_round_trip(session: &mut Session, frame: &[f32]) -> (u64, u64, u64, u64) {
    let (entered, sent, send_done, back) = round_trip(session, frame, |out| {
        let stamp: [u8; 8] = out.payload[..8].try_into().expect("a stamped frame");
        i64::from_le_bytes(stamp) as u64
    });
    (
        back - sent,
        entered.saturating_sub(sent),
        back.saturating_sub(entered),
        send_done - sent,
    )
}

/// One paced round trip through the echo node (nothing stamped): (round trip, the host's
/// send) in ns.
fn echo_round_trip(session: &mut Session, frame: &[f32]) -> (u64, u64) {
    let ((), sent, send_done, back) = round_trip(session, frame, |_| ());
    (back - sent, send_done - sent)
}

/// Where the node runs: `name` (`process` or `container`), its manifest, and the image a
/// container case names directly.
struct Target<'a> {
    name: &'a str,
    yaml: &'a str,
    image: Option<&'a str>,
}

impl Target<'_> {
    /// The stamping pipeline.
    fn pipeline(&self) -> pipelines::Pipeline {
        pipelines::pipeline(&self.yaml.replace(PYTHON_NODE, STAMP_NODE)).expect("pipeline")
    }

    /// The echo pipeline (`PYTHON_NODE`: its input sent back, as the socket's peer does).
    fn echo_pipeline(&self) -> pipelines::Pipeline {
        pipelines::pipeline(self.yaml).expect("pipeline")
    }

    /// A session's options: the waiting (`reply_spin`, `anticipate`), the doorbell (`None`:
    /// the transport's default), and the node's CPUs.
    fn options(
        &self,
        (reply_spin, anticipate): (Duration, Duration),
        doorbell: Option<Doorbell>,
        cpuset: Option<String>,
    ) -> SessionOptions {
        SessionOptions {
            transport: doorbell.map(|d| {
                Arc::new(Iceoryx2Transport::new().with_doorbell(d))
                    as Arc<dyn berth_transport::Transport>
            }),
            cpuset,
            images: self.image.map(docker::fixed_image),
            transport_config: TransportConfig {
                reply_spin,
                anticipate,
                ..TransportConfig::default()
            },
            ..SessionOptions::default()
        }
    }
}

fn session_cases(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    target: &Target<'_>,
    results: &mut Vec<serde_json::Value>,
) {
    let pipeline = target.pipeline();
    let frame = frame();
    let mut group = c.benchmark_group("waiting");
    per_frame(&mut group, Pacing::Paced);
    for (strategy, reply_spin, anticipate, split, doorbell) in STRATEGIES {
        let _pin = split.then(|| pin_current_thread(0).expect("pin the bench thread"));
        let cpuset = split.then(|| "1".to_owned());
        let options = target.options((reply_spin, anticipate), doorbell, cpuset);
        let mut session = pipelines::start(rt, &pipeline, options).expect("session");
        let mut case = Case::default();
        // The session is used by two closures at once (a round trip, its CPU reading).
        let cell = std::cell::RefCell::new(&mut session);
        group.bench_function(BenchmarkId::new(target.name, strategy), |b| {
            b.iter_custom(|iters| {
                case.run(
                    iters,
                    &mut || node_cpu(&mut cell.borrow_mut()),
                    &mut |case| case.record(stamped_round_trip(&mut cell.borrow_mut(), &frame)),
                )
            })
        });
        let Some(mut summary) = case.summary(&format!("{}/{strategy}", target.name)) else {
            pipelines::stop(rt, session).expect("clean stop");
            continue;
        };
        // How many frames the runner found polling ahead of their due time (its latest
        // `stats`, sent about once a second).
        if let Some(stats) = session.usage().into_iter().find_map(|u| u.runner) {
            summary["runner_frames"] = json!(stats.frames);
            summary["anticipated"] = json!(stats.anticipated);
        }
        eprintln!("waiting/{}/{strategy}: {summary}", target.name);
        results.push(summary);
        pipelines::stop(rt, session).expect("clean stop");
    }
    group.finish();
}

/// One frame's times on the host (ns, `CLOCK_MONOTONIC`): its timestamp (taken as
/// `send_audio_at` began), the send's end, the reply's arrival, and the bench thread's CPU.
type HostTimes = (u64, u64, u64, i32);

/// Where a frame's time goes, paced and back to back (module docs, `steps/…`): the runner of a
/// host-process node traces its steps into a folder (`BERTH_STEP_TRACE`, set through a
/// wrapper of the host Python), the host keeps its own times, and the two are lined up by
/// the frame's timestamp. Pushes one summary per pacing.
fn steps_cases(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    target: &Target<'_>,
    results: &mut Vec<serde_json::Value>,
) {
    let frame = frame();
    let defaults = TransportConfig::default();
    let pipeline = target.pipeline();
    for pacing in [Pacing::Paced, Pacing::BackToBack] {
        let name = match pacing {
            Pacing::Paced => "paced",
            Pacing::BackToBack => "back_to_back",
        };
        let folder = tempfile::tempdir().expect("a folder for the step trace");
        let python = traced_python(folder.path());
        let options = SessionOptions {
            python: Some(python.display().to_string()),
            ..target.options((defaults.reply_spin, defaults.anticipate), None, None)
        };
        let mut session = pipelines::start(rt, &pipeline, options).expect("session");
        let mut host: Vec<HostTimes> = Vec::new();
        let mut group = c.benchmark_group("waiting");
        per_frame(&mut group, pacing);
        group.bench_function(BenchmarkId::new("steps", name), |b| {
            b.iter_custom(|iters| {
                pacing.run(iters, || {
                    let timestamp = monotonic_ns();
                    session
                        .send_audio_at("mic", &frame, 48_000, 1, timestamp)
                        .expect("send a frame");
                    let sent = monotonic_ns();
                    // SAFETY: no arguments; reads the calling thread's CPU.
                    let cpu = unsafe { libc::sched_getcpu() };
                    session
                        .recv_with(Duration::from_secs(5), |_| ())
                        .expect("no node error")
                        .expect("the frame back within 5 s");
                    host.push((timestamp, sent, monotonic_ns(), cpu));
                })
            })
        });
        group.finish();
        pipelines::stop(rt, session).expect("clean stop");
        if host.is_empty() {
            continue; // filtered out
        }
        let summary = steps_summary(&format!("steps/{name}"), &host, folder.path());
        eprintln!("waiting/steps/{name}: {summary}");
        results.push(summary);
    }
}

/// A script that runs the host Python with `BERTH_STEP_TRACE` naming `folder`.
fn traced_python(folder: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let script = folder.join("python");
    let text = format!(
        "#!/bin/sh\n{}='{}' exec '{}' \"$@\"\n",
        steps::ENV,
        folder.display(),
        berth_benches::python()
    );
    std::fs::write(&script, text).expect("write the traced Python");
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
        .expect("make the traced Python runnable");
    script
}

/// The medians of each step over the measured frames (the last `PACED_FRAMES`), from the host's
/// times and the runner's trace in `folder`.
fn steps_summary(case: &str, host: &[HostTimes], folder: &std::path::Path) -> serde_json::Value {
    let traces = steps::read(folder);
    let runner = traces
        .values()
        .next()
        .unwrap_or_else(|| panic!("the runner wrote no step trace in {}", folder.display()));
    let measured = &host[host.len().saturating_sub(PACED_FRAMES)..];
    let mut columns: [Vec<u64>; 6] = Default::default();
    let mut shared = 0usize;
    for &(timestamp, sent, back, cpu) in measured {
        let steps::Steps {
            found,
            called,
            returned,
            cpu: runner_cpu,
            ..
        } = *runner
            .get(&timestamp)
            .unwrap_or_else(|| panic!("frame {timestamp} is not in the runner's trace"));
        let values = [
            sent - timestamp,
            found.saturating_sub(timestamp),
            called - found,
            returned - called,
            back.saturating_sub(returned),
            back - timestamp,
        ];
        for (list, value) in columns.iter_mut().zip(values) {
            list.push(value);
        }
        shared += usize::from(i64::from(cpu) == runner_cpu);
    }
    let [send, found, call, process, back, round_trip] = &mut columns;
    json!({
        "case": case,
        "frames": measured.len(),
        "send_p50_us": median(send),
        "found_p50_us": median(found),
        "call_p50_us": median(call),
        "process_p50_us": median(process),
        "back_p50_us": median(back),
        "p50_us": median(round_trip),
        "shared_cpu_pct": 100.0 * shared as f64 / measured.len().max(1) as f64,
    })
}

/// One side of a side-by-side comparison: its paced round trip, and the CPU counter of what
/// answers it (the node, or the peer).
trait Contender {
    /// One round trip, recorded into `case`.
    fn round_trip(&mut self, case: &mut Case);
    /// The CPU time so far of what answers.
    fn cpu(&mut self) -> Duration;
    /// Ends it cleanly.
    fn stop(self: Box<Self>, rt: &tokio::runtime::Runtime);
}

/// A session through the stamping node, or through the echo node.
struct Node {
    session: Session,
    frame: Vec<f32>,
    stamped: bool,
}

impl Node {
    fn start(rt: &tokio::runtime::Runtime, target: &Target<'_>, options: SessionOptions) -> Self {
        Self {
            session: pipelines::start(rt, &target.pipeline(), options).expect("session"),
            frame: frame(),
            stamped: true,
        }
    }

    fn echo(rt: &tokio::runtime::Runtime, target: &Target<'_>, options: SessionOptions) -> Self {
        Self {
            session: pipelines::start(rt, &target.echo_pipeline(), options).expect("session"),
            frame: frame(),
            stamped: false,
        }
    }
}

impl Contender for Node {
    fn round_trip(&mut self, case: &mut Case) {
        if self.stamped {
            case.record(stamped_round_trip(&mut self.session, &self.frame));
        } else {
            let (rt_ns, send_ns) = echo_round_trip(&mut self.session, &self.frame);
            case.rt_us.push(rt_ns);
            case.send_us.push(send_ns);
        }
    }

    fn cpu(&mut self) -> Duration {
        node_cpu(&mut self.session)
    }

    fn stop(self: Box<Self>, rt: &tokio::runtime::Runtime) {
        pipelines::stop(rt, self.session).expect("clean stop");
    }
}

/// The Python echo over a Unix stream socket.
struct Socket {
    echo: SocketEcho,
    peer: berth_resources::ProcSampler,
}

impl Socket {
    fn start() -> Self {
        let echo = SocketEcho::start(Stream::Unix, &frame_bytes()).expect("socket echo");
        let peer = berth_resources::for_process(echo.pid()).expect("the peer runs");
        Self { echo, peer }
    }
}

impl Contender for Socket {
    fn round_trip(&mut self, case: &mut Case) {
        let started = Instant::now();
        self.echo.round_trip().expect("socket round trip");
        case.rt_us.push(started.elapsed().as_nanos() as u64);
    }

    fn cpu(&mut self) -> Duration {
        self.peer.sample().expect("the peer runs").cpu
    }

    fn stop(self: Box<Self>, _: &tokio::runtime::Runtime) {
        self.echo.stop().expect("socket echo stops cleanly");
    }
}

/// Runs `contenders` side by side as one Criterion case `id` (`timing::staggered`: each paced
/// at 20 ms in its own part of the period); pushes a summary per contender under its name,
/// then stops them. CPU: what answers each (its counter at the first call's start and the
/// latest call's end, so a process's 10 ms ticks average out), and the bench thread's during
/// that contender's round trips, over the calls' wall time.
fn side_by_side(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    id: BenchmarkId,
    contenders: Vec<(String, Box<dyn Contender>)>,
    results: &mut Vec<serde_json::Value>,
) {
    let (names, mut contenders): (Vec<String>, Vec<Box<dyn Contender>>) =
        contenders.into_iter().unzip();
    let n = contenders.len();
    let mut cases: Vec<Case> = (0..n).map(|_| Case::default()).collect();
    let mut host_cpu = vec![Duration::ZERO; n];
    let mut first: Option<(Instant, Vec<Duration>)> = None;
    let mut last: Option<(Instant, Vec<Duration>)> = None;
    let mut timed_wall = Duration::ZERO;
    let mut group = c.benchmark_group("waiting");
    per_frame(&mut group, Pacing::Paced);
    group.bench_function(id, |b| {
        b.iter_custom(|iters| {
            let before: Vec<Duration> = contenders.iter_mut().map(|c| c.cpu()).collect();
            let started = Instant::now();
            first.get_or_insert((started, before));
            let timed = staggered(iters, n, |k| {
                let cpu = thread_cpu();
                contenders[k].round_trip(&mut cases[k]);
                host_cpu[k] += thread_cpu().saturating_sub(cpu);
            });
            let ended = Instant::now();
            timed_wall += ended - started;
            last = Some((ended, contenders.iter_mut().map(|c| c.cpu()).collect()));
            timed
        })
    });
    group.finish();
    let pct = |d: Duration, wall: Duration| 100.0 * d.as_secs_f64() / wall.as_secs_f64().max(1e-9);
    if let (Some((t0, n0)), Some((t1, n1))) = (&first, &last) {
        for (k, case) in cases.into_iter().enumerate() {
            if let Some(mut summary) = case.latencies(&names[k]) {
                summary["node_cpu_pct"] = json!(pct(n1[k].saturating_sub(n0[k]), *t1 - *t0));
                summary["host_cpu_pct"] = json!(pct(host_cpu[k], timed_wall));
                eprintln!("waiting/{}: {summary}", names[k]);
                results.push(summary);
            }
        }
    }
    for contender in contenders {
        contender.stop(rt);
    }
}

/// Summaries `steps_cases` pushes: paced and back to back.
const STEPS_CASES: usize = 2;

/// Summaries `doorbell_pairs` pushes per target: two waiting modes, two doorbells.
const DOORBELL_CASES: usize = 4;

/// Event and FIFO doorbells side by side (module docs), for one target.
fn doorbell_pairs(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    target: &Target<'_>,
    results: &mut Vec<serde_json::Value>,
) {
    let name = target.name;
    for (waiting, waits) in [("event_only", (NONE, NONE)), ("both", (SPIN, AHEAD))] {
        let contenders = [Doorbell::Event, Doorbell::Fifo]
            .map(|doorbell| {
                let node = Node::start(rt, target, target.options(waits, Some(doorbell), None));
                (
                    format!("doorbells/{name}/{waiting}/{}", doorbell.as_str()),
                    Box::new(node) as Box<dyn Contender>,
                )
            })
            .into();
        let id = BenchmarkId::new(format!("doorbells/{name}"), waiting);
        side_by_side(c, rt, id, contenders, results);
    }
}

/// Berth with its default settings against the Unix-socket echo, side by side (module docs):
/// the socket, then a node on each target.
fn versus_socket(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    targets: &[Target<'_>],
    results: &mut Vec<serde_json::Value>,
) {
    let defaults = TransportConfig::default();
    let waits = (defaults.reply_spin, defaults.anticipate);
    let mut contenders = vec![(
        "versus_socket/unix_socket".to_owned(),
        Box::new(Socket::start()) as Box<dyn Contender>,
    )];
    for target in targets {
        let node = Node::echo(rt, target, target.options(waits, None, None));
        contenders.push((format!("versus_socket/{}", target.name), Box::new(node)));
    }
    // The same with the stamping node: what a node's own few lines of numpy cost, paced.
    for target in targets {
        let node = Node::start(rt, target, target.options(waits, None, None));
        contenders.push((
            format!("versus_socket/{}_stamp", target.name),
            Box::new(node),
        ));
    }
    let id = BenchmarkId::new("versus_socket", "default");
    side_by_side(c, rt, id, contenders, results);
}

fn socket_case(c: &mut Criterion, results: &mut Vec<serde_json::Value>) {
    let mut echo = SocketEcho::start(Stream::Unix, &frame_bytes()).expect("socket echo");
    let mut group = c.benchmark_group("waiting");
    per_frame(&mut group, Pacing::Paced);
    let mut case = Case::default();
    let peer = berth_resources::for_process(echo.pid()).expect("the peer runs");
    let mut peer_cpu = || peer.sample().expect("the peer runs").cpu;
    group.bench_function(BenchmarkId::new("unix_socket", "blocking"), |b| {
        b.iter_custom(|iters| {
            case.run(iters, &mut peer_cpu, &mut |case| {
                let started = Instant::now();
                echo.round_trip().expect("socket round trip");
                case.rt_us.push(started.elapsed().as_nanos() as u64);
            })
        })
    });
    group.finish();
    if let Some(summary) = case.summary("unix_socket/blocking") {
        eprintln!("waiting/unix_socket/blocking: {summary}");
        results.push(summary);
    }
    echo.stop().expect("socket echo stops cleanly");
}

fn waiting(c: &mut Criterion) {
    let rt = runtime();
    let mut results = Vec::new();
    socket_case(c, &mut results);
    let process_yaml = pipelines::process_yaml();
    let container_yaml = pipelines::containers_yaml(1);
    let image = docker::container_image(&rt, "waiting/container/*");
    let mut targets = vec![Target {
        name: "process",
        yaml: &process_yaml,
        image: None,
    }];
    if let Some(image) = &image {
        targets.push(Target {
            name: "container",
            yaml: &container_yaml,
            image: Some(image),
        });
    }
    for target in &targets {
        session_cases(c, &rt, target, &mut results);
        doorbell_pairs(c, &rt, target, &mut results);
    }
    versus_socket(c, &rt, &targets, &mut results);
    steps_cases(c, &rt, &targets[0], &mut results);
    // The socket twice (alone, side by side), and per target its strategies, its doorbells
    // and its two contenders beside the socket.
    let expected = 2 + STEPS_CASES + targets.len() * (STRATEGIES.len() + DOORBELL_CASES + 2);
    if results.len() < expected {
        eprintln!("waiting: some cases were filtered out; target/waiting.json is left as it was");
        return;
    }
    let path = berth_benches::target_dir().join("waiting.json");
    let report = json!({ "measured_at_unix_s": std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "cases": results });
    std::fs::write(&path, serde_json::to_string_pretty(&report).unwrap())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    eprintln!("waiting: wrote {}", path.display());
}

criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = waiting
}

fn main() {
    benches();
    let clean = leaks::final_check();
    Criterion::default().configure_from_args().final_summary();
    assert!(clean, "the waiting bench left resources behind");
}
