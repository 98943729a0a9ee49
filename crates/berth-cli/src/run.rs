//! `berth run`: stream audio through a pipeline and report what came out and how fast.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth::{Manifest, NodeUsage, Output, Session, SessionError, SessionOptions, SessionStats};

use crate::audio::{self, Audio};
use crate::latency::Latencies;

/// How long `berth run` waits for the pipeline to end its streams after the last input.
const END_TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `berth run`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// The pipeline manifest (YAML).
    file: PathBuf,
    /// A WAV file to stream; without it a 440 Hz tone is generated.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Seconds of audio to stream: the length of the generated tone, or at most this much of
    /// the --input file.
    #[arg(long)]
    seconds: Option<f64>,
    /// Sample rate of the generated tone.
    #[arg(long, default_value_t = 48_000)]
    sample_rate: u32,
    /// Write the pipeline's audio output to this WAV file.
    #[arg(long)]
    output: Option<PathBuf>,
    /// Send one chunk every 20 ms, as live audio arrives, instead of back to back.
    #[arg(long)]
    realtime: bool,
    /// Which pipeline input to feed (default: the first one).
    #[arg(long)]
    input_name: Option<String>,
    /// Run this many sessions of the pipeline at once, each with its own input, and check
    /// that each receives only what came from its own frames: a load test.
    #[arg(long, default_value_t = 1)]
    sessions: usize,
    /// Run the thread of each node that handles its frames, and the threads that send and
    /// receive them, real-time (`SCHED_FIFO`) at this priority, 1 to 99, so that other
    /// programs' threads do not hold frames up.
    #[arg(long, value_name = "1-99", value_parser = clap::value_parser!(u8).range(1..=99))]
    priority: Option<u8>,
}

/// How a run ended.
pub(crate) enum Ended {
    /// Every input was sent and every output stream ended.
    Complete,
    /// Ctrl-C or SIGTERM: the session was stopped cleanly before the input ran out.
    Interrupted,
}

/// Sets `flag` on Ctrl-C or SIGTERM; a second one exits at once (the next start sweeps what
/// that leaves). Installed after the session starts, so that it is the process's handler
/// rather than the transport's.
fn on_interrupt(runtime: &tokio::runtime::Runtime, flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let _guard = runtime.enter();
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    runtime.spawn(async move {
        for _ in 0..2 {
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            if flag.swap(true, Ordering::Relaxed) {
                eprintln!("interrupted again: exiting without stopping the session");
                std::process::exit(130);
            }
            eprintln!("interrupted: stopping the session (again to exit at once)");
        }
    });
    Ok(())
}

pub(crate) fn run(args: RunArgs) -> anyhow::Result<Ended> {
    let manifest = Manifest::from_path(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let input = match args.input_name.clone() {
        Some(name) => name,
        None => manifest
            .pipeline_inputs()
            .first()
            .map(|s| s.to_string())
            .context(
                "the pipeline has no input: add a connection from a name that is not a node",
            )?,
    };
    let count = args.sessions.max(1);
    // Each session its own input: the file, or a tone of its own pitch.
    let inputs = (0..count)
        .map(|i| {
            let mut audio = match &args.input {
                Some(path) => audio::read_wav(path)?,
                None => audio::tone(
                    args.seconds.unwrap_or(2.0),
                    args.sample_rate,
                    440.0 + 20.0 * i as f64,
                ),
            };
            if let Some(seconds) = args.seconds {
                let keep = (seconds * audio.sample_rate as f64) as usize * audio.channels as usize;
                audio.samples.truncate(keep);
            }
            anyhow::Ok(audio)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let images = runtime.block_on(crate::build::images_with_progress(&manifest))?;
    if let Some(priority) = args.priority {
        // The threads that stream are made real-time too: find out before anything starts
        // whether this process may.
        std::thread::spawn(move || berth::set_current_thread_realtime(priority))
            .join()
            .expect("the check of real-time scheduling does not panic")?;
    }
    let options = SessionOptions {
        images,
        realtime: args.priority.map(berth::Realtime::new),
        ..SessionOptions::default()
    };
    // One Berth runtime for every session: identical container nodes share one container.
    // Its network holder starts once every session is up (they start together, each
    // container in a namespace of its own); a node restarted later joins it. For one
    // session there is nothing to share.
    let berth = if count > 1 {
        berth::Runtime::new()
    } else {
        berth::Runtime::without_shared_network()
    };
    let started = runtime.block_on(futures_util::future::join_all(
        (0..count).map(|_| berth.session(&manifest, options.clone())),
    ));
    let mut sessions = Vec::with_capacity(count);
    let mut failure = None;
    for result in started {
        match result {
            Ok(session) => sessions.push(session),
            Err(e) => failure = failure.or(Some(e)),
        }
    }
    if let Some(e) = failure {
        for session in sessions {
            let _ = runtime.block_on(session.stop());
        }
        runtime.block_on(berth.shutdown());
        return Err(e.into());
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    on_interrupt(&runtime, Arc::clone(&interrupted))?;
    for session in &sessions {
        eprintln!(
            "session {} ready: {} nodes",
            session.id(),
            manifest.nodes.len()
        );
        for node in session.nodes() {
            let served_by = match node.backend {
                "docker" if node.shared_by > 1 => format!(
                    "container {} (shared by {} sessions' nodes)",
                    &node.id[..node.id.len().min(12)],
                    node.shared_by
                ),
                "docker" => format!("container {}", &node.id[..node.id.len().min(12)]),
                "process" => format!("host process {}", node.id),
                _ => node.id.clone(),
            };
            eprintln!("  node {:<16} {served_by}", node.node_id);
        }
    }
    let usage_before: Vec<Vec<NodeUsage>> = sessions.iter_mut().map(Session::usage).collect();
    let streaming = Instant::now();
    let results: Vec<anyhow::Result<Streamed>> = runtime.block_on(async {
        tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let threads: Vec<_> = sessions
                    .iter_mut()
                    .zip(&inputs)
                    .map(|(session, audio)| {
                        let (input, interrupted) = (&input, &*interrupted);
                        let priority = args.priority;
                        scope.spawn(move || {
                            // At the nodes' priority: a polling node must not keep the thread
                            // that sends its frames from running (BENCHMARKS.md, "Pipeline").
                            if let Some(priority) = priority {
                                berth::set_current_thread_realtime(priority)?;
                            }
                            stream(session, input, audio, args.realtime, interrupted)
                        })
                    })
                    .collect();
                threads
                    .into_iter()
                    .map(|t| t.join().expect("a streaming thread panicked"))
                    .collect()
            })
        })
    });
    let streamed_for = streaming.elapsed();
    let ids: Vec<String> = sessions.iter().map(|s| s.id().to_string()).collect();
    let stopped = runtime.block_on(futures_util::future::join_all(
        sessions.into_iter().map(Session::stop),
    ));
    runtime.block_on(berth.shutdown());
    let mut runs = Vec::with_capacity(count);
    for ((id, result), stats) in ids.iter().cloned().zip(results).zip(stopped) {
        runs.push((id, result?, stats?));
    }
    let usage_after: Vec<&[NodeUsage]> = runs.iter().map(|(_, s, _)| &s.usage[..]).collect();
    print_usage(&ids, &usage_before, &usage_after, streamed_for);
    if let [(_, streamed, stats)] = runs.as_slice() {
        report_one(streamed, stats);
        if let Some(path) = &args.output {
            audio::write_wav(path, &streamed.audio)?;
            println!("wrote {}", path.display());
        }
    } else {
        report_many(&runs)?;
    }
    Ok(if interrupted.load(Ordering::Relaxed) {
        Ended::Interrupted
    } else {
        Ended::Complete
    })
}

/// What each node used while the input streamed: CPU time and share, memory now and at its
/// kernel-recorded peak, its limit and how often a charge hit it; and what its runner measured
/// itself: frames, `process()` times, and the CPU time of the node's own thread (in a shared
/// container, this session's share of the container's CPU).
fn print_usage(
    ids: &[String],
    before: &[Vec<NodeUsage>],
    after: &[&[NodeUsage]],
    elapsed: Duration,
) {
    let mib = |bytes: Option<u64>| {
        bytes.map_or_else(
            || "-".to_owned(),
            |b| format!("{:.1} MiB", b as f64 / 1048576.0),
        )
    };
    println!("what each node used while the input streamed:");
    println!(
        "  {:<9} {:<14} {:>8} {:>6} {:>11} {:>11} {:>11} {:>5} {:>7} {:>11} {:>14}  measured",
        "session",
        "node",
        "CPU ms",
        "CPU %",
        "memory",
        "peak",
        "limit",
        "hits",
        "frames",
        "node CPU ms",
        "p50/p99 µs"
    );
    for ((id, before), after) in ids.iter().zip(before).zip(after) {
        for (start, end) in before.iter().zip(after.iter()) {
            let Some(now) = end.usage else {
                let why = if end.source.is_empty() {
                    "(runs on the host's own threads)"
                } else {
                    "(not measured: it had ended)"
                };
                println!("  {id:<9} {:<14} {why}", end.node_id);
                continue;
            };
            let (cpu_time, cpu) = match start.usage {
                Some(then) => (
                    now.cpu.saturating_sub(then.cpu),
                    now.cpu_percent_since(&then, elapsed),
                ),
                None => (now.cpu, 0.0),
            };
            let shared = if end.shared_by > 1 {
                format!(" (shared by {})", end.shared_by)
            } else {
                String::new()
            };
            let (frames, node_cpu, times) = match end.runner {
                Some(runner) => {
                    let earlier = start.runner.map_or(Duration::ZERO, |r| r.cpu);
                    (
                        runner.frames.to_string(),
                        format!(
                            "{:.1}",
                            runner.cpu.saturating_sub(earlier).as_secs_f64() * 1e3
                        ),
                        format!(
                            "{:.0}/{:.0}",
                            runner.p50.as_secs_f64() * 1e6,
                            runner.p99.as_secs_f64() * 1e6
                        ),
                    )
                }
                None => ("-".into(), "-".into(), "-".into()),
            };
            println!(
                "  {id:<9} {:<14} {:>8.1} {:>5.1}% {:>11} {:>11} {:>11} {:>5} {frames:>7} {node_cpu:>11} {times:>14}  {}{shared}",
                end.node_id,
                cpu_time.as_secs_f64() * 1e3,
                cpu,
                mib(Some(now.memory_bytes)),
                mib(now.memory_peak_bytes),
                mib(now.memory_limit_bytes),
                now.memory_limit_hits
                    .map_or_else(|| "-".to_owned(), |h| h.to_string()),
                short_ids(&end.source),
            );
        }
    }
}

/// `source` with long hex ids (a container's) cut to 12 characters, as `docker ps` shows them.
fn short_ids(source: &str) -> String {
    source
        .split('/')
        .map(|part| {
            if part.len() >= 32 && part.bytes().all(|b| b.is_ascii_hexdigit()) {
                &part[..12]
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The figures of a single session.
fn report_one(streamed: &Streamed, stats: &SessionStats) {
    println!("{}", streamed.latencies);
    println!(
        "frames: sent {} received {} lost {} node errors {} restarts {}",
        stats.sent, stats.received, stats.lost, streamed.errors, stats.restarts
    );
    for (node, count) in &streamed.per_node {
        println!("  {node}: {count} outputs");
    }
    let out = &streamed.audio;
    if let Some(first) = out.samples.first() {
        println!(
            "output: {} samples at {} Hz, {} channel(s); first sample {first}",
            out.samples.len(),
            out.sample_rate,
            out.channels
        );
    }
}

/// Per-session and total figures of concurrent sessions; an error if any session lost a
/// frame or received one that it did not send.
fn report_many(runs: &[(String, Streamed, SessionStats)]) -> anyhow::Result<()> {
    let mut all = Latencies::default();
    let (mut sent, mut received, mut lost, mut foreign) = (0, 0, 0, 0);
    for (id, streamed, stats) in runs {
        println!(
            "session {id}: sent {} received {} lost {} foreign {} checksum {:016x}  {}",
            stats.sent,
            stats.received,
            stats.lost,
            streamed.foreign,
            streamed.checksum,
            streamed.latencies
        );
        all.extend(&streamed.latencies);
        sent += stats.sent;
        received += stats.received;
        lost += stats.lost;
        foreign += streamed.foreign;
    }
    println!(
        "{} sessions: sent {sent} received {received} lost {lost} foreign {foreign}  {all}",
        runs.len()
    );
    anyhow::ensure!(
        lost == 0 && foreign == 0,
        "{lost} frames lost and {foreign} frames delivered to a session that did not send them"
    );
    Ok(())
}

/// What came out of a run.
struct Streamed {
    audio: Audio,
    latencies: Latencies,
    per_node: BTreeMap<String, u64>,
    errors: u64,
    /// Timestamps of the frames this session sent: every output must carry one of them.
    sent: HashSet<u64>,
    /// Outputs whose timestamp this session never sent (another session's frames).
    foreign: u64,
    /// FNV-1a over every output payload, in order.
    checksum: u64,
    /// What each node used, read before the end of input (their cgroups still there) with
    /// the runners' final reports (sent before their end of stream) added after it.
    usage: Vec<NodeUsage>,
}

impl Streamed {
    /// Takes one output: audio is kept, text and JSON are printed as they come.
    fn take(&mut self, output: Output<'_>) {
        self.latencies.push(output.latency_ns());
        if !self.sent.contains(&output.header.timestamp_ns) {
            self.foreign += 1;
        }
        for byte in output.payload {
            self.checksum = (self.checksum ^ u64::from(*byte)).wrapping_mul(0x100000001b3);
        }
        *self.per_node.entry(output.node_id.to_owned()).or_default() += 1;
        if let Some(samples) = output.audio() {
            self.audio.samples.extend_from_slice(samples);
            self.audio.sample_rate = output.header.sample_rate;
            self.audio.channels = output.header.channels as u16;
        } else if let Some(text) = output.text() {
            println!("{}: {text}", output.node_id);
        }
    }

    /// Receives for up to `wait`, then whatever else is already there. A node may send no
    /// output for an input, or several; `Ok(false)` when nothing came.
    fn receive(&mut self, session: &mut Session, wait: Duration) -> anyhow::Result<bool> {
        let mut any = false;
        let mut timeout = wait;
        loop {
            match session.recv_with(timeout, |o| self.take(o)) {
                Ok(Some(())) => any = true,
                Ok(None) => return Ok(any),
                Err(e @ SessionError::NodeRaised { .. }) => {
                    self.errors += 1;
                    eprintln!("{e}");
                }
                // The node comes back by its restart policy; the others go on meanwhile.
                Err(
                    e @ (SessionError::NodeExited {
                        restart_in: Some(_),
                        ..
                    }
                    | SessionError::NodeHung { .. }
                    | SessionError::NodeRestarted { .. }),
                ) => eprintln!("{e}"),
                Err(e) => return Err(e.into()),
            }
            timeout = Duration::ZERO;
        }
    }
}

fn stream(
    session: &mut Session,
    input: &str,
    audio: &Audio,
    realtime: bool,
    interrupted: &AtomicBool,
) -> anyhow::Result<Streamed> {
    let chunk = ((audio.sample_rate as usize / 50) * audio.channels as usize).max(1);
    let mut streamed = Streamed {
        audio: Audio {
            samples: Vec::with_capacity(audio.samples.len()),
            sample_rate: audio.sample_rate,
            channels: audio.channels,
        },
        latencies: Latencies::default(),
        per_node: BTreeMap::new(),
        errors: 0,
        sent: HashSet::with_capacity(audio.samples.len().div_ceil(chunk)),
        foreign: 0,
        checksum: 0xcbf29ce484222325,
        usage: Vec::new(),
    };
    let started = Instant::now();
    for (i, samples) in audio.samples.chunks(chunk).enumerate() {
        if interrupted.load(Ordering::Relaxed) {
            break;
        }
        if realtime {
            // Take outputs as they arrive until the next chunk is due.
            let due = started + Duration::from_millis(20 * i as u64);
            while let Some(left) = due.checked_duration_since(Instant::now()) {
                streamed.receive(session, left)?;
            }
        }
        // Timestamps are the lineage of frames: nodes copy them from inputs to outputs.
        let mut stamp = berth::monotonic_ns();
        while !streamed.sent.insert(stamp) {
            stamp += 1;
        }
        session.send_audio_at(
            input,
            samples,
            audio.sample_rate,
            audio.channels as u32,
            stamp,
        )?;
        // Back to back: wait briefly for this chunk's first output, so queues never fill.
        let wait = if realtime {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        streamed.receive(session, wait)?;
    }
    streamed.usage = session.usage();
    session.end_inputs();
    let deadline = Instant::now() + END_TIMEOUT;
    // Interrupted or not, what is in flight still arrives (a second Ctrl-C exits at once).
    while !session.outputs_ended() {
        let left = deadline.saturating_duration_since(Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "the pipeline did not end its output streams within {END_TIMEOUT:?} after the last \
             input; a node may be stuck (see its log above)"
        );
        streamed.receive(session, left.min(Duration::from_millis(100)))?;
    }
    // Each runner reported its last figures before its end of stream, so they are in now.
    for (kept, last) in streamed.usage.iter_mut().zip(session.usage()) {
        kept.runner = last.runner.or(kept.runner);
    }
    Ok(streamed)
}
