//! `berth run`: stream audio through a pipeline and report what came out and how fast.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use berth::{Manifest, Output, Session, SessionError, SessionOptions};

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
    let mut audio = match &args.input {
        Some(path) => audio::read_wav(path)?,
        None => audio::tone(args.seconds.unwrap_or(2.0), args.sample_rate),
    };
    if let Some(seconds) = args.seconds {
        let keep = (seconds * audio.sample_rate as f64) as usize * audio.channels as usize;
        audio.samples.truncate(keep);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let images = runtime.block_on(crate::build::images_with_progress(&manifest))?;
    let options = SessionOptions {
        images,
        ..SessionOptions::default()
    };
    let mut session = runtime.block_on(Session::start(&manifest, options))?;
    let interrupted = Arc::new(AtomicBool::new(false));
    on_interrupt(&runtime, Arc::clone(&interrupted))?;
    eprintln!(
        "session {} ready: {} nodes",
        session.id(),
        manifest.nodes.len()
    );
    for node in session.nodes() {
        let served_by = match node.backend {
            "docker" => format!("container {}", &node.id[..node.id.len().min(12)]),
            "process" => format!("host process {}", node.id),
            _ => node.id.clone(),
        };
        eprintln!("  node {:<16} {served_by}", node.node_id);
    }
    let result = runtime.block_on(async {
        tokio::task::block_in_place(|| {
            stream(&mut session, &input, &audio, args.realtime, &interrupted)
        })
    });
    let stats = runtime.block_on(session.stop())?;
    let streamed = result?;
    println!("{}", streamed.latencies);
    println!(
        "frames: sent {} received {} lost {} node errors {}",
        stats.sent, stats.received, stats.lost, streamed.errors
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
    if let Some(path) = &args.output {
        audio::write_wav(path, out)?;
        println!("wrote {}", path.display());
    }
    Ok(if interrupted.load(Ordering::Relaxed) {
        Ended::Interrupted
    } else {
        Ended::Complete
    })
}

/// What came out of a run.
struct Streamed {
    audio: Audio,
    latencies: Latencies,
    per_node: BTreeMap<String, u64>,
    errors: u64,
}

impl Streamed {
    /// Takes one output: audio is kept, text and JSON are printed as they come.
    fn take(&mut self, output: Output<'_>) {
        self.latencies.push(output.latency_ns());
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
        latencies: Latencies::with_capacity(audio.samples.len().div_ceil(chunk)),
        per_node: BTreeMap::new(),
        errors: 0,
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
        session.send_audio(input, samples, audio.sample_rate, audio.channels as u32)?;
        // Back to back: wait briefly for this chunk's first output, so queues never fill.
        let wait = if realtime {
            Duration::ZERO
        } else {
            Duration::from_millis(50)
        };
        streamed.receive(session, wait)?;
    }
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
    Ok(streamed)
}
