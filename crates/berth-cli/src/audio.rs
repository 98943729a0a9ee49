//! Audio in and out of the CLI: WAV files, or a generated test tone.

use std::path::Path;

use anyhow::Context;

/// Interleaved f32 audio.
pub(crate) struct Audio {
    pub(crate) samples: Vec<f32>,
    pub(crate) sample_rate: u32,
    pub(crate) channels: u16,
}

/// Reads a WAV file (integer or float samples) as f32.
pub(crate) fn read_wav(path: &Path) -> anyhow::Result<Audio> {
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("cannot read WAV file {}", path.display()))?;
    let spec = reader.spec();
    let samples = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<Vec<_>, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<Vec<_>, _>>()?
        }
    };
    Ok(Audio {
        samples,
        sample_rate: spec.sample_rate,
        channels: spec.channels,
    })
}

/// A 440 Hz sine at half scale.
pub(crate) fn tone(seconds: f64, sample_rate: u32, hz: f64) -> Audio {
    let n = (seconds * sample_rate as f64) as usize;
    let step = 2.0 * std::f64::consts::PI * hz / sample_rate as f64;
    let samples = (0..n)
        .map(|i| (0.5 * (i as f64 * step).sin()) as f32)
        .collect();
    Audio {
        samples,
        sample_rate,
        channels: 1,
    }
}

/// Writes f32 samples to a WAV file.
pub(crate) fn write_wav(path: &Path, audio: &Audio) -> anyhow::Result<()> {
    let spec = hound::WavSpec {
        channels: audio.channels,
        sample_rate: audio.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot write {}", path.display()))?;
    for s in &audio.samples {
        writer.write_sample(*s)?;
    }
    writer.finalize()?;
    Ok(())
}
