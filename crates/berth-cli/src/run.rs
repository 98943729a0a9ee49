//! `berth run`: stream audio through a pipeline and report what came out and how fast.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use berth::{Manifest, Session, SessionError, SessionOptions};

use crate::audio::{self, Audio};
use crate::latency::Latencies;

/// Arguments of `berth run`.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// The pipeline manifest (YAML).
    file: PathBuf,
    /// A WAV file to stream; without it a 440 Hz tone is generated.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Seconds of generated tone (ignored with --input).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
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

pub(crate) fn run(args: RunArgs) -> anyhow::Result<()> {
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
    let audio = match &args.input {
        Some(path) => audio::read_wav(path)?,
        None => audio::tone(args.seconds, args.sample_rate),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut session = runtime.block_on(Session::start(&manifest, SessionOptions::default()))?;
    eprintln!(
        "session {} ready: {} nodes",
        session.id(),
        manifest.nodes.len()
    );
    let result = runtime.block_on(async {
        tokio::task::block_in_place(|| stream(&mut session, &input, &audio, args.realtime))
    });
    let stats = runtime.block_on(session.stop())?;
    let (outputs, latencies, errors) = result?;
    println!("{latencies}");
    println!(
        "frames: sent {} received {} lost {} node errors {}",
        stats.sent, stats.received, stats.lost, errors
    );
    if let Some(first) = outputs.samples.first() {
        println!(
            "output: {} samples at {} Hz, {} channel(s); first sample {first}",
            outputs.samples.len(),
            outputs.sample_rate,
            outputs.channels
        );
    }
    if let Some(path) = &args.output {
        audio::write_wav(path, &outputs)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

type Streamed = (Audio, Latencies, u64);

fn stream(
    session: &mut Session,
    input: &str,
    audio: &Audio,
    realtime: bool,
) -> anyhow::Result<Streamed> {
    let chunk = (audio.sample_rate as usize / 50) * audio.channels as usize;
    let frames = audio.samples.len().div_ceil(chunk.max(1));
    let mut latencies = Latencies::with_capacity(frames);
    let mut out = Audio {
        samples: Vec::with_capacity(audio.samples.len()),
        sample_rate: audio.sample_rate,
        channels: audio.channels,
    };
    let mut errors = 0;
    let started = std::time::Instant::now();
    for (i, samples) in audio.samples.chunks(chunk.max(1)).enumerate() {
        if realtime {
            let due = started + Duration::from_millis(20 * i as u64);
            std::thread::sleep(due.saturating_duration_since(std::time::Instant::now()));
        }
        session.send_audio(input, samples, audio.sample_rate, audio.channels as u32)?;
        match session.recv_with(Duration::from_secs(5), |output| {
            let latency = output.latency_ns();
            if let Some(samples) = output.audio() {
                out.samples.extend_from_slice(samples);
                out.sample_rate = output.header.sample_rate;
                out.channels = output.header.channels as u16;
            } else if let Some(text) = output.text() {
                println!("{}: {text}", output.node_id);
            }
            latency
        }) {
            Ok(Some(latency)) => latencies.push(latency),
            Ok(None) => anyhow::bail!("no output for frame {i} within 5 s"),
            Err(e @ SessionError::NodeRaised { .. }) => {
                errors += 1;
                eprintln!("{e}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok((out, latencies, errors))
}
