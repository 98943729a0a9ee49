//! Built-in native nodes: `Gain` and `EnergyVad`.

use std::io::Write;

use berth_transport::{FrameKind, FrameSender, audio_samples_mut};

use super::{Frame, NativeNode, NativeNodeType};

/// Multiplies audio by a constant (`params.gain`, default 1.0), in f32 like the Python `Gain`.
struct Gain {
    gain: f32,
}

impl NativeNode for Gain {
    fn process(&mut self, input: Frame<'_>, out: &mut dyn FrameSender) -> Result<(), String> {
        let samples = input.audio().ok_or("Gain takes audio frames")?;
        let gain = self.gain;
        out.send_with(input.payload.len(), &mut |header, payload| {
            *header = *input.header;
            let output = audio_samples_mut(payload).expect("payloads are aligned");
            for (o, i) in output.iter_mut().zip(samples) {
                *o = i * gain;
            }
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

/// Energy-based voice activity: one JSON frame per audio frame, `{"speech":bool,"rms_db":x}`,
/// speech when the frame's RMS level is above `params.threshold_db` (default -40 dBFS).
struct EnergyVad {
    threshold_db: f32,
}

impl NativeNode for EnergyVad {
    fn process(&mut self, input: Frame<'_>, out: &mut dyn FrameSender) -> Result<(), String> {
        let samples = input.audio().ok_or("EnergyVad takes audio frames")?;
        let mean_square = samples.iter().map(|s| s * s).sum::<f32>() / samples.len().max(1) as f32;
        let rms_db = 10.0 * mean_square.max(1e-12).log10();
        let mut text = [0u8; 64];
        let mut cursor = std::io::Cursor::new(&mut text[..]);
        write!(
            cursor,
            r#"{{"speech":{},"rms_db":{:.1}}}"#,
            rms_db > self.threshold_db,
            rms_db
        )
        .map_err(|e| e.to_string())?;
        let len = cursor.position() as usize;
        out.send_with(len, &mut |header, payload| {
            header.kind = FrameKind::Json as u32;
            header.timestamp_ns = input.header.timestamp_ns;
            payload.copy_from_slice(&text[..len]);
        })
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

fn number(params: &serde_json::Value, key: &str, default: f64) -> Result<f32, String> {
    match params.get(key) {
        None => Ok(default as f32),
        Some(value) => value
            .as_f64()
            .map(|v| v as f32)
            .ok_or_else(|| format!("params.{key} must be a number, got {value}")),
    }
}

inventory::submit! {
    NativeNodeType { name: "Gain", create: |params| Ok(Box::new(Gain { gain: number(params, "gain", 1.0)? })) }
}

inventory::submit! {
    NativeNodeType { name: "EnergyVad", create: |params| Ok(Box::new(EnergyVad { threshold_db: number(params, "threshold_db", -40.0)? })) }
}

#[cfg(test)]
mod tests {
    use berth_transport::memory::MemoryTransport;
    use berth_transport::{
        ChannelName, ChannelRole, FrameHeader, FrameSenderExt, SessionId, Transport,
        TransportConfig,
    };
    use std::time::Duration;

    use super::super::{create_native, native_node_types};
    use super::*;

    fn run(node_type: &str, params: serde_json::Value, samples: &[f32]) -> (FrameHeader, Vec<u8>) {
        let transport = MemoryTransport::new();
        let id = SessionId::random();
        let session = transport
            .open_session(&id, &TransportConfig::default())
            .unwrap();
        let channel = ChannelName::new(&id, "n", ChannelRole::Output).unwrap();
        session.create_channel(&channel).unwrap();
        let mut rx = session.receiver(&channel).unwrap();
        let mut tx = session.sender(&channel).unwrap();
        let mut node = create_native(node_type, &params).unwrap();
        let mut buf = vec![0u64; samples.len().div_ceil(2)];
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(buf.as_mut_ptr().cast::<u8>(), samples.len() * 4)
        };
        audio_samples_mut(bytes).unwrap().copy_from_slice(samples);
        let header = FrameHeader {
            kind: 0,
            sample_rate: 16_000,
            channels: 1,
            timestamp_ns: 42,
            payload_len: bytes.len() as u64,
            ..Default::default()
        };
        node.process(
            Frame {
                header: &header,
                payload: bytes,
            },
            tx.as_mut(),
        )
        .unwrap();
        let mut got = None;
        rx.receive_with(Duration::from_secs(1), &mut |h, p| {
            got = Some((*h, p.to_vec()))
        })
        .unwrap();
        let _ = tx.send_end_of_stream();
        got.unwrap()
    }

    #[test]
    fn gain_scales_bit_exactly_like_f32_math() {
        let input: Vec<f32> = (0..960).map(|i| (i as f32 * 0.01).sin()).collect();
        let (header, payload) = run("Gain", serde_json::json!({"gain": 0.5}), &input);
        assert_eq!((header.sample_rate, header.timestamp_ns), (16_000, 42));
        let out: Vec<f32> = payload
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert!(
            out.iter()
                .zip(&input)
                .all(|(o, i)| o.to_bits() == (i * 0.5f32).to_bits())
        );
    }

    #[test]
    fn vad_tells_speech_from_silence() {
        let (_, loud) = run("EnergyVad", serde_json::json!({}), &[0.5; 320]);
        let (_, quiet) = run("EnergyVad", serde_json::json!({}), &[0.0001; 320]);
        assert!(
            String::from_utf8(loud)
                .unwrap()
                .contains(r#""speech":true"#)
        );
        assert!(
            String::from_utf8(quiet)
                .unwrap()
                .contains(r#""speech":false"#)
        );
    }

    #[test]
    fn registry_lists_builtins_and_rejects_unknown() {
        assert!(
            native_node_types().contains(&"Gain") && native_node_types().contains(&"EnergyVad")
        );
        let err = create_native("Reverb", &serde_json::json!({}))
            .err()
            .unwrap();
        assert!(
            err.contains("registered: ") && err.contains("Gain"),
            "{err}"
        );
        assert!(create_native("Gain", &serde_json::json!({"gain": "loud"})).is_err());
    }
}
